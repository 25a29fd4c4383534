"""RPCA benchmarks: ours against a baseline in the same run, ratios printed.

Parts (``--part``, several allowed; default ``altproj big video``):

``altproj``
    n×n, rank 20, 5 % gross corruptions in [-10, 10] (default n = 3000): AltProj
    (ours) against our own IALM with a full LAPACK SVD every iteration (the issue's
    baseline) — time, iterations, relative errors of L and S, speed-up — and against
    IALM's automatic (partial-SVD) route; plus AltProj with 30 % of the entries missing.
``big``
    10000×10000, rank 20, 5 % corrupted: AltProj on the CPU (the issue's "under 5
    minutes"), time, error, peak memory of the process.
``video``
    Background subtraction of a synthetic 200-frame 120×160 video: AltProj against
    IALM, frames per second, F-measure, background error.
``ialm``
    The foundation benchmark: our IALM against a straightforward NumPy IALM
    (``--sizes``).

GPU rows are added when a GPU is usable (or forced with ``--gpu``). Results:
``OUT/rpca_bench.csv`` and ``OUT/rpca_bench.png`` (OUT = ``--out``, default
``benchmarks/out``).

    python benchmarks/rpca_bench.py                       # altproj + big + video
    python benchmarks/rpca_bench.py --quick               # small sizes, a minute or two
    python benchmarks/rpca_bench.py --part altproj --n 3000 --threads 2
    python benchmarks/rpca_bench.py --part ialm --sizes 500 2000

``--threads N`` sets the BLAS / OpenMP / Numba thread counts of this process (both
sides of every comparison run with the same setting).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _set_threads(n: int) -> None:
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def rel(a, b) -> float:  # noqa: ANN001
    import numpy as np

    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def timed(fn):  # noqa: ANN001, ANN202
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _warm(gpu_ok: bool) -> None:
    """Compile the Numba (and CUDA) kernels outside the timings."""
    import numpy as np

    from solvers.rpca import low_rank_plus_sparse, random_mask, rpca

    M, _, _ = low_rank_plus_sparse(64, rank=2, seed=0)
    mask = random_mask(M.shape, 0.2, seed=0)
    for be in ["cpu"] + (["gpu"] if gpu_ok else []):
        rpca(M, backend=be)
        rpca(M, mask=mask, backend=be)
        rpca(M, method="altproj", backend=be)
        rpca(M, method="altproj", mask=mask, backend=be)
    del np


def part_altproj(args, gpu_ok: bool) -> list[dict]:  # noqa: ANN001
    import numpy as np

    from solvers.rpca import low_rank_plus_sparse, random_mask, rpca

    n, r = args.n, args.rank
    M, L, S = low_rank_plus_sparse(n, rank=r, sparsity=0.05, seed=n)
    rows = []

    def row(label, t, res, base=None, mask=None):  # noqa: ANN001, ANN202
        Sx = S if mask is None else np.where(mask, S, 0.0)  # noqa: N806
        d = {
            "part": "altproj",
            "case": f"{n}x{n} r={r} 5%" + ("" if mask is None else " 30% missing"),
            "solver": label,
            "seconds": t,
            "iterations": res.n_iter,
            "rank": res.rank,
            "err_L": rel(res.L, L),
            "err_S": rel(res.S, Sx),
        }
        if base is not None:
            d["speedup_vs_" + base[0]] = base[1] / t
        rows.append(d)
        extra = "".join(f", {k} {v:.1f}x" for k, v in d.items() if k.startswith("speedup"))
        print(
            f"  {d['case']:28s} {label:22s} {t:8.2f} s  {res.n_iter:4d} it  rank {res.rank:3d}  "
            f"errL {d['err_L']:.1e}  errS {d['err_S']:.1e}{extra}",
            flush=True,
        )
        return t

    print(f"[altproj] {n}x{n}, rank {r}, 5% corruptions", flush=True)
    t_alt = row("altproj (cpu)", *timed(lambda: rpca(M, method="altproj", rank=r, backend="cpu")))
    row("altproj rank=None (cpu)", *timed(lambda: rpca(M, method="altproj", backend="cpu")))
    # a tighter tolerance, for an accuracy at least IALM's (IALM lands below its tol)
    row(
        "altproj tol=1e-9 (cpu)",
        *timed(lambda: rpca(M, method="altproj", rank=r, tol=1e-9, backend="cpu")),
    )
    if not args.no_baseline:
        t_full, res = timed(lambda: rpca(M, svd="full", backend="cpu"))
        row("ialm full SVD (cpu)", t_full, res)
        rows[0]["speedup_vs_ialm_full"] = t_full / t_alt
        print(f"  => altproj is {t_full / t_alt:.1f}x faster than IALM with full SVDs", flush=True)
        t_auto, res = timed(lambda: rpca(M, backend="cpu"))
        row("ialm auto SVD (cpu)", t_auto, res)
        rows[0]["speedup_vs_ialm_auto"] = t_auto / t_alt
    if gpu_ok:
        t_g, res = timed(lambda: rpca(M, method="altproj", rank=r, backend="gpu"))
        row("altproj (gpu)", t_g, res, base=("altproj_cpu", t_alt))
        if not args.no_baseline and not args.quick:
            row("ialm full SVD (gpu)", *timed(lambda: rpca(M, svd="full", backend="gpu")))
    mask = random_mask(M.shape, 0.3, seed=1)
    Mh = np.where(mask, M, 0.0)  # noqa: N806
    t_m = row(
        "altproj (cpu)",
        *timed(lambda: rpca(Mh, method="altproj", rank=r, mask=mask, backend="cpu")),
        mask=mask,
    )
    if gpu_ok:
        t_g, res = timed(lambda: rpca(Mh, method="altproj", rank=r, mask=mask, backend="gpu"))
        row("altproj (gpu)", t_g, res, base=("altproj_cpu", t_m), mask=mask)
    return rows


def part_big(args, gpu_ok: bool) -> list[dict]:  # noqa: ANN001
    import numpy as np

    from solvers.rpca import low_rank_plus_sparse, rpca

    n, r = args.big, args.rank
    print(f"[big] {n}x{n}, rank {r}, 5% corruptions", flush=True)
    t_gen, (M, L, S) = timed(lambda: low_rank_plus_sparse(n, rank=r, sparsity=0.05, seed=1))
    print(f"  problem generated in {t_gen:.1f} s", flush=True)
    rows = []
    for be in ["cpu"] + (["gpu"] if gpu_ok else []):
        t, res = timed(lambda be=be, M=M: rpca(M, method="altproj", rank=r, backend=be))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        d = {
            "part": "big",
            "case": f"{n}x{n} r={r} 5%",
            "solver": f"altproj ({be})",
            "seconds": t,
            "iterations": res.n_iter,
            "rank": res.rank,
            "err_L": rel(res.L, L),
            "err_S": rel(res.S, S),
            "peak_rss_GiB": peak,
        }
        rows.append(d)
        print(
            f"  altproj ({be}): {t:.1f} s, {res.n_iter} it, errL {d['err_L']:.1e}, "
            f"errS {d['err_S']:.1e}, peak RSS {peak:.1f} GiB "
            f"({'under' if t < 300 else 'OVER'} 5 min)",
            flush=True,
        )
        del res
    del M, L, S, np
    return rows


def part_video(args, gpu_ok: bool) -> list[dict]:  # noqa: ANN001
    from solvers.rpca import background_subtraction, foreground_scores, moving_objects_video

    T, H, W = args.video  # noqa: N806
    sc = moving_objects_video(T, H, W, n_objects=4, noise=0.01, seed=0)
    print(f"[video] {T} frames of {H}x{W}, 4 objects, noise 0.01", flush=True)
    rows = []
    base = None
    for method in ("altproj", "ialm"):
        for be in ["cpu"] + (["gpu"] if gpu_ok else []):
            t, res = timed(
                lambda method=method, be=be: background_subtraction(
                    sc.frames, method=method, backend=be
                )
            )
            f1 = foreground_scores(sc.foreground_mask, res.foreground_mask)["f1"]
            d = {
                "part": "video",
                "case": f"{T}x{H}x{W}",
                "solver": f"{method} ({be})",
                "seconds": t,
                "frames_per_s": T / t,
                "iterations": res.n_iter,
                "rank": res.rank,
                "f1": f1,
                "err_background": rel(res.background, sc.background),
            }
            if method == "altproj" and be == "cpu":
                base = t
            elif base is not None:
                d["time_vs_altproj_cpu"] = t / base
            rows.append(d)
            print(
                f"  {method:8s} ({be}): {t:7.2f} s = {T / t:8.1f} frames/s, {res.n_iter} it, "
                f"rank {res.rank}, F1 {f1:.3f}, background err {d['err_background']:.1e}",
                flush=True,
            )
    return rows


def part_ialm(args, gpu_ok: bool) -> list[dict]:  # noqa: ANN001
    from solvers.rpca import low_rank_plus_sparse, rpca
    from solvers.rpca.reference import ialm_reference

    rows = []
    print("[ialm] our IALM against a straightforward NumPy IALM (full SVD)", flush=True)
    for n in args.sizes:
        r = max(1, n // 20)
        M, L, S = low_rank_plus_sparse(n, rank=r, sparsity=0.05, seed=n)
        t_ours, res = timed(lambda M=M: rpca(M, backend="cpu"))
        t_ref, (Lr, _, it_ref, _) = timed(lambda M=M: ialm_reference(M))
        d = {
            "part": "ialm",
            "case": f"{n}x{n} r={r} 5%",
            "solver": "ialm (cpu)",
            "seconds": t_ours,
            "iterations": res.n_iter,
            "err_L": rel(res.L, L),
            "numpy_seconds": t_ref,
            "numpy_iterations": it_ref,
            "numpy_err_L": rel(Lr, L),
            "speedup_vs_numpy": t_ref / t_ours,
        }
        if gpu_ok:
            t_g, rg = timed(lambda M=M: rpca(M, backend="gpu"))
            d.update(gpu_seconds=t_g, gpu_err_L=rel(rg.L, L), gpu_vs_cpu=t_ours / t_g)
        rows.append(d)
        print(
            f"  n={n}: ours {t_ours:.2f} s ({res.n_iter} it, errL {d['err_L']:.1e}), NumPy "
            f"{t_ref:.2f} s ({it_ref} it) => {t_ref / t_ours:.1f}x",
            flush=True,
        )
    return rows


def _plot(rows: list[dict], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    shown = [r for r in rows if r["part"] in ("altproj", "big", "video")]
    if not shown:
        return
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(shown) + 1.2))
    labels = [f"{r['case']} · {r['solver']}" for r in shown]
    colors = ["tab:blue" if "altproj" in r["solver"] else "tab:gray" for r in shown]
    ax.barh(range(len(shown)), [r["seconds"] for r in shown], color=colors)
    ax.set_yticks(range(len(shown)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds (log scale)")
    for i, r in enumerate(shown):
        note = f"{r['seconds']:.2f} s"
        if "err_L" in r:
            note += f", errL {r['err_L']:.0e}"
        if "f1" in r:
            note += f", F1 {r['f1']:.3f}"
        ax.text(r["seconds"], i, " " + note, va="center", fontsize=7)
    ax.set_title("RPCA at scale: AltProj (blue) against IALM (grey)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "rpca_bench.png", dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--part",
        nargs="+",
        default=["altproj", "big", "video"],
        choices=["altproj", "big", "video", "ialm"],
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (altproj n=1000, big n=3000, video 100x60x80)",
    )
    ap.add_argument("--n", type=int, default=3000, help="altproj part: matrix size")
    ap.add_argument("--rank", type=int, default=20)
    ap.add_argument("--big", type=int, default=10000, help="big part: matrix size")
    ap.add_argument("--video", type=int, nargs=3, default=[200, 120, 160], metavar=("T", "H", "W"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000], help="ialm part")
    ap.add_argument("--no-baseline", action="store_true", help="skip the IALM baselines")
    ap.add_argument("--gpu", action="store_true", help="require GPU rows (error without a GPU)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    args = ap.parse_args()  # fmt: skip
    if args.threads:
        _set_threads(args.threads)
    if args.quick:
        args.n, args.big, args.video, args.sizes = 1000, 3000, [100, 60, 80], [500]

    import gpu

    gpu_ok = gpu.is_available()
    if args.gpu and not gpu_ok:
        print(f"--gpu: no usable GPU ({gpu.unavailable_reason()})", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, load average "
        f"{load:.1f}, GPU: {gpu.device_info().get('name', 'none') if gpu_ok else 'none'}",
        flush=True,
    )
    _warm(gpu_ok)
    parts = {"altproj": part_altproj, "big": part_big, "video": part_video, "ialm": part_ialm}
    rows: list[dict] = []
    for name in args.part:
        rows.extend(parts[name](args, gpu_ok))
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    with open(out / "rpca_bench.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    _plot(rows, out)
    print(f"wrote {out / 'rpca_bench.csv'} and {out / 'rpca_bench.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
