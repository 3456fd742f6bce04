"""Phone sets: espeak-ng mnemonics and flite ARPAbet -> one common inventory -> viseme classes.

The common inventory is lowercase ARPAbet (CMU dictionary, 39 phones) plus ``ax`` (schwa) and
``sil`` (any pause, leading/trailing silence). Every phone sequence the corpus stores uses it,
together with the engine's raw label, so the evaluation harness and pocketsphinx alignments
(also ARPAbet) compare one-to-one.

A :class:`PhoneSeq` holds a whole utterance as arrays in seconds. Stops also carry a
*release* time: lips/tongue are closed over ``[start, release]`` and the burst/aspiration
follows until ``end``; for every other phone ``release == end``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BILABIALS",
    "COMMON_PHONES",
    "SILENCE",
    "STOPS",
    "VISEME_OF",
    "VOWELS",
    "PhoneSeq",
    "Utterance",
    "WordSeq",
    "arpabet_to_common",
    "build_phone_seq",
    "espeak_to_common",
]

SILENCE = "sil"
VOWELS: frozenset[str] = frozenset(
    ("aa", "ae", "ah", "ao", "aw", "ax", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh", "uw")
)
CONSONANTS: frozenset[str] = frozenset(
    ("b", "ch", "d", "dh", "f", "g", "hh", "jh", "k", "l", "m", "n", "ng", "p", "r", "s",
     "sh", "t", "th", "v", "w", "y", "z", "zh")
)  # fmt: skip
COMMON_PHONES: tuple[str, ...] = (SILENCE, *sorted(VOWELS), *sorted(CONSONANTS))
#: Phones whose lips are closed over ``[start, release]``.
BILABIALS: frozenset[str] = frozenset({"p", "b", "m"})
#: Oral stops and affricates: closure then release (burst) inside the phone interval.
STOPS: frozenset[str] = frozenset({"p", "b", "t", "d", "k", "g", "ch", "jh"})

#: Common phone -> viseme class (the rows of the table in docs/corpus.md).
VISEME_OF: dict[str, str] = {
    SILENCE: "rest",
    **dict.fromkeys(("p", "b", "m"), "bilabial"),
    **dict.fromkeys(("f", "v"), "labiodental"),
    **dict.fromkeys(("th", "dh"), "dental"),
    **dict.fromkeys(("t", "d", "n"), "alveolar"),
    "l": "lateral",
    **dict.fromkeys(("s", "z"), "sibilant"),
    **dict.fromkeys(("sh", "zh", "ch", "jh"), "postalveolar"),
    **dict.fromkeys(("k", "g", "ng"), "velar"),
    "r": "rhotic",
    "w": "round_glide",
    "y": "palatal",
    "hh": "glottal",
    **{v: f"vowel_{v}" for v in VOWELS},
}

_ESPEAK_EXACT: dict[str, str] = {
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g", "f": "f", "v": "v",
    "T": "th", "D": "dh", "s": "s", "z": "z", "S": "sh", "Z": "zh", "h": "hh", "tS": "ch",
    "dZ": "jh", "m": "m", "n": "n", "N": "ng", "l": "l", "r": "r", "w": "w", "j": "y",
    "n-": "n", "m-": "m", "l-": "l", "r-": "er", "t#": "d", "?": "hh", "x": "k", "C": "hh",
    "@": "ax", "@2": "ax", "@5": "ax", "@L": "l", "3": "er", "3:": "er", "a#": "ax",
    "a": "ae", "aa": "aa", "a2": "ax", "A:": "aa", "A@": "aa", "A": "aa", "0": "aa",
    "O:": "ao", "O@": "ao", "o@": "ao", "O": "ao", "o": "ow", "oU": "ow", "OI": "oy",
    "aI": "ay", "aI@": "ay", "aI3": "ay", "aU": "aw", "aU@": "aw", "e@": "eh", "eI": "ey",
    "E": "eh", "e": "eh", "I": "ih", "I#": "ih", "I2": "ih", "IR": "ih", "i": "iy",
    "i:": "iy", "i@": "iy", "i@3": "iy", "u:": "uw", "u": "uw", "U": "uh", "U@": "uh",
    "V": "ah", "@r": "er", "w#": "w", "l/": "l", "l/2": "l", "z/2": "z",
}  # fmt: skip
_ESPEAK_SILENCE = re.compile(r"^_")
_ESPEAK_MODIFIER = re.compile(r"^[;:'\",%=]$")
_ARPABET_EXTRA: dict[str, str] = {"pau": SILENCE, "h#": SILENCE, "dx": "d", "axr": "er"}


def espeak_to_common(label: str) -> str | None:
    """Map an espeak-ng phoneme mnemonic to the common inventory.

    Args:
        label: the ``id.string`` of an espeak PHONEME event, e.g. ``"tS"``, ``"aI@"``, ``"_:"``.

    Returns:
        The common phone, ``"sil"`` for pauses, or ``None`` for zero-width modifiers
        (``;`` palatalisation and similar) whose event the caller merges into the previous phone.
    """
    if _ESPEAK_SILENCE.match(label):
        return SILENCE
    if _ESPEAK_MODIFIER.match(label):
        return None
    if label in _ESPEAK_EXACT:
        return _ESPEAK_EXACT[label]
    stripped = re.sub(r"[0-9#/\[\]!;]+$", "", label)
    if stripped in _ESPEAK_EXACT:
        return _ESPEAK_EXACT[stripped]
    if stripped[:1] in "aeiouAEIOUV03@":
        return "ah"  # an unlisted vowel of a rare accent: a neutral open-mid vowel
    return "hh"  # an unlisted consonant: weak dominance, it inherits its neighbours' shape


def arpabet_to_common(label: str) -> str:
    """Map a flite/CMU ARPAbet phone (stress digits allowed) to the common inventory.

    Raises:
        ValueError: for a label outside ARPAbet.
    """
    base = re.sub(r"[0-9]$", "", label.lower())
    if base in _ARPABET_EXTRA:
        return _ARPABET_EXTRA[base]
    if base in VOWELS or base in CONSONANTS:
        return base
    raise ValueError(f"unknown ARPAbet phone {label!r}")


@dataclass(frozen=True)
class PhoneSeq:
    """The phones of one utterance, contiguous and in time order.

    Attributes:
        start: [P] float64 onset of each phone, seconds from the first audio sample.
        end: [P] float64 offset, seconds; ``end[i] == start[i + 1]``.
        release: [P] float64 end of the closure for stops (``start <= release <= end``);
            ``end`` for every other phone.
        label: [P] common-inventory labels (``COMMON_PHONES``).
        raw: [P] the engine's own labels (espeak mnemonic or ARPAbet).
    """

    start: np.ndarray
    end: np.ndarray
    release: np.ndarray
    label: tuple[str, ...]
    raw: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.label)
        if not (self.start.shape == self.end.shape == self.release.shape == (n,)):
            raise ValueError("start/end/release/label lengths differ")
        if len(self.raw) != n:
            raise ValueError("raw labels and labels differ in length")
        if n and (np.any(self.end < self.start) or np.any(self.release > self.end + 1e-9)):
            raise ValueError("phone intervals must satisfy start <= release <= end")

    def __len__(self) -> int:
        return len(self.label)

    @property
    def duration_s(self) -> float:
        """Seconds from the first onset to the last offset (0 for an empty sequence)."""
        return float(self.end[-1] - self.start[0]) if len(self) else 0.0

    def closures(self, phones: frozenset[str] = BILABIALS) -> list[tuple[float, float]]:
        """``(start, release)`` in seconds of every phone in ``phones``, in time order."""
        return [
            (float(s), float(r))
            for s, r, lab in zip(self.start, self.release, self.label, strict=True)
            if lab in phones
        ]


@dataclass(frozen=True)
class WordSeq:
    """Word timings of one utterance (NaN where the engine gives no word times).

    Attributes:
        start: [W] float64 seconds.
        end: [W] float64 seconds.
        text: [W] the words as written in the sentence.
    """

    start: np.ndarray
    end: np.ndarray
    text: tuple[str, ...]


@dataclass(frozen=True)
class Utterance:
    """One synthesized sentence with its exact phone (and word) timing.

    Attributes:
        audio: [N] float32 mono samples at 16 kHz in [-1, 1].
        phones: phone intervals in seconds (same clock as ``audio``).
        words: word intervals in seconds.
        engine: ``"espeak"`` or ``"flite"``.
        voice: the engine's voice name (``"en-us+m3"``, ``"slt"``...).
        params: the prosody the engine ran with (rate, pitch, range...).
    """

    audio: np.ndarray
    phones: PhoneSeq
    words: WordSeq
    engine: str
    voice: str
    params: dict[str, float]

    @property
    def duration_s(self) -> float:
        """Audio length in seconds (samples / 16000)."""
        return self.audio.shape[0] / 16000.0


def build_phone_seq(
    starts: list[float], labels: list[str], raws: list[str], end_s: float
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Turn onset lists into contiguous intervals, merging repeated silences and empty phones.

    Args:
        starts: onset of each phone, seconds, non-decreasing.
        labels: common labels (same length).
        raws: raw engine labels (same length).
        end_s: end of the last phone (the audio length), seconds.

    Returns:
        ``(start, end, labels, raws)`` with zero-length phones dropped and adjacent ``sil``
        phones merged.
    """
    bounds = [*starts, end_s]
    out_s: list[float] = []
    out_e: list[float] = []
    out_l: list[str] = []
    out_r: list[str] = []
    for i, (lab, raw) in enumerate(zip(labels, raws, strict=True)):
        s, e = bounds[i], max(bounds[i + 1], bounds[i])
        if e - s <= 1e-6:
            continue
        if out_l and lab == SILENCE and out_l[-1] == SILENCE:
            out_e[-1] = e
            continue
        out_s.append(s)
        out_e.append(e)
        out_l.append(lab)
        out_r.append(raw)
    return np.asarray(out_s), np.asarray(out_e), tuple(out_l), tuple(out_r)
