"""Benchmark: dyGRASS updates against re-running the static sparsifier from scratch.

For each graph: build the initial sparsifier (GRASS, target density), then stream
+25% edges (local insertions) in 10 batches and delete 5% of the edges in 10 batches.
Every batch is applied by the DynamicSparsifier (timed per batch); at checkpoints (after
the first insertion batch, after the last insertion batch and after the last deletion
batch) the static GRASS sparsifier is re-run from scratch on the updated graph at the
density the dynamic one has, in the same process with the same thread settings, and
both κ are measured. The speedup is the static re-run time over the dynamic batch time
at the same checkpoint. A second table compares static methods at equal density
(GRASS, Spielman–Srivastava ER sampling, maximum spanning tree + random edges).

Run::

    PYTHONPATH=. python benchmarks/sparsify_bench.py            # 1e5 and 1e6 nodes
    PYTHONPATH=. python benchmarks/sparsify_bench.py --quick    # 1e4 and 1e5 nodes
    PYTHONPATH=. python benchmarks/sparsify_bench.py --gpu      # + GPU walk rows
    PYTHONPATH=. python benchmarks/sparsify_bench.py --families both   # static, all families
    PYTHONPATH=. python benchmarks/sparsify_bench.py --dyn-options '{"refresh": 0}'

Writes ``benchmarks/out/sparsify_dynamic.csv``, ``sparsify_static.csv`` and
``sparsify.png``. BLAS runs single-threaded unless ``OPENBLAS_NUM_THREADS`` is set
(ARPACK's small dense work gains nothing from threads on a shared machine); Numba uses
``NUMBA_NUM_THREADS`` (default: all cores) for both the walks and GRASS's kernels.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from solvers.sparsify import (  # noqa: E402
    DynamicSparsifier,
    as_graph,
    batches,
    circuit_grid,
    delaunay_2d,
    deletion_stream,
    insertion_stream,
    mesh_2d,
    mesh_3d,
    mst_plus_random,
    relative_condition_number,
    sparsify,
)
from solvers.sparsify.dynamic import default_factors  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def graphs(quick: bool) -> list[tuple[str, Any]]:
    if quick:
        return [
            ("fe-mesh-2d 1e4", lambda: mesh_2d(100, 100, seed=0)),
            ("circuit 1e4", lambda: circuit_grid(71, 71, layers=2, seed=0)),
            ("fe-mesh-2d 1e5", lambda: mesh_2d(316, 316, seed=0)),
        ]
    return [
        ("fe-mesh-2d 1e5", lambda: mesh_2d(316, 316, seed=0)),
        ("circuit 1e5", lambda: circuit_grid(224, 224, layers=2, seed=0)),
        ("fe-mesh-2d 1e6", lambda: mesh_2d(1000, 1000, seed=0)),
    ]


def kappa(A: Any, H: Any) -> float:  # noqa: N803
    return float(relative_condition_number(A, H, tol=1e-4))


def dynamic_rows(
    name: str,
    A: Any,  # noqa: N803
    density: float,
    backends: list[str],
    seed: int = 0,
    checkpoints: str = "all",
    verbose: bool = False,
    dyn_options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Stream the updates through one DynamicSparsifier per backend; static re-runs at
    the checkpoints (once, on the CPU)."""
    g = as_graph(A)
    t0 = time.perf_counter()
    init = sparsify(A, target_density=density, seed=seed)
    t_init = time.perf_counter() - t0
    E, W = insertion_stream(A, int(0.25 * g.m), seed=seed + 1)  # noqa: N806
    ins = list(zip(batches(E, 10), batches(W, 10)))
    rows: list[dict[str, Any]] = []
    # the default K rule (distortion_factor times κ(H0)) on GRASS's own estimate
    k_rule = default_factors(g.w)[0] * init.condition_estimate
    dyns = {
        b: DynamicSparsifier(
            A, init.H, distortion_threshold=k_rule, seed=seed, backend=b, **(dyn_options or {})
        )
        for b in backends
    }
    print(
        f"\n{name}: n={g.n:,} m={g.m:,}; initial GRASS density {init.density:.3f}, "
        f"κ≈{init.condition_estimate:.1f} in {t_init:.1f} s; +{len(E):,} edges in 10 batches",
        flush=True,
    )
    dels: list[np.ndarray] | None = None
    for phase in ("insert", "delete"):
        for k in range(10):
            for b, dyn in dyns.items():
                if phase == "insert":
                    e, w = ins[k]
                    st = dyn.insert(e, w)
                else:
                    if dels is None:
                        D = deletion_stream(dyn.graph, int(0.05 * dyn.n_edges_graph), seed=seed + 2)  # noqa: N806
                        dels = batches(D, 10)
                    st = dyn.delete(dels[k])
                row = {
                    "graph": name,
                    "n": g.n,
                    "phase": phase,
                    "batch": k + 1,
                    "backend": b,
                    "batch_edges": st.inserted + st.deleted,
                    "kept_or_recovered": st.kept + st.recovered,
                    "exchanged": st.exchanged,
                    "dyn_seconds": st.seconds,
                    "walk_seconds": st.walk_seconds,
                    "density_dyn": st.density,
                }
                first = (0, 9) if g.n <= 500_000 else (9,)  # 1e6: fewer static re-runs
                checkpoint = checkpoints == "all" and phase == "insert" and k in first
                checkpoint |= checkpoints != "none" and phase == "delete" and k == 9
                if verbose:
                    print(
                        f"    {phase} {k + 1:2d} [{b}] {row['batch_edges']:,} edges: "
                        f"{st.seconds * 1e3:.1f} ms (walks {st.walk_seconds * 1e3:.1f} ms), "
                        f"kept/recovered {row['kept_or_recovered']}, "
                        f"exchanged {st.exchanged}",
                        flush=True,
                    )
                if checkpoint and b == backends[0]:
                    G = dyn.graph  # noqa: N806
                    t0 = time.perf_counter()
                    fresh = sparsify(G, target_density=dyn.density, seed=seed)
                    t_static = time.perf_counter() - t0
                    k_dyn = kappa(G, dyn.sparsifier)
                    k_static = kappa(G, fresh.H)
                    row.update(
                        static_seconds=t_static,
                        speedup=t_static / st.seconds,
                        kappa_dyn=k_dyn,
                        kappa_static=k_static,
                        kappa_ratio=k_dyn / k_static,
                        density_static=fresh.density,
                    )
                    print(
                        f"  {phase} batch {k + 1:2d} [{b}]: {row['batch_edges']:,} edges, "
                        f"dyn {st.seconds * 1e3:8.1f} ms vs static re-run {t_static:7.2f} s "
                        f"→ {row['speedup']:7.0f}×; κ dyn {k_dyn:6.1f} / static {k_static:6.1f}"
                        f" (ratio {k_dyn / k_static:.2f}) at density {dyn.density:.3f}",
                        flush=True,
                    )
                rows.append(row)
    for b in backends[1:]:
        same = abs(dyns[b].sparsifier - dyns[backends[0]].sparsifier).max() == 0
        gpu_t = [r["dyn_seconds"] for r in rows if r["backend"] == b]
        cpu_t = [r["dyn_seconds"] for r in rows if r["backend"] == backends[0]]
        print(
            f"  {b}: mean batch {np.mean(gpu_t) * 1e3:.1f} ms vs {backends[0]} "
            f"{np.mean(cpu_t) * 1e3:.1f} ms ({np.mean(cpu_t) / np.mean(gpu_t):.1f}×); "
            f"identical sparsifier: {same}"
        )
    return rows


