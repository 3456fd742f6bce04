"""Corpus builder: seeded plan -> synthesis -> curves -> atomic, resumable clip files + manifest.

Layout of a corpus directory ``OUT``::

    OUT/corpus.json              config, config hash, format version
    OUT/clips/<clip_id>.wav      clean speech, PCM16 mono 16 kHz (leading/trailing silence padded)
    OUT/clips/<clip_id>.npz      targets (see docs/corpus.md, "Clip format")
    OUT/clips/<clip_id>.aug<k>.wav   augmented copies (same targets)
    OUT/manifest.jsonl           one JSON object per clip (metadata, paths, hours)
    OUT/summary.json             hours per engine / voice / emotion / split, failures
    OUT/pca_skin.npz, OUT/pca_tongue.npz, OUT/geometry/<clip_id>.npz   (targets.py)

A clip counts as done when its npz loads, lists the expected keys and its WAVs have the sample
count the npz records; done clips are skipped, so an interrupted build resumes. Every file is
written to a temporary name in the same folder and renamed into place.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from a2f_train.corpus import clipgen
from a2f_train.corpus.config import CorpusConfig, config_hash
from a2f_train.corpus.expression import EMOTIONS
from a2f_train.corpus.sentences import sentence_list

__all__ = ["BuildResult", "ClipSpec", "Progress", "build", "plan_clips"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to make one clip (drawn up front so the plan is seed-deterministic)."""

    clip_id: str
    sentence_id: str
    text: str
    split: str
    engine: str
    voice: str
    emotion: str
    intensity: float
    seed: int


@dataclass(frozen=True)
class BuildResult:
    """Outcome of :func:`build`.

    Attributes:
        out_dir: the corpus directory.
        written: clips synthesized by this run.
        skipped: clips found complete and kept.
        failed: ``{clip_id: error}`` of clips that could not be made.
        summary: the corpus-level summary written to ``summary.json``.
    """

    out_dir: Path
    written: int
    skipped: int
    failed: dict[str, str]
    summary: dict[str, Any]


def _pick(rng: np.random.Generator, items: tuple[str, ...]) -> str:
    return items[int(rng.integers(len(items)))]


def _voice(cfg: CorpusConfig, rng: np.random.Generator) -> tuple[str, str]:
    v = cfg.voices
    if rng.random() < v.espeak_share:
        accent, variant = _pick(rng, v.espeak_accents), _pick(rng, v.espeak_variants or ("",))
        return "espeak", f"{accent}+{variant}" if variant else accent
    return "flite", _pick(rng, v.flite_voices)


def _emotion(cfg: CorpusConfig, rng: np.random.Generator) -> tuple[str, float]:
    e = cfg.emotion
    others = tuple(x for x in e.emotions if x != "neutral")
    if not others or ("neutral" in e.emotions and rng.random() < e.neutral_share):
        return "neutral", 0.0
    return _pick(rng, others), round(float(rng.uniform(*e.intensity)), 3)


def plan_clips(cfg: CorpusConfig) -> list[ClipSpec]:
    """The deterministic clip plan of a config (sentences cycled in a seeded order)."""
    s = cfg.sentences
    sentences = sentence_list(
        s.n_generated, cfg.seed, use_hand_written=s.use_hand_written,
        val_fraction=s.val_fraction, test_fraction=s.test_fraction,
    )  # fmt: skip
    if not sentences:
        raise ValueError("the config selects no sentences (n_generated 0 and no hand-written)")
    rng = np.random.default_rng([cfg.seed, 1])
    piper_rng = np.random.default_rng([cfg.seed, 2])  # own stream: other clips stay unchanged
    order = rng.permutation(len(sentences))
    specs = []
    for k in range(cfg.clips):
        sent = sentences[int(order[k % len(sentences)])]
        engine, voice = _voice(cfg, rng)
        if cfg.voices.piper_share > 0 and piper_rng.random() < cfg.voices.piper_share:
            engine, voice = "piper", _pick(piper_rng, cfg.voices.piper_voices)
        emotion, intensity = _emotion(cfg, rng)
        tag = voice.replace("+", "_")
        specs.append(
            ClipSpec(
                clip_id=f"{k:05d}_{engine}_{tag}_{emotion}",
                sentence_id=sent.sentence_id, text=sent.text, split=sent.split,
                engine=engine, voice=voice, emotion=emotion, intensity=intensity,
                seed=int(rng.integers(2**31)),
            )
        )  # fmt: skip
    return specs


