"""Load scenarios: steady (fixed concurrency), burst, sweep (until the SLO breaks), soak.

Each level runs the generator, measures the CPU per process group of this host and, when a
metrics URL is given, scrapes the server's counters before and after (waiting for Ray's export
interval so that ``frames_emitted`` can be compared with the frames received).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from loadtest.accounting import SLO, LevelStats, StreamStats, Verdict, aggregate, analyse, evaluate
from loadtest.generator import Clip, LevelPlan, LiveCounters, StreamOptions, run_level
from loadtest.probes import CpuProbe, CpuSplit, scrape, server_delta

Progress = Callable[[str, LiveCounters], None]


@dataclass(frozen=True)
class LoadConfig:
    """Everything a scenario needs.

    Attributes:
        stream: per-stream options (URL, chunking, real time or burst, model, tenant).
        duration_s: seconds each level keeps starting streams (0 = one stream per slot).
        stagger_s: spread of the first starts within a level.
        slo: the service level to evaluate.
        lookahead_s: audio past a frame's time it needs (regression: 0.26 s).
        metrics_url: Prometheus endpoint of the server (None = do not scrape).
        metrics_settle_s: longest wait for the server's counters to catch up after a level.
        max_wall_s: hard bound on one level (the generator is cancelled beyond).
        cluster_pid: root process of the local cluster for the CPU split (None: by title).
    """

    stream: StreamOptions = field(default_factory=StreamOptions)
    duration_s: float = 20.0
    stagger_s: float = 1.0
    slo: SLO = field(default_factory=SLO)
    lookahead_s: float = 4160 / 16000
    metrics_url: str | None = None
    metrics_settle_s: float = 15.0
    max_wall_s: float = 600.0
    cluster_pid: int | None = None


@dataclass
class LevelResult:
    """One level: its aggregate, verdict, CPU split, server counters and per-stream stats."""

    name: str
    streams: int
    realtime: bool
    stats: LevelStats
    verdict: Verdict
    cpu: CpuSplit
    wall_s: float
    server: dict[str, float] = field(default_factory=dict)
    per_stream: list[StreamStats] = field(default_factory=list)

    def frames_per_s(self) -> float:
        """Frames received per wall second (the burst throughput)."""
        return self.stats.received_frames / self.wall_s if self.wall_s > 0 else 0.0

    def cpu_per_stream(self) -> float:
        """Server cores per concurrent stream."""
        return self.cpu.server_cores() / self.streams if self.streams else 0.0


def _scrape_or_empty(url: str | None) -> dict[Any, float]:
    if not url:
        return {}
    try:
        return scrape(url)
    except OSError:
        return {}


async def _settled_server(cfg: LoadConfig, before: dict[Any, float], received: int) -> dict:
    """Server deltas once ``frames_emitted`` reaches ``received`` (or the settle time ends)."""
    if not cfg.metrics_url:
        return {}
    deadline = time.monotonic() + cfg.metrics_settle_s
    delta: dict[str, float] = {}
    while True:
        delta = server_delta(before, _scrape_or_empty(cfg.metrics_url))
        if delta.get("frames_emitted", 0) >= received or time.monotonic() >= deadline:
            return delta
        await asyncio.sleep(1.0)


async def run_one_level(
    cfg: LoadConfig, clips: Sequence[Clip], streams: int, name: str,
    progress: Progress | None = None,
) -> LevelResult:  # fmt: skip
    """Run one level and measure it."""
    before = _scrape_or_empty(cfg.metrics_url)
    probe = CpuProbe(root_pid=cfg.cluster_pid)
    live = LiveCounters()
    t0 = time.monotonic()
    probe.start(t0)
    plan = LevelPlan(streams, cfg.duration_s, cfg.stagger_s)
    on_tick = (lambda c: progress(name, c)) if progress else None
    records = await asyncio.wait_for(
        run_level(plan, clips, cfg.stream, live, on_tick), cfg.max_wall_s
    )
    t1 = time.monotonic()
    cpu = probe.stop(t1)
    per_stream = [analyse(r, cfg.lookahead_s) for r in records]
    stats = aggregate(per_stream)
    slo = cfg.slo if cfg.stream.realtime else replace(cfg.slo, check_fps=False)
    server = await _settled_server(cfg, before, stats.received_frames)
    return LevelResult(
        name, streams, cfg.stream.realtime, stats, evaluate(stats, slo), cpu, t1 - t0, server,
        per_stream,
    )  # fmt: skip


async def steady(cfg: LoadConfig, clips: Sequence[Clip], streams: int,
                 progress: Progress | None = None) -> list[LevelResult]:  # fmt: skip
    """Fixed concurrency for ``cfg.duration_s``."""
    return [await run_one_level(cfg, clips, streams, f"steady-{streams}", progress)]


async def burst(cfg: LoadConfig, clips: Sequence[Clip], streams: int,
                progress: Progress | None = None) -> list[LevelResult]:  # fmt: skip
    """``streams`` clips sent as fast as possible, one per slot, all at once."""
    cfg = replace(cfg, stream=replace(cfg.stream, realtime=False), duration_s=0.0, stagger_s=0.0)
    return [await run_one_level(cfg, clips, streams, f"burst-{streams}", progress)]


def doubling_levels(start: int = 1, stop: int = 256) -> list[int]:
    """1, 2, 4, 8, ... up to ``stop``."""
    out, n = [], max(1, start)
    while n <= stop:
        out.append(n)
        n *= 2
    return out


async def sweep(
    cfg: LoadConfig, clips: Sequence[Clip], levels: Sequence[int],
    progress: Progress | None = None, repeats: int = 1,
) -> list[LevelResult]:  # fmt: skip
    """Run increasing levels; stop after the first one that breaks the SLO; ``repeats`` times.

    With ``repeats`` > 1 the whole sweep runs again from the first level and each level is
    named ``sweep-N#r`` (r = 1, 2, ...): on a shared or cloud VM the answer moves with the
    machine's speed from one sweep to the next, so a sizing decision should rest on several
    (:func:`sweep_maxima`, :func:`max_passing`).
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be >= 1")
    out = []
    for run in range(1, repeats + 1):
        suffix = f"#{run}" if repeats > 1 else ""
        for n in levels:
            result = await run_one_level(cfg, clips, n, f"sweep-{n}{suffix}", progress)
            out.append(result)
            if not result.verdict.passed:
                break
    return out


