"""Streaming simulation of the protocols on one machine (each row of the data is one owner).

Owners are processed in chunks (bounded memory: a chunk's data, draws and reports —
never an n × d² array). Two modes:

``message``
    Every owner's report is generated exactly as its randomizer would (statistics,
    mechanism) by the fused kernel ``release_rows``, then aggregated exactly
    (``fixed_point_sum``), as the server would. The random draws of owners
    ``[j·4096, (j+1)·4096)`` of a stream come from their own generator
    ``SeedSequence(seed, spawn_key=(stream, j))``: results do not depend on the chunk
    size, the number of threads or the backend.
``aggregate`` (Gaussian mechanism only)
    The truncated statistics are summed exactly (``moment_sums``) and the sum of the
    chunk's ``m`` independent ``N(0, σ²)`` noise vectors is drawn once as
    ``N(0, m σ²)`` — the same distribution as message level, at a fraction of the cost.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from solvers._backend import Backend
from solvers._errors import SolverCancelled
from solvers._progress import Progress

from .interactive import InteractiveServer
from .protocol import Aggregate, Layout, Resolved
from .randomizers import BLOCK

#: streams of the random draws (spawn keys): NLDP reports, then 1 + round for LDP-IHT
STREAM_NONINTERACTIVE = 0
#: target bytes of a chunk's draws array (the chunk shrinks for wide reports)
CHUNK_BYTES = 64 * 2**20


def block_generator(entropy: int, stream: int, block: int) -> np.random.Generator:
    """The generator of block ``block`` of stream ``stream``."""
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(stream, block)))


def chunk_rows(chunk_size: int, width: int) -> int:
    """Owners per chunk: ``chunk_size`` capped so that the draws stay near 64 MiB; a
    multiple of the randomizer block."""
    cap = max(BLOCK, (CHUNK_BYTES // (8 * max(width, 1))) // BLOCK * BLOCK)
    return max(BLOCK, min(chunk_size // BLOCK * BLOCK, cap))


def draws(
    layout: Layout, rows: int, entropy: int, stream: int, block0: int, threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Normals ``G`` (rows, width) and uniforms ``U`` (rows, 2·channels) of consecutive
    blocks ``block0, block0 + 1, …`` (the same draws as :func:`randomizers.draw_block`
    with each block's own generator)."""
    width = layout.width
    l2 = any(c.mechanism == "l2ball" for c in layout.channels)
    G = np.empty((rows, width))  # noqa: N806
    U = np.empty((rows, 2 * len(layout.channels) if l2 else 1))  # noqa: N806

    def fill(j: int) -> None:
        a, b = j * BLOCK, min(rows, (j + 1) * BLOCK)
        gen = block_generator(entropy, stream, block0 + j)
        if l2:
            gen.random(out=U[a:b])
        gen.standard_normal(out=G[a:b])

    nblocks = math.ceil(rows / BLOCK)
    if threads > 1 and nblocks > 1:
        with ThreadPoolExecutor(max_workers=min(threads, nblocks)) as pool:
            list(pool.map(fill, range(nblocks)))
    else:
        for j in range(nblocks):
            fill(j)
    if not l2:
        U.fill(0.0)
    return G, U


class _Stage:
    """Accumulates the wall time of the simulation's stages."""

    def __init__(self, be: Backend) -> None:
        self.be = be
        self.times: dict[str, float] = {}

    def __call__(self, name: str, t0: float) -> float:
        self.be.synchronize()
        t1 = time.perf_counter()
        self.times[name] = self.times.get(name, 0.0) + (t1 - t0)
        return t1


def _release_chunk(
    be: Backend,
    layout: Layout,
    X: np.ndarray,  # noqa: N803
    y: np.ndarray,
    theta: np.ndarray,
    cfg: Resolved,
    entropy: int,
    stream: int,
    block0: int,
    threads: int,
    stage: _Stage,
) -> Any:
    """Message level: the reports of one chunk of owners (on the backend)."""
    t0 = time.perf_counter()
    G, U = draws(layout, X.shape[0], entropy, stream, block0, threads)  # noqa: N806
    t0 = stage("draws", t0)
    xp = be.xp
    K = be.kernels("ldp")  # noqa: N806
    out = xp.empty((X.shape[0], layout.width))
    chans = [be.asarray(a) for a in layout.channel_arrays()]
    b = cfg.bounds
    K.release_rows(
        layout.kind,
        be.asarray(X),
        be.asarray(y),
        be.asarray(theta),
        b.r,
        b.tau_x,
        b.tau_y,
        be.asarray(G),
        be.asarray(U),
        *chans,
        out,
    )
    stage("randomize", t0)
    return out