def static_rows(name: str, A: Any, density: float) -> list[dict[str, Any]]:  # noqa: N803
    out = []
    for method in ("grass", "er_sampling", "mst+random"):
        t0 = time.perf_counter()
        if method == "mst+random":
            H = mst_plus_random(A, density, seed=0)  # noqa: N806
        else:
            H = sparsify(A, method=method, target_density=density, seed=0,  # noqa: N806
                         estimate_condition=False).H  # fmt: skip
        t = time.perf_counter() - t0
        k = kappa(A, H)
        d = H.nnz / 2 / A.shape[0]
        out.append({"graph": name, "method": method, "density": d, "kappa": k, "seconds": t})
    base = out[0]
    print(f"\n{name}: static methods at density {density}")
    for r in out:
        ratio = r["kappa"] / base["kappa"] if math.isfinite(r["kappa"]) else math.inf
        print(
            f"  {r['method']:12s} density {r['density']:.3f}  κ {r['kappa']:10.1f} "
            f"(×{ratio:.1f} GRASS's)  {r['seconds']:6.2f} s"
        )
    return out


FAMILIES = {
    "fe-mesh-2d": (lambda: mesh_2d(100, 100, seed=0), lambda: mesh_2d(316, 316, seed=0)),
    "delaunay-2d": (lambda: delaunay_2d(10_000, seed=0), lambda: delaunay_2d(100_000, seed=0)),
    "circuit-grid": (
        lambda: circuit_grid(71, 71, layers=2, seed=0),
        lambda: circuit_grid(224, 224, layers=2, seed=0),
    ),
    "mesh-3d-hex": (
        lambda: mesh_3d(22, 22, 22, elements="hex", seed=0),
        lambda: mesh_3d(46, 46, 46, elements="hex", seed=0),
    ),
    "mesh-3d-tet": (
        lambda: mesh_3d(22, 22, 22, elements="tet", seed=0),
        lambda: mesh_3d(46, 46, 46, elements="tet", seed=0),
    ),
}
#: GRASS options of the previous version (effective-weight tree, distortion scores with
#: one power step in the last third of the rounds, similarity 0.5)
PREVIOUS = {"tree": "mewst", "power": None, "similarity": 0.5}


