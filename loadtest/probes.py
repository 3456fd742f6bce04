"""What the load generator observes around a level besides its streams (client side only).

* :class:`CpuProbe`: CPU seconds per process group of this host from ``/proc`` (Linux), grouped
  by process title: Ray Serve replicas set theirs to ``ray::ServeReplica:<app>:<Deployment>``,
  so the CPU split per stage of a local cluster is visible without touching it.
* :func:`scrape` / :func:`server_delta`: the Prometheus text of the metrics endpoint (Ray's
  exporter, 9464 in ``a2f serve``), reduced to the counters the report needs.
"""

from __future__ import annotations

import os
import urllib.request
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Process title fragment -> group of the CPU split (first match wins).
GROUPS: tuple[tuple[str, str], ...] = (
    ("Ingress", "ingress"),  # GrpcIngress, ApiIngress, ...
    ("AudioEncoder", "resample"),
    ("EmotionDetector", "a2e"),
    ("A2FInference", "a2f"),
    ("BlendshapeSolver", "solve"),
    ("TritonOwner", "ray"),
    ("triton_python_backend_stub", "triton"),
    ("tritonserver", "triton"),
    ("ray::", "ray"),
    ("raylet", "ray"),
    ("gcs_server", "ray"),
    ("ray/", "ray"),
)
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def classify(title: str, pid: int, own_pid: int) -> str:
    """The group of one process (``loadgen`` for this process, ``other`` when unknown)."""
    if pid == own_pid:
        return "loadgen"
    for fragment, group in GROUPS:
        if fragment in title:
            return group
    return "other"


@dataclass(frozen=True)
class ProcCpu:
    """One process: title, parent and CPU seconds (user + system, all threads)."""

    title: str
    ppid: int
    cpu_s: float


def _proc_cpu(pid_dir: Path) -> ProcCpu | None:
    try:
        stat = (pid_dir / "stat").read_text()
        title = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    name = title or stat[stat.find("(") + 1 : stat.rfind(")")]
    return ProcCpu(name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS)


def cpu_by_pid(proc: Path = Path("/proc")) -> dict[int, ProcCpu]:
    """``pid -> ProcCpu`` of every readable process."""
    out = {}
    for d in proc.iterdir() if proc.exists() else ():
        if d.name.isdigit() and (got := _proc_cpu(d)) is not None:
            out[int(d.name)] = got
    return out


def descendants(procs: Mapping[int, ProcCpu], root: int) -> set[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid, p in procs.items():
        children[p.ppid].append(pid)
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo.extend(children.get(pid, ()))
    return out


@dataclass(frozen=True)
class CpuSplit:
    """CPU seconds per group during a level, and its wall time."""

    seconds: dict[str, float]
    wall_s: float

    def cores(self) -> dict[str, float]:
        """Average cores used per group."""
        return {k: v / self.wall_s for k, v in self.seconds.items()} if self.wall_s > 0 else {}

    def server_cores(self) -> float:
        """Cores used by the serving cluster (everything but the generator and other jobs)."""
        return sum(v for k, v in self.cores().items() if k not in ("loadgen", "other"))


class CpuProbe:
    """Snapshot CPU times at start, diff at stop (processes started in between count fully).

    Args:
        proc: the proc filesystem.
        root_pid: count only this process tree as the cluster (e.g. the ``a2f serve`` process:
            Ray's GCS, raylet, replicas and Triton are its descendants); other processes are
            ``other``. None: classify every process of the host by its title.
    """

    def __init__(self, proc: Path = Path("/proc"), root_pid: int | None = None) -> None:
        self.proc = proc
        self.root_pid = root_pid
        self._start: dict[int, ProcCpu] = {}
        self._t0 = 0.0

    def start(self, now: float) -> None:
        """Take the first snapshot."""
        self._start, self._t0 = cpu_by_pid(self.proc), now

    def stop(self, now: float) -> CpuSplit:
        """Take the second snapshot and group the differences."""
        own = os.getpid()
        procs = cpu_by_pid(self.proc)
        tree = descendants(procs, self.root_pid) if self.root_pid else None
        totals: dict[str, float] = defaultdict(float)
        for pid, p in procs.items():
            before = self._start.get(pid)
            # same pid: same process (titles change, e.g. setproctitle); a reused pid has
            # less CPU than the snapshot, then everything it used is new
            base = before.cpu_s if before is not None and before.cpu_s <= p.cpu_s else 0.0
            inside = tree is None or pid in tree or pid == own
            group = classify(p.title, pid, own) if inside else "other"
            totals[group] += max(0.0, p.cpu_s - base)
        return CpuSplit(dict(totals), now - self._t0)


def scrape(
    url: str, timeout_s: float = 5.0
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a Prometheus endpoint: ``(name, labels) -> value`` (a2f metrics only)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        text = resp.read().decode()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "a2f_" not in sample.name:
                continue
            keep = tuple(sorted((k, v) for k, v in sample.labels.items() if k in _LABELS))
            key = (sample.name, keep)
            out[key] = out.get(key, 0.0) + float(sample.value)  # sums replicas (WorkerId)
    return out


_LABELS = ("stage", "tenant", "model", "code", "reason", "outcome", "le")
Samples = Mapping[tuple[str, tuple[tuple[str, str], ...]], float]


def _sum(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


def server_delta(before: Samples, after: Samples) -> dict[str, float]:
    """What the server reported during a level: frames, streams, errors, per-stage means."""

    def d(name: str, **labels: str) -> float:  # fmt: skip
        return _sum(after, name, **labels) - _sum(before, name, **labels)

    out = {
        "frames_emitted": d("ray_a2f_frames_emitted_total"),
        "streams_finished": d("ray_a2f_streams_total"),
        "errors": d("ray_a2f_errors_total"),
        "evictions": d("ray_a2f_evictions_total"),
    }
    ticks = d("ray_a2f_ticks_total")
    if ticks > 0:
        out["ticks"] = ticks
        out["tick_ms"] = 1e3 * d("ray_a2f_tick_seconds_total") / ticks
    for stage in ("resample", "a2e", "a2f", "postprocess_solve"):
        calls = d("ray_a2f_stage_calls_total", stage=stage)
        if calls <= 0:
            continue
        out[f"{stage}_calls"] = calls
        out[f"{stage}_latency_ms"] = 1e3 * d("ray_a2f_stage_seconds_total", stage=stage) / calls
        out[f"{stage}_batch_items"] = d("ray_a2f_stage_items_total", stage=stage) / calls
        out[f"{stage}_batch_streams"] = d("ray_a2f_stage_streams_total", stage=stage) / calls
    frames = d("ray_a2f_stage_latency_seconds_count", stage="serialize")
    if frames > 0:  # histogram _sum is bucket-midpoint based in Ray 2.60: approximate
        out["serialize_latency_ms"] = (
            1e3 * d("ray_a2f_stage_latency_seconds_sum", stage="serialize") / frames
        )
    return out
