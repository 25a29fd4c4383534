"""Sparse linear regression under local differential privacy (LDP).

Owners randomize their own ``(x, y)`` with :mod:`solvers.ldp.randomizers` (NumPy only;
the SDK uses it on the owner's side); the server aggregates the reports exactly and
estimates θ. Three protocols (Zhu, Ding, Aggarwal, Xu, Wang, ICLR 2024):

* ``"nldp"`` — non-interactive: each owner privatizes ``x xᵀ`` and ``x y``;
* ``"nldp_public"`` — the server also has public unlabeled covariates: owners privatize
  ``x y`` only (a √d smaller error);
* ``"interactive"`` — sequentially interactive LDP-IHT (:class:`InteractiveServer`).

Public names: :func:`estimate`, :func:`ldp_regression`, :class:`InteractiveServer`,
:class:`LdpResult`, :class:`Aggregate`, :class:`Layout`, :func:`resolve`,
:class:`SyntheticProblem`, :class:`ArraySource`, the baselines :func:`lasso`,
:func:`iht`, :func:`naive_ldp`, and the modules :mod:`~solvers.ldp.randomizers`,
:mod:`~solvers.ldp.estimators`.

Heavy modules are imported on first use, so that ``import solvers.ldp.randomizers`` stays
light.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import _spec  # noqa: F401 - registers the solver
from .params import LdpParams, StudyConfig

_LAZY = {
    "estimate": "solver",
    "ldp_regression": "solver",
    "simulate": "solver",
    "estimate_from_sums": "solver",
    "LdpResult": "solver",
    "InteractiveServer": "interactive",
    "StaleRoundError": "interactive",
    "ProtocolFinishedError": "interactive",
    "Aggregate": "protocol",
    "Layout": "protocol",
    "Resolved": "protocol",
    "resolve": "protocol",
    "SyntheticProblem": "problems",
    "ArraySource": "problems",
    "sparse_theta": "problems",
    "lasso": "baselines",
    "iht": "baselines",
    "naive_ldp": "baselines",
}

__all__ = ["LdpParams", "StudyConfig", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'solvers.ldp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
