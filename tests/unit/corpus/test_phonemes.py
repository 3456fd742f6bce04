from __future__ import annotations

import numpy as np
import pytest

from a2f_train.corpus.phonemes import (
    COMMON_PHONES,
    VISEME_OF,
    PhoneSeq,
    arpabet_to_common,
    build_phone_seq,
    espeak_to_common,
)


@pytest.mark.parametrize(
    ("raw", "common"),
    [
        ("p", "p"),
        ("tS", "ch"),
        ("dZ", "jh"),
        ("T", "th"),
        ("D", "dh"),
        ("N", "ng"),
        ("aI@", "ay"),
        ("oU", "ow"),
        ("_:", "sil"),
        ("_", "sil"),
        ("3:", "er"),
        ("@", "ax"),
        ("j", "y"),
    ],
)
def test_espeak_mapping(raw, common):
    assert espeak_to_common(raw) == common


def test_espeak_modifier_is_merged_and_unknowns_fall_back():
    assert espeak_to_common(";") is None
    assert espeak_to_common("Y7") in COMMON_PHONES
    assert espeak_to_common("q#") in COMMON_PHONES


def test_arpabet_mapping():
    assert arpabet_to_common("pau") == "sil"
    assert arpabet_to_common("AH0") == "ah"
    assert arpabet_to_common("zh") == "zh"
    with pytest.raises(ValueError):
        arpabet_to_common("qq")


def test_every_common_phone_has_a_viseme():
    assert set(COMMON_PHONES) <= set(VISEME_OF)


def test_build_phone_seq_merges_silences_and_drops_empty():
    s, e, lab, _ = build_phone_seq(
        [0.0, 0.1, 0.2, 0.2, 0.5], ["sil", "sil", "b", "aa", "sil"], ["_", "_", "b", "a", "_"], 0.8
    )
    assert lab == ("sil", "aa", "sil")
    np.testing.assert_allclose(s, [0.0, 0.2, 0.5])
    np.testing.assert_allclose(e, [0.2, 0.5, 0.8])


def test_phone_seq_validates():
    with pytest.raises(ValueError):
        PhoneSeq(np.array([0.0]), np.array([1.0]), np.array([2.0]), ("p",), ("p",))
