"""Shared memory regions for Triton inputs: layout, reuse, growth, stale cleanup, settings."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deployments.backends import triton_shm as shm
from deployments.settings import ServeSettings, env_overrides

pytestmark = pytest.mark.skipif(not shm.available(), reason="needs POSIX shared memory")


class FakeTriton:
    """Records registrations like Triton's system shared memory API."""

    def __init__(self, shm_dir: Path = Path("/dev/shm")) -> None:
        self.registered: dict[str, tuple[str, int]] = {}
        self.calls: list[str] = []
        self.shm_dir = shm_dir

    async def register(self, name: str, key: str, size: int) -> None:
        assert name not in self.registered, f"{name} registered twice"
        assert (self.shm_dir / key.lstrip("/")).stat().st_size >= size
        self.registered[name] = (key, size)
        self.calls.append(f"register {name}")

    async def unregister(self, name: str) -> None:
        self.registered.pop(name)
        self.calls.append(f"unregister {name}")


def test_put_writes_arrays_at_aligned_offsets_readable_by_another_mapping() -> None:
    region = shm.Region(4096)
    try:
        a = np.arange(10, dtype=np.float32).reshape(2, 5)
        b = np.full((3,), 7, np.float32)
        placed = list(region.put([a, b]))
        assert placed == [(0, 40), (64, 12)]
        assert shm.needed_bytes([a, b]) == 128
        # Triton opens the region by its key: read it back through an independent mapping
        with open(f"/dev/shm/{region.name}", "rb") as f:
            raw = f.read()
        np.testing.assert_array_equal(np.frombuffer(raw[:40], np.float32).reshape(2, 5), a)
        np.testing.assert_array_equal(np.frombuffer(raw[64:76], np.float32), b)
    finally:
        region.close()
    assert not Path("/dev/shm", region.name).exists()


def test_pool_reuses_registered_regions_and_creates_more_only_when_all_are_busy() -> None:
    triton = FakeTriton()

    async def run() -> None:
        pool = shm.RegionPool(triton.register, triton.unregister, max_regions=2)
        first = await pool.acquire(1000)
        assert first is not None and first.size >= shm.MIN_REGION_BYTES
        pool.release(first)
        again = await pool.acquire(1000)
        assert again is first and len(triton.registered) == 1  # reused, not registered again
        second = await pool.acquire(1000)  # the first is in flight
        assert second is not None and second is not first
        assert await pool.acquire(1000) is None  # at max_regions, all busy: caller uses gRPC
        pool.release(first)
        pool.release(second)
        big = await pool.acquire(shm.MIN_REGION_BYTES * 3)  # too big for both: one is replaced
        assert big is not None and big.size == shm.MIN_REGION_BYTES * 3
        assert pool.regions == 2 and len(triton.registered) == 2
        pool.forget_registrations()  # Triton restarted
        pool.release(big)
        triton.registered.clear()
        assert await pool.acquire(10) is not None and len(triton.registered) == 1
        await pool.close()
        assert pool.regions == 0 and not triton.registered

    asyncio.run(run())
    assert not list(Path("/dev/shm").glob(f"{shm.PREFIX}{shm.HOST}_{os.getpid()}_*"))


def test_a_failed_registration_is_raised_and_retried_on_the_next_acquire() -> None:
    triton = FakeTriton()
    fail = [True]

    async def register(name: str, key: str, size: int) -> None:
        if fail.pop(0) if fail else False:
            raise RuntimeError("triton unavailable")
        await triton.register(name, key, size)

    async def run() -> None:
        pool = shm.RegionPool(register, triton.unregister)
        with pytest.raises(RuntimeError, match="unavailable"):
            await pool.acquire(10)
        region = await pool.acquire(10)
        assert region is not None and region.registered and pool.regions == 1
        await pool.close()

    asyncio.run(run())


def test_regions_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    (tmp_path / f"{shm.PREFIX}{shm.HOST}_{dead}_0").write_bytes(b"x")
    (tmp_path / f"{shm.PREFIX}{shm.HOST}_{os.getpid()}_0").write_bytes(b"x")  # alive: kept
    (tmp_path / "other_region").write_bytes(b"x")
    other_host = f"{shm.PREFIX}{'0' * 8 if shm.HOST != '0' * 8 else '1' * 8}_{dead}_0"
    (tmp_path / other_host).write_bytes(b"x")  # another container's: its pids are not ours
    assert shm.remove_stale(tmp_path) == [f"{shm.PREFIX}{shm.HOST}_{dead}_0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{shm.PREFIX}{shm.HOST}_{os.getpid()}_0", "other_region", other_host]
    )


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({}, None, True),  # the cluster's own Triton on 127.0.0.1
        ({}, "10.0.0.7:8001", False),  # a remote Triton cannot open the regions
        ({}, "[::1]:8001", True),
        ({"A2F_TRITON_SHARED_MEMORY": "off"}, None, False),
        ({"A2F_TRITON_SHARED_MEMORY": "true"}, "10.0.0.7:8001", True),
    ],
)
def test_settings_choose_shared_memory_for_a_local_triton(env, url, expected) -> None:
    settings = ServeSettings(**{**env_overrides(env), "triton_url": url})
    assert settings.use_triton_shared_memory() is expected


def test_settings_reject_an_unknown_shared_memory_mode() -> None:
    with pytest.raises(ValueError, match="triton_shared_memory"):
        ServeSettings(**env_overrides({"A2F_TRITON_SHARED_MEMORY": "sometimes"}))


def test_a_full_shm_dir_sends_over_grpc_instead_of_crashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages are reserved at creation: no space is an OSError there (-> gRPC), never a SIGBUS."""
    import errno

    triton = FakeTriton(tmp_path)

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def run() -> None:
        pool = shm.RegionPool(triton.register, triton.unregister, shm_dir=tmp_path)
        monkeypatch.setattr(shm.os, "posix_fallocate", full)
        assert await pool.acquire(1000) is None
        assert pool.regions == 0 and not triton.registered
        assert list(tmp_path.iterdir()) == []  # the half-made region was removed
        monkeypatch.undo()
        region = await pool.acquire(1000)  # space again: regions again
        assert region is not None and (tmp_path / region.name).stat().st_size == region.size
        await pool.close()

    asyncio.run(run())
