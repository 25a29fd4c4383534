"""CuPy backend and GPU kernels.

Imported lazily by :func:`solvers.get_backend`; nothing here is required on a machine
without CUDA. :func:`is_available` is decided by CuPy (it imports and sees a device),
not by ``numba.cuda.is_available()``.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from ._compat import patch_numpy_for_numba_cuda

patch_numpy_for_numba_cuda()

_REASON: str | None = None


@functools.lru_cache(maxsize=1)
def is_available() -> bool:
    """True when CuPy imports and at least one CUDA device answers."""
    global _REASON
    try:
        cupy = importlib.import_module("cupy")
    except Exception as exc:  # ImportError, or a broken CUDA install
        _REASON = f"CuPy is not importable ({type(exc).__name__}: {exc}); install sparsehpc[gpu]"
        return False
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        _REASON = f"CuPy found no usable CUDA device ({type(exc).__name__}: {exc})"
        return False
    if n < 1:
        _REASON = "CuPy found no CUDA device"
        return False
    return True


def unavailable_reason() -> str:
    """Why :func:`is_available` is False (empty when a GPU is usable)."""
    is_available()
    return _REASON or ""


@functools.lru_cache(maxsize=1)
def backend() -> Any:
    """The GPU :class:`solvers.Backend` (CuPy + cupyx.scipy.sparse)."""
    from solvers._backend import Backend

    cupy = importlib.import_module("cupy")
    cupyx_sparse = importlib.import_module("cupyx.scipy.sparse")
    return Backend("gpu", cupy, cupyx_sparse)


def device_info() -> dict[str, Any]:
    """Name and memory of the current device, or ``{"available": False, "reason": ...}``."""
    if not is_available():
        return {"available": False, "reason": unavailable_reason()}
    cupy = importlib.import_module("cupy")
    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    free, total = cupy.cuda.runtime.memGetInfo()
    name = props.get("name", b"")
    return {
        "available": True,
        "name": name.decode() if isinstance(name, bytes) else str(name),
        "total_bytes": int(total),
        "free_bytes": int(free),
        "count": int(cupy.cuda.runtime.getDeviceCount()),
    }
