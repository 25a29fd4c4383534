"""Unmixing benchmark: speed of RRLbS against the plain NumPy version of the same
updates (same run), accuracy of every method, and a one-million-pixel scene.

    python benchmarks/unmixing_bench.py                 # everything (about an hour)
    python benchmarks/unmixing_bench.py --part speed    # 250×250×200: per iteration, to convergence
    python benchmarks/unmixing_bench.py --part accuracy # SAD/RMSE table (3 seeds)
    python benchmarks/unmixing_bench.py --part big      # 1000×1000×200 CPU: time, peak memory

Thread counts: ``--threads N`` sets NUMBA/OpenBLAS/OMP threads for both sides (set
before NumPy is imported). Results: ``benchmarks/out/unmixing_*.csv`` and ``.png``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def _set_threads(n: int) -> None:
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def speed(args) -> list[dict]:  # noqa: ANN001
    import numpy as np

    from solvers.unmixing import band_noise, fcls, synthetic_scene, unmix, vca
    from solvers.unmixing.reference import rrlbs_reference

    n = args.size
    sc = synthetic_scene(n, n, 200, args.r, snr=30, outlier_fraction=0.1, seed=0)
    Y = sc.Y
    # a common start: our initialisation (VCA on noise-whitened bands + FCLS) and λ
    # from our default rule
    M0 = np.maximum(vca(Y, args.r, seed=0, band_weights=1.0 / band_noise(Y)).endmembers, 1e-12)
    lam = unmix(Y, args.r, init=M0, maxiter=1, backend="cpu").lam
    A0 = np.maximum(fcls(Y, M0), 1e-9)
    A0 /= A0.sum(axis=0)
    unmix(Y[:, :500], args.r, init=M0, lam=lam, maxiter=3, backend="cpu")  # compile
    rows = []
    k = args.iters
    t = time.perf_counter()
    ours = unmix(Y, args.r, init=M0, lam=lam, maxiter=k, tol=1e-300, backend="cpu")
    t_ours = time.perf_counter() - t - ours.info["init_seconds"]
    t = time.perf_counter()
    M, A, h, hist = rrlbs_reference(Y, M0, A0, lam=lam, maxiter=k)
    t_ref = time.perf_counter() - t
    agree = float(np.abs(ours.abundances - A).max())
    rows.append(
        dict(
            case=f"{n}x{n}x200 r={args.r}",
            what=f"per iteration ({k} its)",
            ours_s=t_ours / k,
            numpy_s=t_ref / k,
            ratio=t_ref / t_ours,
            max_abs_diff_A=agree,
        )
    )
    print(
        f"per iteration: ours {1e3 * t_ours / k:.1f} ms, numpy {1e3 * t_ref / k:.1f} ms, "
        f"ratio {t_ref / t_ours:.2f}x (max |ΔA| = {agree:.1e})",
        flush=True,
    )
    if not args.quick:
        t = time.perf_counter()
        conv = unmix(Y, args.r, init=M0, lam=lam, backend="cpu")
        t_conv = time.perf_counter() - t - conv.info["init_seconds"]
        t = time.perf_counter()
        _, A2, _, hist2 = rrlbs_reference(Y, M0, A0, lam=lam, maxiter=conv.n_iter)
        t_ref2 = time.perf_counter() - t
        rows.append(
            dict(
                case=f"{n}x{n}x200 r={args.r}",
                what=f"to convergence ({conv.n_iter} its, converged={conv.converged})",
                ours_s=t_conv,
                numpy_s=t_ref2,
                ratio=t_ref2 / t_conv,
                max_abs_diff_A=float(np.abs(conv.abundances - A2).max()),
            )
        )
        print(
            f"to convergence ({conv.n_iter} iterations): ours {t_conv:.1f} s, numpy "
            f"{t_ref2:.1f} s, ratio {t_ref2 / t_conv:.2f}x",
            flush=True,
        )
    rows.extend(_gpu_speed(args, Y, M0, lam, k, t_ours))
    return rows


def _gpu_speed(args, Y, M0, lam, k: int, t_cpu: float) -> list[dict]:  # noqa: ANN001
    """GPU rows (same problem, same start) when CuPy sees a device."""
    import numpy as np

    import gpu
    from solvers.unmixing import unmix

    if not gpu.is_available():
        print(f"GPU: skipped ({gpu.unavailable_reason()})", flush=True)
        return []
    import cupy

    unmix(Y[:, :500], args.r, init=M0, lam=lam, maxiter=3, backend="gpu")  # compile
    cupy.cuda.Device().synchronize()
    t = time.perf_counter()
    res = unmix(Y, args.r, init=M0, lam=lam, maxiter=k, tol=1e-300, backend="gpu")
    t_gpu = time.perf_counter() - t - res.info["init_seconds"]
    cpu = unmix(Y, args.r, init=M0, lam=lam, maxiter=k, tol=1e-300, backend="cpu")
    diff = float(np.abs(res.abundances - cpu.abundances).max())
    print(
        f"GPU per iteration: {1e3 * t_gpu / k:.2f} ms ({t_cpu / t_gpu:.1f}x our CPU, "
        f"max |ΔA| vs CPU = {diff:.1e})",
        flush=True,
    )
    rows = [
        dict(
            case=f"GPU {Y.shape[1]} px x {Y.shape[0]} bands r={args.r}",
            what=f"per iteration ({k} its)",
            ours_s=t_gpu / k,
            numpy_s=t_cpu / k,
            ratio=t_cpu / t_gpu,
            max_abs_diff_A=diff,
        )
    ]
    if not args.quick:
        t = time.perf_counter()
        conv = unmix(Y, args.r, init=M0, lam=lam, backend="gpu")
        t_conv = time.perf_counter() - t - conv.info["init_seconds"]
        print(f"GPU to convergence ({conv.n_iter} iterations): {t_conv:.2f} s", flush=True)
        rows.append(
            dict(
                case=f"GPU {Y.shape[1]} px x {Y.shape[0]} bands r={args.r}",
                what=f"to convergence ({conv.n_iter} its), numpy_s = our CPU per-it x its",
                ours_s=t_conv,
                numpy_s=t_cpu / k * conv.n_iter,
                ratio=t_cpu / k * conv.n_iter / t_conv,
                max_abs_diff_A=float("nan"),
            )
        )
    return rows


def accuracy(args) -> list[dict]:  # noqa: ANN001
    from scipy.stats import spearmanr

    from solvers.unmixing import rmse, sad, synthetic_scene, unmix

    methods = [
        ("rrlbs", {}),
        ("vca_fcls", {}),
        ("vca_fcls", {"whiten": True}),
        ("l1/2nmf", {}),
        ("nmf", {}),
    ]
    cases = [
        ("30 dB, 10% outlier bands", dict(snr=30, outlier_fraction=0.1)),
        ("30 dB, no outliers", dict(snr=30, outlier_fraction=0.0)),
        ("noiseless", dict(snr=None, outlier_fraction=0.0)),
    ]
    rows = []
    for ci, (label, opts) in enumerate(cases):
        for seed in range(args.seeds if ci == 0 else 1):
            sc = synthetic_scene(100, 100, 162, 4, seed=seed, **opts)
            for m, kw in methods:
                t = time.perf_counter()
                res = unmix(
                    sc.Y, 4, method=m, image_shape=sc.image_shape, seed=0, backend="cpu", **kw
                )
                el = time.perf_counter() - t
                name = m + (" (whitened VCA)" if kw.get("whiten") else "")
                row = dict(
                    case=label,
                    seed=seed,
                    method=name,
                    sad=sad(sc.endmembers, res.endmembers),
                    rmse=rmse(
                        sc.abundances, res.abundances, E_true=sc.endmembers, E_est=res.endmembers
                    ),
                    iters=res.n_iter,
                    seconds=el,
                    lam=res.lam,
                )
                if res.guidance is not None:
                    row["guidance_spearman"] = spearmanr(
                        res.guidance.ravel(), sc.mixed_level
                    ).correlation
                rows.append(row)
                print(
                    {k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()},
                    flush=True,
                )
    return rows


BIG_CHILD = r"""
import json, sys, time
import numpy as np
from solvers.unmixing import unmix, sad, rmse

