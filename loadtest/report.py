"""Results folders: ``result.json``, ``levels.csv``, ``streams.csv``, ``report.md`` and plots.

The header of every report names the machine, the configuration and the git revision, so two
folders can be compared side by side (:func:`compare`).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import os
import platform
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loadtest.scenarios import LevelResult, max_passing, sweep_maxima

STAGES = ("resample", "a2e", "a2f", "postprocess_solve", "serialize")
LEVEL_COLUMNS = (
    "name", "streams", "passed", "ok_streams", "errors", "expected_frames", "received_frames",
    "lost_frames", "duplicated_frames", "p50_ms", "p95_ms", "p99_ms", "max_ms", "ttff_p50_ms",
    "ttff_p99_ms", "min_fps", "mean_fps", "jitter_ms", "max_gap_ms", "frames_per_s",
    "server_cores", "cpu_per_stream", "server_frames_emitted", "wall_s", "reasons",
)  # fmt: skip


def _git_revision(root: Path) -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev or "unknown"


def machine() -> dict[str, Any]:
    """Host facts for the report header."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def header(config: Mapping[str, Any], root: Path | None = None) -> dict[str, Any]:
    """Date, machine, git revision and the configuration."""
    root = root or Path(__file__).resolve().parents[1]
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "git": _git_revision(root),
        "config": dict(config),
    }


def level_row(r: LevelResult) -> dict[str, Any]:
    """One flat row per level (CSV, comparison)."""
    s, lat, ttff = r.stats, r.stats.latency_ms, r.stats.ttff_ms
    return {
        "name": r.name, "streams": r.streams, "passed": r.verdict.passed,
        "ok_streams": s.ok_streams, "errors": json.dumps(s.errors, sort_keys=True),
        "expected_frames": s.expected_frames, "received_frames": s.received_frames,
        "lost_frames": s.lost_frames, "duplicated_frames": s.duplicated_frames,
        "p50_ms": lat.get("p50"), "p95_ms": lat.get("p95"), "p99_ms": lat.get("p99"),
        "max_ms": lat.get("max"), "ttff_p50_ms": ttff.get("p50"), "ttff_p99_ms": ttff.get("p99"),
        "min_fps": s.min_fps, "mean_fps": s.mean_fps, "jitter_ms": s.jitter_ms,
        "max_gap_ms": s.max_gap_ms, "frames_per_s": r.frames_per_s(),
        "server_cores": r.cpu.server_cores(), "cpu_per_stream": r.cpu_per_stream(),
        "server_frames_emitted": r.server.get("frames_emitted"), "wall_s": r.wall_s,
        "reasons": "; ".join(r.verdict.reasons),
    }  # fmt: skip


def _level_json(r: LevelResult) -> dict[str, Any]:
    return {
        "row": level_row(r),
        "stats": dataclasses.asdict(r.stats),
        "verdict": dataclasses.asdict(r.verdict),
        "cpu_cores": r.cpu.cores(),
        "server": r.server,
    }


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"
    return "-" if v is None else str(v)


