"""espeak-ng through its C API (ctypes): audio plus sample-exact PHONEME and WORD events.

``libespeak-ng.so.1`` (Debian package ``libespeak-ng1``, voices in ``espeak-ng-data``) runs in
``AUDIO_OUTPUT_SYNCHRONOUS`` mode at 22050 Hz; a callback collects the audio chunks and the
event list. Each PHONEME event carries the exact sample index of its onset.

**Stop-closure fix** (shared/docs/data_and_training.md section 1a): for oral stops the event
marks the *release*, and the closure is the run of digital silence (``|x| <= 64``) that ends at
the event and belongs to the previous phone. :func:`fix_stop_closures` moves the onset back to
the start of that run (capped at ``MAX_CLOSURE_S``) and records the event as the release. Where
there is no silent run (intervocalic voiced stops, whose closure is a quiet voice bar *after*
the event), the release is placed at ``VOICED_RELEASE_FRACTION`` of the phone.

The library is process-global: one instance per process, initialised on first use. A per-call
deadline is enforced inside the callback (returning 1 aborts synthesis).
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field

import numpy as np

from a2f_actors.resample import resample
from a2f_train.corpus.phonemes import (
    SILENCE,
    STOPS,
    PhoneSeq,
    Utterance,
    WordSeq,
    build_phone_seq,
    espeak_to_common,
)

__all__ = [
    "ESPEAK_ACCENTS",
    "ESPEAK_VARIANTS",
    "EspeakError",
    "fix_stop_closures",
    "synthesize",
]

NATIVE_RATE_HZ = 22050  # espeak-ng's formant synthesiser output rate
SILENT_LSB = 64  # |sample| <= this (PCM16) counts as digital silence
MIN_CLOSURE_S = 0.010  # a shorter silent run is not a closure
MAX_CLOSURE_S = 0.120  # cap when the silent run reaches back into a pause
VOICED_RELEASE_FRACTION = 0.6  # closure share of a stop with no silent run (voice bar)
#: Accents that espeak_SetVoiceByName accepts (``en-gb`` is not found in 1.51; ``en`` is British).
ESPEAK_ACCENTS: tuple[str, ...] = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-us-nyc",
)  # fmt: skip
#: Non-breathy variants (breathy ones such as +f3, +whisper fill the stop closure with noise).
ESPEAK_VARIANTS: tuple[str, ...] = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f4")

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_WORD, _EVENT_PHONEME = 1, 7
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4


class EspeakError(RuntimeError):
    """The espeak-ng library is missing, rejected a voice, or failed to synthesize."""


class _EventId(ctypes.Union):
    _fields_ = (("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8))


class _Event(ctypes.Structure):
    """``espeak_EVENT`` of espeak-ng 1.51 (speak_lib.h)."""

    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    )


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class _Capture:
    """What the callback collects during one ``espeak_Synth`` call."""

    deadline: float
    chunks: list[np.ndarray] = field(default_factory=list)
    events: list[tuple[int, int, int, int, str]] = field(default_factory=list)
    aborted: bool = False


class _Espeak:
    """The process-wide library handle (espeak-ng keeps global state)."""

    def __init__(self) -> None:
        try:
            self.lib = ctypes.CDLL("libespeak-ng.so.1")
        except OSError as exc:
            raise EspeakError(
                "libespeak-ng.so.1 not found: install the Debian packages "
                "'libespeak-ng1 espeak-ng-data' (make sysdeps)"
            ) from exc
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS
        )
        if rate != NATIVE_RATE_HZ:
            raise EspeakError(f"espeak_Initialize returned {rate}, expected {NATIVE_RATE_HZ}")
        self.capture: _Capture | None = None
        self._cb = _CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._cb)

    def _on_audio(self, wav: ctypes.Array, n: int, events: ctypes.Array) -> int:
        cap = self.capture
        if cap is None:
            return 1
        if n > 0:
            cap.chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != 0:
            ev = events[i]
            name = ev.id.string.decode("ascii", "replace") if ev.type == _EVENT_PHONEME else ""
            cap.events.append((ev.type, ev.sample, ev.text_position, ev.length, name))
            i += 1
        if time.monotonic() > cap.deadline:
            cap.aborted = True
            return 1
        return 0

    def run(self, text: bytes, voice: str, params: tuple[int, int, int], timeout_s: float):
        """Synthesize ``text`` and return (int16 samples at 22050 Hz, events)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakError(f"espeak-ng voice {voice!r} not found (see `espeak-ng --voices=en`)")
        for pid, value in zip((_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE), params, strict=True):
            self.lib.espeak_SetParameter(pid, int(value), 0)
        self.capture = cap = _Capture(deadline=time.monotonic() + timeout_s)
        try:
            err = self.lib.espeak_Synth(
                text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self.lib.espeak_Synchronize()
        finally:
            self.capture = None
        if cap.aborted:
            raise TimeoutError(f"espeak-ng synthesis exceeded {timeout_s} s")
        if err != 0 or not cap.chunks:
            raise EspeakError(f"espeak_Synth failed (error {err}) for {text[:40]!r}")
        return np.concatenate(cap.chunks), cap.events


_LIB: _Espeak | None = None


def _library() -> _Espeak:
    global _LIB
    if _LIB is None:
        _LIB = _Espeak()
    return _LIB


def silent_run_before(x: np.ndarray, index: int, threshold: int = SILENT_LSB) -> int:
    """Number of consecutive samples ``|x| <= threshold`` that end just before ``index``."""
    seg = np.abs(x[:index][::-1].astype(np.int32)) > threshold
    loud = np.flatnonzero(seg)
    return int(loud[0]) if loud.size else int(index)


def fix_stop_closures(
    x: np.ndarray, onsets: list[int], labels: list[str]
) -> tuple[list[int], list[int]]:
    """Move stop onsets back to the start of their closure silence.

    Args:
        x: [N] int16 audio at 22050 Hz.
        onsets: PHONEME event sample indices, one per phone, non-decreasing.
        labels: common labels of the phones.

    Returns:
        ``(onsets, releases)``: corrected onsets, and for stops the release sample (the
        original event, or ``VOICED_RELEASE_FRACTION`` into the phone when no silent run
        precedes it); ``-1`` for non-stops.
    """
    out = list(onsets)
    releases = [-1] * len(onsets)
    for i, lab in enumerate(labels):
        if lab not in STOPS or i == 0:
            continue
        run = silent_run_before(x, onsets[i])
        if run >= MIN_CLOSURE_S * NATIVE_RATE_HZ:
            floor = out[i - 1] + (0 if labels[i - 1] == SILENCE else 1)
            out[i] = max(onsets[i] - run, onsets[i] - int(MAX_CLOSURE_S * NATIVE_RATE_HZ), floor)
            releases[i] = onsets[i]
        else:
            nxt = onsets[i + 1] if i + 1 < len(onsets) else x.shape[0]
            releases[i] = onsets[i] + int(VOICED_RELEASE_FRACTION * (nxt - onsets[i]))
    return out, releases


def _phones(x: np.ndarray, events: list) -> PhoneSeq:
    onsets: list[int] = [0]
    labels: list[str] = [SILENCE]
    raws: list[str] = ["_"]
    for kind, sample, _pos, _len, name in events:
        if kind != _EVENT_PHONEME:
            continue
        common = espeak_to_common(name)
        if common is None:
            continue  # zero-width modifier: the previous phone simply continues
        onsets.append(int(sample))
        labels.append(common)
        raws.append(name)
    onsets, releases = fix_stop_closures(x, onsets, labels)
    n = x.shape[0]
    start, end, lab, raw = build_phone_seq(
        [o / NATIVE_RATE_HZ for o in onsets], labels, raws, n / NATIVE_RATE_HZ
    )
    rel_by_onset = {
        o / NATIVE_RATE_HZ: r / NATIVE_RATE_HZ
        for o, r in zip(onsets, releases, strict=True)
        if r >= 0
    }
    release = np.array([min(rel_by_onset.get(s, e), e) for s, e in zip(start, end, strict=True)])
    release = np.maximum(release, start)
    return PhoneSeq(start=start, end=end, release=release, label=lab, raw=raw)


def _words(events: list, text: bytes, phones: PhoneSeq) -> WordSeq:
    """Word intervals: from the WORD event to the next word or the next pause."""
    spans = [(s / NATIVE_RATE_HZ, p, n) for k, s, p, n, _ in events if k == _EVENT_WORD]
    starts, ends, words = [], [], []
    sil_starts = [s for s, lab in zip(phones.start, phones.label, strict=True) if lab == SILENCE]
    for j, (t0, pos, length) in enumerate(spans):
        nxt = spans[j + 1][0] if j + 1 < len(spans) else phones.end[-1]
        pause = min((s for s in sil_starts if s > t0), default=nxt)
        starts.append(t0)
        ends.append(max(t0, min(nxt, pause)))
        words.append(text[pos - 1 : pos - 1 + length].decode("utf-8", "replace"))
    return WordSeq(start=np.asarray(starts), end=np.asarray(ends), text=tuple(words))


def synthesize(
    text: str,
    voice: str = "en-us",
    rate_wpm: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    timeout_s: float = 30.0,
) -> Utterance:
    """Synthesize one sentence with espeak-ng and return 16 kHz audio with exact phone times.

    Args:
        text: the sentence (UTF-8).
        voice: ``accent`` or ``accent+variant``, e.g. ``"en-gb-x-rp+m1"``.
        rate_wpm: speaking rate, words per minute (80..450).
        pitch: base pitch, 0..100 (50 = the voice's default).
        pitch_range: pitch range, 0..100 (0 = monotone).
        timeout_s: wall-clock limit for this utterance.

    Raises:
        EspeakError: library missing, unknown voice or synthesis failure.
        TimeoutError: synthesis ran longer than ``timeout_s``.
    """
    raw = text.encode("utf-8")
    x, events = _library().run(raw, voice, (rate_wpm, pitch, pitch_range), timeout_s)
    phones = _phones(x, events)
    audio = resample(x.astype(np.float32) / 32768.0, NATIVE_RATE_HZ).astype(np.float32)
    params = {"rate_wpm": float(rate_wpm), "pitch": float(pitch), "range": float(pitch_range)}
    return Utterance(
        audio=audio,
        phones=phones,
        words=_words(events, raw, phones),
        engine="espeak",
        voice=voice,
        params=params,
    )
