"""Forced alignment of speech to its transcript with pocketsphinx 5.1.1 (word + phone segments).

Uses the English acoustic model, CMU dictionary and phone set that ship inside the pocketsphinx
wheel (``pip install "a2f-cluster[data]"``). Two passes on the same audio: the transcript as a
grammar gives word segments, then ``set_alignment`` gives phone segments (10 ms frames).
Pitfalls handled here (../shared/docs/data_and_training.md section 3):

* ``bestpath=False``: the default raises "Failed to stop utterance processing" on some clips
  (cmusphinx/pocketsphinx#339);
* +-3 LSB Gaussian dither (fixed seed): exact digital silence breaks the first pass.

Words missing from the dictionary are dropped from the grammar and reported as ``oov``; they
count as not aligned in :attr:`Alignment.coverage`. Phones are upper-case ARPAbet without stress
(``SIL`` for silence); :func:`a2f_train.evaluation.segments.is_bilabial` maps ``P B M``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from a2f_train.evaluation.segments import Segment, is_bilabial, is_silence

SAMPLE_RATE_HZ = 16000
DITHER_LSB = 3.0  # std of the Gaussian dither, in 16-bit LSB
_FILLER = re.compile(r"^(<.*>|\[.*\]|\+.*\+)$")  # <sil>, <s>, [NOISE], +NSN+
_ALT = re.compile(r"\(\d+\)$")  # alternate pronunciation suffix: "the(2)"


@dataclass(frozen=True)
class Alignment:
    """Result of aligning one clip.

    Attributes:
        transcript_words: Normalised transcript words (lower case), in order.
        words: Aligned transcript words (fillers and silences removed), seconds.
        phones: Phone segments (ARPAbet, ``SIL`` included), seconds.
        oov: Transcript words missing from the dictionary (not aligned).
        error: Decoder error message when the alignment failed, else None.
    """

    transcript_words: tuple[str, ...]
    words: tuple[Segment, ...]
    phones: tuple[Segment, ...]
    oov: tuple[str, ...] = ()
    error: str | None = None

    @property
    def coverage(self) -> float:
        """Share of transcript words that received a segment (0 when the transcript is empty)."""
        n = len(self.transcript_words)
        return min(len(self.words), n) / n if n else 0.0

    @property
    def bilabials(self) -> tuple[Segment, ...]:
        """The /p b m/ phone segments."""
        return tuple(p for p in self.phones if is_bilabial(p.label))

    @property
    def silences(self) -> tuple[Segment, ...]:
        """The silence phone segments (``SIL``)."""
        return tuple(p for p in self.phones if is_silence(p.label))


def normalize_transcript(text: str) -> list[str]:
    """Lower-case words of a transcript: sentence marks, punctuation and utterance ids removed.

    ``"<s> Ten of clubs. </s> (001)"`` -> ``["ten", "of", "clubs"]``; apostrophes are kept.
    """
    text = re.sub(r"\([^)]*\)\s*$", " ", text)  # trailing "(utterance-id)"
    text = re.sub(r"</?s>", " ", text.lower())
    return re.findall(r"[a-z0-9']+", text.replace("-", " "))


@functools.lru_cache(maxsize=1)
def _decoder() -> Any:
    """The shared pocketsphinx decoder (loading the model takes ~0.3 s)."""
    try:
        from pocketsphinx import Decoder
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'forced alignment needs pocketsphinx: pip install "a2f-cluster[data]"'
        ) from exc
    return Decoder(samprate=SAMPLE_RATE_HZ, loglevel="FATAL", bestpath=False)


def to_pcm16_dithered(audio: np.ndarray, *, seed: int = 0) -> bytes:
    """Float ``[N]`` samples in [-1, 1] -> little-endian int16 bytes with +-3 LSB dither."""
    noise = np.random.default_rng(seed).normal(0.0, DITHER_LSB, len(audio))
    x = np.asarray(audio, dtype=np.float64) * 32768.0 + noise
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def _run(decoder: Any, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _word_segments(decoder: Any, frame_s: float) -> list[Segment]:
    segs = decoder.seg()
    if segs is None:  # the search found no path through the forced grammar
        raise RuntimeError("no alignment path (does the audio say the transcript?)")
    out = []
    for seg in segs:
        word = _ALT.sub("", seg.word)
        if not _FILLER.match(word) and seg.end_frame >= seg.start_frame:
            start, end = seg.start_frame * frame_s, (seg.end_frame + 1) * frame_s
            out.append(Segment(word, round(start, 6), round(end, 6)))
    return out


def _phone_segments(decoder: Any, frame_s: float) -> list[Segment]:
    return [
        Segment(p.name, round(p.start * frame_s, 6), round((p.start + p.duration) * frame_s, 6))
        for w in decoder.get_alignment()
        for p in w
    ]


def in_dictionary(word: str) -> bool:
    """Whether the aligner's dictionary has ``word`` (a lower-case transcript word)."""
    return _decoder().lookup_word(word) is not None


def force_align(
    audio: np.ndarray, transcript: str, *, sample_rate: int = SAMPLE_RATE_HZ,
    isolated: bool = True,
) -> Alignment:  # fmt: skip
    """Align ``audio`` to ``transcript``: word and phone segments in seconds.

    The shared decoder's feature front end keeps state from the clips aligned before
    (pocketsphinx's noise and cepstral-mean estimates), so with ``isolated=False`` a clip's
    segments depend on what this process aligned earlier: measured, 8 of the real-speech test
    set's 348 phones (none of its 34 /p b m/) and 109 of the development set's 2,753 phones (4
    of 218 /p b m/, by 10 ms) differ from aligning each clip alone. Hence the reset is the
    default, and every caller in this project relies on it: the corpus builders since session
    12, the evaluation harness since session 13 (before, it aligned a set in a fixed order in
    one process, so its scores repeated but depended on the set).

    Args:
        audio: ``[N]`` float mono samples in [-1, 1] at ``sample_rate`` Hz (resampled to 16 kHz).
        transcript: What is said; case and punctuation do not matter.
        sample_rate: Rate of ``audio`` in Hz.
        isolated: Reset the front end first (``reinit_feat``; default): the result is a
            function of ``audio`` and ``transcript`` alone, as for the first clip of a fresh
            process. ``False`` keeps the state of the clips aligned before.

    Returns:
        :class:`Alignment`; on a decoder failure its ``error`` is set and segments are empty.

    Raises:
        ImportError: pocketsphinx is not installed.
    """
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sample_rate != SAMPLE_RATE_HZ:
        from a2f_actors.resample import resample

        x = resample(x, sample_rate)  # --> float32 mono @ 16 kHz
    words = normalize_transcript(transcript)
    decoder = _decoder()
    oov = [w for w in words if decoder.lookup_word(w) is None]
    known = [w for w in words if w not in oov]
    if not known:
        return Alignment(
            tuple(words), (), (), tuple(oov), "no transcript word is in the dictionary"
        )
    frame_s = 1.0 / float(decoder.config["frate"])
    pcm = to_pcm16_dithered(x)
    if isolated:
        decoder.reinit_feat()
    try:
        decoder.set_align_text(" ".join(known))  # pass 1: words
        _run(decoder, pcm)
        word_segs = _word_segments(decoder, frame_s)
        decoder.set_alignment()  # pass 2: phones of the same grammar
        _run(decoder, pcm)
        phone_segs = _phone_segments(decoder, frame_s)
    except RuntimeError as exc:
        return Alignment(tuple(words), (), (), tuple(oov), f"alignment failed: {exc}")
    return Alignment(tuple(words), tuple(word_segs), tuple(phone_segs), tuple(oov))
