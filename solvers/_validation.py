"""Input validation helpers shared by the solver families.

Each helper raises :class:`InvalidProblemError` with a message that names the input and
the shapes involved, and ``field="inputs.<name>"`` (or ``params.<name>``) so that the
service can answer 422 with the offending field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse

from ._errors import InvalidProblemError

DTYPE_KINDS = {
    "real": "fiub",  # bools and integers are promoted to float
    "complex": "c",
    "numeric": "fiubc",
    "integer": "iu",
    "bool": "b",
    "any": None,
}


def _all_finite(a: np.ndarray) -> bool:
    """No NaN or infinity in the float/complex ``a``: a finite sum proves it (NaN and
    ±inf propagate through a sum), one reduction without a temporary; an overflowing or
    non-finite sum falls back to the elementwise test."""
    return bool(np.isfinite(a.sum())) or bool(np.isfinite(a).all())


def _field(name: str) -> str:
    return name if "." in name else f"inputs.{name}"


def as_array(
    a: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    dtype: str = "real",
    finite: bool = True,
    min_size: int = 1,
    float_dtype: Any = None,
) -> np.ndarray:
    """Return ``a`` as a NumPy array after checking it.

    Parameters
    ----------
    a : array_like
        The input.
    name : str
        Input name used in error messages (``"M"`` or a dotted field).
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions.
    dtype : {"real", "complex", "numeric", "integer", "bool", "any"}
        Allowed dtype kind. ``"real"`` accepts bool/int/float and converts to float64
        (float32 is kept); ``"numeric"`` also accepts complex.
    finite : bool
        Reject NaN and infinite values.
    min_size : int
        Minimum number of elements.
    float_dtype : dtype, optional
        Force this floating dtype (e.g. ``np.float64``).

    Raises
    ------
    InvalidProblemError
    """
    allowed = None if ndim is None else ((ndim,) if isinstance(ndim, int) else tuple(ndim))
    kinds = DTYPE_KINDS[dtype]
    if (  # fast path: a valid float/complex ndarray is returned unchanged, as below
        type(a) is np.ndarray
        and float_dtype is None
        and a.dtype.kind in "fc"
        and a.dtype.itemsize >= 4
        and (kinds is None or a.dtype.kind in kinds)
        and (allowed is None or a.ndim in allowed)
        and a.size >= min_size
        and (not finite or _all_finite(a))
    ):
        return a
    field = _field(name)
    if scipy.sparse.issparse(a):
        raise InvalidProblemError(
            f"input {name!r} must be a dense array, got a sparse matrix of shape {a.shape}",
            field=field,
        )
    if isinstance(a, np.ndarray):
        arr = a
    else:
        try:
            arr = np.asarray(a)
        except (ValueError, TypeError) as exc:
            raise InvalidProblemError(
                f"input {name!r} is not an array: {exc}", field=field
            ) from exc
    if arr.dtype == object:
        raise InvalidProblemError(
            f"input {name!r} is ragged or not numeric (object array of shape {arr.shape})",
            field=field,
        )
    if allowed is not None and arr.ndim not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise InvalidProblemError(
            f"input {name!r} must have {want} dimension(s), got shape {arr.shape}",
            field=field,
        )
    if kinds is not None and arr.dtype.kind not in kinds:
        raise InvalidProblemError(
            f"input {name!r} must have a {dtype} dtype, got {arr.dtype}", field=field
        )
    if arr.size < min_size:
        raise InvalidProblemError(
            f"input {name!r} must have at least {min_size} element(s), got shape {arr.shape}",
            field=field,
        )
    if dtype in ("real", "numeric") and arr.dtype.kind in "iub":
        arr = arr.astype(np.float64)
    if dtype in ("real", "numeric") and arr.dtype.kind == "f" and arr.dtype.itemsize < 4:
        arr = arr.astype(np.float32)
    if float_dtype is not None:
        target = np.dtype(float_dtype)
        if arr.dtype.kind == "c" and target.kind == "f":
            target = np.result_type(target, np.complex64)
        arr = arr.astype(target, copy=False)
    if finite and arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InvalidProblemError(
            f"input {name!r} (shape {arr.shape}) contains {bad} NaN or infinite value(s)",
            field=field,
        )
    return arr


def as_sparse(
    a: Any,
    name: str,
    *,
    square: bool = False,
    dtype: str = "real",
    finite: bool = True,
    fmt: str = "csr",
) -> scipy.sparse.sparray | scipy.sparse.spmatrix:
    """Return ``a`` as a scipy.sparse matrix in ``fmt`` after checking it.

    Dense 2-D arrays are converted. Raises :class:`InvalidProblemError`.
    """
    field = _field(name)
    if not scipy.sparse.issparse(a):
        dense = as_array(a, name, ndim=2, dtype=dtype, finite=finite)
        mat = scipy.sparse.csr_matrix(dense)
    else:
        mat = a
    if mat.ndim != 2:
        raise InvalidProblemError(f"input {name!r} must be 2-D, got shape {mat.shape}", field=field)
    kinds = DTYPE_KINDS[dtype]
    if kinds is not None and mat.dtype.kind not in kinds:
        raise InvalidProblemError(
            f"input {name!r} must have a {dtype} dtype, got {mat.dtype}", field=field
        )
    if mat.dtype.kind in "iub" and dtype in ("real", "numeric"):
        mat = mat.astype(np.float64)
    if square and mat.shape[0] != mat.shape[1]:
        raise InvalidProblemError(
            f"input {name!r} must be square, got shape {mat.shape}", field=field
        )
    mat = mat.asformat(fmt)
    if finite and mat.dtype.kind in "fc" and not np.isfinite(mat.data).all():
        raise InvalidProblemError(
            f"input {name!r} (shape {mat.shape}) contains NaN or infinite values", field=field
        )
    return mat


def require(condition: bool, message: str, *, field: str | None = None) -> None:
    """Raise :class:`InvalidProblemError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise InvalidProblemError(message, field=field)


def check_positive(value: float, name: str, *, strict: bool = True) -> None:
    """Reject non-positive (or negative, with ``strict=False``) numbers."""
    ok = value > 0 if strict else value >= 0
    if not ok or not np.isfinite(value):
        rel = "> 0" if strict else ">= 0"
        raise InvalidProblemError(f"{name} must be finite and {rel}, got {value!r}", field=name)
