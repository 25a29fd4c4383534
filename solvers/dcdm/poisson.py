"""Discrete Poisson systems on 2-D and 3-D cell grids (the pressure equation of a MAC grid).

:func:`poisson_system` builds the 5-point (2-D) or 7-point (3-D) finite-volume Laplacian on
a regular grid of cells numbered in C order (``index = np.ravel_multi_index(cell,
grid_shape)``), with optional **solid** cells (obstacles: zero-flux, i.e. Neumann, faces
towards them), optional **air** cells (free surface: p = 0, i.e. Dirichlet, faces towards
them) and a Dirichlet or Neumann condition on each face of the domain box. This is the
matrix of the pressure projection of an incompressible fluid solver (Chorin splitting),
the problem class of Kaneda et al. (2023).

Conventions
-----------
* Unknowns: one per cell, ``n = prod(grid_shape)``; the matrix is ``n × n`` and always
  covers the whole grid, so a vector on the grid is ``v.reshape(grid_shape)``.
* Fluid cells: row ``i`` is ``(Σ_faces w) p_i − Σ_fluid neighbours w p_j`` with
  ``w = 1/h²``; a face to a Dirichlet wall or an air cell adds ``w`` to the diagonal
  only, a face to a Neumann wall or a solid cell adds nothing.
* Solid and air cells are **decoupled identity rows** (``A_ii = 1``, nothing else), so
  the matrix stays symmetric positive (semi-)definite and the pressure there is simply
  ``x_i = b_i`` (set ``b_i = 0``). The solver recognises such rows and solves them
  exactly.
* **Null space.** A connected set of fluid cells that touches no Dirichlet face and no
  air cell (e.g. ``boundary="neumann"`` without air, or a fluid pocket sealed by
  obstacles) is *floating*: the pressure there is defined up to a constant and ``A`` is
  only positive semi-definite. ``b`` must then sum to zero over each floating component;
  :meth:`PoissonSystem.project` removes the incompatible part and the solvers return the
  solution with zero mean over each floating component (the minimum-norm solution).

References
----------
.. [1] A. Kaneda, O. Akar, J. Chen, V. Kala, D. Hyde, J. Teran, "A Deep Conjugate
   Direction Method for Iteratively Solving Linear Systems", ICML 2023 (PMLR 202),
   arXiv:2205.10763.
.. [2] R. Bridson, *Fluid Simulation for Computer Graphics*, 2nd ed., CRC Press, 2015,
   ch. 5 (the pressure Poisson matrix with solid and air cells).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse

from solvers._errors import InvalidProblemError

BOUNDARY_KINDS = ("dirichlet", "neumann")


@dataclass(frozen=True, eq=False)
class PoissonSystem:
    """A discrete Poisson system on a cell grid (see :func:`poisson_system`).

    Attributes
    ----------
    A : scipy.sparse.csr_matrix
        ``n × n`` float64 matrix over all cells (C order), symmetric positive
        semi-definite (definite when no component floats).
    grid_shape : tuple of int
    fluid : ndarray of bool
        ``grid_shape`` mask of the cells whose pressure is solved for.
    solid, air : ndarray of bool
        The obstacle and free-surface masks that were given (all False when omitted).
    boundary : tuple of str
        Condition on each face of the box, in the order (axis 0 low, axis 0 high,
        axis 1 low, axis 1 high, ...).
    labels : ndarray of int
        ``grid_shape`` array: connected component of each fluid cell (1, 2, ...), 0 for
        solid and air cells.
    floating : tuple of int
        Labels of the components without any Dirichlet face or air neighbour (their
        constant vectors span the null space of ``A``).
    h : float
        Cell size; the stencil weights are ``1/h²``.
    """

    A: Any
    grid_shape: tuple[int, ...]
    fluid: np.ndarray
    solid: np.ndarray
    air: np.ndarray
    boundary: tuple[str, ...]
    labels: np.ndarray
    floating: tuple[int, ...]
    h: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of unknowns (cells)."""
        return int(np.prod(self.grid_shape))

    @property
    def ndim(self) -> int:
        return len(self.grid_shape)

    @property
    def singular(self) -> bool:
        """True when ``A`` has a null space (some fluid component floats)."""
        return bool(self.floating)

    def null_space(self) -> np.ndarray:
        """Orthonormal basis of the null space of ``A``, shape ``(n, len(floating))``."""
        lab = self.labels.ravel()
        basis = np.zeros((self.n, len(self.floating)))
        for k, c in enumerate(self.floating):
            sel = lab == c
            basis[sel, k] = 1.0 / np.sqrt(np.count_nonzero(sel))
        return basis

    def project(self, b: Any) -> np.ndarray:
        """``b`` minus its component in the null space of ``A`` (zero mean over each
        floating component; other entries unchanged).

        Parameters
        ----------
        b : (n,) or grid_shape array

        Returns
        -------
        ndarray
            Same shape as ``b``; compatible right-hand side (``A x = b`` solvable).
        """
        arr = np.array(b, dtype=np.float64, copy=True)
        flat = arr.reshape(-1)
        if flat.size != self.n:
            raise InvalidProblemError(
                f"b has {flat.size} entries, the grid {self.grid_shape} has {self.n} cells",
                field="inputs.b",
            )
        lab = self.labels.ravel()
        for c in self.floating:
            sel = lab == c
            flat[sel] -= flat[sel].mean()
        return arr

    def divergence(self, velocity: Sequence[np.ndarray]) -> np.ndarray:
        """Right-hand side ``b = −h·div(u)·(1/h²)`` of the pressure projection.

        Parameters
        ----------
        velocity : sequence of ndim arrays
            Face velocities of a MAC grid: component ``d`` has shape ``grid_shape`` with
            ``grid_shape[d] + 1`` entries along axis ``d`` (faces), as in a staggered
            grid. Faces that touch a solid cell or a Neumann wall are treated as solid
            (their velocity is replaced by 0, the solid's velocity).

        Returns
        -------
        ndarray
            ``b`` as a flat (n,) float64 vector, zero on solid and air cells, projected
            onto the range of ``A`` when some component floats.
        """
        return _divergence(self, velocity)


