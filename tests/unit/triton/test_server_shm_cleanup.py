"""Triton python-backend regions left in /dev/shm by killed servers are removed at start."""

from __future__ import annotations

import mmap
import os
import time
from pathlib import Path

from deployments.triton.server import remove_unmapped_shm

PATTERN = "triton_python_backend_shm_region_*"


def _region(folder: Path, name: str, age_s: float) -> Path:
    path = folder / f"triton_python_backend_shm_region_{name}"
    path.write_bytes(bytes(4096))
    old = time.time() - age_s
    os.utime(path, (old, old))
    return path


def test_only_old_regions_that_no_process_maps_are_removed(tmp_path: Path) -> None:
    shm_dir = tmp_path / "shm"
    shm_dir.mkdir()
    leaked = _region(shm_dir, "leaked", 600)
    young = _region(shm_dir, "young", 1)  # may be between creation and mapping
    live = _region(shm_dir, "live", 600)
    other = shm_dir / "unrelated"
    other.write_bytes(b"x")
    os.utime(other, (0, 0))
    with live.open("r+b") as f, mmap.mmap(f.fileno(), 4096):  # mapped by this very process
        removed = remove_unmapped_shm(PATTERN, min_age_s=60, shm_dir=shm_dir)
    assert removed == [leaked.name]
    assert sorted(p.name for p in shm_dir.iterdir()) == sorted([young.name, live.name, "unrelated"])


def test_mappings_are_read_from_every_process(tmp_path: Path) -> None:
    """A region mapped by another process (here: a fake /proc entry) is kept."""
    shm_dir, proc = tmp_path / "shm", tmp_path / "proc"
    shm_dir.mkdir()
    (proc / "4242").mkdir(parents=True)
    kept = _region(shm_dir, "stub", 600)
    gone = _region(shm_dir, "dead", 600)
    (proc / "4242" / "maps").write_text(
        "7f0000000000-7f0000100000 rw-s 00000000 00:1a 123 " + str(kept) + "\n"
        "7f0000200000-7f0000300000 r-xp 00000000 08:01 456 /usr/lib/libc.so.6\n"
    )
    assert remove_unmapped_shm(PATTERN, min_age_s=60, shm_dir=shm_dir, proc=proc) == [gone.name]
    assert kept.exists() and not gone.exists()
