"""The ``sparsehpc`` command line.

``serve``, ``worker``, ``demo``, ``solvers``, ``submit``, ``status``, ``result``,
``cancel``, ``jobs``, ``train``. Client commands talk to ``--url`` (default
``$SPARSEHPC_URL`` or http://127.0.0.1:8000) with ``--api-key`` (default
``$SPARSEHPC_API_KEY``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"


# -- helpers ---------------------------------------------------------------------------
def _console() -> Any:
    from rich.console import Console

    return Console()


def _client(args: argparse.Namespace) -> Any:
    from service.client import Client

    return Client(args.url, api_key=args.api_key)


def parse_value(text: str) -> Any:
    """``-p key=value``: JSON when it parses (numbers, lists, true/false/null), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_pairs(pairs: list[str] | None, what: str) -> list[tuple[str, str]]:
    out = []
    for p in pairs or []:
        if "=" not in p:
            raise SystemExit(f"error: {what} must look like NAME=VALUE, got {p!r}")
        k, v = p.split("=", 1)
        out.append((k.strip(), v))
    return out


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _job_line(job: dict[str, Any]) -> str:
    prog = job.get("progress") or {}
    parts = [f"{job['id']}  {job['solver']}  {job['status']}"]
    if prog.get("iteration") is not None:
        parts.append(f"it {prog['iteration']}")
    if prog.get("residual") is not None:
        parts.append(f"res {prog['residual']:.2e}")
    if job.get("error"):
        parts.append(f"error {job['error'].get('type')}: {job['error'].get('message')}")
    return "  ".join(parts)


def _handle_api_errors(fn: Any) -> Any:
    def wrapper(args: argparse.Namespace) -> int:
        from service.client import ClientError

        try:
            return fn(args)
        except ClientError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"error: cannot reach {getattr(args, 'url', '?')}: {exc}", file=sys.stderr)
            return 2

    return wrapper


