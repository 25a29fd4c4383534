"""Array backends: NumPy/SciPy/Numba on the CPU, CuPy on the GPU.

A solver is written once against ``backend.xp`` (``numpy`` or ``cupy``) and
``backend.sparse`` (``scipy.sparse`` or ``cupyx.scipy.sparse``); its hot loops come
from ``backend.kernels(family)``: ``solvers/<family>/_kernels_numba.py`` on the CPU,
``gpu/<family>_kernels.py`` on the GPU, with the same function names.

CuPy is only imported when the GPU backend is asked for (``gpu`` is never imported at
module level outside ``gpu/``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse

from ._errors import BackendUnavailableError

BACKEND_NAMES = ("cpu", "gpu", "auto")


@dataclass(frozen=True)
class Backend:
    """An array backend.

    Attributes
    ----------
    name : {"cpu", "gpu"}
    xp : module
        ``numpy`` or ``cupy``.
    sparse : module
        ``scipy.sparse`` or ``cupyx.scipy.sparse``.
    """

    name: str
    xp: ModuleType
    sparse: ModuleType

    @property
    def is_gpu(self) -> bool:
        return self.name == "gpu"

    @property
    def linalg(self) -> ModuleType:
        """``numpy.linalg`` or ``cupy.linalg``."""
        return self.xp.linalg

    @property
    def sparse_linalg(self) -> ModuleType:
        """``scipy.sparse.linalg`` or ``cupyx.scipy.sparse.linalg``."""
        if self.is_gpu:
            return importlib.import_module("cupyx.scipy.sparse.linalg")
        return importlib.import_module("scipy.sparse.linalg")

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Move ``a`` onto this backend (no copy when it is already there)."""
        if self.is_gpu and scipy.sparse.issparse(a):
            return self.sparse.csr_matrix(a.tocsr() if dtype is None else a.tocsr().astype(dtype))
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a: Any) -> Any:
        """Return ``a`` as a NumPy array (or scipy.sparse matrix) on the host."""
        if a is None:
            return None
        if self.is_gpu:
            if hasattr(a, "get"):
                return a.get()
            if isinstance(a, (list, tuple)):
                return type(a)(self.to_host(x) for x in a)
        return a

    def kernels(self, family: str) -> ModuleType:
        """The hot-loop module of ``family`` for this backend (same function names)."""
        if self.is_gpu:
            return importlib.import_module(f"gpu.{family}_kernels")
        return importlib.import_module(f"solvers.{family}._kernels_numba")

    def synchronize(self) -> None:
        """Wait for queued device work (no-op on the CPU); use before timing."""
        if self.is_gpu:
            self.xp.cuda.Device().synchronize()

    def free_memory(self) -> int | None:
        """Free device memory in bytes (GPU), or None on the CPU."""
        if self.is_gpu:
            free, _total = self.xp.cuda.runtime.memGetInfo()
            return int(free)
        return None


CPU = Backend("cpu", np, scipy.sparse)


def gpu_available() -> bool:
    """True when CuPy imports and a CUDA device exists (decided by CuPy)."""
    try:
        gpu = importlib.import_module("gpu")
    except ImportError:  # pragma: no cover - gpu/ always ships
        return False
    return bool(gpu.is_available())


def get_backend(
    backend: str | Backend = "auto", *, allowed: tuple[str, ...] = ("cpu", "gpu")
) -> Backend:
    """Resolve a backend name.

    Parameters
    ----------
    backend : {"auto", "cpu", "gpu"} or Backend
        ``"auto"`` picks the GPU when one is usable and allowed, else the CPU.
    allowed : tuple of str
        Backends the caller supports.

    Raises
    ------
    BackendUnavailableError
        ``"gpu"`` was asked for but no usable GPU (CuPy + CUDA device) exists, or the
        solver does not support it.
    InvalidProblemError
        The name is not one of ``"auto"``, ``"cpu"``, ``"gpu"``.
    """
    if isinstance(backend, Backend):
        return backend
    from ._errors import InvalidProblemError

    name = str(backend).lower()
    if name not in BACKEND_NAMES:
        raise InvalidProblemError(
            f"backend must be one of {BACKEND_NAMES}, got {backend!r}", field="backend"
        )
    if name == "auto":
        name = "gpu" if "gpu" in allowed and gpu_available() else "cpu"
    if name not in allowed:
        raise BackendUnavailableError(
            f"backend {name!r} is not supported by this solver (supported: {', '.join(allowed)})"
        )
    if name == "cpu":
        return CPU
    if not gpu_available():
        gpu = importlib.import_module("gpu")
        raise BackendUnavailableError(f"backend 'gpu' is not available: {gpu.unavailable_reason()}")
    gpu = importlib.import_module("gpu")
    return gpu.backend()
