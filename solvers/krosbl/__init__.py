"""Kronecker-structured sparse Bayesian learning (KroSBL).

Public names: :func:`krosbl` (methods ``"svd"``, ``"am"`` — with ``block_sizes`` the
block-sparse variant — and ``"sbl"``), :func:`sbl` (classic EM-SBL baseline),
:func:`omp` (OMP / Kronecker-OMP baselines), :class:`KroSBLResult`, the structured
E-step :func:`estep`, the Kronecker helpers :func:`kron_matvec`, :func:`kron_vec`,
:func:`kron_dense`, the synthetic generator :func:`kronecker_problem` with the metrics
:func:`nmse`, :func:`nmse_db`, :func:`support_of`, :func:`support_recovery_rate`, and the
IRS-aided MIMO channel-estimation module :mod:`solvers.krosbl.irs_mimo`.
"""

from __future__ import annotations

from . import _spec  # noqa: F401 - registers the solver
from ._kron import kron_dense, kron_matvec, kron_vec
from .omp import OMPResult, omp
from .problems import (
    KroneckerProblem,
    kronecker_problem,
    nmse,
    nmse_db,
    support_of,
    support_recovery_rate,
)
from .solver import KroSBLResult, estep, krosbl, sbl

__all__ = [
    "KroSBLResult",
    "KroneckerProblem",
    "OMPResult",
    "estep",
    "irs_mimo",
    "kron_dense",
    "kron_matvec",
    "kron_vec",
    "kronecker_problem",
    "krosbl",
    "nmse",
    "nmse_db",
    "omp",
    "sbl",
    "support_of",
    "support_recovery_rate",
]


def __getattr__(name: str):  # noqa: ANN202
    if name == "irs_mimo":
        import importlib

        return importlib.import_module(".irs_mimo", __name__)
    raise AttributeError(name)
