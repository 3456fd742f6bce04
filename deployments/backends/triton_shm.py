"""System shared memory for the inputs of Triton requests on the same host.

A regression window is 33 KB of float32 and a burst tick sends thousands: over gRPC each byte
is copied by ``tritonclient`` (``tobytes``, the protobuf, its serialization), by both kernels'
TCP stacks and by Triton's gRPC front end. With a registered POSIX shared memory region the
client writes each input once into the region and the request only names ``(region, offset,
size)``; Triton reads the tensor where it lies. Measured against the cluster's Triton, 32-row
regression requests, 2 in flight (docs/triton.md): client 40 -> 21 us and ``tritonserver``
30 -> 19 us of CPU per frame, 4,500 -> 5,200 frames/s.

Regions are files of ``/dev/shm`` (what ``shm_open`` opens) named ``a2f_shm_<host>_<pid>_<n>``;
``<host>`` is a short hash of the host name, so that containers sharing one ``/dev/shm`` never
take each other's regions for stale. Each is registered with Triton under its name and reused:
a request takes a free region large enough for all its inputs and gives it back when its
response arrived (Triton has read the inputs by then).
Only for a Triton on this host (a loopback address): a remote Triton cannot open the region.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import mmap
import os
import socket
import weakref
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import numpy as np

from deployments.procs import process_table

#: Region names start with this, then the host hash and the owner's pid (stale regions of dead
#: pids of this host are removed).
PREFIX = "a2f_shm_"
HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
#: Smallest region (bytes): 64 regression windows and their emotions.
MIN_REGION_BYTES = 64 * (8320 + 26) * 4
_SHM_DIR = Path("/dev/shm")
_counter = itertools.count()
log = logging.getLogger(__name__)


def available() -> bool:
    """Whether POSIX shared memory can be used here (Linux ``/dev/shm``)."""
    return _SHM_DIR.is_dir() and os.access(_SHM_DIR, os.W_OK)


def remove_stale(shm_dir: Path = _SHM_DIR) -> list[str]:
    """Unlink regions left by processes that no longer run (killed replicas); their names."""
    mine = f"{PREFIX}{HOST}_"
    paths = list(shm_dir.glob(f"{mine}*")) if shm_dir.is_dir() else []
    if not paths:
        return []
    live = process_table()
    removed = []
    for path in paths:
        pid = path.name[len(mine) :].split("_", 1)[0]
        if not pid.isdigit() or int(pid) in live:
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path.name)
    return removed


def _release(mapping: mmap.mmap, path: Path) -> None:
    with contextlib.suppress(Exception):
        mapping.close()
    with contextlib.suppress(OSError):
        path.unlink()


class Region:
    """One shared memory region registered with Triton.

    Its pages are reserved when it is created (``posix_fallocate``): a full ``/dev/shm`` (64 MB
    by default in Docker) then fails here with ``OSError`` instead of killing the process with
    ``SIGBUS`` at a later write into a page tmpfs cannot provide.

    Attributes:
        name: region (and ``/dev/shm`` file) name, also the Triton registration name.
        size: bytes.
    """

    def __init__(self, size: int, shm_dir: Path = _SHM_DIR) -> None:
        self.name = f"{PREFIX}{HOST}_{os.getpid()}_{next(_counter)}"
        self.size = size
        path = shm_dir / self.name
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)
            self._map = mmap.mmap(fd, size)
        except BaseException:
            path.unlink()
            raise
        finally:
            os.close(fd)
        # unlinked at interpreter exit or garbage collection even if close() is never called
        self._final = weakref.finalize(self, _release, self._map, path)
        self.registered = False

    @property
    def key(self) -> str:
        """The ``shm_open`` key Triton opens."""
        return "/" + self.name

    def put(self, arrays: list[np.ndarray]) -> Iterator[tuple[int, int]]:
        """Copy ``arrays`` one after another (64-byte aligned); yields ``(offset, nbytes)``."""
        offset = 0
        for x in arrays:
            view = np.ndarray(x.shape, x.dtype, buffer=self._map, offset=offset)
            view[...] = x
            yield offset, x.nbytes
            offset += _aligned(x.nbytes)

    def close(self) -> None:
        """Unmap and unlink (Triton keeps its own mapping until it unregisters the name)."""
        self._final()


def _aligned(nbytes: int) -> int:
    """``nbytes`` rounded up to a multiple of 64 (each input starts on a cache line)."""
    return -(-nbytes // 64) * 64


def needed_bytes(arrays: list[np.ndarray]) -> int:
    """Bytes :meth:`Region.put` uses for ``arrays``."""
    return sum(_aligned(x.nbytes) for x in arrays)


class RegionPool:
    """Free regions reused across requests; more are created while all are in use.

    Args:
        register: ``async (name, key, size)``: registers a region with Triton.
        unregister: ``async (name)``: drops a registration.
        max_regions: regions at most; a request finding none free (all in flight) returns
            None from :meth:`acquire` and goes over plain gRPC.
        shm_dir: where the regions are created (``/dev/shm``; tests).
    """

    def __init__(
        self,
        register: Callable[[str, str, int], Awaitable[object]],
        unregister: Callable[[str], Awaitable[object]],
        max_regions: int = 8,
        shm_dir: Path = _SHM_DIR,
    ) -> None:
        self._register, self._unregister = register, unregister
        self.max_regions = max_regions
        self.shm_dir = shm_dir
        self._free: list[Region] = []
        self._all: list[Region] = []
        remove_stale(shm_dir)

    @property
    def regions(self) -> int:
        """Regions created and not closed."""
        return len(self._all)

    async def acquire(self, nbytes: int) -> Region | None:
        """A free registered region of at least ``nbytes`` (created if needed), or None."""
        region = next((r for r in self._free if r.size >= nbytes), None)
        if region is not None:
            self._free.remove(region)
        elif len(self._all) < self.max_regions:
            region = self._create(nbytes)
        elif self._free:  # all regions exist but the free ones are too small: grow one
            await self._drop(self._free.pop(0))
            region = self._create(nbytes)
        if region is None:
            return None
        if not region.registered:
            try:
                await self._register(region.name, region.key, region.size)
            except Exception:
                self._free.append(region)
                raise
            region.registered = True
        return region

    def _create(self, nbytes: int) -> Region | None:
        try:
            region = Region(max(nbytes, MIN_REGION_BYTES), self.shm_dir)
        except OSError as exc:  # /dev/shm full or not writable: this request goes over gRPC
            log.warning("no shared memory region of %d bytes (%s); sending over gRPC", nbytes, exc)
            return None
        self._all.append(region)
        return region

    def release(self, region: Region) -> None:
        """Give ``region`` back (its request has its response)."""
        self._free.append(region)

    def forget_registrations(self) -> None:
        """Triton lost them (it restarted): register each region again on its next use."""
        for region in self._all:
            region.registered = False

    async def _drop(self, region: Region) -> None:
        self._all.remove(region)
        if region.registered:
            with contextlib.suppress(Exception):
                await self._unregister(region.name)
        region.close()

    async def close(self) -> None:
        """Unregister and unlink every region."""
        for region in list(self._all):
            await self._drop(region)
        self._free.clear()