class Progress:
    """Plain-text progress on a stream: clips done/total, audio hours, rate and ETA."""

    def __init__(self, total: int, stream: TextIO | None = None, every_s: float = 2.0) -> None:
        self.total, self.done, self.audio_s, self.resumed = total, 0, 0.0, 0
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self._t0 = time.monotonic()
        self._last = -1e9
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def resume(self, clips: int, audio_s: float) -> None:
        """Count clips found complete on disk (excluded from the rate and ETA)."""
        self.resumed += clips
        self.update(clips, audio_s)

    def update(self, clips: int, audio_s: float) -> None:
        """Count ``clips`` more clips with ``audio_s`` seconds of clean audio."""
        self.done += clips
        self.audio_s += audio_s
        now = time.monotonic()
        if now - self._last >= (0.2 if self._tty else self.every_s) or self.done == self.total:
            self._last = now
            self.stream.write(
                ("\r" if self._tty else "") + self.line(now) + ("" if self._tty else "\n")
            )
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        """The current progress line."""
        elapsed = (now or time.monotonic()) - self._t0
        rate = (self.done - self.resumed) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta_txt = "?" if np.isnan(eta) else f"{int(eta // 60)}m{int(eta % 60):02d}s"
        return (
            f"[corpus] {self.done}/{self.total} clips  {self.audio_s / 3600:.3f} h audio  "
            f"{rate:.1f} clips/s  elapsed {elapsed:.0f}s  ETA {eta_txt}"
        )

    def close(self) -> None:
        """End the progress line."""
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


def _work(task: tuple[dict, str, dict]) -> dict[str, Any]:
    spec_d, out_dir, cfg_d = task
    spec = ClipSpec(**spec_d)
    try:
        return clipgen.make_clip(spec, Path(out_dir), CorpusConfig.model_validate(cfg_d))
    except Exception as exc:  # a bad clip is reported, never fatal for the build
        return {"clip_id": spec.clip_id, "error": f"{type(exc).__name__}: {exc}"}


def _run_tasks(tasks: list, workers: int) -> Iterable[dict[str, Any]]:
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_work, tasks)
        return
    with mp.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(_work, tasks, chunksize=1)


def _check_corpus_json(out: Path, cfg: CorpusConfig) -> None:
    path = out / "corpus.json"
    digest = config_hash(cfg)
    if path.is_file():
        old = json.loads(path.read_text())
        if old.get("config_hash") != digest:
            raise ValueError(
                f"{out} holds a corpus built from another config (hash {old.get('config_hash')} "
                f"!= {digest}); build into a new directory or delete it"
            )
    data = {"format_version": FORMAT_VERSION, "config_hash": digest,
            "config": cfg.model_dump(mode="json")}  # fmt: skip
    clipgen.atomic_write_text(path, json.dumps(data, indent=2))


def build(
    cfg: CorpusConfig,
    out_dir: str | Path,
    workers: int | None = None,
    progress_stream: TextIO | None = None,
    geometry_fn: Callable[[Path, CorpusConfig], None] | None = None,
) -> BuildResult:
    """Build (or resume) a corpus.

    Args:
        cfg: the corpus config.
        out_dir: corpus directory (created).
        workers: processes (default: CPU count).
        progress_stream: where the progress line goes (default stderr).
        geometry_fn: called after the clips to materialise geometry targets (``targets.py``);
            ``None`` skips geometry.

    Returns:
        Counts, failures and the summary.
    """
    out = Path(out_dir)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    _check_corpus_json(out, cfg)
    specs = plan_clips(cfg)
    metas: dict[str, dict] = {}
    todo = []
    for spec in specs:
        meta = clipgen.verify_clip(out / "clips", spec.clip_id, cfg.augment.copies)
        if meta is None:
            todo.append(spec)
        else:
            metas[spec.clip_id] = meta
    bar = Progress(len(specs), progress_stream)
    bar.resume(len(metas), sum(m["duration_s"] for m in metas.values()))
    failed: dict[str, str] = {}
    tasks = [(asdict(s), str(out), cfg.model_dump(mode="json")) for s in todo]
    for res in _run_tasks(tasks, workers or os.cpu_count() or 1):
        if "error" in res:
            failed[res["clip_id"]] = res["error"]
            bar.update(1, 0.0)
            continue
        metas[res["clip_id"]] = res
        bar.update(1, res["duration_s"])
    bar.close()
    ordered = [metas[s.clip_id] for s in specs if s.clip_id in metas]
    summary = summarise(ordered, failed)
    clipgen.atomic_write_text(
        out / "manifest.jsonl", "".join(json.dumps(m) + "\n" for m in ordered)
    )
    clipgen.atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    if geometry_fn is not None and not failed:
        geometry_fn(out, cfg)
    return BuildResult(out, len(todo) - len(failed), len(specs) - len(todo), failed, summary)


def summarise(metas: list[dict[str, Any]], failed: dict[str, str] | None = None) -> dict[str, Any]:
    """Corpus-level summary: clip counts and hours per engine, voice, emotion and split."""
    out: dict[str, Any] = {
        "clips": len(metas),
        "hours": sum(m["duration_s"] for m in metas) / 3600,
        "augmented_hours": sum(m["duration_s"] * len(m["aug"]) for m in metas) / 3600,
        "failed": dict(failed or {}),
    }
    for key in ("engine", "voice", "emotion", "split"):
        hours: dict[str, float] = {}
        for m in metas:
            hours[m[key]] = hours.get(m[key], 0.0) + m["duration_s"] / 3600
        out[f"hours_per_{key}"] = dict(sorted(hours.items()))
    out["emotions_known"] = list(EMOTIONS)
    return out
