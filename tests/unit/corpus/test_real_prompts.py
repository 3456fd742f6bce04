"""The recorded-speech training corpus: prompt selection, seeds, and one clip end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from a2f_train.corpus import clipgen, real_prompts
from a2f_train.corpus.config import load_config
from a2f_train.evaluation.real_dev import ASTERISK_PROMPTS

TEXTS = {
    "agent-pass": "Please enter your password followed by the pound key.",
    "activated": "Activated.",  # too short
    "vm-intro": "Please leave your message after the tone.",  # a development-set prompt
    "silence/1": "one second of silence here",  # not speech
    "hours": "We are open from 9 to 17 hours.",  # multi-digit: how it is read is unknown
    "dictate/play_help": "press 1 to switch to record mode",  # development set too
    "dictate/forhelp": "for help press 0",
    "not-on-disk": "this prompt has no audio file",
}


def test_select_prompts_keeps_unseen_multi_word_prompts_only() -> None:
    assert "vm-intro" in ASTERISK_PROMPTS
    chosen = real_prompts.select_prompts(TEXTS, set(TEXTS) - {"not-on-disk"})
    assert chosen == {
        "agent-pass": "please enter your password followed by the pound key",
        "dictate/forhelp": "for help press zero",
    }


def test_clip_specs_are_train_clips_seeded_by_name() -> None:
    both = real_prompts.clip_specs({"a/b": "one two three", "c": "four five six"})
    alone = real_prompts.clip_specs({"c": "four five six"})
    assert [s.clip_id for s in both] == ["real_0000_a_b", "real_0001_c"]
    assert {(s.split, s.engine, s.voice, s.emotion) for s in both} == {
        ("train", "real", "allison", "neutral")
    }
    assert both[1].seed == alone[0].seed != both[0].seed


def test_a_recorded_prompt_becomes_a_verified_corpus_clip(flite_utt, tmp_path: Path) -> None:
    """G.722 bytes -> decode -> forced alignment -> targets, exactly the Piper clips' path."""
    pytest.importorskip("pocketsphinx")
    from tests.unit.evaluation.test_real_dev import g722_encode

    pcm = np.round(flite_utt.audio * 20000).astype(np.int16)
    g722 = tmp_path / "prompt.g722"
    g722.write_bytes(g722_encode(pcm))
    (spec,) = real_prompts.clip_specs({"bob": "bob bought a map five vivid violets faded"})
    cfg = load_config("small")
    (tmp_path / "c" / "clips").mkdir(parents=True)
    clip_id, row = real_prompts._make((spec, g722, tmp_path / "c", cfg))
    assert clip_id == spec.clip_id and isinstance(row, dict), row
    assert clipgen.verify_clip(tmp_path / "c" / "clips", clip_id, cfg.augment.copies) == row
    with np.load(tmp_path / "c" / row["npz"]) as d:
        labels = list(d["phone_label"])
        meta = json.loads(str(d["meta"]))
        weights = d["weights_60"]
    assert labels[0] == labels[-1] == "sil" and {"b", "m", "v"} <= set(labels)
    assert meta["engine"] == "real" and meta["params"] == {"source": real_prompts.SOURCE}
    assert weights.shape == (int(np.ceil(row["num_samples"] * 60 / 16000)), 68)
    assert weights[:, 1:].max() > 0.2  # the aligned phones animate the face


def test_an_unalignable_prompt_is_reported_not_written(flite_utt, tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx")
    from tests.unit.evaluation.test_real_dev import g722_encode

    g722 = tmp_path / "p.g722"
    g722.write_bytes(g722_encode(np.round(flite_utt.audio * 20000).astype(np.int16)))
    (spec,) = real_prompts.clip_specs({"x": "zzqx vvkq bbrt"})
    clip_id, err = real_prompts._make((spec, g722, tmp_path, load_config("small")))
    assert clip_id == spec.clip_id
    assert isinstance(err, str) and "PiperError" in err
    assert not list(tmp_path.glob("clips/*"))


def test_an_unknown_preset_is_refused_before_any_download(capsys) -> None:
    assert real_prompts.main(["/nonexistent/out", "--config", "no_such_preset"]) == 2
    assert "no_such_preset" in capsys.readouterr().err