def family_rows(sizes: list[int], density: float = 1.15) -> list[dict[str, Any]]:
    """GRASS at ``density`` on every test family: this version, the previous defaults,
    reweighting (3-D tet only: its κ needs LOBPCG) and the MST + random baseline."""
    out = []
    for name, makers in FAMILIES.items():
        for size in sizes:
            A = makers[size]()  # noqa: N806
            n = A.shape[0]
            variants: list[tuple[str, dict[str, Any] | None]] = [
                ("grass", {}),
                ("grass (previous defaults)", PREVIOUS),
            ]
            if name == "mesh-3d-tet":
                variants.append(("grass reweight=True", {"reweight": True}))
            variants.append(("mst+random", None))
            for label, opts in variants:
                t0 = time.perf_counter()
                if opts is None:
                    H = mst_plus_random(A, density, seed=0)  # noqa: N806
                    tree = "mst"
                else:
                    res = sparsify(A, target_density=density, seed=0, estimate_condition=False,
                                   **opts)  # fmt: skip
                    H, tree = res.H, res.info.get("tree")  # noqa: N806
                t = time.perf_counter() - t0
                k = kappa(A, H)
                row = {
                    "graph": name, "n": n, "edges_per_node_G": A.nnz / 2 / n, "method": label,
                    "density": H.nnz / 2 / n, "kappa": k, "seconds": t, "tree": tree,
                }  # fmt: skip
                out.append(row)
                print(
                    f"  {name:13s} n={n:7,d} {label:26s} density {row['density']:.3f} "
                    f"κ {k:8.1f}  {t:6.1f} s",
                    flush=True,
                )
    return out


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["graph"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ax = axes[0]
    for name in names:
        for b in sorted({r["backend"] for r in rows if r["graph"] == name}):
            rr = [r for r in rows if r["graph"] == name and r["backend"] == b]
            x = np.arange(1, len(rr) + 1)
            ax.semilogy(
                x, [r["dyn_seconds"] for r in rr], "o-", ms=3, label=f"{name} dyGRASS [{b}]"
            )
        st = [(i + 1, r["static_seconds"]) for i, r in enumerate(
            [r for r in rows if r["graph"] == name and r["backend"] == rows[0]["backend"]]
        ) if "static_seconds" in r]  # fmt: skip
        if st:
            ax.semilogy(*zip(*st), "s--", label=f"{name} static re-run")
    ax.axvline(10.5, color="0.7", lw=0.8)
    ax.set_xlabel("batch (1-10 insertions, 11-20 deletions)")
    ax.set_ylabel("seconds per batch")
    ax.legend(fontsize=7)
    ax.set_title("per-batch time")
    ax = axes[1]
    cps = [r for r in rows if "kappa_dyn" in r]
    labels = [f"{r['graph']}\n{r['phase']} {r['batch']}" for r in cps]
    x = np.arange(len(cps))
    ax.bar(x - 0.2, [r["kappa_dyn"] for r in cps], 0.4, label="dyGRASS (maintained)")
    ax.bar(x + 0.2, [r["kappa_static"] for r in cps], 0.4, label="GRASS from scratch")
    ax.set_xticks(x, labels, fontsize=6, rotation=30)
    ax.set_ylabel("κ(L_G, L_H) at equal density")
    ax.legend(fontsize=7)
    ax.set_title("quality")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1e4 and 1e5 nodes only")
    ap.add_argument("--gpu", action="store_true", help="also run the walks on the GPU")
    ap.add_argument("--density", type=float, default=1.12, help="initial sparsifier density")
    ap.add_argument("--no-static-table", action="store_true")
    ap.add_argument("--only", default=None, help="comma-separated substrings of graph names")
    ap.add_argument(
        "--checkpoints",
        choices=("all", "last", "none"),
        default="all",
        help="static re-runs after insert batches 1 and 10 and delete batch 10 (all), "
        "after the last batch only, or never",
    )
    ap.add_argument("--out", default=str(OUT), help="output folder (default benchmarks/out)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every batch")
    ap.add_argument(
        "--dyn-options", default=None, help='DynamicSparsifier options as JSON, e.g. {"refresh": 0}'
    )
    ap.add_argument(
        "--families",
        default=None,
        choices=("1e4", "1e5", "both"),
        help="only the static table of GRASS on every test family (this version against "
        "the previous defaults) at 1e4 and/or 1e5 nodes",
    )
    args = ap.parse_args()
    out = Path(args.out)
    if args.families:
        out.mkdir(parents=True, exist_ok=True)
        sizes = {"1e4": [0], "1e5": [1], "both": [0, 1]}[args.families]
        print(f"load average {os.getloadavg()}")
        rows = family_rows(sizes)
        write_csv(out / f"sparsify_families_{args.families}.csv", rows)
        print(f"load average after: {os.getloadavg()}")
        return 0
    import gpu as gpu_pkg

    backends = ["cpu"]
    if args.gpu or gpu_pkg.is_available():
        if gpu_pkg.is_available():
            backends.append("gpu")
        else:
            print(f"--gpu: no GPU ({gpu_pkg.unavailable_reason()}); CPU rows only")
    out.mkdir(parents=True, exist_ok=True)
    import numba

    print(
        f"threads: numba {numba.get_num_threads()}, OPENBLAS_NUM_THREADS="
        f"{os.environ.get('OPENBLAS_NUM_THREADS')}; load average {os.getloadavg()}"
    )
    dyn: list[dict[str, Any]] = []
    stat: list[dict[str, Any]] = []
    for name, make in graphs(args.quick):
        if args.only and not any(s in name for s in args.only.split(",")):
            continue
        t0 = time.perf_counter()
        A = make()  # noqa: N806
        print(f"\n[{name}] generated in {time.perf_counter() - t0:.1f} s", flush=True)
        dyn += dynamic_rows(
            name,
            A,
            args.density,
            backends,
            checkpoints=args.checkpoints,
            verbose=args.verbose,
            dyn_options=json.loads(args.dyn_options) if args.dyn_options else None,
        )
        if not args.no_static_table and A.shape[0] <= 200_000:
            stat += static_rows(name, A, 1.15)
        write_csv(out / "sparsify_dynamic.csv", dyn)
        if stat:
            write_csv(out / "sparsify_static.csv", stat)
        plot(dyn, out / "sparsify.png")
    print("\nsummary (speedup = static re-run / dynamic batch, same checkpoint):")
    for r in dyn:
        if "speedup" in r:
            print(
                f"  {r['graph']:16s} {r['phase']:6s} batch {r['batch']:2d}: "
                f"{r['speedup']:8.0f}×  κ ratio {r['kappa_ratio']:.2f}"
            )
    print(f"\nwrote {out / 'sparsify_dynamic.csv'}, {out / 'sparsify.png'}")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
