"""Replica counts per deployment over time, sampled while a scenario runs (client side only).

:class:`ReplicaSampler` polls Serve's REST API on the Ray dashboard
(``GET /api/serve/applications/``, what ``serve status`` reads) about once a second and records,
per deployment, the RUNNING replicas and the autoscaler's target, next to the generator's load
(active streams, frames so far). :func:`ramp` is the scenario that shows autoscaling: levels
of rising then falling concurrency (e.g. 1 -> 8 -> 16 -> 2 streams), then an idle tail while
the replicas come back down. :func:`write_files` adds ``replicas.csv`` and ``replicas.png``
(load and replicas over time) to a results folder; ``report.write`` calls it.

Dashboards started with token authentication (Ray's default when a token exists) need the
token: ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest.generator import Clip, LiveCounters
from loadtest.scenarios import LevelResult, LoadConfig, run_one_level

Progress = Callable[[str, LiveCounters], None]
APPLICATIONS = "/api/serve/applications/"


def auth_token(path: str | Path | None = None) -> str | None:
    """The dashboard token: ``path``, ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ~/.ray."""
    if os.environ.get("RAY_AUTH_TOKEN") and path is None:
        return os.environ["RAY_AUTH_TOKEN"].strip()
    candidates = [path, os.environ.get("RAY_AUTH_TOKEN_PATH"), Path.home() / ".ray" / "auth_token"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text().strip()
    return None


def fetch_applications(dashboard_url: str, token: str | None = None, timeout_s: float = 5.0) -> Any:
    """The JSON of ``GET /api/serve/applications/``."""
    req = urllib.request.Request(dashboard_url.rstrip("/") + APPLICATIONS)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout_s) as response:
        return json.loads(response.read().decode())


def replica_counts(doc: Mapping[str, Any], app: str | None = None) -> dict[str, dict[str, Any]]:
    """Deployment -> ``{"running", "target", "nodes", "status"}`` (one app, or all merged)."""
    out: dict[str, dict[str, Any]] = {}
    for name, details in (doc.get("applications") or {}).items():
        if app is not None and name != app:
            continue
        for dep, d in (details.get("deployments") or {}).items():
            running = [r for r in d.get("replicas", []) if r.get("state") == "RUNNING"]
            out[dep] = {
                "running": len(running),
                "target": int(d.get("target_num_replicas", 0)),
                "nodes": len({r.get("node_id") for r in running}),
                "status": d.get("status", ""),
            }
    return out


@dataclass(frozen=True)
class ReplicaSample:
    """One poll: seconds since the sampler started, the load then, replicas per deployment."""

    t_s: float
    level: str
    active_streams: int
    frames: int
    running: dict[str, int]
    target: dict[str, int]


@dataclass
class ReplicaSampler:
    """Polls the replica counts in the background (``async with sampler: ...``).

    Attributes:
        dashboard_url: e.g. ``http://127.0.0.1:8265``.
        app: Serve application name (None: every app's deployments).
        period_s: seconds between polls.
        token: dashboard token (None: :func:`auth_token`).
    """

    dashboard_url: str
    app: str | None = None
    period_s: float = 1.0
    token: str | None = None
    samples: list[ReplicaSample] = field(default_factory=list)
    errors: int = 0
    _level: str = ""
    _active: int = 0
    _frames: int = 0
    _base_frames: int = 0
    _t0: float = 0.0
    _task: asyncio.Task[None] | None = None

    def note(self, level: str, live: LiveCounters | None) -> None:
        """Record the load the generator reports (the scenario's progress hook)."""
        if level != self._level:
            self._base_frames = self._frames
        self._level = level
        if live is not None:
            self._active = live.active
            self._frames = self._base_frames + live.frames
        else:
            self._active = 0

    def elapsed(self) -> float:
        """Seconds since polling started (the samples' clock)."""
        return time.monotonic() - self._t0

    def sample(self) -> ReplicaSample | None:
        """Poll once (None when the dashboard did not answer)."""
        try:
            doc = fetch_applications(self.dashboard_url, self.token)
        except (urllib.error.URLError, OSError, ValueError):
            self.errors += 1
            return None
        counts = replica_counts(doc, self.app)
        got = ReplicaSample(
            round(time.monotonic() - self._t0, 2), self._level, self._active, self._frames,
            {d: c["running"] for d, c in counts.items()},
            {d: c["target"] for d, c in counts.items()},
        )  # fmt: skip
        self.samples.append(got)
        return got

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(max(0.0, self.period_s - (time.monotonic() - started)))

    async def __aenter__(self) -> ReplicaSampler:
        """Start polling."""
        if self.token is None:
            self.token = auth_token()
        self._t0 = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop polling (one last sample)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.sample)


async def ramp(
    cfg: LoadConfig, clips: Sequence[Clip], levels: Sequence[int],
    sampler: ReplicaSampler | None = None, progress: Progress | None = None, tail_s: float = 0.0,
) -> list[LevelResult]:  # fmt: skip
    """Levels of ``cfg.duration_s`` each at the given concurrencies, then ``tail_s`` idle.

    With a sampler, the replica counts are recorded throughout (the idle tail shows them come
    back down after ``downscale_delay_s``).
    """

    def hook(name: str, live: LiveCounters) -> None:
        if sampler is not None:
            sampler.note(name, live)
        if progress is not None:
            progress(name, live)

    out = []
    for k, n in enumerate(levels):
        out.append(await run_one_level(cfg, clips, n, f"ramp{k + 1}-{n}", hook))
    if tail_s > 0:
        if sampler is not None:
            sampler.note("idle", None)
        await asyncio.sleep(tail_s)
    return out


# --- results ---------------------------------------------------------------------------------


def deployments_of(samples: Sequence[ReplicaSample]) -> list[str]:
    """Every deployment seen, in first-seen order."""
    seen: dict[str, None] = {}
    for s in samples:
        seen.update(dict.fromkeys(s.running))
    return list(seen)


def to_json(samples: Sequence[ReplicaSample]) -> list[dict[str, Any]]:
    """Samples as JSON-ready dicts."""
    return [asdict(s) for s in samples]


def write_csv(path: Path, samples: Sequence[ReplicaSample]) -> None:
    """One row per sample: time, level, load, then running and target replicas per deployment."""
    deps = deployments_of(samples)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "level", "active_streams", "frames",
                    *[f"{d}_running" for d in deps], *[f"{d}_target" for d in deps]])  # fmt: skip
        for s in samples:
            w.writerow([s.t_s, s.level, s.active_streams, s.frames,
                        *[s.running.get(d, 0) for d in deps],
                        *[s.target.get(d, 0) for d in deps]])  # fmt: skip