def _parse_boundary(boundary: Any, ndim: int) -> tuple[str, ...]:
    if isinstance(boundary, str):
        faces = (boundary,) * (2 * ndim)
    elif isinstance(boundary, Sequence):
        faces = tuple(boundary)
        if len(faces) != 2 * ndim:
            raise InvalidProblemError(
                f"boundary must be one string or {2 * ndim} strings (one per face of the "
                f"{ndim}-D box: axis 0 low, axis 0 high, ...), got {len(faces)}",
                field="params.boundary",
            )
    else:
        raise InvalidProblemError(
            f"boundary must be a string or a sequence of strings, got {type(boundary).__name__}",
            field="params.boundary",
        )
    out = []
    for f in faces:
        key = str(f).lower()
        if key not in BOUNDARY_KINDS:
            raise InvalidProblemError(
                f"boundary conditions must be 'dirichlet' or 'neumann', got {f!r}",
                field="params.boundary",
            )
        out.append(key)
    return tuple(out)


def _parse_grid(grid_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in grid_shape)
    except TypeError:
        raise InvalidProblemError(
            f"grid_shape must be a sequence of 2 or 3 positive integers, got {grid_shape!r}",
            field="params.grid_shape",
        ) from None
    if len(shape) not in (2, 3) or any(s < 1 for s in shape):
        raise InvalidProblemError(
            f"grid_shape must be 2 or 3 positive integers, got {grid_shape!r}",
            field="params.grid_shape",
        )
    if any(int(s) != s for s in grid_shape):  # pragma: no cover - int() above
        raise InvalidProblemError("grid_shape must be integers", field="params.grid_shape")
    return shape


