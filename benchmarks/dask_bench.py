"""Dask executor benchmark: throughput and per-job overhead of short jobs, local worker
processes vs a Dask LocalCluster with the same number of processes, in the same run,
end to end through the REST service (``sparsehpc serve``).

    python benchmarks/dask_bench.py                # 200 jobs, 2 processes each side
    python benchmarks/dask_bench.py --quick        # 60 jobs, fewer latency samples
    python benchmarks/dask_bench.py --procs 4 --jobs 400
    python benchmarks/dask_bench.py --gpu          # + GPU rows (default when a GPU exists)

For each executor a server is started on a fresh store with the service defaults (the
local workers poll every 0.2 s when idle; the Dask executor is pushed each submission),
warmed up (every worker process loads its compiled kernels), then:

* throughput: ``--jobs`` short RPCA jobs submitted at once; jobs/s = N / makespan, the
  makespan running from the first job's creation to the last job's end (store times);
  overhead per job = P * makespan / N - mean solver time (what a worker slot spends on
  a job beyond solving it: claim, inputs, results, dispatch);
* latency: ``--latency`` jobs one after the other; overhead = end - creation - solver
  time of each job (queueing, dispatch, claim, input/output files, store updates).

Results: a table with the Dask/local ratios, ``dask_bench.csv`` and ``dask_bench.png``
in ``--out`` (default ``benchmarks/out``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(executor: str, procs: int, data_dir: Path, gpu: bool) -> Iterator[tuple[str, int]]:
    """``sparsehpc serve`` with ``procs`` local workers or a ``procs``-worker LocalCluster."""
    import httpx

    port = free_port()
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT),
        SPARSEHPC_DATA_DIR=str(data_dir),
        SPARSEHPC_EXECUTOR=executor,
        SPARSEHPC_WORKERS=str(procs),
        SPARSEHPC_DASK_SCHEDULER="local",
        SPARSEHPC_DASK_WORKERS=str(procs),
        SPARSEHPC_DASK_GPU_WORKERS="1" if gpu else "0",
        SPARSEHPC_LOG_LEVEL="warning",
    )
    if not gpu:
        env["SPARSEHPC_WORKER_GPU"] = "false"
    log = open(data_dir / "server.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((data_dir / "server.log").read_text()[-3000:])
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                r = httpx.get(f"{url}/api/v1/health/ready", timeout=2)
                if r.status_code == 200 and r.json()["workers"]["alive"] >= procs:
                    break
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def cpu_times(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of the server process and of its child processes."""
    import psutil

    api = psutil.Process(pid)
    t = api.cpu_times()
    kids = 0.0
    for ch in api.children(recursive=True):
        try:
            c = ch.cpu_times()
            kids += c.user + c.system
        except psutil.Error:
            pass
    return t.user + t.system, kids


