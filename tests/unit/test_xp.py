"""The array-module switch (a2f_actors.xp): CuPy where a device works, NumPy otherwise."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from a2f_actors import xp as xpmod


def _fake_cupy(available: bool = True, alloc_error: Exception | None = None) -> types.ModuleType:
    mod = types.ModuleType("cupy")

    class _Device:
        def synchronize(self) -> None:
            return None

    def zeros(*_args, **_kwargs):
        if alloc_error is not None:
            raise alloc_error
        return np.zeros(1)

    mod.cuda = types.SimpleNamespace(is_available=lambda: available, Device=_Device)
    mod.zeros = zeros
    mod.float32 = np.float32
    return mod


def test_probe_returns_none_when_cupy_import_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    assert xpmod.probe_cupy() is None


def test_probe_returns_none_when_no_device_is_available() -> None:
    assert xpmod.probe_cupy(lambda _name: _fake_cupy(available=False)) is None


def test_probe_returns_none_when_tiny_allocation_raises_runtime_error() -> None:
    class CUDARuntimeError(RuntimeError):  # cupy's error subclasses RuntimeError
        pass

    fake = _fake_cupy(alloc_error=CUDARuntimeError("cudaErrorNoDevice"))
    assert xpmod.probe_cupy(lambda _name: fake) is None


def test_probe_returns_module_when_device_answers() -> None:
    fake = _fake_cupy()
    assert xpmod.probe_cupy(lambda _name: fake) is fake


def test_backend_falls_back_to_numpy_when_cupy_is_unusable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xpmod, "_cupy", None)
    assert xpmod.backend("auto") is np
    assert xpmod.backend("numpy") is np
    with pytest.raises(ImportError, match=r"a2f-cluster\[gpu\]"):
        xpmod.backend("cupy")


def test_backend_rejects_name_when_unknown() -> None:
    with pytest.raises(ValueError, match="unknown array backend"):
        xpmod.backend("torch")


def test_get_xp_returns_numpy_when_inputs_are_host_arrays_or_scalars() -> None:
    assert xpmod.get_xp(np.zeros(3), 1.0, None, [1, 2]) is np
    assert xpmod.get_xp() is np


def test_to_numpy_returns_same_array_when_input_is_numpy() -> None:
    a = np.arange(4.0)
    assert xpmod.to_numpy(a) is a
    assert isinstance(xpmod.to_numpy([1, 2]), np.ndarray)


def test_asarray_converts_dtype_when_numpy_backend_is_asked() -> None:
    out = xpmod.asarray([1, 2, 3], "numpy", dtype=np.float32)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float32


def test_flag_matches_auto_backend_when_imported() -> None:
    assert (xpmod.backend("auto") is not np) == xpmod.CUPY_AVAILABLE


@pytest.mark.requires_gpu
def test_cupy_round_trip_keeps_values_when_device_works() -> None:
    a = np.arange(6.0).reshape(2, 3)
    dev = xpmod.asarray(a, "cupy")
    assert xpmod.get_xp(dev) is xpmod.backend("cupy")
    assert xpmod.get_xp(a, dev) is xpmod.backend("cupy")
    np.testing.assert_array_equal(xpmod.to_numpy(dev), a)
