"""Recorded human speech for TRAINING: Asterisk's English prompts as force-aligned corpus clips.

Every other training clip is synthetic (espeak-ng, flite, one Piper voice). The diffusion net
closes 99 % of synthetic /p b m/ but about 80 % on real speech (docs/models/diffusion.md), and
recipe or seed changes moved real closure only within the test set's noise. This module adds
real speech with targets made exactly as for the Piper clips: pocketsphinx forced alignment of
the known text (:func:`a2f_train.corpus.tts_piper.align_phones`) drives the corpus's phone
curves (:func:`a2f_train.corpus.clipgen.write_clip`, voice style of ``allison``, neutral
emotion, blinks/saccades/augmentation drawn from a per-prompt seed, padding and augmentation
settings from a corpus preset, ``full_piper`` by default, so real and synthetic clips are
treated alike).

Source: Debian ``asterisk-core-sounds-en-g722`` 1.6.1-1 (pinned, sha256-checked; Allison Smith,
CC-BY-SA-3.0), 16 kHz G.722 decoded by :func:`a2f_train.evaluation.real_dev.g722_decode`;
transcripts from the package's ``core-sounds-en.txt``. Selected (:func:`select_prompts`):
a transcript, :data:`MIN_WORDS` or more words, no multi-digit number, not under ``silence/``
and **not one of the 25 development-set prompts** (``real_dev.ASTERISK_PROMPTS``). The
real-speech test set's speakers (a LibriVox reader, CMU ``cards``) are not in it. One speaker:
a professional prompt voice, clean studio audio (the augmented copy adds noise, reverb, band
limits).

Layout: a corpus directory as :mod:`a2f_train.corpus.build` writes (``corpus.json``,
``manifest.jsonl``, ``summary.json``, ``clips/<id>.wav|.npz|.aug1.wav``), every clip in the
``train`` split; no PCA/geometry files (the diffusion trainer reads the clips only). Resumable:
complete clips are kept. A prompt the aligner cannot cover is reported and left out.

Measured use (docs/models/diffusion.md, candidate DRA): 243 prompts, 18.4 min, added to the
diffusion net's stage 3 did **not** raise real-speech closure (test set 26/34; fewer closures
even on these prompts than without them). The presets leave it out.

CLI: ``python -m a2f_train.corpus.real_prompts data/corpus/real_asterisk [--config full_piper]
[--jobs 2]`` (10.6 MB downloaded; 2-3 min with 2 workers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from a2f_train.corpus import clipgen
from a2f_train.corpus.build import ClipSpec
from a2f_train.corpus.config import CorpusConfig, load_config
from a2f_train.corpus.phonemes import Utterance
from a2f_train.evaluation import real_dev

__all__ = ["MIN_WORDS", "SOURCE", "VOICE", "build", "clip_specs", "select_prompts"]

SOURCE = "asterisk-core-sounds-en-g722"
VOICE = "allison"
MIN_WORDS = 3
FORMAT_VERSION = 1


def select_prompts(texts: dict[str, str], names: set[str]) -> dict[str, str]:
    """``{prompt name: aligner words}`` of the usable prompts among ``names``, sorted by name.

    Args:
        texts: ``core-sounds-en.txt`` as :func:`real_dev.asterisk_transcripts` reads it.
        names: prompt names present as audio (``dictate/play_help`` style, no extension).
    """
    dev = set(real_dev.ASTERISK_PROMPTS)
    out = {}
    for name in sorted(names):
        if name in dev or name.startswith("silence/") or name not in texts:
            continue
        try:
            words = real_dev.prompt_words(texts[name])
        except ValueError:  # a multi-digit number: how it is read is not in the text
            continue
        if len(words.split()) >= MIN_WORDS:
            out[name] = words
    return out


def clip_specs(prompts: dict[str, str]) -> list[ClipSpec]:
    """One ``train`` clip spec per prompt; the seed comes from the name (order-independent)."""
    specs = []
    for k, (name, words) in enumerate(prompts.items()):
        seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
        specs.append(
            ClipSpec(
                clip_id=f"real_{k:04d}_{name.replace('/', '_')}", sentence_id=name, text=words,
                split="train", engine="real", voice=VOICE, emotion="neutral", intensity=0.0,
                seed=seed,
            )
        )  # fmt: skip
    return specs


def _make(job: tuple[ClipSpec, Path, Path, CorpusConfig]) -> tuple[str, dict[str, Any] | str]:
    """Decode, align and write one prompt: ``(clip_id, manifest row or error text)``."""
    from a2f_train.corpus.tts_piper import PiperError, align_phones

    spec, g722, out, cfg = job
    try:
        audio = real_dev.g722_decode(g722.read_bytes()).astype(np.float32) / 32768.0
        phones, words = align_phones(audio, spec.text)
    except (PiperError, OSError, ValueError) as e:
        return spec.clip_id, f"{type(e).__name__}: {e}"
    rng = np.random.default_rng(spec.seed)
    utt = Utterance(audio, phones, words, "real", VOICE, {"source": SOURCE})
    utt = clipgen.pad_utterance(utt, *rng.uniform(*cfg.pad_s, size=2))
    return spec.clip_id, clipgen.write_clip(spec, out, cfg, utt, rng)


def build(
    out: Path, config: str | Path = "full_piper", jobs: int = 2, limit: int | None = None,
    stream: Any = sys.stderr,
) -> dict[str, Any]:  # fmt: skip
    """Build (or complete) the real-speech training corpus in ``out``; returns the summary.

    Args:
        out: corpus directory (created).
        config: corpus preset name or YAML path whose padding and augmentation settings are
            used (those of the synthetic corpus the real clips join).
        jobs: worker processes.
        limit: first ``limit`` prompts only (tests).
        stream: progress lines.
    """
    cfg: CorpusConfig = load_config(config)
    out = Path(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        root, texts = real_dev.fetch_asterisk(Path(tmp_name))
        names = {str(p.relative_to(root))[: -len(".g722")] for p in root.rglob("*.g722")}
        specs = clip_specs(select_prompts(texts, names))[:limit]
        copies = cfg.augment.copies
        rows: dict[str, dict[str, Any]] = {}
        todo = []
        for s in specs:
            row = clipgen.verify_clip(out / "clips", s.clip_id, copies)
            if row is None:
                todo.append((s, root / f"{s.sentence_id}.g722", out, cfg))
            else:
                rows[s.clip_id] = row
        failed: dict[str, str] = {}
        start = time.time()
        with mp.get_context("fork").Pool(max(1, jobs)) as pool:
            for n, (clip_id, res) in enumerate(pool.imap_unordered(_make, todo), 1):
                if isinstance(res, str):
                    failed[clip_id] = res
                else:
                    rows[clip_id] = res
                if n % 25 == 0 or n == len(todo):
                    eta = (time.time() - start) / n * (len(todo) - n)
                    stream.write(f"real_prompts: {n}/{len(todo)} new clips, {len(failed)} failed, "
                                 f"ETA {eta:.0f} s\n")  # fmt: skip
    ordered = [rows[s.clip_id] for s in specs if s.clip_id in rows]
    clipgen.atomic_write_text(
        out / "manifest.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in ordered)
    )
    hours = sum(r["duration_s"] for r in ordered) / 3600
    summary = {"clips": len(ordered), "hours": hours, "failed": dict(sorted(failed.items()))}
    meta = {
        "format_version": FORMAT_VERSION, "source": SOURCE,
        "version": real_dev.DEB_VERSIONS[SOURCE], "voice": VOICE, "min_words": MIN_WORDS,
        "excluded": "the development set's asterisk prompts, silence/*",
        "preset": str(config), "config": cfg.model_dump(mode="json"),
    }  # fmt: skip
    clipgen.atomic_write_text(out / "corpus.json", json.dumps(meta, indent=2) + "\n")
    clipgen.atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--config", default="full_piper", help="corpus preset name or YAML path")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--limit", type=int, default=None)
    a = p.parse_args(argv)
    try:
        load_config(a.config)
    except FileNotFoundError as e:
        sys.stderr.write(f"{e}\n")
        return 2
    s = build(a.out, a.config, a.jobs, a.limit)
    sys.stdout.write(f"{a.out}: {s['clips']} clips, {s['hours'] * 60:.1f} min, "
                     f"{len(s['failed'])} failed\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
