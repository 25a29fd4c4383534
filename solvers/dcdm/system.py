"""Checking and preparing a grid system ``A x = b`` for the Krylov loops of this family.

:func:`analyze` validates ``A`` against ``grid_shape`` and finds, from ``A`` alone, what
the solvers need:

* **active rows** — rows with off-diagonal entries (the fluid cells); the network's
  direction lives there;
* **decoupled rows** — rows with only a diagonal (solid or air cells of
  :func:`~solvers.dcdm.poisson_system`, or the empty rows of a pressure matrix whose
  solid rows were left at zero): solved exactly (``x_i = b_i / A_ii``), or, for empty rows,
  treated as null space (``x_i = 0``, ``b_i`` must vanish);
* **floating components** — connected sets of active rows whose row sums all vanish
  (pure-Neumann pockets): the constants on them span the null space of ``A``.

:class:`Operator` holds the result on a backend (NumPy or CuPy) with the family's
kernels (``backend.kernels("dcdm")``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse

from solvers._backend import Backend
from solvers._errors import InvalidProblemError

from .poisson import PoissonSystem


@dataclass(eq=False)
class Analysis:
    """Host-side structure of a grid system (see :func:`analyze`)."""

    A: Any  # scipy.sparse.csr_matrix, float64
    grid_shape: tuple[int, ...]
    active: np.ndarray  # (n,) bool
    diag: np.ndarray  # (n,) float64
    labels: np.ndarray  # (n,) int32, component of each active row (1..), 0 otherwise
    floating: np.ndarray  # labels of the floating components (int array)
    empty_rows: np.ndarray  # (n,) bool, rows that are entirely zero

    @property
    def n(self) -> int:
        return int(self.A.shape[0])

    def geometry(self) -> tuple[np.ndarray, np.ndarray]:
        """The network's geometry channels: active mask and Dirichlet share (float32).

        The Dirichlet share of an active row is ``Σ_j A_ij / A_ii`` (0 inside the fluid
        and at Neumann walls, > 0 next to Dirichlet faces or air cells).
        """
        rowsum = np.asarray(self.A.sum(axis=1)).ravel()
        share = np.zeros(self.n, dtype=np.float32)
        act = self.active
        share[act] = np.clip(rowsum[act] / np.maximum(self.diag[act], 1e-300), 0.0, 1.0)
        return act.astype(np.float32), share

    @property
    def null_dim(self) -> int:
        return int(self.floating.size + np.count_nonzero(self.empty_rows))

    def project(self, v: np.ndarray) -> np.ndarray:
        """Copy of ``v`` with zero mean on each floating component and 0 on empty rows."""
        out = np.array(v, dtype=np.float64, copy=True)
        if self.floating.size:
            sel = np.isin(self.labels, self.floating)
            lab = self.labels[sel]
            sums = np.bincount(lab, weights=out[sel], minlength=int(self.labels.max()) + 1)
            cnt = np.bincount(lab, minlength=sums.size)
            out[sel] -= sums[lab] / cnt[lab]
        out[self.empty_rows] = 0.0
        return out


def _grid_shape(grid_shape: Any, n_rows: int) -> tuple[int, ...]:
    from .poisson import _parse_grid

    shape = _parse_grid(grid_shape)
    if int(np.prod(shape)) != n_rows:
        raise InvalidProblemError(
            f"A has {n_rows} rows but grid_shape {shape} has {int(np.prod(shape))} cells "
            "(A must cover every cell of the grid, in C order)",
            field="params.grid_shape",
        )
    return shape


def check_matrix(A: Any, grid_shape: Any) -> tuple[Any, tuple[int, ...]]:  # noqa: N803
    """Return ``(A as CSR float64, grid_shape)`` after the shape checks."""
    if isinstance(A, PoissonSystem):
        if grid_shape is not None and tuple(int(s) for s in grid_shape) != A.grid_shape:
            raise InvalidProblemError(
                f"grid_shape {tuple(grid_shape)} does not match the PoissonSystem's {A.grid_shape}",
                field="params.grid_shape",
            )
        return A.A, A.grid_shape
    if not scipy.sparse.issparse(A):
        arr = np.asarray(A)
        if arr.dtype == object or arr.ndim != 2:
            raise InvalidProblemError(
                f"A must be a 2-D sparse or dense matrix, got {type(A).__name__} of shape "
                f"{getattr(arr, 'shape', None)}",
                field="inputs.A",
            )
        A = scipy.sparse.csr_matrix(arr)  # noqa: N806
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise InvalidProblemError(f"A must be square, got shape {A.shape}", field="inputs.A")
    if A.dtype.kind not in "fiub":
        raise InvalidProblemError(f"A must be real, got dtype {A.dtype}", field="inputs.A")
    A = scipy.sparse.csr_matrix(A, dtype=np.float64)  # noqa: N806
    if not np.isfinite(A.data).all():
        raise InvalidProblemError(
            f"A (shape {A.shape}) contains NaN or infinite values", field="inputs.A"
        )
    if grid_shape is None:
        raise InvalidProblemError(
            "grid_shape is required (the network works on the grid)", field="params.grid_shape"
        )
    return A, _grid_shape(grid_shape, A.shape[0])


def check_rhs(b: Any, n: int, name: str = "b") -> np.ndarray:
    """``b`` as a flat float64 vector of length ``n`` (any shape with n entries)."""
    if scipy.sparse.issparse(b):
        b = b.toarray()
    arr = np.asarray(b)
    if arr.dtype == object or arr.dtype.kind not in "fiub":
        raise InvalidProblemError(
            f"{name} must be a real array, got dtype {arr.dtype}", field=f"inputs.{name}"
        )
    if arr.size != n:
        raise InvalidProblemError(
            f"{name} has shape {arr.shape} ({arr.size} entries) but A is {n} × {n}",
            field=f"inputs.{name}",
        )
    arr = np.ascontiguousarray(arr.reshape(-1), dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise InvalidProblemError(
            f"{name} (shape {arr.shape}) contains {bad} NaN or infinite value(s)",
            field=f"inputs.{name}",
        )
    return arr


def analyze(A: Any, grid_shape: Any = None, *, check_symmetry: bool = True) -> Analysis:  # noqa: N803
    """Validate a grid system and find its active rows and null space.

    Parameters
    ----------
    A : sparse or dense (n, n) matrix, or PoissonSystem
        Symmetric positive (semi-)definite, ``n = prod(grid_shape)``.
    grid_shape : sequence of int
    check_symmetry : bool
        Test ``uᵀAv = vᵀAu`` for random ``u, v`` (two products).

    Raises
    ------
    InvalidProblemError
        Not square, not matching ``grid_shape``, NaN/Inf, not symmetric, a negative
        diagonal entry.
    """
    system = A if isinstance(A, PoissonSystem) else None
    A, shape = check_matrix(A, grid_shape)  # noqa: N806
    n = A.shape[0]
    diag = A.diagonal()
    if (diag < 0).any():
        i = int(np.flatnonzero(diag < 0)[0])
        raise InvalidProblemError(
            f"A is not positive semi-definite: A[{i},{i}] = {diag[i]:.3g} < 0", field="inputs.A"
        )
    if check_symmetry and system is None:
        rng = np.random.default_rng(12345)
        u, v = rng.standard_normal(n), rng.standard_normal(n)
        a, b = u @ (A @ v), v @ (A @ u)
        scale = np.linalg.norm(u) * np.linalg.norm(v) * max(float(np.abs(A.data).max()), 1e-300)
        if abs(a - b) > 1e-10 * scale:
            raise InvalidProblemError(
                f"A (shape {A.shape}) is not symmetric (|uᵀAv − vᵀAu| = {abs(a - b):.3g})",
                field="inputs.A",
            )
    row_nnz = np.diff(A.indptr)
    has_diag = diag != 0
    offdiag = row_nnz - has_diag.astype(np.int64)
    # explicit zeros would count as entries: recount by value when there are any
    if (A.data == 0).any():
        nz = A.copy()
        nz.eliminate_zeros()
        offdiag = np.diff(nz.indptr) - (nz.diagonal() != 0)
    active = offdiag > 0
    empty_rows = (offdiag == 0) & ~has_diag
    if system is not None:
        labels = np.where(system.fluid.ravel() & active, system.labels.ravel(), 0).astype(np.int32)
        floating = np.asarray(system.floating, dtype=np.int64)
        floating = floating[np.isin(floating, labels)] if floating.size else floating
        # fluid cells without any coupling (isolated) have empty rows or diagonal-only
    else:
        labels, floating = _floating_components(A, active, diag)
    if not active.any() and not (diag > 0).any():
        raise InvalidProblemError("A is the zero matrix", field="inputs.A")
    return Analysis(
        A=A,
        grid_shape=shape,
        active=active,
        diag=diag,
        labels=labels,
        floating=floating,
        empty_rows=empty_rows,
    )


def _floating_components(A: Any, active: np.ndarray, diag: np.ndarray) -> tuple:  # noqa: N803
    from scipy.sparse.csgraph import connected_components

    n = A.shape[0]
    if not active.any():
        return np.zeros(n, dtype=np.int32), np.zeros(0, dtype=np.int64)
    _, comp = connected_components(A, directed=False)
    rowsum = np.asarray(A.sum(axis=1)).ravel()
    grounded = np.abs(rowsum) > 1e-10 * np.maximum(diag, 1e-300)
    comp = comp.astype(np.int64) + 1
    labels = np.where(active, comp, 0)
    ncomp = int(comp.max()) + 1
    touched = np.bincount(labels[active & grounded], minlength=ncomp) > 0
    present = np.bincount(labels[active], minlength=ncomp) > 0
    floating = np.flatnonzero(present & ~touched)
    floating = floating[floating > 0]
    return labels.astype(np.int32), floating.astype(np.int64)


class Operator:
    """A grid system prepared on a backend for the Krylov loops.

    Attributes
    ----------
    be : Backend
    n : int
    grid_shape : tuple of int
    active : xp array of float64
        1 on active rows, 0 elsewhere (multiplies the network's output).
    inv_diag_decoupled : xp array of float64
        ``1/A_ii`` on decoupled rows with a non-zero diagonal, 0 elsewhere.
    """

    def __init__(self, an: Analysis, be: Backend) -> None:
        self.an = an
        self.be = be
        self.n = an.n
        self.grid_shape = an.grid_shape
        self.kern = be.kernels("dcdm")
        xp = be.xp
        self.M = self.kern.prepare_matrix(an.A)
        self.active = xp.asarray(an.active.astype(np.float64))
        dec = ~an.active & (an.diag > 0)
        inv = np.zeros(self.n)
        inv[dec] = 1.0 / an.diag[dec]
        self.has_decoupled = bool(dec.any())
        self.inv_diag_decoupled = xp.asarray(inv)
        self.has_empty = bool(an.empty_rows.any())
        self.keep = xp.asarray((~an.empty_rows).astype(np.float64)) if self.has_empty else None
        # floating components: one mask per component when there are few, else bincount
        self.float_masks: list[Any] = []
        self.float_counts: list[float] = []
        self.float_labels = None
        if an.floating.size:
            if an.floating.size <= 4:
                for c in an.floating:
                    m = an.labels == c
                    self.float_masks.append(xp.asarray(m.astype(np.float64)))
                    self.float_counts.append(float(np.count_nonzero(m)))
            else:
                lab = np.where(np.isin(an.labels, an.floating), an.labels, 0)
                self.float_labels = xp.asarray(lab.astype(np.int64))
                cnt = np.bincount(lab, minlength=int(lab.max()) + 1).astype(np.float64)
                cnt[0] = 1.0
                self.float_count_arr = xp.asarray(cnt)

    @property
    def singular(self) -> bool:
        return bool(self.float_masks) or self.float_labels is not None or self.has_empty

    def matvec(self, x: Any, out: Any = None) -> Any:
        return self.kern.matvec(self.M, x, out)

    def project(self, v: Any) -> Any:
        """In place: remove the null-space part of ``v`` (floating means, empty rows)."""
        xp = self.be.xp
        for m, c in zip(self.float_masks, self.float_counts):
            mean = float(xp.dot(m, v)) / c
            v -= mean * m
        if self.float_labels is not None:
            sums = xp.bincount(self.float_labels, weights=v)
            sums[0] = 0.0
            v -= (sums / self.float_count_arr)[self.float_labels]
        if self.keep is not None:
            v *= self.keep
        return v