def _wait_done(c: Any, n_total: int, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = sum(
            c._request("GET", "/api/v1/jobs", params={"status": s, "limit": 1}).json()["total"]
            for s in ("succeeded", "failed", "cancelled")
        )
        if done >= n_total:
            return
        time.sleep(0.05)
    raise TimeoutError(f"jobs not done after {timeout} s")


def _times(data_dir: Path, ids: list[str]) -> list[tuple[float, float, float, float, str]]:
    """(created, started, finished, solver seconds, status) of each job, from the store."""
    from service.store import Store

    store = Store(f"sqlite:///{data_dir / 'sparsehpc.db'}", data_dir, create=False)
    try:
        out = []
        for i in ids:
            j = store.get_job(i)
            wall = float((j.stats or {}).get("wall_seconds", 0.0))
            out.append((j.created_at, j.started_at or 0.0, j.finished_at or 0.0, wall, j.status))
        return out
    finally:
        store.dispose()


def run_side(executor: str, args: argparse.Namespace, gpu: bool) -> dict[str, Any]:
    from service.client import Client
    from solvers.rpca import low_rank_plus_sparse

    backend = args.gpu_backend if gpu else "cpu"
    procs = 1 if gpu else args.procs
    M, _, _ = low_rank_plus_sparse(args.size, rank=2, sparsity=0.05, seed=0)
    params = {"tol": 1e-6}
    with tempfile.TemporaryDirectory(prefix=f"dask-bench-{executor}-") as tmp:
        data_dir = Path(tmp)
        t_start = time.perf_counter()
        with server(executor, procs, data_dir, gpu) as (url, pid), Client(url) as c:
            t_ready = time.perf_counter() - t_start
            up = c.upload(M)  # the same stored input for every job: the workers read it by id
            n_warm = 4 * procs
            for _ in range(n_warm):
                c.submit("rpca", {"M": up}, params, backend)
            _wait_done(c, n_warm)
            # throughput
            cpu0 = cpu_times(pid)
            t0 = time.perf_counter()
            ids = [c.submit("rpca", {"M": up}, params, backend).id for _ in range(args.jobs)]
            t_submit = time.perf_counter() - t0
            _wait_done(c, n_warm + args.jobs)
            t_wall = time.perf_counter() - t0
            cpu1 = cpu_times(pid)
            # latency, one job at a time
            lat_ids = []
            for k in range(args.latency):
                lat_ids.append(c.submit("rpca", {"M": up}, params, backend).id)
                _wait_done(c, n_warm + args.jobs + k + 1)
        rows = _times(data_dir, ids)
        lat = _times(data_dir, lat_ids)
    bad = [r[4] for r in rows + lat if r[4] != "succeeded"]
    if bad:
        raise RuntimeError(f"{executor}: {len(bad)} jobs did not succeed: {set(bad)}")
    makespan = max(r[2] for r in rows) - min(r[0] for r in rows)
    solve = statistics.fmean(r[3] for r in rows)
    lat_over = sorted(r[2] - r[0] - r[3] for r in lat)
    return {
        "executor": executor,
        "backend": backend,
        "processes": procs,
        "jobs": args.jobs,
        "size": args.size,
        "startup_s": t_ready,
        "submit_s": t_submit,
        "wall_s": t_wall,
        "makespan_s": makespan,
        "jobs_per_s": args.jobs / makespan,
        "solve_ms": 1e3 * solve,
        "overhead_ms": 1e3 * (procs * makespan / args.jobs - solve),
        "cpu_api_ms": 1e3 * (cpu1[0] - cpu0[0]) / args.jobs,
        "cpu_workers_ms": 1e3 * (cpu1[1] - cpu0[1]) / args.jobs,
        "latency_overhead_ms_median": 1e3 * statistics.median(lat_over),
        "latency_overhead_ms_p90": 1e3 * lat_over[int(0.9 * (len(lat_over) - 1))],
    }


def report(results: list[dict[str, Any]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    keys = list(results[0])
    with open(out / "dask_bench.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(results)
    print(
        f"\n{'executor':8} {'backend':7} {'P':>2} {'jobs':>5} {'jobs/s':>8} {'solve ms':>9} "
        f"{'overhead ms':>11} {'latency ms (p50/p90)':>21} {'CPU ms/job api+workers':>23}"
    )
    for r in results:
        print(
            f"{r['executor']:8} {r['backend']:7} {r['processes']:>2} {r['jobs']:>5} "
            f"{r['jobs_per_s']:8.1f} {r['solve_ms']:9.1f} {r['overhead_ms']:11.1f} "
            f"{r['latency_overhead_ms_median']:10.1f}/{r['latency_overhead_ms_p90']:<10.1f} "
            f"{r['cpu_api_ms']:10.1f} + {r['cpu_workers_ms']:<10.1f}"
        )
    for backend in sorted({r["backend"] for r in results}):
        pair = {r["executor"]: r for r in results if r["backend"] == backend}
        if {"local", "dask"} <= set(pair):
            d, lo = pair["dask"], pair["local"]
            print(
                f"{backend}: Dask/local throughput ratio {d['jobs_per_s'] / lo['jobs_per_s']:.2f}; "
                f"overhead per job {d['overhead_ms']:.1f} ms (Dask) vs {lo['overhead_ms']:.1f} ms "
                f"(local); latency overhead {d['latency_overhead_ms_median']:.1f} ms vs "
                f"{lo['latency_overhead_ms_median']:.1f} ms; CPU per job "
                f"{d['cpu_api_ms'] + d['cpu_workers_ms']:.1f} ms vs "
                f"{lo['cpu_api_ms'] + lo['cpu_workers_ms']:.1f} ms"
            )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    labels = [f"{r['executor']}\n{r['backend']}" for r in results]
    colors = ["#4c72b0" if r["executor"] == "local" else "#dd8452" for r in results]
    for ax, key, title in (
        (axes[0], "jobs_per_s", "throughput (jobs/s)"),
        (axes[1], "overhead_ms", "overhead per job, throughput run (ms)"),
        (axes[2], "latency_overhead_ms_median", "latency overhead, one at a time (ms)"),
    ):
        ax.bar(labels, [r[key] for r in results], color=colors)
        ax.set_title(title, fontsize=9)
    fig.suptitle(
        f"{results[0]['jobs']} short RPCA jobs ({results[0]['size']}x{results[0]['size']}), "
        "local workers vs Dask LocalCluster",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out / "dask_bench.png", dpi=120)
    print(f"wrote {out / 'dask_bench.csv'} and {out / 'dask_bench.png'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--procs", type=int, default=2, help="worker processes on each side")
    p.add_argument("--size", type=int, default=30, help="RPCA matrix size (short jobs)")
    p.add_argument("--latency", type=int, default=30, help="sequential jobs for the latency")
    p.add_argument("--quick", action="store_true", help="60 jobs, 10 latency samples")
    p.add_argument("--gpu", action="store_true", default=None, help="add GPU rows")
    p.add_argument("--no-gpu", dest="gpu", action="store_false")
    p.add_argument("--cpu", dest="cpu", action="store_true", default=True)
    p.add_argument("--no-cpu", dest="cpu", action="store_false", help="GPU rows only")
    p.add_argument("--order", default="local,dask", help="which side runs first")
    p.add_argument(
        "--gpu-backend", default="gpu", choices=["gpu", "auto"], help="backend of the GPU rows"
    )
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    args = p.parse_args(argv)
    if args.quick:
        args.jobs, args.latency = min(args.jobs, 60), min(args.latency, 10)
    if args.gpu is None:
        import gpu

        args.gpu = gpu.is_available()
    results = []
    if args.cpu:
        for executor in args.order.split(","):
            print(f"-- {executor}: {args.procs} processes, {args.jobs} jobs", flush=True)
            results.append(run_side(executor, args, gpu=False))
    if args.gpu:
        for executor in args.order.split(","):
            print(f"-- {executor} on the GPU: 1 process, {args.jobs} jobs", flush=True)
            results.append(run_side(executor, args, gpu=True))
    if os.getloadavg:
        print(f"load average at the end: {os.getloadavg()}")
    report(results, Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
