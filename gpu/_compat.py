"""Compatibility shims applied before numba.cuda is imported.

numba-cuda 0.30 registers an overload for ``numpy.row_stack`` when ``numba.cuda`` is
imported, and NumPy 2.5 removed that alias (deprecated since 2.0), so on NumPy >= 2.5
``import numba.cuda`` fails with ``AttributeError: module 'numpy' has no attribute
'row_stack'`` (seen on the lent H200 image: numba-cuda 0.30.4, NumPy 2.5.2). We give
NumPy a *distinct* stand-in function under the old name (calling it behaves like
``numpy.vstack``), so numba-cuda's registration attaches to the stand-in and never to
``numpy.vstack`` itself.
"""

from __future__ import annotations

from typing import Any


def patch_numpy_for_numba_cuda() -> None:
    """Restore the NumPy names that numba-cuda still references, when missing."""
    import numpy as np

    if not hasattr(np, "row_stack"):

        def row_stack(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
            """Removed NumPy alias of :func:`numpy.vstack` (restored for numba-cuda)."""
            return np.vstack(tup, dtype=dtype, casting=casting)

        setattr(np, "row_stack", row_stack)  # noqa: B010