def hwm_gib():  # peak resident set of this process image (VmHWM is reset by exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")

d = np.load(sys.argv[1])
Y = np.load(sys.argv[2])
hwm0 = hwm_gib()
t = time.perf_counter()
c0 = time.process_time()
def cb(info):
    if info.iteration % 25 == 0:
        print(f"  iteration {info.iteration}: {info.elapsed:.0f} s", file=sys.stderr, flush=True)
res = unmix(Y, int(sys.argv[3]), image_shape=(1000, 1000), seed=0, backend="cpu",
            maxiter=int(sys.argv[4]), callback=cb)
el = time.perf_counter() - t
cpu = time.process_time() - c0
per_it = (el - res.info["init_seconds"]) / max(res.n_iter, 1)
print(json.dumps(dict(seconds=el, cpu_seconds=cpu, init_seconds=res.info["init_seconds"],
      n_iter=res.n_iter, seconds_per_iteration=per_it, converged=res.converged,
      peak_rss_gib=hwm_gib(), rss_after_loading_data_gib=hwm0, data_gib=Y.nbytes / 2**30,
      sad=sad(d["E"], res.endmembers),
      rmse=rmse(d["A"], res.abundances.reshape(d["A"].shape[0], -1),
                E_true=d["E"], E_est=res.endmembers))))
