"""The host's process table read from ``/proc`` (stopping servers and local Ray nodes by pid)."""

from __future__ import annotations

from pathlib import Path


def process_table(cmdlines: bool = False) -> dict[int, tuple[int, int, bytes]]:
    """Live (non-zombie) processes: pid -> (ppid, pgid, command line or ``b""``).

    Args:
        cmdlines: also read each command line (NUL-separated arguments).
    """
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes() if cmdlines else b""
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if fields[0] != "Z":
            out[int(entry.name)] = (int(fields[1]), int(fields[2]), cmd)
    return out
