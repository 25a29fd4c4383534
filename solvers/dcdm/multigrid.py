"""Grid hierarchy of the V-cycle network (host side: NumPy/SciPy, no torch).

The V-cycle DCDM network (:class:`~solvers.dcdm.network.VCycleNet`) works on a hierarchy
of grids built once per system from ``A`` and its geometry:

* **levels** — the active cells of the fine grid, then of grids coarsened ×2 along
  every axis longer than one cell, down to ``coarsest`` cells per axis or ``max_coarse``
  active cells;
* **transfers** — cell-centred linear interpolation normalized by the coarse fluid
  fraction (Shepard), ``P x = U(ω_c x) / U(ω_c)`` on the active fine cells: constants are
  kept up to walls and obstacles. Restriction is ``Pᵀ``;
* **coarse operators** — Galerkin products ``A_{l+1} = Pᵀ A_l P`` (exact for any SPD
  grid matrix: obstacles, Neumann / Dirichlet faces, free surfaces, variable
  coefficients), a dense pseudo-inverse on the coarsest level (it handles the Neumann
  null space);
* **geometry** — per level the two channels the network's smoother gates read: fluid
  fraction and Dirichlet share of the diagonal (averaged over the fluid part), and the
  ℓ1 row norms ``a_i = Σ_j |A_ij|``: a Jacobi step ``x ← x + s_i (2/a_i)(r − A x)_i``
  converges in the A-norm for any gates ``0 < s_i < 1``, since ``diag(a) − A`` is
  diagonally dominant, hence ``2 diag(a)/2s − A ≻ 0`` (the ℓ1-Jacobi smoother [4]).

:class:`CPUVCycle` applies the network (given the learned smoother weights of every level)
in float32 with SciPy's sparse products and fused Numba kernels.

References
----------
.. [1] A. Kaneda, O. Akar, J. Chen, V. Kala, D. Hyde, J. Teran, "A Deep Conjugate
   Direction Method for Iteratively Solving Linear Systems", ICML 2023, arXiv:2205.10763.
.. [2] J. He, J. Xu, "MgNet: A unified framework of multigrid and convolutional neural
   network", Sci. China Math. 62 (2019) — a V-cycle as a convolutional network.
.. [3] W. L. Briggs, V. E. Henson, S. F. McCormick, *A Multigrid Tutorial*, SIAM, 2000.
.. [4] A. H. Baker, R. D. Falgout, T. V. Kolev, U. M. Yang, "Multigrid smoothers for
   ultraparallel computing", SIAM J. Sci. Comput. 33 (2011) — ℓ1 smoothers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse

from solvers._config import njit


@dataclass(eq=False)
class Level:
    """One grid of the hierarchy (host arrays; matrices in float32, like the network)."""

    shape: tuple[int, ...]
    index: np.ndarray  # (n_l,) int64: active cells in this level's full grid (C order)
    A: Any  # CSR (n_l × n_l), float32, on the active cells
    wmax: np.ndarray  # (n_l,) 2 / Σ_j |A_ij|: the largest convergent Jacobi weight × D⁻¹
    geometry: np.ndarray  # (2, *shape) float32: fluid fraction, Dirichlet share
    P: Any = None  # CSR (n_l × n_{l+1}): interpolation from the next coarser level
    R: Any = None  # CSR (n_{l+1} × n_l): restriction Pᵀ
    coarse_inv: np.ndarray | None = None  # dense pseudo-inverse on the coarsest level
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.index.size)


def _interp_1d(nf: int) -> scipy.sparse.csr_matrix:
    """Cell-centred linear interpolation ×2 on one axis (zero outside), ``nf × ⌈nf/2⌉``.

    ``f[2j] = ¾ c[j] + ¼ c[j−1]``, ``f[2j+1] = ¾ c[j] + ¼ c[j+1]``.
    """
    nc = (nf + 1) // 2
    i = np.arange(nf)
    j = i // 2
    k = np.where(i % 2 == 0, j - 1, j + 1)
    ok = (k >= 0) & (k < nc)
    rows = np.concatenate([i, i[ok]])
    cols = np.concatenate([j, k[ok]])
    vals = np.concatenate([np.full(nf, 0.75), np.full(int(ok.sum()), 0.25)])
    return scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(nf, nc))


def _interp(shape: tuple[int, ...]) -> tuple[scipy.sparse.csr_matrix, tuple[int, ...]]:
    """Tensor-product interpolation from the ×2 coarser grid (axes of length 1 kept)."""
    mats = []
    cshape = []
    for s in shape:
        if s > 1:
            mats.append(_interp_1d(s))
            cshape.append((s + 1) // 2)
        else:
            mats.append(scipy.sparse.identity(1, format="csr"))
            cshape.append(1)
    U = mats[0]  # noqa: N806
    for m in mats[1:]:
        U = scipy.sparse.kron(U, m, format="csr")  # noqa: N806
    return U, tuple(cshape)


def _galerkin(R: Any, A: Any, P: Any, chunk: int = 16384) -> Any:  # noqa: N803
    """``R A P`` by blocks of coarse rows (small intermediates: ~2× faster at 128³)."""
    if R.shape[0] <= chunk:
        out = (R @ (A @ P)).tocsr()
    else:
        parts = [(R[c0 : c0 + chunk] @ A) @ P for c0 in range(0, R.shape[0], chunk)]
        out = scipy.sparse.vstack(parts, format="csr")
    out.sort_indices()
    return out


def build_hierarchy(
    A: Any,  # noqa: N803
    grid_shape: tuple[int, ...],
    active: np.ndarray,
    share: np.ndarray,
    *,
    coarsest: int = 4,
    max_coarse: int = 400,
) -> list[Level]:
    """The levels of the V-cycle network for the grid matrix ``A`` (see the module doc).

    Parameters
    ----------
    A : (n, n) CSR matrix
        The whole grid's matrix (decoupled rows are ignored).
    grid_shape : tuple of int
    active : (n,) bool or float
        Active (fluid) cells: rows with off-diagonal entries.
    share : (n,) float
        Dirichlet share of the diagonal on active cells (``Analysis.geometry``).
    coarsest : int
        Stop coarsening when every axis has at most this many cells …
    max_coarse : int
        … or when at most this many active cells are left.

    Returns
    -------
    list of Level
        Finest first; the last one carries ``coarse_inv``.
    """
    shape = tuple(int(s) for s in grid_shape)
    act = np.asarray(active).reshape(-1) > 0
    idx = np.flatnonzero(act).astype(np.int64)
    if not (scipy.sparse.isspmatrix_csr(A) and A.dtype == np.float64):
        A = scipy.sparse.csr_matrix(A, dtype=np.float64)  # noqa: N806
    cmap = np.full(act.size, -1, dtype=np.int64)
    cmap[idx] = np.arange(idx.size)
    ptr, ind, val = _submatrix(A.indptr, A.indices, A.data, idx, cmap)
    Al = scipy.sparse.csr_matrix((val, ind, ptr), shape=(idx.size, idx.size))  # noqa: N806
    omega = act.astype(np.float64)  # fluid fraction on the full grid of the level
    dsh = np.where(act, np.asarray(share, dtype=np.float64).reshape(-1), 0.0)
    levels: list[Level] = []
    while True:
        Al.sort_indices()
        absrow = _abs_row_sums(Al.indptr, Al.data)
        wmax = np.where(absrow > 0, 2.0 / np.where(absrow > 0, absrow, 1.0), 0.0)
        geo = np.stack([omega, dsh]).astype(np.float32).reshape(2, *shape)
        lvl = Level(shape=shape, index=idx, A=Al, wmax=wmax, geometry=geo)
        levels.append(lvl)
        if idx.size <= max_coarse or (max(shape) <= coarsest and idx.size <= 4096):
            break  # (the coarsest level gets a dense pseudo-inverse: keep it small)
        cshape = tuple((s + 1) // 2 if s > 1 else 1 for s in shape)
        total = _restrict_full(np.ones(omega.size), shape)
        wsum = _restrict_full(omega, shape)
        om_c = wsum / total
        dsum = _restrict_full(dsh * omega, shape)
        d_c = np.where(wsum > 0, dsum / np.where(wsum > 0, wsum, 1.0), 0.0)
        cidx = np.flatnonzero(om_c > 0).astype(np.int64)
        cmap = np.full(om_c.size, -1, dtype=np.int64)
        cmap[cidx] = np.arange(cidx.size)
        pad = (1,) * (3 - len(shape))
        ptr, ind, val = _interp_rows(
            idx,
            np.asarray(pad + shape, dtype=np.int64),
            np.asarray(pad + cshape, dtype=np.int64),
            cmap,
            om_c,
        )
        P = scipy.sparse.csr_matrix((val, ind, ptr), shape=(idx.size, cidx.size))  # noqa: N806
        P.sort_indices()
        lvl.P = P
        R = P.T.tocsr()  # noqa: N806
        R.sort_indices()
        lvl.R = R
        Al = _galerkin(R, Al, P)  # noqa: N806
        idx, omega, dsh, shape = cidx, om_c, d_c, cshape
    dense = levels[-1].A.toarray().astype(np.float64)
    # float32 operators: the Neumann null space shows up at ~1e-7 relative
    levels[-1].coarse_inv = np.linalg.pinv(0.5 * (dense + dense.T), rcond=1e-5, hermitian=True)
    return levels


@njit
def _submatrix(indptr, indices, data, rows, cmap):
    """``A[rows][:, rows]`` (CSR, columns remapped by ``cmap``, −1 = dropped), one pass."""
    n = rows.size
    ptr = np.zeros(n + 1, dtype=np.int32)
    nnz = 0
    for t in range(n):
        i = rows[t]
        for k in range(indptr[i], indptr[i + 1]):
            if cmap[indices[k]] >= 0:
                nnz += 1
    ind = np.empty(nnz, dtype=np.int32)
    val = np.empty(nnz, dtype=np.float32)
    pos = 0
    for t in range(n):
        i = rows[t]
        for k in range(indptr[i], indptr[i + 1]):
            c = cmap[indices[k]]
            if c >= 0:
                ind[pos] = c
                val[pos] = data[k]
                pos += 1
        ptr[t + 1] = pos
    return ptr, ind, val


@njit
def _abs_row_sums(indptr, data):
    n = indptr.size - 1
    out = np.zeros(n)
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += abs(data[k])
        out[i] = s
    return out


# -- CPU application (float32) ------------------------------------------------------------------
@njit
def _smooth_first(r, wd, x):
    """``x = wd ⊙ r``."""
    for i in range(r.size):
        x[i] = wd[i] * r[i]


@njit
def _residual(indptr, indices, data, x, r, out):
    """``out = r − A x``."""
    for i in range(r.size):
        s = r[i]
        for k in range(indptr[i], indptr[i + 1]):
            s -= data[k] * x[indices[k]]
        out[i] = s


@njit
def _jacobi(indptr, indices, data, x, r, wd, out):
    """``out = x + wd ⊙ (r − A x)``."""
    for i in range(r.size):
        s = r[i]
        for k in range(indptr[i], indptr[i + 1]):
            s -= data[k] * x[indices[k]]
        out[i] = x[i] + wd[i] * s


class _CSR32:
    """Float32 copy of the values of a CSR matrix; the index arrays are shared."""

    __slots__ = ("indptr", "indices", "data", "scipy")

    def __init__(self, M: Any) -> None:  # noqa: N803
        if not scipy.sparse.isspmatrix_csr(M):
            M = scipy.sparse.csr_matrix(M)  # noqa: N806
        self.indptr = M.indptr
        self.indices = M.indices
        self.data = M.data.astype(np.float32, copy=False)
        self.scipy = scipy.sparse.csr_matrix(
            (self.data, M.indices, M.indptr), shape=M.shape, copy=False
        )


class CPUVCycle:
    """The V-cycle network on the CPU, float32, for given smoother weights.

    Parameters
    ----------
    levels : list of Level
    wd : list of (nu, n_l) float arrays
        The smoother weights of every level but the coarsest (``s_k ⊙ wmax`` on each
        active cell), as computed by
        :meth:`VCycleNet.smoother_weights`.
    """

    def __init__(self, levels: list[Level], wd: list[np.ndarray]) -> None:
        self.levels = levels
        self.nu = int(wd[0].shape[0]) if len(levels) > 1 else 0
        self.A = [_CSR32(lv.A) for lv in levels[:-1]]
        self.P = [_CSR32(lv.P) for lv in levels[:-1]]
        self.R = [_CSR32(lv.R if lv.R is not None else lv.P.T) for lv in levels[:-1]]
        self.wd = [np.ascontiguousarray(w, dtype=np.float32) for w in wd]
        self.coarse = np.ascontiguousarray(levels[-1].coarse_inv, dtype=np.float32)
        self.tmp = [
            (
                np.empty(lv.n, dtype=np.float32),
                np.empty(lv.n, dtype=np.float32),
                np.empty(lv.n, dtype=np.float32),
            )
            for lv in levels[:-1]
        ]

    def clone(self) -> CPUVCycle:
        """The same cycle (shared matrices and weights) with its own work buffers."""
        out = object.__new__(CPUVCycle)
        out.__dict__.update(self.__dict__)
        out.tmp = [tuple(np.empty_like(b) for b in bufs) for bufs in self.tmp]
        return out

    def _cycle(self, lvl: int, r: np.ndarray) -> np.ndarray:
        if lvl == len(self.levels) - 1:
            return self.coarse @ r
        A, wd = self.A[lvl], self.wd[lvl]  # noqa: N806
        x, y, res = self.tmp[lvl]
        _smooth_first(r, wd[0], x)
        for k in range(1, self.nu):
            _jacobi(A.indptr, A.indices, A.data, x, r, wd[k], y)
            x, y = y, x
        _residual(A.indptr, A.indices, A.data, x, r, res)
        xc = self._cycle(lvl + 1, self.R[lvl].scipy @ res)
        x += self.P[lvl].scipy @ xc
        for k in range(self.nu - 1, -1, -1):
            _jacobi(A.indptr, A.indices, A.data, x, r, wd[k], y)
            x, y = y, x
        return x.copy()

    def __call__(self, r: np.ndarray) -> np.ndarray:
        """Apply to ``r`` on the active fine cells (float32, shape (n_0,))."""
        return self._cycle(0, np.ascontiguousarray(r, dtype=np.float32))


# -- fast construction (Numba) ------------------------------------------------------------------
@njit
def _interp_rows(fidx, fshape, cshape, cmap, om_c):
    """Rows of ``P`` (≤ 2^d entries each) for the active fine cells ``fidx``.

    Grids are padded to 3-D (leading axes of length 1). Returns CSR arrays.
    """
    nf = fidx.size
    indptr = np.zeros(nf + 1, dtype=np.int32)
    indices = np.empty(nf * 8, dtype=np.int32)
    data = np.empty(nf * 8, dtype=np.float32)
    cj = np.empty((3, 2), dtype=np.int64)
    cw = np.empty((3, 2), dtype=np.float64)
    cnt = np.empty(3, dtype=np.int64)
    pos = 0
    for t in range(nf):
        f = fidx[t]
        rem = f
        coords = np.empty(3, dtype=np.int64)
        for d in range(2, -1, -1):
            coords[d] = rem % fshape[d]
            rem //= fshape[d]
        for d in range(3):
            c = coords[d]
            if fshape[d] == 1:
                cj[d, 0] = 0
                cw[d, 0] = 1.0
                cnt[d] = 1
            else:
                p = c // 2
                cj[d, 0] = p
                cw[d, 0] = 0.75
                k = p - 1 if c % 2 == 0 else p + 1
                if 0 <= k < cshape[d]:
                    cj[d, 1] = k
                    cw[d, 1] = 0.25
                    cnt[d] = 2
                else:
                    cnt[d] = 1
        start = pos
        total = np.float32(0.0)
        for a in range(cnt[0]):
            for b in range(cnt[1]):
                for e in range(cnt[2]):
                    full = (cj[0, a] * cshape[1] + cj[1, b]) * cshape[2] + cj[2, e]
                    col = cmap[full]
                    if col < 0:
                        continue
                    w = np.float32(cw[0, a] * cw[1, b] * cw[2, e] * om_c[full])
                    indices[pos] = col
                    data[pos] = w
                    total += w
                    pos += 1
        for q in range(start, pos):
            data[q] /= total
        indptr[t + 1] = pos
    return indptr, indices[:pos], data[:pos]


def _restrict_full(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``Uᵀ x`` on full grids (separable: one 1-D transposed interpolation per axis)."""
    y = x.reshape(shape)
    for d, s in enumerate(shape):
        if s == 1:
            continue
        m = _interp_1d(s).T.tocsr()
        y = np.moveaxis(y, d, 0)
        rest = y.shape[1:]
        y = (m @ y.reshape(s, -1)).reshape((m.shape[0], *rest))
        y = np.moveaxis(y, 0, d)
    return np.ascontiguousarray(y).reshape(-1)
