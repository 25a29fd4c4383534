"""Benchmark of the LDP sparse-regression family (issue 7).

Parts (``--part``, default all):

``throughput``
    Owner-side randomizers at d = 10 (an NLDP report holds 65 numbers): the fused
    NumPy randomizer (what the SDK runs; in SDK-sized batches into a reused buffer, and in
    one call with a fresh output), the generic per-channel NumPy path, the simulation's
    fused path (per-block NumPy draws + the Numba kernel) with 1 and N threads, against a
    plain-Python loop that randomizes one owner at a time — reports per second, ratios.
``server``
    Server-side exact aggregation (schema check + fixed-point sums) and the estimate, for
    n = 10⁷ reports at d = 10 and 10⁶ at d = 50, streamed in batches (one batch buffer is
    re-sent, as owners' batches would arrive), against a plain-Python loop over the
    reports and a plain NumPy float sum (not exact); GPU rows with ``--gpu``.
``accuracy``
    ℓ2 error against n and against ε for the three protocols (nldp with the noise-aware
    eigenvalue floor, the paper's plug-in without it, and our IHT estimator) and the
    baselines (non-private Lasso and IHT, naive Laplace-then-Lasso), the way
    the paper's experiments plot them: CSV + PNG.

Everything is written under ``benchmarks/out/`` (``ldp_*.csv``, ``ldp_*.png``).
``--quick`` shrinks every part to a smoke run (seconds).

Usage::

    PYTHONPATH=. python benchmarks/ldp_bench.py --quick
    PYTHONPATH=. python benchmarks/ldp_bench.py --part server --threads 2
    PYTHONPATH=. python benchmarks/ldp_bench.py --part server --gpu
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_CASES = "10:10000000:200000,50:1000000:20000"


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)


def _timed(fn, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
    w, c = time.perf_counter(), time.process_time()
    out = fn(*a, **kw)
    return out, time.perf_counter() - w, time.process_time() - c


REPEAT = 3


def _best(fn, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
    """Best of REPEAT runs by CPU time (the shared machine's load inflates wall time)."""
    best = None
    for _ in range(REPEAT):
        out, w, c = _timed(fn, *a, **kw)
        if best is None or c < best[2]:
            best = (out, w, c)
    return best


def _write(name: str, rows: list[dict]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {path}")
    return path


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return float("nan")


# -- throughput -----------------------------------------------------------------------------------
def part_throughput(args: argparse.Namespace) -> list[dict]:
    import numpy as np

    from solvers.ldp import Layout, LdpParams, SyntheticProblem, resolve
    from solvers.ldp import _kernels_numba as K  # noqa: N812
    from solvers.ldp import randomizers as rz
    from solvers.ldp.simulate import draws

    d = 10
    m = 20_000 if args.quick else 1_000_000
    m_loop = 500 if args.quick else 5_000
    prob = SyntheticProblem(m, d, 2, seed=0)
    X, y = prob.materialize()  # noqa: N806
    cfg = resolve(LdpParams(k=2, epsilon=4.0), d=d, n=10**7)
    b = cfg.bounds
    lay = Layout.for_config(cfg)
    rows = []
    rng = np.random.default_rng(1)
    rz.randomize_nldp(X[:5000], y[:5000], epsilon=4.0, bounds=b, rng=rng)  # warm up
    bs = min(m, 20_000)  # an SDK-sized batch of owners
    buf = np.empty((bs, lay.width))

    def sdk_batches() -> None:
        for a in range(0, m, bs):
            rz.randomize_nldp(X[a : a + bs], y[a : a + bs], epsilon=4.0, bounds=b, rng=rng,
                              out=buf)  # fmt: skip

    _, w, c = _best(sdk_batches)
    rows.append({"method": f"NumPy randomizer (SDK), batches of {bs} (out= reused)",
                 "threads": 1, "reports": m, "wall_s": w, "cpu_s": c})  # fmt: skip
    if args.threads > 1:
        bt = min(m, 4 * rz.PARALLEL_CHUNK)  # whole chunks per batch
        tbuf = np.empty((bt, lay.width))

        def sdk_threaded() -> None:
            for a in range(0, m, bt):
                e = min(bt, m - a)
                rz.randomize_nldp(X[a : a + e], y[a : a + e], epsilon=4.0, bounds=b, rng=rng,
                                  out=tbuf[:e], workers=args.threads)  # fmt: skip

        _, w, c = _best(sdk_threaded)
        rows.append({"method": f"NumPy randomizer (SDK), workers={args.threads}, batches of {bt}",
                     "threads": args.threads, "reports": m, "wall_s": w, "cpu_s": c})  # fmt: skip
    _, w, c = _best(rz.randomize_nldp, X, y, epsilon=4.0, bounds=b, rng=rng)
    rows.append({"method": f"NumPy randomizer (SDK), one call, fresh {m * lay.width * 8 >> 20} MiB "
                 "output", "threads": 1, "reports": m, "wall_s": w, "cpu_s": c})  # fmt: skip
    chans = list(lay.channels)

    def generic_batches() -> None:
        for a in range(0, m, bs):
            e = min(bs, m - a)

            def stats(i: int, j: int, a: int = a) -> list:
                return list(rz.nldp_statistics(X[a + i : a + j], y[a + i : a + j], b))

            rz.release_blocked(chans, stats, e, rng, buf[:e])

    _, w, c = _best(generic_batches)
    rows.append({"method": "generic blocked NumPy path (per-channel), same batches",
                 "threads": 1, "reports": m, "wall_s": w, "cpu_s": c})  # fmt: skip

    def fused(threads: int, rows: int) -> None:
        out = np.empty((rows, lay.width))
        G, U = draws(lay, rows, 7, 0, 0, threads)  # noqa: N806
        K.release_rows(lay.kind, X[:rows], y[:rows], np.zeros(d), b.r, b.tau_x, b.tau_y, G, U,
                       *lay.channel_arrays(), out)  # fmt: skip

    import numba

    fused(1, 5000)  # compile
    for t in sorted({1, args.threads}):
        numba.set_num_threads(t)
        _, w, c = _best(fused, t, m)
        rows.append({"method": "simulation: block draws + Numba release_rows", "threads": t,
                     "reports": m, "wall_s": w, "cpu_s": c})  # fmt: skip
    numba.set_num_threads(args.threads)

    def rng_floor() -> None:
        gen = np.random.default_rng(3)
        buf = np.empty((2048, lay.width))
        for _ in range(m // 2048):
            gen.standard_normal(out=buf)

    _, w, c = _best(rng_floor)
    rows.append({"method": "(floor) NumPy standard_normal only, 65 per report", "threads": 1,
                 "reports": m // 2048 * 2048, "wall_s": w, "cpu_s": c})  # fmt: skip

    def loop() -> None:
        r = np.random.default_rng(2)
        for i in range(m_loop):
            rz.randomize_nldp(X[i], y[i : i + 1], epsilon=4.0, bounds=b, rng=r)

    _, w, c = _best(loop)
    rows.append({"method": "plain-Python loop, one owner per call", "threads": 1,
                 "reports": m_loop, "wall_s": w, "cpu_s": c})  # fmt: skip
    base = rows[-1]["reports"] / rows[-1]["cpu_s"]
    print(f"\nrandomizer throughput, NLDP reports at d = {d} (65 numbers), load {_load():.1f}")
    print("(ratios from CPU time; wall time is inflated by the machine's load)")
    print(f"{'method':60s} {'thr':>3s} {'reports/s':>12s} {'/cpu-s':>12s} {'vs loop':>8s}")
    for r in rows:
        r["reports_per_s"] = r["reports"] / r["wall_s"]
        r["reports_per_cpu_s"] = r["reports"] / max(r["cpu_s"], 1e-9)
        r["ratio_vs_loop"] = r["reports_per_cpu_s"] / base
        r["load"] = _load()
        print(f"{r['method']:60s} {r['threads']:3d} {r['reports_per_s']:12.3g} "
              f"{r['reports_per_cpu_s']:12.3g} {r['ratio_vs_loop']:8.1f}")  # fmt: skip
    return rows


# -- server aggregation + estimate ---------------------------------------------------------------
def _server_rows(args: argparse.Namespace, d: int, n: int, batch: int, be_name: str) -> list[dict]:
    import numpy as np

    from solvers import get_backend
    from solvers.ldp import Aggregate, Layout, LdpParams, SyntheticProblem, estimate, resolve
    from solvers.ldp import randomizers as rz

    be = get_backend(be_name)
    cfg = resolve(LdpParams(k=2, epsilon=4.0), d=d, n=n)
    lay = Layout.for_config(cfg)
    prob = SyntheticProblem(batch, d, 2, seed=3)
    Xb, yb = prob.materialize()  # noqa: N806
    R = rz.randomize_nldp(Xb, yb, epsilon=4.0, bounds=cfg.bounds, rng=np.random.default_rng(4))  # noqa: N806
    nb = n // batch
    agg = Aggregate(lay)
    agg.add(R[:100], be)  # compile / warm up
    agg.add_checked(np.ascontiguousarray(R[:100]))
    agg = Aggregate(lay)
    Rd = be.asarray(R) if be.is_gpu else R  # noqa: N806

    def server() -> None:
        for _ in range(nb):
            if be.is_gpu:
                agg.add(Rd, be)
            else:
                agg.add_checked(R)
        be.synchronize()

    _, w_agg, c_agg = _timed(server)
    warm = Aggregate(lay)
    warm.add(R[:1000])
    estimate(
        warm,
        k=2,
        epsilon=4.0,
        r=cfg.bounds.r,
        tau_x=cfg.bounds.tau_x,
        tau_y=cfg.bounds.tau_y,
        backend=be,
    )  # fmt: skip - imports, first call
    t0 = time.perf_counter()
    res = estimate(agg, k=2, epsilon=4.0, r=cfg.bounds.r, tau_x=cfg.bounds.tau_x,
                   tau_y=cfg.bounds.tau_y, backend=be)  # fmt: skip
    w_est = time.perf_counter() - t0
    _, w_chk, _ = _timed(lambda: lay.check(R))
    rows = [{
        "d": d, "n": nb * batch, "width": lay.width, "backend": be.name,
        "method": "ours: schema check + exact fixed-point sums" if not be.is_gpu
        else "ours on GPU: exact fixed-point sums (device batches)",
        "batches": nb, "batch": batch, "aggregate_s": w_agg, "cpu_s": c_agg,
        "check_s_per_batch": w_chk, "estimate_s": w_est,
        "reports_per_s": nb * batch / w_agg, "reports_per_cpu_s": nb * batch / max(c_agg, 1e-9),
        "support": str(res.support.tolist()),
    }]  # fmt: skip
    if be.is_gpu:
        _, w_tr, _ = _timed(lambda: (be.asarray(R), be.synchronize()))
        rows[0]["h2d_s_per_batch"] = w_tr
        return rows
    # baselines: a plain-Python loop over the reports (exact, one report at a time) and a
    # NumPy float sum (vectorized but not exact: depends on order and batching)
    m_loop = min(batch, 2000 if args.quick else 20_000)
    inv_q = 1.0 / lay.quanta

    norm, _ = lay.check_arrays()

    def py_loop() -> None:  # the same checks and exact sum, one report at a time
        acc = np.zeros(lay.width, dtype=np.int64)
        for row in R[:m_loop]:
            if not (np.abs(row) <= lay.col_bound).all():
                raise ValueError("bad report")
            for ch, nb_ in zip(lay.channels, norm):
                seg = row[ch.offset : ch.offset + ch.dim]
                if abs(math.sqrt(seg @ seg) - nb_) > 1e-8 * nb_:
                    raise ValueError("bad report")
            acc += np.floor(row * inv_q + 0.5).astype(np.int64)

    _, _, c_loop = _best(py_loop)
    rate_loop = m_loop / c_loop
    _, _, c_np = _best(lambda: [R.sum(axis=0) for _ in range(max(1, nb // 10))])
    rate_np = max(1, nb // 10) * batch / c_np
    rows.append({"d": d, "n": nb * batch, "width": lay.width, "backend": "cpu",
                 "method": "plain-Python loop over reports (same checks, exact)",
                 "cpu_s": nb * batch / rate_loop, "reports_per_cpu_s": rate_loop,
                 "extrapolated_from": m_loop})  # fmt: skip
    rows.append({"d": d, "n": nb * batch, "width": lay.width, "backend": "cpu",
                 "method": "NumPy float sum (not exact)", "cpu_s": nb * batch / rate_np,
                 "reports_per_cpu_s": rate_np})  # fmt: skip
    return rows


def _simulation_rows(args: argparse.Namespace, n: int, backends: list[str]) -> list[dict]:
    """End-to-end message-level simulation (owners' randomizers + server), d = 10."""
    from solvers.ldp import SyntheticProblem, ldp_regression

    prob = SyntheticProblem(n, 10, 2, seed=0)
    rows = []
    for be in backends:
        ldp_regression(SyntheticProblem(5000, 10, 2), k=2, epsilon=4.0, seed=0, backend=be)
        res, w, c = _timed(ldp_regression, prob, k=2, epsilon=4.0, seed=1, backend=be)
        rows.append({"d": 10, "n": n, "width": 65, "backend": be,
                     "method": f"simulation nldp end to end ({be})", "aggregate_s": w,
                     "cpu_s": c, "reports_per_s": n / w, "reports_per_cpu_s": n / max(c, 1e-9),
                     "timings": str({k: round(v, 3) for k, v in res.info["timings"].items()}),
                     "error": prob.error(res.theta)})  # fmt: skip
    return rows


def part_server(args: argparse.Namespace) -> list[dict]:
    spec = "10:100000:10000,50:20000:2000" if args.quick else args.cases
    cases = [tuple(int(v) for v in c.split(":")) for c in spec.split(",")]
    backends = ["cpu"] + (["gpu"] if args.gpu else [])
    rows = []
    for d, n, batch in cases:
        for be in backends:
            rows += _server_rows(args, d, n, batch, be)
    sim = _simulation_rows(args, 20_000 if args.quick else args.sim_n, backends)
    for r in sim:
        print(f"{r['method']:40s} n={r['n']} wall {r['aggregate_s']:.2f} s, cpu {r['cpu_s']:.2f} s "
              f"({r['reports_per_s']:.3g} owners/s), stages {r['timings']}")  # fmt: skip
    print(f"\nserver: exact aggregation + estimate, streamed batches, load {_load():.1f}")
    print("(CPU seconds; GPU rows: wall seconds; ratio = other / ours-CPU)")
    print(f"{'d':>3s} {'n':>9s} {'method':54s} {'seconds':>9s} {'rep/s':>10s} {'est s':>8s} "
          f"{'ratio':>7s}")  # fmt: skip
    for d, _n, _ in cases:
        ours = next(
            r for r in rows if r["d"] == d and r["backend"] == "cpu" and "ours" in r["method"]
        )
        for r in (r for r in rows if r["d"] == d):
            sec = r["aggregate_s"] if r["backend"] == "gpu" else r["cpu_s"]
            rate = r["reports_per_s"] if r["backend"] == "gpu" else r["reports_per_cpu_s"]
            r["ratio_vs_ours_cpu"] = sec / ours["cpu_s"]
            r["load"] = _load()
            print(f"{d:3d} {r['n']:9d} {r['method']:54s} {sec:9.3g} "
                  f"{rate:10.3g} {r.get('estimate_s', float('nan')):8.3g} "
                  f"{r['ratio_vs_ours_cpu']:7.2f}")  # fmt: skip
    return rows + sim


# -- accuracy -----------------------------------------------------------------------------------
METHODS = ["nldp", "nldp (paper's plug-in, noise_floor=0)", "nldp (iht estimator)",
           "nldp_public", "interactive", "naive_ldp", "lasso (non-private)",
           "iht (non-private)"]  # fmt: skip


def _run_method(method: str, prob, eps: float, seed: int, backend: str):  # noqa: ANN001, ANN202
    from solvers.ldp import baselines, ldp_regression

    if method == "naive_ldp":
        return baselines.naive_ldp(prob, k=prob.k, epsilon=eps, seed=seed)
    if method == "lasso (non-private)":
        return baselines.lasso(prob, k=prob.k)
    if method == "iht (non-private)":
        return baselines.iht(prob, k=prob.k)
    kw = {"estimator": "iht"} if "iht estimator" in method else {}
    if "noise_floor=0" in method:
        kw["noise_floor"] = 0.0
    proto = method.split()[0]
    pub = prob.public_X(20_000) if proto == "nldp_public" else None
    return ldp_regression(prob, k=prob.k, epsilon=eps, protocol=proto, public_X=pub, seed=seed,
                          backend=backend, **kw)  # fmt: skip


def part_accuracy(args: argparse.Namespace) -> list[dict]:
    from solvers.ldp import SyntheticProblem

    d, k = 10, 2
    if args.quick:
        ns, eps_list, seeds, n_eps = [10**4, 10**5], [1.0, 4.0], [0], 10**5
    else:
        ns = [10**5, 3 * 10**5, 10**6, 3 * 10**6, 10**7]
        eps_list, seeds, n_eps = [0.5, 1.0, 2.0, 4.0, 8.0], [0, 1, 2], 10**6
    methods = [m.strip() for m in args.methods.split(";")] if args.methods else METHODS
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)}; known: {METHODS}")
    rows = []
    if args.merge and (OUT / "ldp_accuracy.csv").exists():  # keep the other methods' rows
        with open(OUT / "ldp_accuracy.csv") as f:
            for r in csv.DictReader(f):
                if r["method"] not in methods:
                    for key in ("n", "d", "k", "seed", "support"):
                        r[key] = int(r[key])
                    for key in ("epsilon", "error", "wall_s", "cpu_s", "load"):
                        r[key] = float(r[key])
                    rows.append(r)
    grid = [("n", n, 4.0) for n in ns] + [("eps", n_eps, e) for e in eps_list]
    for sweep, n, eps in grid:
        for s in seeds:
            prob = SyntheticProblem(n, d, k, seed=s)
            for method in methods:
                if sweep == "eps" and "non-private" in method:
                    continue
                if method == "nldp" and n >= 10**7 and args.skip_big_nldp:
                    continue
                res, w, c = _timed(_run_method, method, prob, eps, 100 + s, args.backend)
                rows.append({"sweep": sweep, "method": method, "n": n, "d": d, "k": k,
                             "epsilon": eps, "seed": s, "error": prob.error(res.theta),
                             "support": int(prob.support_recovered(res.theta)),
                             "wall_s": w, "cpu_s": c, "load": _load()})  # fmt: skip
                print(f"{sweep:3s} n={n:9d} eps={eps:4.1f} seed={s} {method:24s} "
                      f"err={rows[-1]['error']:.4f} supp={rows[-1]['support']} "
                      f"{w:7.1f} s", flush=True)  # fmt: skip
    _plot_accuracy(rows)
    _summary(rows)
    return rows


def _summary(rows: list[dict]) -> None:
    import numpy as np

    print("\nmedian l2 error (support recovered / seeds)")
    for sweep, key in (("n", "n"), ("eps", "epsilon")):
        vals = sorted({r[key] for r in rows if r["sweep"] == sweep})
        print(f"{'method':24s} " + " ".join(f"{key}={v:<9g}" for v in vals))
        for m in METHODS:
            cells = []
            for v in vals:
                sel = [r for r in rows if r["sweep"] == sweep and r["method"] == m and r[key] == v]
                if sel:
                    med = float(np.median([r["error"] for r in sel]))
                    cells.append(f"{med:.3f}({sum(r['support'] for r in sel)}/{len(sel)})")
                else:
                    cells.append("-")
            print(f"{m:24s} " + " ".join(f"{c:11s}" for c in cells))


def _plot_accuracy(rows: list[dict]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:  # pragma: no cover
        print("matplotlib not installed: no PNG")
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, sweep, key, xlabel in (
        (axes[0], "n", "n", "owners n"),
        (axes[1], "eps", "epsilon", "ε per owner"),
    ):
        for m in METHODS:
            sel = [r for r in rows if r["sweep"] == sweep and r["method"] == m]
            if not sel:
                continue
            xs = sorted({r[key] for r in sel})
            med = [np.median([r["error"] for r in sel if r[key] == x]) for x in xs]
            ax.plot(xs, med, "o-", label=m)
        if sweep == "n":
            xs = np.array(sorted({r["n"] for r in rows if r["sweep"] == "n"}), float)
            ax.plot(xs, 0.5 * (xs / xs[0]) ** -0.5, "k:", lw=1, label="slope −1/2")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("median ‖θ̂ − θ*‖₂")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_title("d = 10, k = 2, ε = 4")
    axes[1].set_title("d = 10, k = 2, n = 10⁶")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "ldp_accuracy.png"
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    global REPEAT, OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["all", "throughput", "server", "accuracy"], default="all")
    ap.add_argument("--quick", action="store_true", help="smoke-sized run (seconds)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS/Numba threads (both sides)")
    ap.add_argument("--gpu", action="store_true", help="add GPU rows (needs CuPy + a device)")
    ap.add_argument("--backend", default="cpu", help="backend of the accuracy runs")
    ap.add_argument("--skip-big-nldp", action="store_true", help="accuracy: skip nldp at 1e7")
    ap.add_argument("--cases", default=DEFAULT_CASES, help="server: d:n:batch,... (reports)")
    ap.add_argument("--sim-n", type=int, default=10**6, help="server: owners of the e2e rows")
    ap.add_argument("--out", default=str(OUT), help="folder for the CSV and PNG files")
    ap.add_argument("--methods", default="", help="accuracy: ';'-separated subset of methods")
    ap.add_argument("--merge", action="store_true", help="accuracy: keep other methods' rows")
    ap.add_argument("--replot", action="store_true", help="accuracy: plot the existing CSV only")
    args = ap.parse_args(argv)
    OUT = Path(args.out)
    REPEAT = 1 if args.quick else 3
    _set_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.gpu:
        import gpu

        if not gpu.is_available():
            print(f"--gpu: no usable GPU ({gpu.unavailable_reason()}); GPU rows skipped")
            args.gpu = False
    print(f"load average at start: {_load():.1f}, threads {args.threads}")
    if args.part in ("all", "throughput"):
        _write("ldp_throughput.csv", part_throughput(args))
    if args.part in ("all", "server"):
        _write("ldp_server.csv", part_server(args))
    if args.replot:
        with open(OUT / "ldp_accuracy.csv") as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            for key in ("n", "support"):
                r[key] = int(r[key])
            for key in ("epsilon", "error"):
                r[key] = float(r[key])
        _plot_accuracy(rows)
        _summary(rows)
        return 0
    if args.part in ("all", "accuracy"):
        _write("ldp_accuracy.csv", part_accuracy(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
