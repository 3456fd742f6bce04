"""The lip-sync evaluation harness: score ground truth, results files and model packages.

Flow per clip: weights (``WeightTrack``) + 16 kHz audio + phones (exact corpus labels, a
pocketsphinx alignment, or none) --> :func:`score_track` --> :class:`ClipScore` (a flat dict of
metrics). :func:`aggregate` pools clips; :mod:`a2f_train.evaluation.report` prints and saves.

Sources:

* :func:`score_ground_truth` -- the synthetic corpus' own targets with exact phone labels (the
  ceiling every system is compared with);
* :func:`score_results` / :func:`score_results_dir` -- any system's CSV/JSON output with the
  audio it came from (and, against the corpus, per-region MAE vs the targets);
* :func:`score_package` -- a model package through the in-process pipeline
  (``a2f_actors.offline``) with ONNX Runtime;
* :func:`real_speech_alignment` -- pocketsphinx alignment coverage on real speech.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from a2f_train.evaluation import metrics as m
from a2f_train.evaluation.envelope import energy_vad
from a2f_train.evaluation.results_io import (
    GroundTruthClip,
    WeightTrack,
    list_corpus,
    read_ground_truth,
    read_results,
)
from a2f_train.evaluation.segments import Segment, is_bilabial, is_silence

LipGap = Callable[[np.ndarray], np.ndarray]
RESULT_SUFFIXES = (".csv", ".json")
#: ``bilabial_near``: a bilabial counts as near-closed when its minimum gap is under this
#: multiple of the closure threshold (a diagnostic; the issue's score is ``bilabial_closure``).
NEAR_FACTOR = 2.0


@dataclass(frozen=True)
class LipModel:
    """How lip closure is measured: a lip-gap function and its closure threshold.

    Attributes:
        lip_gap: ``weights [N, 68] -> [N]`` inner-lip distance.
        threshold: Closed when the gap is under this (same units).
        source: ``"character"`` (the default character's mesh) or ``"weight proxy"``.
    """

    lip_gap: LipGap
    threshold: float
    source: str


@functools.lru_cache(maxsize=1)
def default_lip_model() -> LipModel:
    """The default character's lip gap, or :func:`metrics.weight_lip_gap` if it is missing."""
    try:
        from a2f_train.character import load_default_character

        gap: LipGap = load_default_character().lip_gap
        source = "character"
    except (ImportError, NotImplementedError):  # character package absent or not built yet
        gap, source = m.weight_lip_gap, "weight proxy"
    return LipModel(gap, m.closure_threshold(gap), source)


@dataclass(frozen=True)
class ClipScore:
    """Metrics of one clip.

    Attributes:
        name: Clip name.
        source: ``"ground_truth"``, ``"results"`` or ``"package"``.
        metrics: Metric name -> value (NaN when not measurable); see docs/evaluation.md.
        notes: How it was measured (silence source, lip model, missing names).
        events: One :class:`BilabialEvent` per scored /p b m/ interval, in phone order (empty
            without phones): what a paired comparison of two systems matches
            (:mod:`a2f_train.evaluation.paired`).
    """

    name: str
    source: str
    metrics: dict[str, float]
    notes: tuple[str, ...] = field(default=())
    events: tuple[BilabialEvent, ...] = field(default=())


@dataclass(frozen=True)
class BilabialEvent:
    """One scored /p b m/ interval: its label, seconds, the smallest lip gap inside, closed."""

    label: str
    start_s: float
    end_s: float
    min_gap: float
    closed: bool


def _uniform(track: WeightTrack) -> tuple[np.ndarray, float]:
    """Weights on an even grid at the track's own rate (jitter needs even sampling)."""
    fps = track.fps
    n = track.time_codes.size
    grid = track.time_codes[0] + np.arange(n) / fps
    if np.allclose(grid, track.time_codes, atol=1e-4):
        return track.weights.astype(np.float64), fps
    return m.resample_track(track.weights, track.time_codes, grid), fps


def _truth_metrics(track: WeightTrack, truth: WeightTrack) -> dict[str, float]:
    out = {f"mae_{k}": v for k, v in m.region_mae(
        track.weights, track.time_codes, truth.weights, truth.time_codes
    ).items()}  # fmt: skip
    tw, tfps = _uniform(truth)
    out["jitter_truth"] = m.jitter_ratio(tw, tfps)
    return out


def score_track(
    name: str,
    track: WeightTrack,
    audio: np.ndarray,
    *,
    phones: Sequence[Segment] | None = None,
    truth: WeightTrack | None = None,
    lip: LipModel | None = None,
    source: str = "results",
) -> ClipScore:
    """Every metric of one clip.

    Args:
        name: Clip name.
        track: The system's weights with time codes.
        audio: ``[N]`` float32 mono speech at 16 kHz the weights were made from.
        phones: Phone segments (bilabials and silences are used); None: no closure score and
            silences from :func:`envelope.energy_vad`.
        truth: Ground-truth weights for per-region MAE and the truth's jitter.
        lip: Lip model; default :func:`default_lip_model`.
        source: Label stored in the result.

    Returns:
        :class:`ClipScore`.
    """
    lip = lip or default_lip_model()
    t = track.time_codes
    out: dict[str, float] = {}
    notes = [f"lip gap: {lip.source}"]
    events: tuple[BilabialEvent, ...] = ()
    if phones is not None:
        c = m.bilabial_closure(track.weights, phones, lip.lip_gap, lip.threshold, times=t)
        out |= {"bilabial_closure": c.score, "bilabial_closed": c.closed, "bilabial_total": c.total}
        events = tuple(
            BilabialEvent(p.label, p.start_s, p.end_s, g, g < lip.threshold)
            for p, g in zip(c.segments, c.min_gaps, strict=True)
        )
        # Diagnostic beside the score: a bilabial whose lips come within 2x the threshold was
        # recognised but under-closed; one that stays above it was missed outright.
        near = sum(g < NEAR_FACTOR * lip.threshold for g in c.min_gaps)
        share = near / c.total if c.total else float("nan")
        out |= {"bilabial_near": share, "bilabial_near_closed": near}
        # The opposite error: lips shut in the middle of a phone that is not /p b m/ or silence
        # (the central half, so coarticulation at a neighbouring bilabial does not count).
        inner = [
            Segment(
                p.label, p.start_s + (p.end_s - p.start_s) / 4, p.end_s - (p.end_s - p.start_s) / 4
            )
            for p in phones
            if not is_bilabial(p.label) and not is_silence(p.label)
        ]
        sc = m.bilabial_closure(
            track.weights, inner, lip.lip_gap, lip.threshold, times=t, is_target=lambda _: True
        )
        out |= {
            "spurious_closure": sc.score,
            "spurious_closed": sc.closed,
            "other_phones": sc.total,
        }
        silences = [p for p in phones if is_silence(p.label)]
        notes.append("silence: alignment")
    else:
        silences = energy_vad(audio)
        notes.append("silence: energy VAD")
    r = m.rest_in_silence(track.weights, silences, len(audio) / m.SAMPLE_RATE_HZ, times=t)
    out |= {
        "rest_in_silence": r.score,
        "rest_frames": r.rest_frames,
        "silent_frames": r.silent_frames,
    }
    a = m.energy_agreement(track.weights[:, m.JAW_OPEN], audio, times=t)
    out |= {"energy_r": a.peak_r, "energy_lag_ms": a.lag_ms, "energy_r0": a.r_at_zero}
    uw, fps = _uniform(track)
    out["jitter"] = m.jitter_ratio(uw, fps)
    if truth is not None:
        out |= _truth_metrics(track, truth)
    if track.missing:
        notes.append(f"{len(track.missing)} names missing (scored as 0)")
    return ClipScore(name, source, out, tuple(notes), events)


def _load_audio(path: Path | str) -> np.ndarray:
    from a2f_actors.audio import decode_wav
    from a2f_actors.resample import resample

    clip = decode_wav(path)  # WAV --> float32 mono @ native rate
    if clip.sample_rate == m.SAMPLE_RATE_HZ:
        return clip.samples
    return resample(clip.samples, clip.sample_rate)  # --> float32 mono @ 16 kHz


def _truth_at(gt: GroundTruthClip, fps: float) -> WeightTrack:
    """The ground-truth rate nearest ``fps`` (30 or 60)."""
    best = min(gt.weights, key=lambda r: abs(r - fps) if np.isfinite(fps) else r)
    return gt.track(best)


def score_ground_truth(
    corpus_dir: str | Path,
    split: str | None = "test",
    *,
    fps: int = 30,
    lip: LipModel | None = None,
) -> list[ClipScore]:
    """Score the corpus targets themselves with their exact phone labels (the ceiling).

    Raises:
        FileNotFoundError: No clip of that split under ``corpus_dir``.
    """
    paths = list_corpus(corpus_dir, split)
    if not paths:
        raise FileNotFoundError(f"no {split or 'corpus'} clips (.npz) under {corpus_dir}")
    scores = []
    for path in paths:
        gt = read_ground_truth(path)
        if gt.audio_path is None:
            raise FileNotFoundError(f"{path}: no audio {path.with_suffix('.wav').name} beside it")
        audio = _load_audio(gt.audio_path)
        scores.append(
            score_track(
                gt.name, gt.track(fps), audio, phones=gt.phones, lip=lip, source="ground_truth"
            )
        )
    return scores


def _align(samples: np.ndarray, transcript: str | None) -> tuple[list[Segment] | None, tuple]:
    """Phones of a forced alignment (None without transcript or on failure) and a note."""
    if not transcript:
        return None, ()
    from a2f_train.evaluation.alignment import force_align

    al = force_align(samples, transcript)  # isolated: the phones do not depend on other clips
    note = f"alignment coverage {al.coverage:.2f}" + (f" ({al.error})" if al.error else "")
    return (list(al.phones) if al.error is None else None), (note,)


def _with_notes(score: ClipScore, notes: tuple[str, ...]) -> ClipScore:
    return replace(score, notes=score.notes + notes)


def score_results(
    results: str | Path,
    audio: str | Path,
    *,
    transcript: str | None = None,
    lip: LipModel | None = None,
) -> ClipScore:
    """Score one results file (CSV/JSON from any system) against the audio it came from.

    With a transcript the audio is force-aligned (bilabial closure, silences from ``SIL``);
    without one there is no closure score and silences come from the energy VAD.
    """
    track = read_results(results)
    samples = _load_audio(audio)
    phones, notes = _align(samples, transcript)
    return _with_notes(
        score_track(Path(results).stem, track, samples, phones=phones, lip=lip), notes
    )


def score_results_dir(
    results_dir: str | Path,
    corpus_dir: str | Path,
    split: str | None = "test",
    *,
    lip: LipModel | None = None,
) -> list[ClipScore]:
    """Score ``<results_dir>/<clip>.csv|json`` against the corpus clips of ``split`` (MAE too).

    Raises:
        FileNotFoundError: No results file matches a corpus clip.
    """
    scores = []
    for path in list_corpus(corpus_dir, split):
        found = [Path(results_dir) / f"{path.stem}{s}" for s in RESULT_SUFFIXES]
        found = [f for f in found if f.is_file()]
        gt = read_ground_truth(path)
        if not found or gt.audio_path is None:
            continue
        track = read_results(found[0])
        audio = _load_audio(gt.audio_path)
        truth = _truth_at(gt, track.fps)
        scores.append(score_track(gt.name, track, audio, phones=gt.phones, truth=truth, lip=lip))
    if not scores:
        raise FileNotFoundError(f"no results file in {results_dir} matches a clip of {corpus_dir}")
    return scores


def _animate_corpus(
    animate: Callable[[np.ndarray], WeightTrack],
    corpus_dir: str | Path,
    split: str | None,
    lip: LipModel | None,
) -> list[ClipScore]:
    """Animate every corpus clip of ``split``; exact phones and MAE vs the nearest-rate targets."""
    scores = []
    for path in list_corpus(corpus_dir, split):
        gt = read_ground_truth(path)
        if gt.audio_path is not None:
            samples = _load_audio(gt.audio_path)
            track = animate(samples)
            truth = _truth_at(gt, track.fps)
            scores.append(
                score_track(gt.name, track, samples, phones=gt.phones, truth=truth, lip=lip)
            )
    return scores


def _animate_real_speech(
    animate: Callable[[np.ndarray], WeightTrack], lip: LipModel | None, root: Path | None = None
) -> list[ClipScore]:
    """Animate every real-speech clip (of ``root``, default the test set); phones aligned."""
    from a2f_train.evaluation.real_speech import load_real_speech

    scores = []
    for clip in load_real_speech(root):
        phones, notes = _align(clip.audio, clip.transcript)
        score = score_track(clip.name, animate(clip.audio), clip.audio, phones=phones, lip=lip)
        scores.append(_with_notes(score, notes))
    return scores


def score_package(
    package: str | Path,
    *,
    audio: str | Path | None = None,
    transcript: str | None = None,
    corpus_dir: str | Path | None = None,
    split: str | None = "test",
    real_speech: bool = False,
    fps: int = 30,
    lip: LipModel | None = None,
    noise_seed: int = 0,
    real_speech_dir: str | Path | None = None,
    identity: str | None = None,
) -> list[ClipScore]:
    """Score a model package run in-process (ONNX Runtime + ``a2f_actors.offline``).

    Args:
        package: Package folder (or model.json) with a ``network.onnx``.
        audio: One WAV to animate (force-aligned when ``transcript`` is given).
        transcript: What ``audio`` says.
        corpus_dir: Synthetic corpus: every clip of ``split`` with exact phones and MAE.
        split: Corpus split.
        real_speech: Also animate Debian pocketsphinx-testdata clips (force-aligned).
        real_speech_dir: Animate real speech from this folder instead (same layout; e.g. the
            development set of :mod:`a2f_train.evaluation.real_dev`); implies ``real_speech``.
        fps: Output rate of a regression package.
        noise_seed: Diffusion package: seed of the constant noise.
        identity: Diffusion package: the identity to animate (default: the first).
        lip: Lip model; default :func:`default_lip_model`.

    Returns:
        One :class:`ClipScore` per clip, in the order audio, corpus, real speech.

    Raises:
        ValueError: No clip source given.
    """
    from a2f_train.evaluation.package_runner import package_animator

    real_speech = real_speech or real_speech_dir is not None
    if audio is None and corpus_dir is None and not real_speech:
        raise ValueError("score_package needs audio, a corpus folder or real_speech=True")
    animate, desc = package_animator(package, fps=fps, identity=identity, noise_seed=noise_seed)
    scores: list[ClipScore] = []
    if audio is not None:
        samples = _load_audio(audio)
        phones, notes = _align(samples, transcript)
        score = score_track(Path(audio).stem, animate(samples), samples, phones=phones, lip=lip)
        scores.append(_with_notes(score, (desc, *notes)))
    if corpus_dir is not None:
        scores += _animate_corpus(animate, corpus_dir, split, lip)
    if real_speech:
        root = Path(real_speech_dir) if real_speech_dir is not None else None
        scores += _animate_real_speech(animate, lip, root)
    return [replace(s, source="package") for s in scores]