# -- server side -------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    for opt, var in (
        ("workers", "WORKERS"),
        ("executor", "EXECUTOR"),
        ("data_dir", "DATA_DIR"),
        ("database_url", "DATABASE_URL"),
        ("dask_scheduler", "DASK_SCHEDULER"),
    ):
        value = getattr(args, opt, None)
        if value is not None:
            os.environ[f"SPARSEHPC_{var}"] = str(value)
    import uvicorn

    from service.api.main import create_app
    from service.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    app = create_app(settings)
    uvicorn.run(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level.lower(),
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    if getattr(args, "dask", None):
        from service.executors.dask import run_dask_worker

        return run_dask_worker(args)
    from service.worker import main

    return main()


# -- client side ---------------------------------------------------------------------------
@_handle_api_errors
def cmd_solvers(args: argparse.Namespace) -> int:
    from rich.table import Table

    specs = _client(args).solvers()
    if args.json:
        _print_json(specs)
        return 0
    t = Table(title="sparsehpc solvers")
    for col in ("name", "version", "backends", "inputs", "outputs", "summary"):
        t.add_column(col)
    for s in specs:
        t.add_row(
            s["name"],
            s["version"],
            ",".join(s["backends"]),
            ", ".join(i["name"] + ("" if i["required"] else "?") for i in s["inputs"]),
            ", ".join(s["outputs"]),
            s["summary"],
        )
    _console().print(t)
    return 0


@_handle_api_errors
def cmd_submit(args: argparse.Namespace) -> int:
    c = _client(args)
    inputs: dict[str, Any] = {}
    for name, path in parse_pairs(args.input, "-i"):
        ref = c.upload(Path(path))
        if name in inputs:
            prev = inputs[name]
            inputs[name] = (prev if isinstance(prev, list) else [prev]) + [ref]
        else:
            inputs[name] = ref
    params = {k: parse_value(v) for k, v in parse_pairs(args.param, "-p")}
    job = c.submit(
        args.solver,
        inputs,
        params,
        backend=args.backend,
        time_limit=args.time_limit,
        idempotency_key=args.idempotency_key,
    )
    print(job.id)
    if not args.wait:
        return 0
    info = job.wait(progress=not args.quiet)
    print(_job_line(info))
    if args.output and info["status"] == "succeeded":
        return _save_result(c, job.id, args.output)
    return 0 if info["status"] == "succeeded" else 1


@_handle_api_errors
def cmd_status(args: argparse.Namespace) -> int:
    info = _client(args).job(args.job_id).info()
    if args.json:
        _print_json(info)
    else:
        print(_job_line(info))
    return 0


def _save_result(c: Any, job_id: str, out: str) -> int:
    r = c._request("GET", f"/api/v1/jobs/{job_id}/result", params={"format": "npz"})
    Path(out).write_bytes(r.content)
    print(f"wrote {out} ({len(r.content)} bytes)")
    return 0


@_handle_api_errors
def cmd_result(args: argparse.Namespace) -> int:
    c = _client(args)
    job = c.job(args.job_id)
    info = job.info()
    if info["status"] != "succeeded":
        print(_job_line(info), file=sys.stderr)
        return 1
    if args.output:
        _save_result(c, args.job_id, args.output)
    stats = info.get("stats") or {}
    short = {k: v for k, v in stats.items() if not isinstance(v, list)}
    _print_json({"id": info["id"], "outputs": info.get("outputs"), "stats": short})
    return 0


@_handle_api_errors
def cmd_cancel(args: argparse.Namespace) -> int:
    info = _client(args).job(args.job_id).cancel()
    print(_job_line(info))
    return 0


@_handle_api_errors
def cmd_jobs(args: argparse.Namespace) -> int:
    for j in _client(args).jobs(status=args.status, solver=args.solver, limit=args.limit):
        print(_job_line(j))
    return 0


# -- train ---------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace, extra: list[str]) -> int:
    params: dict[str, Any] = {k: parse_value(v) for k, v in parse_pairs(args.param, "-p")}
    it = iter(extra)
    for tok in it:
        if not tok.startswith("--"):
            raise SystemExit(f"error: unexpected argument {tok!r}")
        key = tok[2:].replace("-", "_")
        if "=" in key:
            key, val = key.split("=", 1)
        else:
            val = next(it, None)
            if val is None:
                raise SystemExit(f"error: option {tok} needs a value")
        params[key] = parse_value(val)
    solver = f"{args.model}_train"
    if args.url_given:
        c = _client(args)
        inputs = {name: c.upload(Path(p)) for name, p in parse_pairs(args.input, "-i")}
        job = c.submit(solver, inputs, params, backend=args.backend)
        print(f"training job {job.id}")
        info = job.wait(progress=True)
        if info["status"] != "succeeded":
            print(_job_line(info), file=sys.stderr)
            return 1
        model = job.result(wait=False).outputs["model"]
    else:
        import numpy as np

        import solvers
        from service.arrays import read_array_file

        inputs = {name: read_array_file(p) for name, p in parse_pairs(args.input, "-i")}
        from service.client._progress import ProgressDisplay

        with ProgressDisplay(f"train {args.model}") as display:

            def cb(info: Any) -> bool:
                display.update({"status": "running", "progress": info.to_dict()})
                return False

            res = solvers.run(solver, inputs, params, backend=args.backend, callback=cb)
            display.update({"status": "succeeded", "progress": {}})
        model = np.asarray(res.model, dtype=np.uint8)
        stats = {k: v for k, v in res.stats().items() if not isinstance(v, list)}
        _print_json(stats)
    Path(args.output).write_bytes(bytes(memoryview(model)))
    print(f"wrote model to {args.output} ({model.nbytes} bytes)")
    return 0


# -- demo ----------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from service.demo import run_demo

    return run_demo(args)


# -- parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sparsehpc", description="sparsehpc: HPC service for sparse scientific computing"
    )
    p.add_argument("--version", action="version", version="sparsehpc 0.1.0")
    sub = p.add_subparsers(dest="command", required=True)

    def client_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--url", default=os.environ.get("SPARSEHPC_URL", DEFAULT_URL))
        sp.add_argument("--api-key", default=os.environ.get("SPARSEHPC_API_KEY"))

    s = sub.add_parser("serve", help="run the API and local worker processes")
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--workers", type=int, default=None, help="worker processes (default 2)")
    s.add_argument("--executor", choices=["local", "dask"], default=None)
    s.add_argument("--dask-scheduler", default=None, help="tcp://host:8786 or 'local'")
    s.add_argument("--data-dir", default=None)
    s.add_argument("--database-url", default=None)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("worker", help="run one worker process against the store")
    s.add_argument(
        "--dask",
        default=None,
        metavar="SCHEDULER",
        help="instead, start a Dask worker connected to SCHEDULER",
    )
    s.add_argument("--gpu", action="store_true", help="(with --dask) declare a GPU=1 resource")
    s.add_argument("--nthreads", type=int, default=1, help="(with --dask) jobs run at once")
    s.add_argument("--resources", default=None, help="(with --dask) more, e.g. 'MEM=64e9'")
    s.add_argument("--name", default=None, help="(with --dask) worker name")
    s.add_argument("--memory-limit", default=None, help="(with --dask) e.g. '64GiB'")
    s.set_defaults(func=cmd_worker)

    s = sub.add_parser("demo", help="run one real job per solver family and summarize")
    s.add_argument(
        "--url",
        default=None,
        help="use this server (default: $SPARSEHPC_URL, else start a local one)",
    )
    s.add_argument("--api-key", default=os.environ.get("SPARSEHPC_API_KEY"))
    s.add_argument("--families", default=None, help="comma-separated subset, e.g. rpca,krosbl")
    s.add_argument("--backend", default="auto", choices=["auto", "cpu", "gpu"])
    s.add_argument("--workers", type=int, default=2, help="workers of the local server it starts")
    s.add_argument("--out", default="sparsehpc-demo", help="folder for the pictures")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("solvers", help="list the solvers a server offers")
    client_opts(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_solvers)

    s = sub.add_parser("submit", help="submit a job")
    client_opts(s)
    s.add_argument("solver")
    s.add_argument(
        "-i",
        "--input",
        action="append",
        metavar="NAME=FILE",
        help=".npy/.npz/.mtx file; repeat a NAME for a list input",
    )
    s.add_argument("-p", "--param", action="append", metavar="KEY=VALUE")
    s.add_argument("--backend", default="auto", choices=["auto", "cpu", "gpu"])
    s.add_argument("--time-limit", type=float, default=None)
    s.add_argument("--idempotency-key", default=None)
    s.add_argument("--wait", action="store_true", help="wait and show progress")
    s.add_argument("-o", "--output", default=None, help="with --wait: save the result .npz")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_submit)

    for name, fn, hlp in (
        ("status", cmd_status, "show a job"),
        ("cancel", cmd_cancel, "cancel a job"),
    ):
        s = sub.add_parser(name, help=hlp)
        client_opts(s)
        s.add_argument("job_id")
        if name == "status":
            s.add_argument("--json", action="store_true")
        s.set_defaults(func=fn)

    s = sub.add_parser("result", help="fetch a job's result")
    client_opts(s)
    s.add_argument("job_id")
    s.add_argument("-o", "--output", default=None, help="save the outputs as .npz")
    s.set_defaults(func=cmd_result)

    s = sub.add_parser("jobs", help="list jobs")
    client_opts(s)
    s.add_argument("--status", default=None)
    s.add_argument("--solver", default=None)
    s.add_argument("--limit", type=int, default=20)
    s.set_defaults(func=cmd_jobs)

    s = sub.add_parser("train", help="train a learned model (rpcanet, dcdm): --key value params")
    s.add_argument("model", help="model family, e.g. rpcanet or dcdm (runs solver <model>_train)")
    s.add_argument("-o", "--output", required=True, help="where to write the trained model")
    s.add_argument("-p", "--param", action="append", metavar="KEY=VALUE")
    s.add_argument("-i", "--input", action="append", metavar="NAME=FILE")
    s.add_argument("--backend", default="auto", choices=["auto", "cpu", "gpu"])
    s.add_argument(
        "--url", default=None, help="train as a job on this server (default: in-process)"
    )
    s.add_argument("--api-key", default=os.environ.get("SPARSEHPC_API_KEY"))
    s.set_defaults(func=None)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "train":
        args.url_given = args.url is not None
        return cmd_train(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
