"""DCDM vs CG, Jacobi-PCG, IC(0)-PCG and pyamg SA-PCG on smoke pressure problems.

``dcdm`` is the shipped default model (V-cycle net), ``dcdm_bpx`` the first version's
additive multilevel net (``poisson3d_bpx``), measured in the same run.

Same run, same thread settings, same Krylov kernels for every method; prints tables with
ratios and writes ``benchmarks/out/dcdm_bench.csv`` and ``dcdm_bench.png``.

    python benchmarks/dcdm_bench.py                      # 64³ and 128³ on the CPU
    python benchmarks/dcdm_bench.py --quick              # 32³ and 48³, a minute or two
    python benchmarks/dcdm_bench.py --gpu                # add GPU rows (DCDM vs CuPy CG)
    python benchmarks/dcdm_bench.py --gpu --gpu-only --rtol 1e-4   # GPU rows only
    python benchmarks/dcdm_bench.py --flat 32 64 128     # iterations to rtol 1e-4 vs N

The problem: a closed box open at the top with a bunny-shaped obstacle (a layout the
shipped model was not trained on), b = −div u of a plume plus random swirls. Times are
wall-clock seconds of ``setup`` (matrix analysis, model/preconditioner setup) and
``solve`` (the iterations), after a warm-up run that compiles the kernels.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)


def run_method(name: str, system, b, rtol: float, backend: str, maxiter: int) -> dict:  # noqa: ANN001
    from solvers.dcdm import dcdm, pcg

    t0 = time.perf_counter()
    if name in ("dcdm", "dcdm_bpx"):
        model = "default" if name == "dcdm" else f"poisson{len(system.grid_shape)}d_bpx"
        res = dcdm(system, b, model=model, rtol=rtol, maxiter=maxiter, backend=backend)
    else:
        precond = "none" if name == "cg" else name
        res = pcg(
            system.A,
            b,
            grid_shape=system.grid_shape,
            precond=precond,
            rtol=rtol,
            maxiter=maxiter,
            backend=backend,
        )
    wall = time.perf_counter() - t0
    import numpy as np

    rel = float(np.linalg.norm(b - system.A @ res.x.ravel()) / np.linalg.norm(b))
    return {
        "method": name,
        "backend": backend,
        "iterations": res.n_iter,
        "converged": res.converged,
        "setup_s": res.setup_seconds,
        "solve_s": res.solve_seconds,
        "total_s": wall,
        "relres": rel,
    }


def bench(
    sizes: list[int],
    methods: list[str],
    gpu_methods: list[str],
    rtols: list[float],
    layout: str,
    maxiter: int,
) -> list[dict]:
    from solvers.dcdm import smoke_problem

    rows = []
    warm, wb = smoke_problem(12, layout=layout, seed=0)
    for m in methods:
        run_method(m, warm, wb, 1e-4, "cpu", 50)
    for m in gpu_methods:
        run_method(m, warm, wb, 1e-4, "gpu", 50)
    for n in sizes:
        system, b = smoke_problem(n, layout=layout, seed=11)
        for rtol in rtols:
            for backend, ms in (("cpu", methods), ("gpu", gpu_methods)):
                for m in ms:
                    if backend == "gpu":  # first call at a new size: cuDNN autotuning
                        run_method(m, system, b, rtol, backend, maxiter)
                    row = run_method(m, system, b, rtol, backend, maxiter)
                    row.update({"n": n, "unknowns": system.n, "rtol": rtol})
                    rows.append(row)
                    print(
                        f"  {n:4d}³ rtol {rtol:.0e} {backend}:{m:7s} it {row['iterations']:5d} "
                        f"setup {row['setup_s']:7.2f} s solve {row['solve_s']:8.2f} s "
                        f"relres {row['relres']:.1e}",
                        flush=True,
                    )
    return rows


def print_tables(rows: list[dict]) -> None:
    keys = sorted({(r["n"], r["rtol"], r["backend"]) for r in rows})
    for n, rtol, backend in keys:
        sel = [r for r in rows if (r["n"], r["rtol"], r["backend"]) == (n, rtol, backend)]
        ref = next((r for r in sel if r["method"] == "dcdm"), None)
        print(f"\n{n}³ ({sel[0]['unknowns']:,} unknowns), rtol {rtol:.0e}, {backend}")
        print("| method | iterations | setup s | solve s | total s | iters / DCDM | time / DCDM |")
        print("|---|---|---|---|---|---|---|")
        for r in sel:
            ir = r["iterations"] / ref["iterations"] if ref and ref["iterations"] else float("nan")
            tr = r["total_s"] / ref["total_s"] if ref else float("nan")
            print(
                f"| {r['method']} | {r['iterations']} | {r['setup_s']:.2f} | {r['solve_s']:.2f} "
                f"| {r['total_s']:.2f} | {ir:.1f}× | {tr:.2f}× |"
            )


def _per_size_table(rows: list[dict], sizes: list[int], methods: list[str], key: str,
                    title: str, ratio_label: str, fmt: str) -> None:  # fmt: skip
    """One markdown row per N: ``key`` of every method, then CG's over DCDM's."""
    print(f"\n{title}")
    print("| N | " + " | ".join(methods) + f" | {ratio_label} |")
    print("|---|" + "---|" * (len(methods) + 1))
    for n in sizes:
        v = {r["method"]: r[key] for r in rows if r["n"] == n}
        ratio = v.get("cg", float("nan")) / v.get("dcdm", float("nan"))
        cells = " | ".join(format(v[m], fmt) if m in v else "-" for m in methods)
        print(f"| {n}³ | {cells} | {ratio:.1f}× |")


def flat(sizes: list[int], layout: str, methods: list[str]) -> list[dict]:
    rows = bench(sizes, methods, [], [1e-4], layout, 5000)
    _per_size_table(rows, sizes, methods, "iterations", "Iterations to rtol 1e-4 (paper's "
                    "tolerance):", "CG / DCDM", "")  # fmt: skip
    _per_size_table(rows, sizes, methods, "total_s", "Wall seconds to rtol 1e-4 (setup + "
                    "solve), same run:", "CG time / DCDM time", ".2f")  # fmt: skip
    return rows


def plot(rows: list[dict], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        print("matplotlib missing: no PNG")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    labels = sorted({(r["method"], r["backend"]) for r in rows})
    sizes = sorted({r["n"] for r in rows})
    rtol = min(r["rtol"] for r in rows)
    for m, be in labels:
        sel = [r for r in rows if r["method"] == m and r["backend"] == be and r["rtol"] == rtol]
        sel.sort(key=lambda r: r["n"])
        xs = [r["n"] for r in sel]
        axes[0].plot(xs, [r["iterations"] for r in sel], "o-", label=f"{m} ({be})")
        axes[1].plot(xs, [r["total_s"] for r in sel], "o-", label=f"{m} ({be})")
    for ax, title in zip(axes, ("iterations", "wall seconds (setup + solve)")):
        ax.set_xlabel("N (grid N³)")
        ax.set_title(f"{title}, rtol {rtol:.0e}")
        ax.set_xticks(sizes)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    p.add_argument("--rtol", type=float, nargs="+", default=[1e-4, 1e-6])
    p.add_argument(
        "--methods", nargs="+", default=["dcdm", "dcdm_bpx", "cg", "jacobi", "ic", "amg"]
    )
    p.add_argument("--gpu", action="store_true", help="add GPU rows (auto when a GPU exists)")
    p.add_argument("--no-gpu", action="store_true")
    p.add_argument("--gpu-only", action="store_true", help="no CPU rows (with --gpu)")
    p.add_argument("--quick", action="store_true", help="32³ and 48³, rtol 1e-4 only")
    p.add_argument(
        "--flat",
        type=int,
        nargs="*",
        default=None,
        help="only the iterations-vs-N table (rtol 1e-4) for these N (all --methods)",
    )
    p.add_argument("--threads", type=int, default=1, help="threads of every pool (same for all)")
    p.add_argument("--layout", default="bunny")
    p.add_argument("--maxiter", type=int, default=5000)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    _set_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    import solvers

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"threads {args.threads}; load average {load:.1f}; cpus {os.cpu_count()}")
    if args.flat is not None:
        rows = flat(args.flat or [32, 64, 128], args.layout, args.methods)
        name = "dcdm_flat"
    else:
        sizes, rtols = args.sizes, args.rtol
        if args.quick:
            sizes, rtols = [32, 48], [1e-4]
        use_gpu = (args.gpu or solvers.gpu_available()) and not args.no_gpu
        gpu_methods = ["dcdm", "cg", "jacobi"] if use_gpu else []
        if gpu_methods:
            import torch

            torch.backends.cudnn.benchmark = True
        cpu_methods = [] if args.gpu_only else args.methods
        rows = bench(sizes, cpu_methods, gpu_methods, rtols, args.layout, args.maxiter)
        print_tables(rows)
        name = "dcdm_bench"
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average at the end {load_end:.1f}")
    with open(out / f"{name}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out / f'{name}.csv'}")
    plot(rows, out / f"{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
