"""DCDM tests run on the CPU unless marked ``gpu`` (``backend="auto"`` → CPU), so that
the NumPy callables and CPU-only baselines they use behave the same on a GPU machine."""

import pytest

import solvers
import solvers.dcdm.solver


@pytest.fixture(autouse=True)
def _auto_means_cpu(request, monkeypatch):
    if request.node.get_closest_marker("gpu"):
        return
    original = solvers._backend.get_backend

    def get_backend(backend="auto", **kwargs):
        return original("cpu" if backend == "auto" else backend, **kwargs)

    monkeypatch.setattr(solvers.dcdm.solver, "get_backend", get_backend)
    monkeypatch.setattr(solvers, "get_backend", get_backend)
