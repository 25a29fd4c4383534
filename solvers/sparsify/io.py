"""Matrix Market (.mtx) graphs, e.g. from the SuiteSparse Matrix Collection.

SuiteSparse stores graphs in several forms: a symmetric adjacency matrix (often a
``pattern`` matrix without values), or a Laplacian / SDD system matrix (circuit and
finite-element matrices such as ``G2_circuit`` or ``fe_4elt2`` in their Laplacian
form, or the lower triangle that GRASS reads). :func:`read_mtx` turns any of them into
an adjacency matrix.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import scipy.sparse

from solvers._errors import InvalidProblemError

from .graph import as_graph, to_adjacency

AS = ("auto", "adjacency", "laplacian", "abs")


def read_mtx(
    path: str | Path, *, as_: str = "auto", connected: bool = False
) -> scipy.sparse.csr_matrix:
    """Read a graph from a Matrix Market file (``.mtx`` or ``.mtx.gz``).

    Parameters
    ----------
    path : str or Path
    as_ : {"auto", "adjacency", "laplacian", "abs"}
        How to read the entries. ``"adjacency"``: off-diagonal entries are edge weights
        (a ``pattern`` file gives weight 1); the diagonal must be zero. ``"laplacian"``:
        a Laplacian or SDD matrix, edge weights are the negated off-diagonal entries
        (which must be <= 0); the diagonal is ignored. ``"abs"``: weights are the
        absolute values of the off-diagonal entries (any symmetric matrix, e.g. a
        stiffness matrix with some positive couplings). ``"auto"``: ``"laplacian"``
        when every off-diagonal entry is <= 0 and the diagonal is positive, else
        ``"adjacency"`` when there is no diagonal, else ``"abs"``.
    connected : bool
        Return the largest connected component only (vertices renumbered; use
        :func:`solvers.sparsify.largest_component` to get the original ids).

    Returns
    -------
    csr_matrix
        Symmetric adjacency matrix (float64, zero diagonal). A file holding only one
        triangle (``symmetric`` header, or a lower-triangular ``general`` file) is
        mirrored.

    Raises
    ------
    InvalidProblemError
        Not a square matrix, unreadable, or entries that contradict ``as_``.
    """
    if as_ not in AS:
        raise InvalidProblemError(f"as_ must be one of {AS}, got {as_!r}", field="as_")
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                M = scipy.io.mmread(f)  # noqa: N806
        else:
            M = scipy.io.mmread(path)  # noqa: N806
    except (OSError, ValueError) as exc:
        raise InvalidProblemError(f"cannot read {path.name} as Matrix Market: {exc}") from None
    M = scipy.sparse.coo_matrix(M)  # noqa: N806
    if M.shape[0] != M.shape[1]:
        raise InvalidProblemError(f"{path.name}: a graph needs a square matrix, got {M.shape}")
    if M.dtype.kind == "c":
        raise InvalidProblemError(f"{path.name}: complex matrices are not graphs")
    n = M.shape[0]
    r, c, x = M.row.astype(np.int64), M.col.astype(np.int64), M.data.astype(np.float64)
    off = r != c
    diag = x[~off]
    ro, co, xo = r[off], c[off], x[off]
    # one triangle only: mirror it
    if ro.size and (np.all(ro > co) or np.all(ro < co)):
        ro, co, xo = np.concatenate([ro, co]), np.concatenate([co, ro]), np.concatenate([xo, xo])
    mode = as_
    if mode == "auto":
        if xo.size and np.all(xo <= 0) and diag.size and np.all(diag > 0):
            mode = "laplacian"
        elif diag.size == 0 or np.all(diag == 0):
            mode = "adjacency"
        else:
            mode = "abs"
    if mode == "laplacian":
        if np.any(xo > 0):
            raise InvalidProblemError(
                f"{path.name}: as_='laplacian' needs off-diagonal entries <= 0; use as_='abs'"
            )
        w = -xo
    elif mode == "abs":
        w = np.abs(xo)
    else:
        if np.any(diag != 0):
            raise InvalidProblemError(
                f"{path.name}: the diagonal is not zero; read it with as_='laplacian' or 'abs'"
            )
        w = xo
    A = scipy.sparse.csr_matrix((w, (ro, co)), shape=(n, n))  # noqa: N806
    A.sum_duplicates()
    A.eliminate_zeros()
    g = as_graph(A, path.name, min_nodes=1)
    A = to_adjacency(g.n, g.u, g.v, g.w)  # noqa: N806
    if connected:
        from .graph import largest_component

        A = largest_component(A)[0]  # noqa: N806
    return A


def write_mtx(path: str | Path, A: Any, *, comment: str = "") -> Path:  # noqa: N803
    """Write a graph's adjacency matrix as a symmetric real Matrix Market file
    (lower triangle, 1-based, full precision)."""
    g = as_graph(A, "A", min_nodes=1)
    path = Path(path)
    L = scipy.sparse.coo_matrix((g.w, (g.v, g.u)), shape=(g.n, g.n))  # noqa: N806
    scipy.io.mmwrite(path, L, comment=comment, field="real", precision=17, symmetry="symmetric")
    return path if path.suffix == ".mtx" else path.with_suffix(path.suffix + ".mtx")
