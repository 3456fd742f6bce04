"""Piper engine: config/plan wiring (fast, always run) and synthesis + alignment (skipped when
piper-tts, the joe voice, pocketsphinx or flite are missing)."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
from pydantic import ValidationError

from a2f_train.corpus import build, config, tts_flite, tts_piper
from a2f_train.corpus.phonemes import BILABIALS, SILENCE

TEXT = "Bob bought a map. Five vivid violets faded."


def _with_voices(cfg: config.CorpusConfig, **kw) -> config.CorpusConfig:
    return cfg.model_copy(update={"voices": cfg.voices.model_copy(update=kw)})


def test_quantize_length_scale_rounds_and_clamps():
    assert tts_piper.quantize_length_scale(1.04) == 1.0
    assert tts_piper.quantize_length_scale(1.06) == 1.1
    assert tts_piper.quantize_length_scale(0.1) == tts_piper.LENGTH_SCALE_LIMITS[0]
    assert tts_piper.quantize_length_scale(9.0) == tts_piper.LENGTH_SCALE_LIMITS[1]


def test_config_without_piper_keeps_its_hash():
    cfg = config.load_config("full")
    assert cfg.voices.piper_share == 0.0
    other = _with_voices(cfg, piper_length_scale=(0.8, 1.3), piper_voices=("joe", "joe"))
    assert config.config_hash(other) == config.config_hash(cfg)  # piper fields ignored at share 0
    with_piper = _with_voices(cfg, piper_share=0.3)
    assert config.config_hash(with_piper) != config.config_hash(cfg)


def test_config_rejects_unknown_piper_voice():
    with pytest.raises(ValidationError, match="unknown piper voices"):
        config.VoiceConfig(piper_voices=("nobody",))


def test_piper_share_replaces_clips_and_keeps_the_rest_of_the_plan():
    base = config.load_config("full").model_copy(update={"clips": 600})
    mixed = _with_voices(base, piper_share=0.3)
    a, b = build.plan_clips(base), build.plan_clips(mixed)
    assert len(a) == len(b)
    piper = [s for s in b if s.engine == "piper"]
    assert 0.22 < len(piper) / len(b) < 0.38
    assert all(s.voice == "joe" and "_piper_joe_" in s.clip_id for s in piper)
    for x, y in zip(a, b, strict=True):
        assert (x.sentence_id, x.split, x.emotion, x.seed) == (y.sentence_id, y.split, y.emotion,
                                                               y.seed)  # fmt: skip
        if y.engine != "piper":
            assert x == y
    assert {s.split for s in piper} == {"train", "val", "test"}
    presets = config.load_config("full_piper")
    assert presets.voices.piper_share == pytest.approx(0.3)


def test_full_piper_preset_keeps_splits_disjoint():
    specs = build.plan_clips(config.load_config("full_piper"))
    by_split: dict[str, set[str]] = {}
    for s in specs:
        by_split.setdefault(s.split, set()).add(s.sentence_id)
    assert not (by_split["train"] & by_split["test"]) and not (by_split["train"] & by_split["val"])


@pytest.fixture(scope="module")
def piper_utt():
    reason = tts_piper.available()
    if reason is not None:  # pragma: no cover - depends on the machine
        pytest.skip(reason)
    return tts_piper.synthesize(TEXT, "joe", length_scale=1.0)


def test_piper_utterance_is_16k_with_contiguous_aligned_phones(piper_utt):
    u, p = piper_utt, piper_utt.phones
    assert u.engine == "piper" and u.voice == "joe" and u.params == {"length_scale": 1.0}
    assert u.audio.dtype == np.float32 and 1.0 < u.duration_s < 10.0
    assert p.start[0] == 0.0 and abs(p.end[-1] - u.duration_s) < 1e-6
    np.testing.assert_allclose(p.end[:-1], p.start[1:])
    assert np.all((p.start <= p.release) & (p.release <= p.end))
    labels = [lab for lab in p.label if lab != SILENCE]
    assert sum(lab in BILABIALS for lab in labels) >= 4 and "f" in labels and "v" in labels
    w = u.words
    assert [t.lower() for t in w.text][:4] == ["bob", "bought", "a", "map"]
    assert np.all(np.diff(w.start) >= 0) and np.all(w.end >= w.start)


def test_piper_runs_out_of_process(piper_utt):
    assert "piper" not in sys.modules  # GPL-3.0 program: used as a subprocess only


def test_piper_out_of_dictionary_word_gets_flite_pronunciation(piper_utt):
    u = tts_piper.synthesize("Zoe's pram bobbed.", "joe")
    assert [t.lower() for t in u.words.text] == ["zoe's", "pram", "bobbed"]
    assert "p" in u.phones.label and "b" in u.phones.label


def test_alignment_matches_flite_bilabial_onsets():
    if tts_piper.available() is not None or shutil.which("flite") is None:
        pytest.skip("pocketsphinx / flite unavailable")
    truth = tts_flite.synthesize(TEXT, "rms")
    phones, _ = tts_piper.align_phones(truth.audio, TEXT)
    ref = [s for s, _ in truth.phones.closures()]
    got = [s for s, _ in phones.closures()]
    assert len(got) == len(ref)
    assert float(np.mean(np.abs(np.subtract(got, ref)))) < 0.03  # 10 ms frames, measured ~10 ms