def _noise_sum(layout: Layout, m: int, entropy: int, stream: int, chunk: int) -> np.ndarray:
    """Aggregate mode: the exact sum of ``m`` owners' Gaussian noise, ``N(0, m σ²)``."""
    gen = block_generator(entropy, stream, 2**40 + chunk)
    out = np.empty(layout.width)
    for ch in layout.channels:
        sl = slice(ch.offset, ch.offset + ch.dim)
        out[sl] = gen.standard_normal(ch.dim) * (ch.scale * math.sqrt(m))
    return out


def _stat_sum(
    be: Backend,
    layout: Layout,
    X: np.ndarray,  # noqa: N803
    y: np.ndarray,
    theta: np.ndarray,
    cfg: Resolved,
) -> np.ndarray:
    xp = be.xp
    out = xp.zeros(layout.width)
    b = cfg.bounds
    be.kernels("ldp").moment_sums(
        layout.kind, be.asarray(X), be.asarray(y), be.asarray(theta), b.r, b.tau_x, b.tau_y, out
    )
    return np.asarray(be.to_host(out))


def _stream_chunk(
    agg: Aggregate,
    source: Any,
    a: int,
    b: int,
    *,
    start: int,
    theta: np.ndarray,
    cfg: Resolved,
    be: Backend,
    entropy: int,
    stream: int,
    chunk: int,
    mode: str,
    threads: int,
    stage: _Stage,
) -> None:
    """Owners ``a..b-1`` (of a segment starting at ``start``) into ``agg``: every report
    (message mode) or the exact sum of statistics and Gaussian noise (aggregate mode)."""
    t0 = time.perf_counter()
    X, y = source.rows(a, b)  # noqa: N806
    t0 = stage("data", t0)
    layout = agg.layout
    if mode == "message":
        block0 = (a - start) // BLOCK
        out = _release_chunk(be, layout, X, y, theta, cfg, entropy, stream, block0, threads, stage)
        t0 = time.perf_counter()
        agg.add(out, be)
    else:
        total = _stat_sum(be, layout, X, y, theta, cfg)
        total += _noise_sum(layout, b - a, entropy, stream, chunk)
        agg.add_sum(total, b - a)
    stage("aggregate", t0)


def run_noninteractive(
    source: Any,
    cfg: Resolved,
    *,
    be: Backend,
    entropy: int,
    mode: str,
    chunk_size: int,
    threads: int,
    prog: Progress,
) -> tuple[Aggregate, dict[str, float], bool]:
    """Stream every owner of ``source`` through the NLDP (or nldp_public) protocol.

    Returns the aggregate, the stage timings and whether the callback cancelled.
    """
    agg = Aggregate(Layout.for_config(cfg))
    stage = _Stage(be)
    theta = np.zeros(cfg.d)
    rows = chunk_rows(chunk_size, agg.layout.width)
    common = {"cfg": cfg, "be": be, "entropy": entropy, "mode": mode, "threads": threads}
    for c in range(math.ceil(source.n / rows)):
        a, b = c * rows, min(source.n, (c + 1) * rows)
        _stream_chunk(
            agg, source, a, b, start=0, theta=theta, stream=STREAM_NONINTERACTIVE, chunk=c,
            stage=stage, **common,
        )  # fmt: skip
        if prog.report(c + 1, residual=(source.n - b) / source.n, owners=b):
            return agg, stage.times, True
    return agg, stage.times, False


def round_bounds(n: int, rounds: int) -> list[tuple[int, int]]:
    """Owners of each round: ``rounds`` consecutive groups whose sizes differ by ≤ 1."""
    base, extra = divmod(n, rounds)
    out, pos = [], 0
    for t in range(rounds):
        size = base + (1 if t < extra else 0)
        out.append((pos, pos + size))
        pos += size
    return out


def run_interactive(
    source: Any,
    cfg: Resolved,
    *,
    be: Backend,
    entropy: int,
    mode: str,
    chunk_size: int,
    threads: int,
    prog: Progress,
) -> tuple[InteractiveServer, dict[str, float], bool]:
    """Stream the owners through the T rounds of LDP-IHT (round t: its own owners)."""
    server = InteractiveServer(cfg, backend=be)
    stage = _Stage(be)
    cancelled = False
    rows = chunk_rows(chunk_size, cfg.d)
    common = {"cfg": cfg, "be": be, "entropy": entropy, "mode": mode, "threads": threads}
    try:
        for t, (start, stop) in enumerate(round_bounds(source.n, cfg.rounds)):
            for c, a in enumerate(range(start, stop, rows)):
                _stream_chunk(
                    server.agg, source, a, min(stop, a + rows), start=start, theta=server.theta,
                    stream=1 + t, chunk=c, stage=stage, **common,
                )  # fmt: skip
            previous = server.theta.copy()
            server.close_round()
            move = float(np.linalg.norm(server.theta - previous))
            if prog.report(t + 1, residual=move, owners=stop):
                raise SolverCancelled("cancelled")
    except SolverCancelled:
        cancelled = True
    return server, stage.times, cancelled
