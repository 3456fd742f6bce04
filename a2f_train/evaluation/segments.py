"""Labelled time segments and the phone inventories the harness understands.

Phone labels come from several sources, each with its own inventory: pocketsphinx and CMUdict
(upper-case ARPAbet, ``SIL``, fillers ``+NSN+``), flite (lower-case ARPAbet, ``pau``), espeak-ng
mnemonics (``p``, ``_:``), IPA and TIMIT (``pcl``, ``h#``). :func:`phone_base` reduces a label to
a lower-case base without stress digits, aspiration or length marks, and the predicates below
map every inventory to the two classes the metrics need: bilabial (/p b m/) and silence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Bilabial bases in every supported inventory (TIMIT closures and syllabic m included).
BILABIAL_BASES: frozenset[str] = frozenset({"p", "b", "m", "em", "pcl", "bcl"})
#: Silence / pause labels (pocketsphinx, flite, HTK, TIMIT, espeak ``_``-family, sentence marks).
SILENCE_BASES: frozenset[str] = frozenset(
    {"sil", "<sil>", "pau", "sp", "h#", "silence", "<s>", "</s>", "", "_"}
)
_STRIP = "0123456789ʰː:-'ˈˌ"


@dataclass(frozen=True)
class Segment:
    """A labelled time interval (phone, word or silence).

    Attributes:
        label: Phone or word label as the source writes it (e.g. ``"M"``, ``"sil"``).
        start_s: Start time in seconds.
        end_s: End time in seconds (``>= start_s``).
    """

    label: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.end_s - self.start_s


def phone_base(label: str) -> str:
    """Lower-case base of a phone label: ``"AH0" -> "ah"``, ``"pʰ" -> "p"``, ``"_:" -> "_"``."""
    base = label.strip().lower()
    if base.startswith("_"):
        return "_"  # every espeak pause (_, _:, _!, __) is silence
    return base.rstrip(_STRIP) if base not in SILENCE_BASES else base


def is_bilabial(label: str) -> bool:
    """True for /p b m/ in ARPAbet, flite, espeak, IPA and TIMIT spellings."""
    return phone_base(label) in BILABIAL_BASES


def is_silence(label: str) -> bool:
    """True for silence / pause labels (``SIL``, ``<sil>``, ``pau``, ``sp``, ``_``, ``h#``)."""
    return phone_base(label) in SILENCE_BASES


def merge_segments(segments: Iterable[Segment], gap_s: float = 1e-3) -> list[tuple[float, float]]:
    """Union of segments as sorted ``(start_s, end_s)`` pairs, joining gaps under ``gap_s``."""
    spans = sorted((s.start_s, s.end_s) for s in segments)
    merged: list[list[float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1] + gap_s:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]
