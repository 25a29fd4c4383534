"""Test problems: smoke-like pressure systems with obstacles, seeded and reproducible.

The pressure equation of a smoke simulation in a closed box open at the top: Neumann walls
(zero flux) on every face but the top of axis 0 (``"up"``), which is open (p = 0,
Dirichlet); optional obstacles (solid cells). The right-hand side is the divergence of a
velocity field: a rising plume from a source near the floor plus smooth random swirls, the
kind of field a pressure projection sees after advection and buoyancy.

Obstacle layouts (:func:`obstacles`): ``"sphere"``, ``"spheres"`` (a few random balls),
``"boxes"`` (random axis-aligned boxes), ``"bunny"`` (a blob of overlapping balls, like the
paper's bunny), ``"none"``. Layouts are defined on the unit box, so the same seed gives
the same shapes at every resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from solvers._errors import InvalidProblemError

from .poisson import PoissonSystem, poisson_system

SMOKE_BOUNDARY_3D = ("neumann", "dirichlet", "neumann", "neumann", "neumann", "neumann")
SMOKE_BOUNDARY_2D = ("neumann", "dirichlet", "neumann", "neumann")
LAYOUTS = ("none", "sphere", "spheres", "boxes", "bunny")


def _centers(shape: Sequence[int]) -> list[np.ndarray]:
    """Cell-centre coordinates in [0, 1] per axis (open grid)."""
    return list(np.meshgrid(*[(np.arange(s) + 0.5) / s for s in shape], indexing="ij", sparse=True))


def _ball(coords: list[np.ndarray], center: Sequence[float], radius: float) -> np.ndarray:
    d2 = sum((c - x0) ** 2 for c, x0 in zip(coords, center))
    return d2 <= radius * radius


def obstacles(grid_shape: Sequence[int], layout: str = "sphere", *, seed: int = 0) -> np.ndarray:
    """A solid mask of the given layout (see module doc); resolution independent.

    Obstacles keep clear of the floor source and the open top so that the fluid stays
    connected to the outlet.
    """
    shape = tuple(int(s) for s in grid_shape)
    if layout not in LAYOUTS:
        raise InvalidProblemError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    coords = _centers(shape)
    nd = len(shape)
    rng = np.random.default_rng(seed)
    solid = np.zeros(shape, dtype=bool)
    if layout == "none":
        return solid
    if layout == "sphere":
        c = [0.5] * nd
        c[0] = 0.45
        return _ball(coords, c, 0.18)
    if layout == "spheres":
        for _ in range(rng.integers(3, 6)):
            c = rng.uniform(0.2, 0.8, nd)
            c[0] = rng.uniform(0.3, 0.75)
            solid |= _ball(coords, c, rng.uniform(0.06, 0.14))
        return solid
    if layout == "boxes":
        for _ in range(rng.integers(2, 5)):
            lo = rng.uniform(0.1, 0.7, nd)
            lo[0] = rng.uniform(0.3, 0.7)
            size = rng.uniform(0.08, 0.3, nd)
            box = np.ones(shape, dtype=bool)
            for c, a, w in zip(coords, lo, size):
                box = box & (c >= a) & (c <= min(a + w, 0.9))
            solid |= box
        return solid
    # "bunny": a body, a head, two ears and a tail made of overlapping balls
    base = np.array([0.42] + [0.5] * (nd - 1)) + rng.uniform(-0.05, 0.05, nd)
    parts = [
        (np.zeros(nd), 0.17),
        (np.r_[0.14, 0.12, np.zeros(nd - 2)][:nd], 0.10),
        (np.r_[0.27, 0.10, 0.04 * np.ones(nd - 2)][:nd], 0.045),
        (np.r_[0.27, 0.16, -0.04 * np.ones(nd - 2)][:nd], 0.045),
        (np.r_[-0.05, -0.17, np.zeros(nd - 2)][:nd], 0.06),
    ]
    for off, rad in parts:
        solid |= _ball(coords, base + off, rad)
    return solid


def smoke_velocity(
    grid_shape: Sequence[int], *, seed: int = 0, swirl: float = 0.5
) -> list[np.ndarray]:
    """Face velocities (MAC grid) of a plume plus random smooth swirls.

    Component ``d`` has ``grid_shape[d] + 1`` faces along axis ``d``. Axis 0 is up.
    """
    shape = tuple(int(s) for s in grid_shape)
    nd = len(shape)
    rng = np.random.default_rng(seed)
    comps = []
    src = np.r_[0.12, rng.uniform(0.35, 0.65, nd - 1)]
    for d in range(nd):
        fshape = tuple(s + 1 if k == d else s for k, s in enumerate(shape))
        axes = []
        for k, s in enumerate(fshape):
            if k == d:
                axes.append(np.arange(s) / shape[k])
            else:
                axes.append((np.arange(s) + 0.5) / shape[k])
        coords = np.meshgrid(*axes, indexing="ij", sparse=True)
        u = np.zeros(fshape)
        if d == 0:  # buoyant plume: upward jet from a source near the floor
            r2 = sum((c - x0) ** 2 for c, x0 in zip(coords, src))
            u += 2.0 * np.exp(-r2 / (2 * 0.08**2))
        for _ in range(6):  # smooth random swirls
            kvec = rng.integers(1, 5, nd) * np.pi
            phase = rng.uniform(0, 2 * np.pi, nd)
            amp = swirl * rng.standard_normal() / np.linalg.norm(kvec / np.pi)
            term = np.ones(fshape)
            for c, kk, ph in zip(coords, kvec, phase):
                term = term * np.cos(kk * c + ph)
            u += amp * term
        comps.append(u)
    return comps


def smoke_problem(
    grid_shape: int | Sequence[int],
    *,
    layout: str = "sphere",
    seed: int = 0,
    obstacle_seed: int | None = None,
    boundary: str | Sequence[str] | None = None,
) -> tuple[PoissonSystem, np.ndarray]:
    """A smoke-like pressure problem ``(system, b)``.

    Parameters
    ----------
    grid_shape : int or sequence of int
        An int ``N`` means an ``N³`` grid.
    layout : str
        Obstacle layout (see :func:`obstacles`).
    seed : int
        Seed of the velocity field.
    obstacle_seed : int, optional
        Seed of the obstacle layout (default: ``seed``).
    boundary : optional
        Box conditions (default: closed box open at the top of axis 0).

    Returns
    -------
    system : PoissonSystem
    b : (n,) ndarray
        ``−div u`` on fluid cells, 0 on solid cells, compatible with ``A``.
    """
    shape = (int(grid_shape),) * 3 if np.isscalar(grid_shape) else tuple(grid_shape)
    if boundary is None:
        boundary = SMOKE_BOUNDARY_3D if len(shape) == 3 else SMOKE_BOUNDARY_2D
    solid = obstacles(shape, layout, seed=seed if obstacle_seed is None else obstacle_seed)
    system = poisson_system(shape, solid=solid, boundary=boundary)
    b = system.divergence(smoke_velocity(shape, seed=seed))
    return system, b
