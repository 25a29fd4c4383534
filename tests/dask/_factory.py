"""Cluster factories for ``SPARSEHPC_DASK_SCHEDULER=python:tests.dask._factory:...``."""

from __future__ import annotations

from typing import Any

ADDRESS: str | None = None
MADE: list[Any] = []


def address() -> str | None:
    """A factory that returns a scheduler address."""
    return ADDRESS


def threads_cluster() -> Any:
    """A factory that returns a cluster object (one in-process, thread-based worker)."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    )
    MADE.append(cluster)
    return cluster