def sweep_runs(levels: Sequence[LevelResult]) -> list[list[LevelResult]]:
    """Levels grouped by sweep (names ending in ``#r``), in order; one group otherwise."""
    runs: dict[str, list[LevelResult]] = {}
    for r in levels:
        key = r.name.rpartition("#")[2] if "#" in r.name else ""
        runs.setdefault(key, []).append(r)
    return list(runs.values())


def _max_passing_run(levels: Sequence[LevelResult]) -> int:
    best = 0
    for r in levels:
        if not r.verdict.passed:
            break
        best = max(best, r.streams)
    return best


def sweep_maxima(levels: Sequence[LevelResult]) -> list[int]:
    """Each sweep's largest passing stream count (one entry per repeat)."""
    return [_max_passing_run(run) for run in sweep_runs(levels)]


def max_passing(levels: Sequence[LevelResult]) -> int:
    """Largest stream count that met the SLO before the first failure (0 = none).

    For repeated sweeps (:func:`sweep`), the median of the sweeps' answers (the lower middle
    one for an even count): one fast or slow minute of the VM does not decide it.
    """
    maxima = sorted(sweep_maxima(levels))
    return maxima[(len(maxima) - 1) // 2] if maxima else 0


async def soak(cfg: LoadConfig, clips: Sequence[Clip], streams: int, total_s: float,
               progress: Progress | None = None) -> list[LevelResult]:  # fmt: skip
    """``streams`` streams for ``total_s``, reported in windows of ``cfg.duration_s``.

    Drift in latency, errors or CPU shows window over window.
    """
    out = []
    windows = max(1, round(total_s / max(1.0, cfg.duration_s)))
    for w in range(windows):
        out.append(await run_one_level(cfg, clips, streams, f"soak-{w + 1}/{windows}", progress))
    return out
