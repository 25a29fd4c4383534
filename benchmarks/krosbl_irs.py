"""IRS-aided MIMO channel estimation: channel NMSE against SNR (the paper's Fig. of Sec. VI-B).

    python benchmarks/krosbl_irs.py                        # 50 trials per SNR, 2 processes
    python benchmarks/krosbl_irs.py --trials 10 --sbl-trials 2

The system of ``solvers.krosbl.irs_mimo`` with the paper's sizes: 6 MS antennas, 16 BS
antennas, 256 IRS elements, grid G = 18, 3 pilots, 6 IRS patterns (y: 288 entries, x:
5832), angular spread 3 at the IRS and BS, SNR ∈ {4, 8, 12, 16, 20} dB, known noise
variance, at most 150 iterations and tolerance 1e-4 (the authors' IRS settings).
Estimators: SVD-KroSBL, AM-KroSBL, PC-KroSBL (AM with the block-sparse prior, β = 0.8),
classic SBL on the explicit 288 × 5832 dictionary (expensive: ``--sbl-trials`` per SNR),
OMP and Kronecker-OMP stopped at the noise level. Metric: the cascaded-channel NMSE
averaged over the 6 IRS patterns (mean over trials). Output ``<out>/krosbl_irs.csv``,
``krosbl_irs_trials.csv`` and ``krosbl_irs.png``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNRS = [4, 8, 12, 16, 20]
NAMES = {
    "svd": "SVD-KroSBL",
    "am": "AM-KroSBL",
    "pc": "PC-KroSBL (β=0.8)",
    "sbl": "classic SBL",
    "omp": "OMP",
    "komp": "Kronecker-OMP",
}


def run_trial(task: tuple) -> list[dict]:
    snr, seed, with_sbl = task
    from solvers.krosbl import irs_mimo

    p = irs_mimo.simulate(snr=snr, seed=seed)
    rows = []
    for m in NAMES:
        if m == "sbl" and not with_sbl:
            continue
        e = irs_mimo.estimate(p, m)
        rows.append(dict(snr=snr, seed=seed, method=NAMES[m], nmse=e.nmse, seconds=e.seconds))
    return rows


def _init_worker() -> None:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--sbl-trials", type=int, default=3)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    args = ap.parse_args()
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    sys.path.insert(0, str(ROOT))
    import multiprocessing as mp

    import numpy as np

    from solvers.krosbl import irs_mimo

    irs_mimo.estimate(irs_mimo.simulate(snr=10, seed=0), "svd", maxiter=2)  # compile once
    tasks = [
        (snr, 10_000 * snr + seed, seed < args.sbl_trials)
        for snr in SNRS
        for seed in range(args.trials)
    ]
    # the slow classic-SBL trials first, so that they overlap with the rest
    tasks.sort(key=lambda t: not t[2])
    print(f"{len(tasks)} channels, {args.processes} processes, load {os.getloadavg()}", flush=True)
    t0 = time.perf_counter()
    rows: list[dict] = []
    with mp.get_context("fork").Pool(args.processes, initializer=_init_worker) as pool:
        for r in pool.imap_unordered(run_trial, tasks):
            rows.extend(r)
    wall = time.perf_counter() - t0
    print(f"done in {wall:.0f} s, load {os.getloadavg()}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "krosbl_irs_trials.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summary = []
    for m in NAMES.values():
        for snr in SNRS:
            rs = [r for r in rows if r["method"] == m and r["snr"] == snr]
            if not rs:
                continue
            e = float(np.mean([r["nmse"] for r in rs]))
            summary.append(
                dict(
                    method=m,
                    snr=snr,
                    trials=len(rs),
                    nmse_mean=e,
                    nmse_mean_db=10 * np.log10(e),
                    nmse_median_db=10 * np.log10(float(np.median([r["nmse"] for r in rs]))),
                    seconds_mean=float(np.mean([r["seconds"] for r in rs])),
                )
            )
            print(
                f"{m:<18} {snr:>3} dB  NMSE {summary[-1]['nmse_mean_db']:6.1f} dB (median "
                f"{summary[-1]['nmse_median_db']:6.1f})  {summary[-1]['seconds_mean']:.3f} s "
                f"[{len(rs)} trials]",
                flush=True,
            )
    with open(out / "krosbl_irs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0]))
        w.writeheader()
        w.writerows(summary)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for m in NAMES.values():
        rs = [s for s in summary if s["method"] == m]
        if rs:
            lab = f"{m} ({rs[0]['trials']} trials)"
            axes[0].semilogy([s["snr"] for s in rs], [s["nmse_mean"] for s in rs], "o-", label=lab)
            axes[1].semilogy([s["snr"] for s in rs], [s["seconds_mean"] for s in rs], "o-", label=m)
    axes[0].set_xlabel("SNR (dB)")
    axes[0].set_ylabel("channel NMSE (mean over trials)")
    axes[1].set_xlabel("SNR (dB)")
    axes[1].set_ylabel("seconds per estimate")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("IRS-aided MIMO uplink channel estimation (6/16/256 antennas, G = 18)")
    fig.tight_layout()
    fig.savefig(out / "krosbl_irs.png", dpi=110)
    print(f"wrote {out / 'krosbl_irs.csv'}, {out / 'krosbl_irs.png'}")


if __name__ == "__main__":
    main()