def level_summary(samples: Sequence[ReplicaSample]) -> list[dict[str, Any]]:
    """Per level (in order): its time span, peak streams and min/max running per deployment."""
    deps = deployments_of(samples)
    rows: list[dict[str, Any]] = []
    for s in samples:
        if not rows or rows[-1]["level"] != s.level:
            rows.append({"level": s.level, "from_s": s.t_s, "to_s": s.t_s, "streams": 0,
                         **{d: [s.running.get(d, 0)] for d in deps}})  # fmt: skip
        row = rows[-1]
        row["to_s"], row["streams"] = s.t_s, max(row["streams"], s.active_streams)
        for d in deps:
            row[d].append(s.running.get(d, 0))
    for row in rows:
        for d in deps:
            values = row[d]
            row[d] = f"{min(values)}-{max(values)}" if min(values) != max(values) else values[0]
    return rows


def markdown(samples: Sequence[ReplicaSample]) -> str:
    """The report section: replicas per level (min-max of RUNNING while the level ran)."""
    deps = deployments_of(samples)
    lines = ["", "## Replicas over time (Serve REST API, RUNNING replicas)", ""]
    lines.append("| level | from s | to s | peak streams | " + " | ".join(deps) + " |")
    lines.append("|" + " --- |" * (4 + len(deps)))
    for row in level_summary(samples):
        cells = [row["level"] or "start", f"{row['from_s']:.0f}", f"{row['to_s']:.0f}",
                 str(row["streams"]), *[str(row[d]) for d in deps]]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(path: Path, samples: Sequence[ReplicaSample], title: str = "") -> None:
    """Load (active streams, frames/s) above the RUNNING replicas per deployment, over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s.t_s for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    top.step(t, [s.active_streams for s in samples], where="post", label="active streams")
    top.set_ylabel("active streams")
    rate = [0.0] + [
        max(0.0, (b.frames - a.frames) / max(1e-6, b.t_s - a.t_s))
        for a, b in itertools.pairwise(samples)
    ]
    twin = top.twinx()
    twin.plot(t, rate, color="tab:gray", alpha=0.6, label="frames/s")
    twin.set_ylabel("frames/s received")
    top.legend(loc="upper left", bbox_to_anchor=(1.08, 1.0), fontsize="small")
    twin.legend(loc="upper left", bbox_to_anchor=(1.08, 0.8), fontsize="small")
    for d in deployments_of(samples):
        running = [s.running.get(d, 0) for s in samples]
        if min(running) == max(running):  # constant: thin, so the autoscaled ones stand out
            bottom.step(t, running, where="post", lw=1, ls=":", label=f"{d} ({running[0]})")
            continue
        line = bottom.step(t, running, where="post", lw=2, label=f"{d} running")[0]
        target = [s.target.get(d, 0) for s in samples]
        bottom.step(t, target, where="post", lw=1, ls="--", color=line.get_color(),
                    label=f"{d} target")  # fmt: skip
    bottom.set_ylabel("replicas")
    bottom.set_xlabel("seconds")
    bottom.set_ylim(0, max([1, *[max(s.running.values(), default=0) for s in samples]]) + 0.5)
    bottom.yaxis.get_major_locator().set_params(integer=True)
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        for a, b in itertools.pairwise(samples):
            if a.level != b.level:
                ax.axvline(b.t_s, color="k", alpha=0.15)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_files(out: Path, samples: Sequence[ReplicaSample]) -> list[str]:
    """``replicas.csv`` and ``replicas.png`` in ``out``; returns the plot names."""
    write_csv(out / "replicas.csv", samples)
    if not samples:
        return []
    plot(out / "replicas.png", samples, "load and replicas over time")
    return ["replicas.png"]
