"""Learned conjugate-direction solves (DCDM) for sparse SPD grid systems.

A trained convolutional network proposes the search directions of a conjugate direction
method (Kaneda et al., ICML 2023); the Krylov part runs in float64 on NumPy/SciPy or
CuPy, the network in float32 on PyTorch (CPU or CUDA). PyTorch is imported only when a
network is used: ``import solvers.dcdm`` does not import it.

Public names: :func:`poisson_system` (:class:`PoissonSystem`), :func:`dcdm`
(:class:`DCDMResult`), the baselines :func:`cg` and :func:`pcg` (Jacobi, IC(0), pyamg
smoothed aggregation), :func:`list_models`, :func:`load_model`, :func:`smoke_problem`
and :func:`obstacles` (test problems). Training: solver ``"dcdm_train"`` and
:mod:`solvers.dcdm.training`; the shipped models are trained by
``python -m solvers.dcdm.train_shipped``.
"""

from __future__ import annotations

from . import _spec  # noqa: F401 - registers the solvers
from .models import list_models, load_model
from .poisson import PoissonSystem, poisson_system
from .problems import obstacles, smoke_problem, smoke_velocity
from .solver import DCDMResult, cg, dcdm, pcg

__all__ = [
    "DCDMResult",
    "PoissonSystem",
    "cg",
    "dcdm",
    "list_models",
    "load_model",
    "obstacles",
    "pcg",
    "poisson_system",
    "smoke_problem",
    "smoke_velocity",
]