def _mask(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    if value is None:
        return np.zeros(shape, dtype=bool)
    arr = np.asarray(value)
    if arr.size == int(np.prod(shape)) and arr.shape != shape:
        arr = arr.reshape(shape)
    if arr.shape != shape:
        raise InvalidProblemError(
            f"{name} must have the grid's shape {shape}, got {arr.shape}", field=f"inputs.{name}"
        )
    if arr.dtype.kind not in "biuf":
        raise InvalidProblemError(
            f"{name} must be a boolean mask, got dtype {arr.dtype}", field=f"inputs.{name}"
        )
    return arr.astype(bool)


def poisson_system(
    grid_shape: Sequence[int],
    *,
    solid: Any = None,
    boundary: str | Sequence[str] = "dirichlet",
    air: Any = None,
    h: float = 1.0,
) -> PoissonSystem:
    """The 5-point (2-D) or 7-point (3-D) Poisson matrix on a grid with obstacles.

    Parameters
    ----------
    grid_shape : sequence of 2 or 3 int
        Cells per axis; unknowns are numbered in C order.
    solid : array of bool, optional
        ``grid_shape`` mask of obstacle cells (zero-flux faces towards them).
    boundary : str or sequence of str
        ``"dirichlet"`` (p = 0 outside) or ``"neumann"`` (closed wall), for every face of
        the box, or one per face in the order (axis 0 low, axis 0 high, axis 1 low, ...).
        A smoke box open at the top of axis 0, say, is
        ``("neumann", "dirichlet", "neumann", "neumann", "neumann", "neumann")``.
    air : array of bool, optional
        ``grid_shape`` mask of air cells (free surface: p = 0 there). Cells in both
        ``solid`` and ``air`` count as solid.
    h : float
        Cell size (weights ``1/h²``).

    Returns
    -------
    PoissonSystem
        ``.A`` (CSR, n × n, symmetric positive semi-definite), ``.fluid``, ``.labels``,
        ``.floating`` (null space), :meth:`~PoissonSystem.project`,
        :meth:`~PoissonSystem.divergence`.

    Raises
    ------
    InvalidProblemError
        Bad ``grid_shape``, mask shapes or boundary names, or no fluid cell at all.

    References
    ----------
    .. [1] A. Kaneda et al., "A Deep Conjugate Direction Method for Iteratively Solving
       Linear Systems", ICML 2023, arXiv:2205.10763.

    Examples
    --------
    >>> sys = poisson_system((64, 64, 64), boundary="neumann", solid=obstacle)
    >>> b = sys.project(rhs)                 # make it compatible (floating component)
    """
    shape = _parse_grid(grid_shape)
    ndim = len(shape)
    faces = _parse_boundary(boundary, ndim)
    if not (np.isfinite(h) and h > 0):
        raise InvalidProblemError(f"h must be finite and > 0, got {h!r}", field="params.h")
    solid_m = _mask(solid, shape, "solid")
    air_m = _mask(air, shape, "air") & ~solid_m
    fluid = ~(solid_m | air_m)
    if not fluid.any():
        raise InvalidProblemError(
            f"the grid {shape} has no fluid cell (every cell is solid or air)",
            field="inputs.solid",
        )
    n = int(np.prod(shape))
    w = 1.0 / (h * h)
    idx = np.arange(n).reshape(shape)
    diag = np.zeros(shape)
    dirichlet_touch = np.zeros(shape, dtype=bool)
    rows, cols = [], []
    for d in range(ndim):
        lo = [slice(None)] * ndim
        hi = [slice(None)] * ndim
        lo[d] = slice(0, shape[d] - 1)
        hi[d] = slice(1, shape[d])
        lo_t, hi_t = tuple(lo), tuple(hi)
        a, b = fluid[lo_t], fluid[hi_t]
        both = a & b
        # interior fluid-fluid faces
        diag[lo_t] += both
        diag[hi_t] += both
        rows.append(idx[lo_t][both])
        cols.append(idx[hi_t][both])
        # fluid next to air: Dirichlet face
        fa = a & air_m[hi_t]
        fb = b & air_m[lo_t]
        diag[lo_t] += fa
        diag[hi_t] += fb
        dirichlet_touch[lo_t] |= fa
        dirichlet_touch[hi_t] |= fb
        # the two faces of the box along axis d
        for side, face in ((0, faces[2 * d]), (1, faces[2 * d + 1])):
            if face != "dirichlet":
                continue
            sl = [slice(None)] * ndim
            sl[d] = 0 if side == 0 else shape[d] - 1
            sl_t = tuple(sl)
            diag[sl_t] += fluid[sl_t]
            dirichlet_touch[sl_t] |= fluid[sl_t]
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    diag_flat = np.where(fluid, diag * w, 1.0).ravel()
    off = np.full(r.size, -w)
    A = scipy.sparse.coo_matrix(  # noqa: N806
        (
            np.concatenate([off, off, diag_flat]),
            (np.concatenate([r, c, np.arange(n)]), np.concatenate([c, r, np.arange(n)])),
        ),
        shape=(n, n),
    ).tocsr()
    A.sum_duplicates()
    A.sort_indices()
    labels, floating = _components(fluid, dirichlet_touch)
    return PoissonSystem(
        A=A,
        grid_shape=shape,
        fluid=fluid,
        solid=solid_m,
        air=air_m,
        boundary=faces,
        labels=labels,
        floating=floating,
        h=float(h),
        info={"n_fluid": int(fluid.sum()), "n_components": int(labels.max())},
    )


def _components(fluid: np.ndarray, dirichlet_touch: np.ndarray) -> tuple[np.ndarray, tuple]:
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(fluid.ndim, 1)
    labels, count = ndimage.label(fluid, structure=structure)
    touched = np.zeros(count + 1, dtype=bool)
    touched[np.unique(labels[dirichlet_touch])] = True
    floating = tuple(int(c) for c in range(1, count + 1) if not touched[c])
    return labels.astype(np.int32), floating


def _divergence(system: PoissonSystem, velocity: Sequence[np.ndarray]) -> np.ndarray:
    shape = system.grid_shape
    ndim = len(shape)
    if len(velocity) != ndim:
        raise InvalidProblemError(
            f"velocity must have {ndim} components, got {len(velocity)}", field="velocity"
        )
    div = np.zeros(shape)
    open_cell = ~system.solid  # fluid and air cells carry velocity
    for d, u in enumerate(velocity):
        want = tuple(s + 1 if k == d else s for k, s in enumerate(shape))
        u = np.asarray(u, dtype=np.float64)
        if u.shape != want:
            raise InvalidProblemError(
                f"velocity[{d}] must have shape {want} (faces along axis {d}), got {u.shape}",
                field="velocity",
            )
        u = u.copy()
        # faces next to a solid cell carry the solid's velocity (0)
        pad = [(0, 0)] * ndim
        pad[d] = (1, 1)
        openp = np.pad(open_cell, pad, constant_values=False)
        lo = [slice(None)] * ndim
        hi = [slice(None)] * ndim
        lo[d] = slice(0, shape[d] + 1)
        hi[d] = slice(1, shape[d] + 2)
        face_open = openp[tuple(lo)] & openp[tuple(hi)]
        # box walls: a Neumann wall is solid; a Dirichlet (open) wall lets flow through
        for side, face in ((0, system.boundary[2 * d]), (1, system.boundary[2 * d + 1])):
            sl = [slice(None)] * ndim
            sl[d] = 0 if side == 0 else shape[d]
            inner = [slice(None)] * ndim
            inner[d] = 0 if side == 0 else shape[d] - 1
            face_open[tuple(sl)] = open_cell[tuple(inner)] & (face == "dirichlet")
        u[~face_open] = 0.0
        a = [slice(None)] * ndim
        b = [slice(None)] * ndim
        a[d] = slice(1, shape[d] + 1)
        b[d] = slice(0, shape[d])
        div += u[tuple(a)] - u[tuple(b)]
    rhs = np.where(system.fluid, -div / system.h, 0.0).ravel()
    return system.project(rhs)
