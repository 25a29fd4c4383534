"""The numba.cuda twins of the sparsification kernels, run on the CPU simulator."""

import pytest

from tests.conftest import run_cudasim

pytestmark = pytest.mark.cudasim


def test_gpu_walk_kernels_are_bit_identical_to_the_cpu_kernels_under_cudasim():
    out = run_cudasim(
        """
        import warnings
        warnings.filterwarnings("ignore")  # NumPy scalar overflow warnings of the simulator
        import numpy as np
        import gpu.sparsify_kernels as gk
        from solvers.sparsify import _kernels_numba as ck
        from solvers.sparsify import mesh_2d, as_graph
        from solvers.sparsify.adjacency import DynamicGraph
        g = as_graph(mesh_2d(6, 6, seed=0, weights="lognormal"))
        rng = np.random.default_rng(1)
        for cong in (False, True):
            G = DynamicGraph(g.n, g.u, g.v, g.w, congestion=cong)
            if cong:
                G.cong[:] = rng.random(G.cong.size) * 0.5
            G.flag[:] = rng.random(G.flag.size) < 0.3
            m = 7
            src = rng.integers(0, g.n, m)
            dst = (src + 1 + rng.integers(0, g.n - 1, m)) % g.n
            wq = rng.random(m) + 0.5
            bound = np.full(m, 8.0)
            bound[:2] = np.inf
            u = G.used
            cg = G.cong[:u] if cong else G.cong
            args = (G.start, G.deg, G.nbr[:u], G.wt[:u], G.flag[:u], cg, src, dst, wq, bound,
                    40, 20, 12345, 3)
            oc = (np.empty(m), np.empty(m, np.int64), np.empty(m, np.int64))
            og = (np.empty(m), np.empty(m, np.int64), np.empty(m, np.int64))
            ck.nbrw_walks(*args, *oc)
            gk.nbrw_walks(*args, *og)
            for a, b in zip(oc, og):
                assert np.array_equal(a, b), (oc, og)
            assert (oc[2] >= 0).sum() >= 3
            sc = np.zeros((m, 20), np.int64); lc = np.zeros(m, np.int64)
            sg = sc.copy(); lg = lc.copy()
            ck.nbrw_paths(G.start, G.deg, G.nbr[:u], src, dst, oc[2], 20, 12345, 3, sc, lc)
            gk.nbrw_paths(G.start, G.deg, G.nbr[:u], src, dst, oc[2], 20, 12345, 3, sg, lg)
            assert np.array_equal(sc, sg) and np.array_equal(lc, lg)
        U = rng.random((g.n, 4)); th = rng.random(4)
        o1 = np.empty(g.m); o2 = np.empty(g.m)
        ck.edge_heat(g.u, g.v, g.w, U, th, o1); gk.edge_heat(g.u, g.v, g.w, U, th, o2)
        assert np.array_equal(o1, o2)
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


def test_dynamic_and_static_solvers_on_the_gpu_code_path_under_cudasim():
    out = run_cudasim(
        """
        import warnings
        warnings.filterwarnings("ignore")
        import dataclasses
        import numpy as np, scipy.sparse
        from solvers._backend import Backend
        from solvers.sparsify import (DynamicSparsifier, mesh_2d, insertion_stream,
                                      deletion_stream, sparsify)

        @dataclasses.dataclass(frozen=True)
        class SimGPU(Backend):
            def synchronize(self):
                pass

        be = SimGPU("gpu", np, scipy.sparse)
        A = mesh_2d(8, 8, seed=0, weights="lognormal")
        E, W = insertion_stream(A, 24, seed=1)
        res = []
        for backend in ("cpu", be):
            dyn = DynamicSparsifier(A, target_condition=20, seed=3, walkers=32, max_steps=20,
                                    backend=backend)
            dyn.insert(E[:12], W[:12])
            dyn.insert(E[12:], W[12:])
            dyn.delete(deletion_stream(dyn.graph, 10, seed=2))
            res.append(dyn)
        a, b = res
        assert b.backend.is_gpu and abs(a.sparsifier - b.sparsifier).max() == 0
        assert [s.kept for s in a.stats] == [s.kept for s in b.stats]
        assert a.stats[-1].recovered == b.stats[-1].recovered
        s1 = sparsify(A, target_density=1.2, seed=0, backend="cpu")
        s2 = sparsify(A, target_density=1.2, seed=0, backend=be)
        assert s2.backend == "gpu" and abs(s1.H - s2.H).max() == 0
        print("ok")
        """,
        timeout=600,
    )
    assert out.strip().endswith("ok")


def test_gpu_kernels_compile_to_ptx_without_a_gpu():
    """Real numba.cuda typing and NVVM code generation for sm_90 (no device needed)."""
    import os
    import subprocess
    import sys
    import textwrap

    from tests.conftest import ROOT

    code = textwrap.dedent(
        """
        import sys, types as pytypes
        try:
            from numba.cuda.cudadrv import nvvm
            nvvm.NVVM()
        except Exception as exc:
            print("SKIP", type(exc).__name__, exc); sys.exit(0)
        import numba.cuda.dispatcher as disp
        from numba import cuda, types as t
        disp.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(9, 0))
        import gpu.sparsify_kernels as gk
        i64, f64, i8, u64 = t.int64[:], t.float64[:], t.int8[:], t.uint64
        sigs = {
            gk._walks_kernel: (i64, i64, i64, f64, i8, f64, i64, i64, f64, f64, t.int64,
                               t.int64, u64, u64, f64, i64, i64),
            gk._paths_kernel: (i64, i64, i64, i64, i64, i64, t.int64, u64, u64,
                               t.int64[:, :], i64),
            gk._heat_kernel: (i64, i64, f64, t.float64[:, :], f64, f64),
        }
        for k, sig in sigs.items():
            ptx, _ = cuda.compile_ptx(k.py_func, sig, cc=(9, 0))
            assert ".entry" in ptx
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=300,
    )  # fmt: skip
    if proc.stdout.startswith("SKIP"):
        pytest.skip(f"NVVM not available: {proc.stdout.strip()}")
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