"""


def big(args) -> list[dict]:  # noqa: ANN001
    import numpy as np

    from solvers.unmixing import synthetic_scene

    OUT.mkdir(parents=True, exist_ok=True)
    ypath = OUT / "unmixing_big_Y.npy"
    tpath = OUT / "unmixing_big_truth.npz"
    sc = synthetic_scene(1000, 1000, 200, args.r, snr=30, outlier_fraction=0.1, seed=0)
    np.save(ypath, sc.Y)
    np.savez(tpath, E=sc.endmembers, A=sc.abundances)
    del sc
    proc = subprocess.run(
        [sys.executable, "-c", BIG_CHILD, str(tpath), str(ypath), str(args.r), str(args.big_iters)],
        stdout=subprocess.PIPE,  # progress goes to stderr, live
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    ypath.unlink(missing_ok=True)
    tpath.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the 1000x1000 run failed (exit {proc.returncode})")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    print("1000x1000x200:", info, flush=True)
    return [dict(case="1000x1000x200", **info)]


def _write(name: str, rows: list[dict]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"unmixing_{name}.csv"
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    return path


def _plot(speed_rows: list[dict], acc_rows: list[dict]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    import numpy as np

    if speed_rows:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        labels = [r["what"] for r in speed_rows]
        x = np.arange(len(labels))
        ax.bar(x - 0.2, [r["numpy_s"] for r in speed_rows], 0.4, label="plain NumPy")
        ax.bar(x + 0.2, [r["ours_s"] for r in speed_rows], 0.4, label="sparsehpc (Numba)")
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("seconds")
        for i, r in enumerate(speed_rows):
            ax.text(i, r["ours_s"], f"{r['ratio']:.1f}x", ha="center", va="bottom")
        ax.legend()
        ax.set_title(speed_rows[0]["case"])
        fig.tight_layout()
        fig.savefig(OUT / "unmixing_speed.png", dpi=110)
        plt.close(fig)
    if acc_rows:
        case = acc_rows[0]["case"]
        sub = [r for r in acc_rows if r["case"] == case]
        methods = list(dict.fromkeys(r["method"] for r in sub))
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, key in zip(axes, ("sad", "rmse")):
            vals = [np.mean([r[key] for r in sub if r["method"] == m]) for m in methods]
            ax.bar(range(len(methods)), vals)
            ax.set_xticks(range(len(methods)), methods, rotation=20, fontsize=7)
            ax.set_yscale("log")
            ax.set_title(f"mean {key.upper()} — {case}")
        fig.tight_layout()
        fig.savefig(OUT / "unmixing_accuracy.png", dpi=110)
        plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["all", "speed", "accuracy", "big"], default="all")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=250)
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--big-iters", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help="speed: per-iteration timing only")
    args = ap.parse_args()
    _set_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    speed_rows: list[dict] = []
    acc_rows: list[dict] = []
    if args.part in ("all", "speed"):
        speed_rows = speed(args)
        print("wrote", _write("speed", speed_rows))
    if args.part in ("all", "accuracy"):
        acc_rows = accuracy(args)
        print("wrote", _write("accuracy", acc_rows))
    if args.part in ("all", "big"):
        print("wrote", _write("big", big(args)))
    _plot(speed_rows, acc_rows)


if __name__ == "__main__":
    main()
