"""A phonetically rich English sentence list: hand-written sentences plus a seeded generator.

* ``sentences.yaml`` (next to this module): ~80 sentences written for this project, dense in
  bilabial, labiodental, dental, rounded-vowel and emotional contexts.
* :func:`generate`: template sentences ``subject verb object place`` filled from small word
  lists chosen so every ARPAbet phone occurs and /p b m f v/ appear next to every vowel class.

Splits are decided per *sentence* (a hash of its normalised text), so one sentence never lands in
two splits whatever voice or emotion reads it.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

__all__ = ["Sentence", "assign_split", "generate", "hand_written", "sentence_list"]

_SUBJECTS = (
    "Bob", "Pam", "my mother", "the famous farmer", "a brave boy", "the old vet", "Beth",
    "Phil", "the maid", "our young puppy", "the busy mayor", "Mabel", "the wise owl",
    "Victor", "the thin thief", "a shy zebra", "the cheerful judge", "George", "Ruth",
    "the happy baker", "Moira", "the pilot", "Uncle Val", "the two boys",
)  # fmt: skip
_VERBS = (
    "bought", "moved", "brought", "found", "fixed", "pushed", "wiped", "painted", "loved",
    "grabbed", "buried", "measured", "fetched", "lifted", "weighed", "chose", "thumped",
    "polished", "mapped", "vacuumed", "rubbed", "bumped", "swapped", "folded",
)  # fmt: skip
_ADJECTIVES = (
    "blue", "purple", "smooth", "fluffy", "bumpy", "heavy", "vivid", "shiny", "rough",
    "damp", "ample", "beautiful", "big", "brown", "humble", "pale", "warm", "cheap",
    "thick", "yellow", "muddy", "proper", "frozen", "lovely", "pink", "boring",
)  # fmt: skip
_NOUNS = (
    "map", "pump", "bubble", "box of books", "photo", "plum", "lamp", "van", "violin",
    "umbrella", "pebble", "mop", "muffin", "beef pie", "bath", "thumb ring", "vase",
    "jar", "measure", "cup", "pillow", "boat", "shoe", "fork", "rope", "bottle",
)  # fmt: skip
_PLACES = (
    "by the pond", "in the museum", "behind the barn", "near the bay", "above the oven",
    "beside the fire", "through the valley", "under the bridge", "on the boat",
    "before the morning", "with a big smile", "from the market", "at the mall",
    "without a fuss", "over the hill", "in the warm kitchen", "during the movie",
)  # fmt: skip
_OPENERS = ("", "", "", "Oh, ", "Well, ", "Maybe ", "Yesterday ", "Every Friday ", "Hmm, ")
_ENDINGS = (".", ".", ".", "!", "?")


@dataclass(frozen=True)
class Sentence:
    """One sentence of the list.

    Attributes:
        sentence_id: stable id (``h###`` hand-written, ``g#####`` generated).
        text: the text given to the speech engines.
        split: ``"train"``, ``"val"`` or ``"test"``.
    """

    sentence_id: str
    text: str
    split: str


@functools.cache
def hand_written() -> tuple[str, ...]:
    """The project's hand-written sentences (``sentences.yaml``), in file order."""
    data = yaml.safe_load((Path(__file__).with_name("sentences.yaml")).read_text())
    return tuple(str(s) for s in data)


def _one(rng: np.random.Generator) -> str:
    def pick(words: tuple[str, ...]) -> str:
        return words[int(rng.integers(len(words)))]

    opener = pick(_OPENERS)
    body = (
        f"{pick(_SUBJECTS)} {pick(_VERBS)} the {pick(_ADJECTIVES)} {pick(_NOUNS)} {pick(_PLACES)}"
    )
    if rng.random() < 0.35:
        body += f" and {pick(_VERBS)} the {pick(_ADJECTIVES)} {pick(_NOUNS)}"
    text = opener + body + pick(_ENDINGS)
    return text[0].upper() + text[1:]


def generate(n: int, seed: int) -> list[str]:
    """``n`` distinct template sentences, deterministic for a seed.

    Raises:
        ValueError: when ``n`` exceeds what the templates can make distinct in reasonable time.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, None] = {}
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 100:
            raise ValueError(f"could not generate {n} distinct sentences")
        out.setdefault(_one(rng), None)
    return list(out)


def assign_split(text: str, val_fraction: float, test_fraction: float) -> str:
    """Split of a sentence from a hash of its lowercased text (stable across runs and seeds)."""
    key = " ".join(text.lower().split()).encode()
    u = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2.0**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def sentence_list(
    n_generated: int, seed: int, *, use_hand_written: bool = True, val_fraction: float = 0.05,
    test_fraction: float = 0.05,
) -> list[Sentence]:  # fmt: skip
    """Hand-written sentences (optional) followed by ``n_generated`` template sentences."""
    hand = hand_written() if use_hand_written else ()
    gen = [t for t in generate(n_generated + len(hand), seed) if t not in hand][:n_generated]
    items = [(f"h{i:03d}", t) for i, t in enumerate(hand)]
    items += [(f"g{i:05d}", t) for i, t in enumerate(gen)]
    return [Sentence(sid, t, assign_split(t, val_fraction, test_fraction)) for sid, t in items]
