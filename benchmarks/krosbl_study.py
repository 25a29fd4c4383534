"""The paper's full synthetic study (He & Joseph 2024, Sec. VI): NMSE and support recovery.

    python benchmarks/krosbl_study.py                 # 200 trials per point, 2 processes
    python benchmarks/krosbl_study.py --trials 20     # a quick look
    python benchmarks/krosbl_study.py --csbl-trials 3 # + classic SBL on 3 trials per point

Setup (the authors' ``KroSBL_f/Configuration.m``): three factors with N_k = 15
(N = 3375), M_2 = 12, M_3 = 15, M_1 varying; i.i.d. N(0, 1) factors; x = x_1 ⊗ x_2 ⊗ x_3
with k nonzeros per factor (k³ in x), N(0, 1) amplitudes; known noise variance, SNR =
(‖Hx‖²/M)/σ². Three sweeps: SNR ∈ {5, ..., 30} dB (k = 3, M_1 = 8); M_1 ∈ {6, ..., 14}
(k = 3, 25 dB); k ∈ {2, ..., 6} (M_1 = 8, 25 dB). The authors' solver settings: at most
150 EM iterations, tolerance 1e-4 on the relative change of γ, their pruning thresholds
(our defaults).

Methods: SVD-KroSBL, AM-KroSBL, Kronecker-OMP (Caiafa & Cichocki; stopped at the noise
level, at most 10 atoms per mode), the oracle least squares on the true Kronecker support
(a lower bound), and — expensive: O(M² N) per iteration on the explicit 1440 × 3375
dictionary — classic EM-SBL on ``--csbl-trials`` trials per point.

Metrics: NMSE ``‖x̂ − x‖²/‖x‖²`` (mean over trials, shown in dB), support recovery rate
``|Ŝ ∩ S| / |Ŝ ∪ S|`` with ``Ŝ = {i : |x̂_i| > 1e-3 max |x̂|}``, run time of the solver
call. Output: ``<out>/krosbl_study.csv`` (per point and method), ``krosbl_study_trials.csv``
(per trial) and ``krosbl_study.png``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SNRS = [5, 10, 15, 20, 25, 30]
M1S = [6, 8, 10, 12, 14]
KS = [2, 3, 4, 5, 6]


def points() -> list[tuple[str, float, int, int]]:
    """(sweep, x value, M_1, k, SNR) for the three sweeps."""
    out = [("snr", s, 8, 3, s) for s in SNRS]
    out += [("M1", m, m, 3, 25) for m in M1S]
    out += [("k", k, 8, k, 25) for k in KS]
    return out


def _oracle(prob):  # noqa: ANN001, ANN202
    import numpy as np

    from solvers.krosbl import kron_matvec

    sub = [h[:, s] for h, s in zip(prob.H, prob.factor_support)]
    xs = kron_matvec([np.linalg.pinv(a) for a in sub], prob.y)
    x = np.zeros_like(prob.x)
    x[prob.support] = xs
    return x


def run_trial(task: tuple) -> list[dict]:
    """One problem, every method (runs in a worker process)."""
    sweep, xval, m1, k, snr, seed, with_csbl = task
    import numpy as np

    from solvers.krosbl import (
        kronecker_problem,
        krosbl,
        nmse,
        omp,
        sbl,
        support_of,
        support_recovery_rate,
    )

    prob = kronecker_problem([(m1, 15), (12, 15), (15, 15)], [k, k, k], snr=snr, seed=seed)
    opts = {"noise_var": prob.noise_var, "maxiter": 150, "tol": 1e-4, "backend": "cpu"}
    methods = {
        "SVD-KroSBL": lambda: krosbl(prob.y, prob.H, method="svd", **opts).x,
        "AM-KroSBL": lambda: krosbl(prob.y, prob.H, method="am", **opts).x,
        "KOMP": lambda: omp(prob.y, prob.H, kronecker=True, noise_var=prob.noise_var).x,
        "oracle LS": lambda: _oracle(prob),
    }
    if with_csbl:
        methods["classic SBL"] = lambda: sbl(prob.y, prob.H, **opts).x
    rows = []
    for name, fn in methods.items():
        t = time.perf_counter()
        x = fn()
        el = time.perf_counter() - t
        rows.append(
            dict(
                sweep=sweep,
                x=xval,
                M1=m1,
                k=k,
                snr=snr,
                seed=seed,
                method=name,
                nmse=nmse(x, prob.x),
                srr=support_recovery_rate(support_of(x), prob.support),
                seconds=el,
            )
        )
    del np
    return rows


def _init_worker() -> None:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--csbl-trials", type=int, default=0)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    ap.add_argument(
        "--replot",
        type=float,
        default=None,
        metavar="WALL_S",
        help="redraw the PNG from <out>/krosbl_study.csv (wall time for the title)",
    )
    args = ap.parse_args()
    if args.replot is not None:
        with open(Path(args.out) / "krosbl_study.csv") as f:
            summary = [
                {k: (v if k in ("sweep", "method") else float(v)) for k, v in r.items()}
                for r in csv.DictReader(f)
            ]
        _plot(summary, Path(args.out) / "krosbl_study.png", args.replot, int(summary[0]["trials"]))
        return
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    sys.path.insert(0, str(ROOT))
    import multiprocessing as mp

    import numpy as np

    from solvers.krosbl import kronecker_problem, krosbl

    warm = kronecker_problem([(4, 6), (4, 6), (4, 6)], [2, 2, 2], snr=20, seed=0)
    krosbl(warm.y, warm.H, backend="cpu")  # compile (and cache) the kernels once
    tasks = [
        (sw, xv, m1, k, snr, 1000 * i + seed, seed < args.csbl_trials)
        for i, (sw, xv, m1, k, snr) in enumerate(points())
        for seed in range(args.trials)
    ]
    print(
        f"{len(tasks)} problems x 4 methods (+ classic SBL on {args.csbl_trials} per point), "
        f"{args.processes} processes, load {os.getloadavg()}",
        flush=True,
    )
    t0 = time.perf_counter()
    rows: list[dict] = []
    with mp.get_context("fork").Pool(args.processes, initializer=_init_worker) as pool:
        for i, r in enumerate(pool.imap_unordered(run_trial, tasks, chunksize=4)):
            rows.extend(r)
            if (i + 1) % 400 == 0:
                print(f"  {i + 1}/{len(tasks)} in {time.perf_counter() - t0:.0f} s", flush=True)
    wall = time.perf_counter() - t0
    print(f"study done in {wall:.0f} s wall ({wall / 60:.1f} min), load {os.getloadavg()}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "krosbl_study_trials.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summary = []
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for sw, xv, m1, k, snr in points():
        for m in methods:
            rs = [r for r in rows if r["sweep"] == sw and r["x"] == xv and r["method"] == m]
            if not rs:
                continue
            e = float(np.mean([r["nmse"] for r in rs]))
            summary.append(
                dict(
                    sweep=sw,
                    x=xv,
                    M1=m1,
                    k=k,
                    snr=snr,
                    method=m,
                    trials=len(rs),
                    nmse_mean=e,
                    nmse_mean_db=10 * np.log10(e),
                    nmse_median_db=10 * np.log10(float(np.median([r["nmse"] for r in rs]))),
                    srr_mean=float(np.mean([r["srr"] for r in rs])),
                    seconds_mean=float(np.mean([r["seconds"] for r in rs])),
                )
            )
    with open(out / "krosbl_study.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0]))
        w.writeheader()
        w.writerows(summary)
    for s in summary:
        print(
            f"{s['sweep']:>3} = {s['x']:>4}  {s['method']:<12} NMSE {s['nmse_mean_db']:6.1f} dB "
            f"(median {s['nmse_median_db']:6.1f})  SRR {s['srr_mean']:.3f}  "
            f"{1e3 * s['seconds_mean']:8.1f} ms  [{s['trials']} trials]"
        )
    print(
        "total solver seconds per method: "
        + ", ".join(
            f"{m} {sum(r['seconds'] for r in rows if r['method'] == m):.0f}" for m in methods
        )
    )
    _plot(summary, out / "krosbl_study.png", wall, args.trials)
    print(f"wrote {out / 'krosbl_study.csv'}, {out / 'krosbl_study_trials.csv'}")


def _plot(summary: list[dict], path: Path, wall: float, trials: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    labels = {"snr": "SNR (dB)", "M1": "M_1 (M = 180 M_1)", "k": "nonzeros per factor k"}
    for j, sw in enumerate(("snr", "M1", "k")):
        for m in dict.fromkeys(s["method"] for s in summary):
            rs = [s for s in summary if s["sweep"] == sw and s["method"] == m]
            if not rs:
                continue
            xs = [s["x"] for s in rs]
            line = axes[0, j].semilogy(xs, [s["nmse_mean"] for s in rs], "o-", label=f"{m} mean")
            axes[0, j].semilogy(
                xs, [10 ** (s["nmse_median_db"] / 10) for s in rs], "x--",
                color=line[0].get_color(), alpha=0.7, label=f"{m} median",
            )  # fmt: skip
            if m != "oracle LS":
                axes[1, j].plot(xs, [s["srr_mean"] for s in rs], "o-", label=m)
        axes[0, j].set_xlabel(labels[sw])
        axes[1, j].set_xlabel(labels[sw])
        axes[0, j].set_ylabel("NMSE (mean: solid, median: dashed)")
        axes[1, j].set_ylabel("support recovery rate")
        axes[0, j].grid(True, which="both", alpha=0.3)
        axes[1, j].grid(True, alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(
        f"KroSBL synthetic study: N = 15³, {trials} trials per point (wall {wall / 60:.1f} min)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
