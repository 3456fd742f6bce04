"""Array module selection: NumPy everywhere, CuPy where a CUDA device works.

This is the only module of the repository that imports ``cupy`` (architecture principle 5,
style lesson 7). Array code elsewhere is written once against an array module ``xp`` obtained
from :func:`get_xp` (the module of its inputs) or :func:`backend` (by name).

CuPy is used only when it imports *and* a device answers: ``cupy.cuda.is_available()`` is true
and a tiny allocation succeeds. Anything else (no wheel, no driver, no device, a broken CUDA
install raising ``CUDARuntimeError``, which subclasses ``RuntimeError``) falls back to NumPy
silently; :data:`CUPY_AVAILABLE` tells which happened.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

BackendName = str  # "numpy" | "cupy" | "auto"

_GPU_EXTRA_HINT = 'install the GPU extra on a CUDA machine: pip install "a2f-cluster[gpu]"'


def probe_cupy(
    importer: Callable[[str], ModuleType] = importlib.import_module,
) -> ModuleType | None:
    """Return the ``cupy`` module if it imports and a CUDA device works, else ``None``.

    Args:
        importer: function importing a module by name (injected by tests to simulate a
            missing wheel or a broken driver).

    Returns:
        The imported ``cupy`` module, or ``None`` when it is unusable on this machine.
    """
    try:
        cupy = importer("cupy")
        if not cupy.cuda.is_available():
            return None
        probe = cupy.zeros(1, dtype=cupy.float32)  # a tiny allocation proves the device works
        probe += 1
        cupy.cuda.Device().synchronize()
    except (ImportError, RuntimeError, OSError, AttributeError):
        return None
    return cupy


_cupy: ModuleType | None = probe_cupy()

#: True when CuPy imported and a CUDA device answered at import time.
CUPY_AVAILABLE: bool = _cupy is not None


def _is_cupy_array(a: Any) -> bool:
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def get_xp(*arrays: Any) -> ModuleType:
    """Return the array module of the inputs: ``cupy`` if any input is a CuPy array, else numpy.

    Args:
        *arrays: arrays (or scalars, lists, ``None``), any mix.

    Returns:
        ``cupy`` when at least one input lives on the GPU, otherwise ``numpy``.
    """
    if _cupy is not None and any(_is_cupy_array(a) for a in arrays):
        return _cupy
    return np


def to_numpy(a: Any) -> np.ndarray:
    """Return ``a`` as a NumPy array on the host (copies from the GPU when needed).

    Args:
        a: a NumPy or CuPy array, or anything ``numpy.asarray`` accepts.

    Returns:
        A ``numpy.ndarray`` (the input itself when it already is one).
    """
    if _is_cupy_array(a):
        return _cupy.asnumpy(a)  # type: ignore[union-attr]
    return np.asarray(a)


def backend(name: BackendName = "auto") -> ModuleType:
    """Return the array module called ``name``.

    Args:
        name: ``"numpy"``; ``"cupy"`` (requires a working CUDA device); ``"auto"`` (CuPy when
            :data:`CUPY_AVAILABLE`, otherwise NumPy).

    Returns:
        The ``numpy`` or ``cupy`` module.

    Raises:
        ImportError: ``name == "cupy"`` but CuPy or the device is unusable (with the fix).
        ValueError: ``name`` is not one of the three names.
    """
    if name == "numpy":
        return np
    if name == "cupy":
        if _cupy is None:
            raise ImportError(
                f"backend 'cupy' requested but no working CUDA device; {_GPU_EXTRA_HINT}"
            )
        return _cupy
    if name == "auto":
        return _cupy if _cupy is not None else np
    raise ValueError(f"unknown array backend {name!r}; use 'numpy', 'cupy' or 'auto'")


def asarray(a: Any, xp_name: BackendName = "auto", dtype: Any = None) -> Any:
    """Return ``a`` as an array of the backend ``xp_name`` (moving it across devices if needed).

    Args:
        a: a NumPy or CuPy array, or anything ``numpy.asarray`` accepts.
        xp_name: ``"numpy"``, ``"cupy"`` or ``"auto"`` (see :func:`backend`).
        dtype: optional dtype of the result (e.g. ``numpy.float32``).

    Returns:
        A ``numpy.ndarray`` or ``cupy.ndarray``; no copy when it already matches.
    """
    xp = backend(xp_name)
    if xp is np:
        return np.asarray(to_numpy(a), dtype=dtype)
    return xp.asarray(a, dtype=dtype)
