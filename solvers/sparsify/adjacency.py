"""A mutable graph for streaming updates: per-vertex neighbour segments in one pool.

Every vertex owns a segment ``nbr[start[x] : start[x] + cap[x]]`` of which the first
``deg[x]`` slots are used (neighbour ids in ``nbr``, edge weights in ``wt``, an int8
``flag`` and optionally a float ``cong`` per slot). Inserting into a full segment moves
the vertex to a fresh segment of twice the size at the end of the pool (the pool grows
geometrically), deleting swaps the last neighbour into the hole: both are O(degree) and
never touch the rest of the graph (the reference dyGRASS code keeps an "extra" buffer for
grown vertices in the same spirit). These arrays are what the random-walk kernels read,
on the CPU directly and on the GPU through a mirror refreshed when the graph changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from . import _kernels_numba as K
from .graph import to_adjacency

_ARRAYS = ("start", "cap", "deg", "nbr", "wt", "flag", "cong")


class DynamicGraph:
    """Undirected weighted graph with O(degree) edge insertion and deletion.

    Parameters
    ----------
    n : int
        Number of vertices (fixed).
    u, v : ndarray of int64
        Initial edges (each once).
    w : ndarray of float64
        Their weights.
    slack : float
        Extra capacity per vertex at construction, as a fraction of its degree.
    flag : int
        Initial int8 flag of every edge (moved with its slots; the dynamic sparsifier
        marks G's edges that are also in H).
    congestion : bool
        Keep a float per slot (the congestion of H's edges); otherwise ``cong`` is a
        one-entry placeholder that the kernels ignore.
    """

    def __init__(
        self,
        n: int,
        u: np.ndarray,
        v: np.ndarray,
        w: np.ndarray,
        *,
        slack: float = 0.5,
        flag: int = 0,
        congestion: bool = False,
    ) -> None:
        self.n = int(n)
        d = np.bincount(u, minlength=n) + np.bincount(v, minlength=n)
        cap = np.maximum(4, np.ceil(d * (1.0 + slack)).astype(np.int64))
        self.start = np.zeros(n, dtype=np.int64)
        np.cumsum(cap[:-1], out=self.start[1:])
        self.cap = cap
        self.deg = np.zeros(n, dtype=np.int64)
        size = int(cap.sum())
        self.nbr = np.zeros(size, dtype=np.int64)
        self.wt = np.zeros(size, dtype=np.float64)
        self.flag = np.zeros(size, dtype=np.int8)
        self.cong = np.zeros(size if congestion else 1, dtype=np.float64)
        self.used = size
        self._fill(u, v, w, flag)
        self.m = int(u.size)
        self.version = 0
        self._device: tuple[int, Any, tuple] | None = None

    def _fill(self, u: np.ndarray, v: np.ndarray, w: np.ndarray, flag: int) -> None:
        K.adj_fill(
            self.start, self.deg, self.nbr, self.wt, self.flag, self.cong, u, v, w, np.int8(flag)
        )

    @property
    def has_congestion(self) -> bool:
        return self.cong.size == self.nbr.size

    # -- exact state (for persistence) -------------------------------------------------
    def to_arrays(self, prefix: str) -> dict[str, Any]:
        """The raw arrays (slot order included), so a restore walks exactly the same."""
        out = {f"{prefix}{k}": getattr(self, k)[: self.used] for k in ("nbr", "wt", "flag")}
        out[f"{prefix}cong"] = self.cong[: self.used] if self.has_congestion else self.cong
        for k in ("start", "cap", "deg"):
            out[f"{prefix}{k}"] = getattr(self, k)
        out[f"{prefix}meta"] = np.array([self.n, self.m, self.used], dtype=np.int64)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], prefix: str) -> DynamicGraph:
        self = cls.__new__(cls)
        n, m, used = (int(x) for x in np.asarray(arrays[f"{prefix}meta"]))
        self.n, self.m, self.used = n, m, used
        for k in _ARRAYS:
            setattr(self, k, np.array(arrays[f"{prefix}{k}"], copy=True))
        self.version = 0
        self._device = None
        return self

    # -- queries -----------------------------------------------------------------------
    def lookup(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Weight of each edge ``(u[e], v[e])``; NaN where there is no edge."""
        out = np.empty(u.size)
        K.adj_lookup(self.start, self.deg, self.nbr, self.wt, u, v, out)
        return out

    def congestion(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Congestion of each edge (NaN where absent or not tracked)."""
        out = np.full(u.size, np.nan)
        if self.has_congestion and u.size:
            K.adj_get_cong(self.start, self.deg, self.nbr, self.cong, u, v, out)
        return out

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(u, v, w)`` with ``u < v`` (sorted lexicographically)."""
        u = np.empty(self.m, dtype=np.int64)
        v = np.empty(self.m, dtype=np.int64)
        w = np.empty(self.m)
        k = K.adj_edges(self.start, self.deg, self.nbr, self.wt, u, v, w)
        u, v, w = u[:k], v[:k], w[:k]
        order = np.lexsort((v, u))
        return u[order], v[order], w[order]

    def adjacency(self) -> scipy.sparse.csr_matrix:
        """The symmetric adjacency matrix (CSR)."""
        u, v, w = self.edges()
        return to_adjacency(self.n, u, v, w)

    @property
    def nbytes(self) -> int:
        return int(sum(getattr(self, k).nbytes for k in _ARRAYS))

    # -- updates -----------------------------------------------------------------------
    def insert(self, u: np.ndarray, v: np.ndarray, w: np.ndarray, flag: int = 0) -> None:
        """Add edges with ``flag`` (the caller guarantees they are new and not repeated)."""
        if u.size == 0:
            return
        need = self.deg + np.bincount(u, minlength=self.n) + np.bincount(v, minlength=self.n)
        grow = np.flatnonzero(need > self.cap)
        if grow.size:
            new_cap = np.maximum(2 * need[grow], 4)
            new_start = self.used + np.concatenate([[0], np.cumsum(new_cap[:-1])])
            total = int(self.used + new_cap.sum())
            if total > self.nbr.size:
                size = max(total, int(1.5 * self.nbr.size))
                for k in ("nbr", "wt", "flag") + (("cong",) if self.has_congestion else ()):
                    old = getattr(self, k)
                    arr = np.zeros(size, dtype=old.dtype)
                    arr[: self.used] = old[: self.used]
                    setattr(self, k, arr)
            K.adj_relocate(
                self.start, self.deg, self.nbr, self.wt, self.flag, self.cong, grow, new_start
            )
            self.cap[grow] = new_cap
            self.used = total
        self._fill(u, v, w, flag)
        self.m += int(u.size)
        self.version += 1

    def remove(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Remove edges; returns a bool per edge: whether it was present."""
        removed = np.zeros(u.size, dtype=np.bool_)
        if u.size:
            K.adj_remove(
                self.start, self.deg, self.nbr, self.wt, self.flag, self.cong, u, v, removed
            )
            self.m -= int(removed.sum())
            self.version += 1
        return removed

    def set_flag(self, u: np.ndarray, v: np.ndarray, value: int) -> None:
        """Set the flag of the existing edges ``(u[e], v[e])``."""
        if u.size:
            K.adj_set_flag(self.start, self.deg, self.nbr, self.flag, u, v, np.int8(value))
            self.version += 1

    def add_congestion(self, u: np.ndarray, v: np.ndarray, value: np.ndarray) -> None:
        """Add ``value[e]`` to the congestion of the existing edges."""
        if u.size and self.has_congestion:
            K.adj_add_cong(self.start, self.deg, self.nbr, self.cong, u, v, value)
            self.version += 1

    def touch(self) -> None:
        """Mark the arrays as changed (after a kernel wrote into them)."""
        self.version += 1

    # -- device mirror -----------------------------------------------------------------
    def device_arrays(self, xp: Any) -> tuple[Any, ...]:
        """``(start, deg, nbr, wt, flag, cong)`` on the device of ``xp`` (copied when the
        graph changed since the last call)."""
        if self._device is None or self._device[0] != self.version or self._device[1] is not xp:
            cong = self.cong[: self.used] if self.has_congestion else self.cong
            arrays = (
                xp.asarray(self.start),
                xp.asarray(self.deg),
                xp.asarray(self.nbr[: self.used]),
                xp.asarray(self.wt[: self.used]),
                xp.asarray(self.flag[: self.used]),
                xp.asarray(cong),
            )
            self._device = (self.version, xp, arrays)
        return self._device[2]
