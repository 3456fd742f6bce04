"""Memory-friendly .npz reading and deterministic .npz writing.

``np.load`` ignores ``mmap_mode`` for .npz archives and decompresses every member on access.
:class:`NpzArchive` instead memory-maps large uncompressed members (``np.savez`` stores
members uncompressed), so Mark's 272 x 184560 float32 skin basis (200 MB) costs no RAM until
pages are touched. :func:`save_npz` writes a stable archive (fixed timestamps, insertion
order, no compression) so regenerating a package is byte-for-byte idempotent, in the layout
the SDK's cnpy loader reads.
"""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import numpy as np

from a2f_actors.errors import ModelPackageError

#: Uncompressed members at least this large (bytes) are memory-mapped instead of read.
MMAP_MIN_BYTES = 1 << 20

_LOCAL_HEADER_LEN = 30  # fixed part of a zip local file header
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # earliest zip timestamp: makes archives reproducible


class NpzArchive:
    """Read-only access to the arrays of one .npz file, by name, in file order.

    Use as a context manager. Returned arrays stay valid after :meth:`close` (memory maps
    hold their own handle). Object arrays are refused (no pickle).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError as exc:
            raise ModelPackageError(f"{self.path}: file not found") from exc
        except (OSError, zipfile.BadZipFile) as exc:
            raise ModelPackageError(f"{self.path}: not a readable .npz archive ({exc})") from exc
        self._members = {n[: -len(".npy")]: n for n in self._zip.namelist() if n.endswith(".npy")}

    @property
    def names(self) -> tuple[str, ...]:
        """Array names in archive order."""
        return tuple(self._members)

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._members:
            raise ModelPackageError(
                f"{self.path}: missing array {name!r}; found: {', '.join(self.names) or 'none'}"
            )
        info = self._zip.getinfo(self._members[name])
        try:
            arr = self._mapped(info) if info.compress_type == zipfile.ZIP_STORED else None
            if arr is None:
                with self._zip.open(info) as fh:
                    arr = np.lib.format.read_array(fh, allow_pickle=False)
        except ValueError as exc:  # object arrays, corrupt headers
            raise ModelPackageError(f"{self.path}: array {name!r} is unreadable ({exc})") from exc
        arr.flags.writeable = False
        return arr

    def _mapped(self, info: zipfile.ZipInfo) -> np.ndarray | None:
        """Memory-map a stored member, or return None to fall back to a plain read."""
        if info.file_size < MMAP_MIN_BYTES:
            return None
        with open(self.path, "rb") as fh:
            fh.seek(info.header_offset)
            local = fh.read(_LOCAL_HEADER_LEN)
            if local[:4] != b"PK\x03\x04":
                return None
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            fh.seek(info.header_offset + _LOCAL_HEADER_LEN + name_len + extra_len)
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                return None
            offset = fh.tell()
        if dtype.hasobject or int(np.prod(shape)) == 0:
            return None
        order = "F" if fortran else "C"
        return np.memmap(self.path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)

    def close(self) -> None:
        """Close the archive (mapped arrays stay usable)."""
        self._zip.close()

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as a reproducible, uncompressed .npz.

    Members keep the mapping's order, carry a fixed 1980-01-01 timestamp and are written in C
    order, so equal inputs give identical bytes. The file is replaced atomically, which is
    safe even while the old file is memory-mapped.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(arr), allow_pickle=False)
    os.replace(tmp, path)
