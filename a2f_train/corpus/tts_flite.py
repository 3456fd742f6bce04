"""flite 2.2 through its command line: 16 kHz audio with exact phone end times (``-psdur``).

``flite -voice V -psdur -t TEXT -o out.wav`` prints ``phone:end_s`` pairs (ARPAbet, ``pau`` for
pauses) and writes the waveform. slt (F), rms (M) and awb (M, Scottish) are statistical voices
trained on real speakers; kal16 is a diphone voice. Stop closures fall *inside* the stop's
interval (unlike espeak), so a stop's release is placed ``RELEASE_S`` before its end.

Word times are not printed by flite; they are recovered by a second, audio-free pass that
pronounces the words one per phrase (joined with commas, so
``pau`` separates their phones) and then walking the timed phone list with those counts.
Where the counts disagree the word times are NaN.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from a2f_actors.audio import decode_wav
from a2f_actors.resample import resample
from a2f_train.corpus.phonemes import (
    SILENCE,
    STOPS,
    PhoneSeq,
    Utterance,
    WordSeq,
    arpabet_to_common,
    build_phone_seq,
)

__all__ = ["FLITE_VOICES", "FliteError", "parse_psdur", "synthesize"]

FLITE_VOICES: tuple[str, ...] = ("slt", "rms", "awb", "kal16")
RELEASE_S = 0.015  # burst length assumed at the end of a flite stop (closure before it)
_RELEASE_MAX_FRACTION = 0.35
_BASE_F0_HZ = {"slt": 170.0, "rms": 105.0, "awb": 110.0, "kal16": 105.0}
_LOOKUP_VOICE = "kal"  # fastest voice; all four share the CMU lexicon


class FliteError(RuntimeError):
    """The flite binary is missing or failed."""


def _binary() -> str:
    path = shutil.which("flite")
    if path is None:
        raise FliteError("flite not found: install the Debian package 'flite' (make sysdeps)")
    return path


def parse_psdur(output: str) -> list[tuple[str, float]]:
    """Parse ``flite -psdur`` output into ``[(arpabet, end_s), ...]``.

    Raises:
        FliteError: when no ``phone:time`` pair is found.
    """
    pairs = []
    for token in output.split():
        label, sep, end = token.rpartition(":")
        if not sep:
            continue
        try:
            pairs.append((label, float(end)))
        except ValueError:
            continue
    if not pairs:
        raise FliteError(f"no phone timing in flite output: {output[:80]!r}")
    return pairs


def _run(args: list[str], timeout_s: float) -> str:
    try:
        proc = subprocess.run(
            [_binary(), *args], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"flite exceeded {timeout_s} s") from exc
    if proc.returncode != 0:
        raise FliteError(f"flite failed ({proc.returncode}): {proc.stderr.strip()[:200]}")
    return proc.stdout


def _phone_seq(pairs: list[tuple[str, float]], audio_s: float) -> PhoneSeq:
    labels = [arpabet_to_common(lab) for lab, _ in pairs]
    ends = [min(end, audio_s) for _, end in pairs]
    starts = [0.0, *ends[:-1]]
    start, end, lab, raw = build_phone_seq(starts, labels, [p for p, _ in pairs], audio_s)
    release = end.copy()
    for i, phone in enumerate(lab):
        if phone in STOPS:
            burst = min(RELEASE_S, _RELEASE_MAX_FRACTION * (end[i] - start[i]))
            release[i] = end[i] - burst
    return PhoneSeq(start=start, end=end, release=release, label=lab, raw=raw)


def _word_counts(words: list[str], timeout_s: float) -> list[int] | None:
    """Phones per word from an audio-free pass with one word per sentence."""
    text = ", ".join(words)
    out = _run(["-voice", _LOOKUP_VOICE, "-ps", "-t", text, "-o", "none"], timeout_s)
    groups, cur = [], 0
    for ph in out.split():
        if ph == "pau":
            if cur:
                groups.append(cur)
            cur = 0
        else:
            cur += 1
    if cur:
        groups.append(cur)
    return groups if len(groups) == len(words) else None


def _words(text: str, phones: PhoneSeq, timeout_s: float) -> WordSeq:
    words = [w.strip('.,;:!?"()') for w in text.split()]
    words = [w for w in words if w]
    counts = _word_counts(words, timeout_s)
    idx = [i for i, lab in enumerate(phones.label) if lab != SILENCE]
    if counts is None or sum(counts) != len(idx):
        nan = np.full(len(words), np.nan)
        return WordSeq(start=nan, end=nan.copy(), text=tuple(words))
    starts, ends, k = [], [], 0
    for c in counts:
        starts.append(phones.start[idx[k]])
        ends.append(phones.end[idx[k + c - 1]])
        k += c
    return WordSeq(start=np.asarray(starts), end=np.asarray(ends), text=tuple(words))


def synthesize(
    text: str,
    voice: str = "slt",
    duration_stretch: float = 1.0,
    f0_shift_semitones: float = 0.0,
    f0_range: float = 1.0,
    timeout_s: float = 30.0,
) -> Utterance:
    """Synthesize one sentence with flite and return 16 kHz audio with exact phone times.

    Args:
        text: the sentence.
        voice: one of ``FLITE_VOICES``.
        duration_stretch: > 1 speaks slower (flite ``duration_stretch``).
        f0_shift_semitones: mean pitch shift from the voice's default (rms ignores it).
        f0_range: multiplier of the pitch standard deviation (``int_f0_target_stddev``).
        timeout_s: wall-clock limit of each flite call.

    Raises:
        FliteError: flite missing, unknown voice or synthesis failure.
        TimeoutError: a flite call ran longer than ``timeout_s``.
    """
    if voice not in FLITE_VOICES:
        raise FliteError(f"unknown flite voice {voice!r}; use one of {FLITE_VOICES}")
    f0 = _BASE_F0_HZ[voice] * 2.0 ** (f0_shift_semitones / 12.0)
    sets = [
        "--setf", f"duration_stretch={duration_stretch:.3f}",
        "--setf", f"int_f0_target_mean={f0:.1f}",
        "--setf", f"int_f0_target_stddev={max(1.0, 0.1 * f0 * f0_range):.1f}",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="a2f_flite_") as tmp:
        wav = Path(tmp) / "out.wav"
        out = _run([*sets, "-voice", voice, "-psdur", "-t", text, "-o", str(wav)], timeout_s)
        decoded = decode_wav(wav)
    audio = decoded.samples.astype(np.float32)
    if decoded.sample_rate != 16000:
        audio = resample(audio, decoded.sample_rate).astype(np.float32)
    phones = _phone_seq(parse_psdur(out), audio.shape[0] / 16000.0)
    params = {
        "duration_stretch": float(duration_stretch),
        "f0_shift_semitones": float(f0_shift_semitones),
        "f0_range": float(f0_range),
    }
    return Utterance(
        audio=audio,
        phones=phones,
        words=_words(text, phones, timeout_s),
        engine="flite",
        voice=voice,
        params=params,
    )
