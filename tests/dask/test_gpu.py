"""On a GPU machine: a Dask worker declaring GPU=1 runs ``backend="gpu"`` jobs on the
GPU, ``auto`` jobs are placed there, and the results agree with the CPU's."""

from __future__ import annotations

import time

import numpy as np
import pytest

from service.executors.dask import DaskExecutor
from service.store import Store
from solvers.rpca import low_rank_plus_sparse

from .conftest import make_settings, submit, wait_all, wait_workers


@pytest.mark.gpu
def test_gpu_worker_runs_gpu_and_auto_jobs(tmp_path):
    s = make_settings(
        tmp_path,
        dask_scheduler="local",
        dask_workers=2,
        dask_gpu_workers=1,  # gpu-0 declares GPU=1, cpu-1 does not
        worker_gpu=None,
        dask_gpu_wait=60.0,
    )
    store = Store(s.db_url, s.data_dir)
    ex = DaskExecutor(s, store)
    ex.start()
    try:
        wait_workers(ex, 2, timeout=120)
        deadline = time.monotonic() + 60
        while (ex.gpu_capacity() or 0) <= 1:  # the GPU worker reported its memory
            assert time.monotonic() < deadline, ex.health()
            time.sleep(0.1)
        cap = ex.gpu_capacity()
        assert cap > 2**30, cap
        info = ex.client.scheduler_info(n_workers=-1)["workers"]
        gpu_addr = next(a for a, w in info.items() if w.get("name") == "gpu-0")

        # the problem of tests/rpca (CPU and GPU agree to 1e-6 there, called directly)
        M, L, _ = low_rank_plus_sparse(300, rank=15, sparsity=0.05, seed=7)
        params: dict = {}
        gid = submit(ex, "rpca", {"M": M}, params, backend="gpu")
        cid = submit(ex, "rpca", {"M": M}, params, backend="cpu")
        aid = submit(ex, "rpca", {"M": M}, params, backend="auto")
        g, c, a = wait_all(store, [gid, cid, aid], timeout=180)
        for j in (g, c, a):
            assert j.status == "succeeded", (j.backend, j.error)
        assert g.backend_used == "gpu" and g.worker_id == f"dask:{gpu_addr}"
        assert a.backend_used == "gpu" and a.worker_id == f"dask:{gpu_addr}"
        assert c.backend_used == "cpu"
        Lg, Lc = store.load_result(g)["L"], store.load_result(c)["L"]
        assert np.linalg.norm(Lg - L) / np.linalg.norm(L) < 1e-5
        assert np.linalg.norm(Lc - L) / np.linalg.norm(L) < 1e-5
        rel = np.linalg.norm(Lg - Lc) / np.linalg.norm(Lc)
        print(
            f"GPU vs CPU through Dask: rel. difference of L {rel:.2e}; "
            f"GPU {g.stats['wall_seconds']:.2f} s, CPU {c.stats['wall_seconds']:.2f} s"
        )
        assert rel < 1e-6
    finally:
        ex.stop()
        store.dispose()