def _table(rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> list[str]:
    out = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    out += ["| " + " | ".join(_fmt(row.get(c)) for c in cols) + " |" for row in rows]
    return out


CLUSTER_GROUPS = ("ingress", "resample", "a2e", "a2f", "solve", "triton", "ray")


def bottleneck(r: LevelResult) -> str:
    """The cluster process group using the most CPU in a level, with its share."""
    cores = {g: c for g, c in r.cpu.cores().items() if g in CLUSTER_GROUPS}
    total = sum(cores.values())
    if not cores or total <= 0:
        return "unknown (no cluster process seen on this host)"
    group = max(cores, key=lambda g: cores[g])
    split = ", ".join(f"{g} {100 * c / total:.0f}%" for g, c in sorted(cores.items()))
    return f"{group} ({cores[group]:.2f} cores of {total:.2f}); split: {split}"


def _repeats(levels: Sequence[LevelResult]) -> str:
    maxima = sweep_maxima(levels)
    if len(maxima) < 2:
        return ""
    return f" (median of {len(maxima)} sweeps: {', '.join(map(str, maxima))})"


def markdown(head: Mapping[str, Any], levels: Sequence[LevelResult]) -> str:
    """The human report."""
    m, cfg = head["machine"], head["config"]
    lines = [
        f"# a2f load test: {cfg.get('scenario', '?')}",
        "",
        f"- date: {head['date']}; git: `{head['git']}`",
        f"- machine: {m['host']}, {m['cpus']} x {m['cpu_model']}, {m['platform']}, load "
        f"average at start {m['loadavg_at_start']}",
        "- config: " + ", ".join(f"{k}={v}" for k, v in cfg.items()),
        f"- max streams meeting the SLO: **{max_passing(levels)}**{_repeats(levels)}",
        f"- busiest cluster process group at the last level: {bottleneck(levels[-1])}"
        if levels
        else "- no level ran",
        "",
        "## Levels (latency = arrival - time the frame's audio incl. 260 ms look-ahead was sent)",
        "",
    ]
    cols = ("streams", "passed", "p50_ms", "p99_ms", "max_ms", "ttff_p50_ms", "min_fps",
            "jitter_ms", "lost_frames", "duplicated_frames", "errors", "frames_per_s",
            "cpu_per_stream")  # fmt: skip
    lines += _table([level_row(r) for r in levels], cols)
    lines += ["", "## CPU split (cores) and server view", ""]
    groups = sorted({g for r in levels for g in r.cpu.cores()})
    rows = [{"streams": r.streams, **r.cpu.cores(), **r.server} for r in levels]
    server_cols = [k for k in (rows[0] if rows else {}) if k.endswith(("batch_items", "_ms"))]
    lines += _table(rows, ["streams", *groups, "frames_emitted", *server_cols])
    lines += ["", "## SLO verdicts", ""]
    for r in levels:
        verdict = "PASS" if r.verdict.passed else "FAIL: " + "; ".join(r.verdict.reasons)
        lines.append(f"- {r.name}: {verdict}")
    return "\n".join(lines) + "\n"


def _plot(levels: Sequence[LevelResult], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r.streams for r in levels]
    made = []

    def save(name: str, ylabel: str, series: Mapping[str, Sequence[Any]]) -> None:
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, ys in series.items():
            ax.plot(xs, [float("nan") if y is None else y for y in ys], marker="o", label=label)
        ax.set_xlabel("concurrent streams")
        ax.set_ylabel(ylabel)
        ax.set_xscale("log", base=2)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        made.append(name)

    lat = {q: [r.stats.latency_ms.get(q) for r in levels] for q in ("p50", "p95", "p99")}
    save("latency_vs_streams.png", "frame latency (ms)", lat)
    fps = {"min": [r.stats.min_fps for r in levels], "mean": [r.stats.mean_fps for r in levels]}
    save("fps_vs_streams.png", "delivered fps", fps)
    groups = sorted({g for r in levels for g in r.cpu.cores()} - {"other"})
    cpu = {g: [r.cpu.cores().get(g, 0.0) / r.streams for r in levels] for g in groups}
    save("cpu_per_stream.png", "cores per stream", cpu)
    batch = {s: [r.server.get(f"{s}_batch_items") for r in levels] for s in STAGES
             if any(f"{s}_batch_items" in r.server for r in levels)}  # fmt: skip
    if batch:
        save("batch_sizes.png", "mean items per stage call", batch)
    return made


def write(out: Path, config: Mapping[str, Any], levels: Sequence[LevelResult],
          replica_samples: Sequence[Any] = ()) -> Path:  # fmt: skip
    """Write the results folder; return the Markdown report's path.

    ``replica_samples`` (:class:`loadtest.replicas.ReplicaSample`) add replicas over time.
    """
    from loadtest import replicas

    out.mkdir(parents=True, exist_ok=True)
    head = header(config)
    head["max_streams_at_slo"] = max_passing(levels)
    head["max_streams_per_sweep"] = sweep_maxima(levels)
    data: dict[str, Any] = {"header": head, "levels": [_level_json(r) for r in levels]}
    if replica_samples:
        data["replicas"] = replicas.to_json(replica_samples)
    (out / "result.json").write_text(json.dumps(data, indent=2, default=str))
    with (out / "levels.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, LEVEL_COLUMNS)
        w.writeheader()
        w.writerows(level_row(r) for r in levels)
    _write_streams(out / "streams.csv", levels)
    head["plots"] = _plot(levels, out) if levels else []
    text = markdown(head, levels)
    if replica_samples:
        head["plots"] += replicas.write_files(out, replica_samples)
        text += replicas.markdown(replica_samples)
    path = out / "report.md"
    path.write_text(text + "".join(f"\n![{p}]({p})\n" for p in head["plots"]))
    return path


def _write_streams(path: Path, levels: Sequence[LevelResult]) -> None:
    cols = ("level", "stream_id", "clip", "code", "expected", "received", "missing",
            "duplicated", "ttff_ms", "p99_ms", "delivered_fps", "nim_fps", "jitter_ms")  # fmt: skip
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in levels:
            for s in r.per_stream:
                lat = sorted(s.latencies_s)
                p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3 if lat else None
                ttff = s.ttff_s * 1e3 if s.ttff_s is not None else None
                w.writerow([r.name, s.stream_id, s.clip, s.code, s.expected, s.check.received,
                            s.check.missing, s.check.duplicated, ttff, p99, s.delivered_fps,
                            s.nim_fps, s.jitter_ms])  # fmt: skip


def load(folder: Path) -> dict[str, Any]:
    """A results folder's ``result.json``."""
    path = folder / "result.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: pass a folder written by 'a2f loadtest'")
    return json.loads(path.read_text())


COMPARE_KEYS = ("passed", "p50_ms", "p99_ms", "ttff_p50_ms", "min_fps", "lost_frames",
                "frames_per_s", "cpu_per_stream")  # fmt: skip


def compare(a: Path, b: Path) -> str:
    """Markdown comparison of two results folders, level by level (matched on streams)."""
    da, db = load(a), load(b)
    ra = {lv["row"]["streams"]: lv["row"] for lv in da["levels"]}
    rb = {lv["row"]["streams"]: lv["row"] for lv in db["levels"]}
    lines = [f"# Compare A = {a} vs B = {b}", ""]
    for tag, d in (("A", da), ("B", db)):
        h = d["header"]
        lines.append(f"- {tag}: {h['date']}, git `{h['git']}`, {h['machine']['host']} "
                     f"({h['machine']['cpus']} cpus), max streams at SLO "
                     f"{h.get('max_streams_at_slo')}")  # fmt: skip
    lines += ["", "| streams | metric | A | B | B - A |", "| --- | --- | --- | --- | --- |"]
    for n in sorted(set(ra) | set(rb)):
        for key in COMPARE_KEYS:
            va, vb = ra.get(n, {}).get(key), rb.get(n, {}).get(key)
            num = isinstance(va, int | float) and isinstance(vb, int | float)
            diff = _fmt(float(vb) - float(va)) if num and not isinstance(va, bool) else ""
            lines.append(f"| {n} | {key} | {_fmt(va)} | {_fmt(vb)} | {diff} |")
    return "\n".join(lines) + "\n"
