from __future__ import annotations

import io
import json
import wave

import numpy as np
import pytest
from pydantic import ValidationError

from a2f_train.corpus import build, clipgen, config
from deployments.cli import main


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    cfg = config.load_config("small").model_copy(update={"geometry": "off"})
    out = tmp_path_factory.mktemp("corpus")
    result = build.build(cfg, out, workers=1, progress_stream=io.StringIO())
    return cfg, out, result


def test_small_preset_builds_end_to_end(small):
    cfg, out, result = small
    assert result.written == cfg.clips and not result.failed
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == cfg.clips
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == cfg.clips and summary["hours"] > 0
    assert set(summary["hours_per_engine"]) == {"espeak", "flite"}


def test_clip_files_follow_the_format(small):
    _, out, _ = small
    row = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    with wave.open(str(out / row["wav"])) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (16000, 2, 1)
        n = w.getnframes()
    with np.load(out / row["npz"]) as d:
        assert set(d.files) >= clipgen.NPZ_KEYS
        f30, f60 = int(np.ceil(n * 30 / 16000)), int(np.ceil(n * 60 / 16000))
        assert d["weights_30"].shape == (f30, 68) and d["weights_60"].shape == (f60, 68)
        assert d["eyes_30"].shape == (f30, 4) and d["eyes_60"].shape == (f60, 4)
        np.testing.assert_array_equal(d["weights_60"][::2], d["weights_30"])
        assert d["emotion"].shape == (10,)
        assert d["phone_label"][0] == "sil" and d["phone_label"][-1] == "sil"
        assert d["phone_end"][-1] == pytest.approx(n / 16000)
        meta = json.loads(str(d["meta"]))
    assert meta["split"] in ("train", "val", "test") and len(meta["aug"]) == 1
    assert (out / meta["aug"][0]["wav"]).stat().st_size == 44 + 2 * n


def test_resume_writes_nothing_new(small):
    cfg, out, _ = small
    before = {p: p.stat().st_mtime_ns for p in (out / "clips").iterdir()}
    again = build.build(cfg, out, workers=1, progress_stream=io.StringIO())
    assert again.written == 0 and again.skipped == cfg.clips
    assert {p: p.stat().st_mtime_ns for p in (out / "clips").iterdir()} == before


def test_resume_redoes_a_damaged_clip(small, tmp_path):
    cfg, out, _ = small
    victim = sorted((out / "clips").glob("*.npz"))[0]
    victim.write_bytes(b"truncated")
    again = build.build(cfg, out, workers=1, progress_stream=io.StringIO())
    assert again.written == 1 and again.skipped == cfg.clips - 1


def test_plan_is_deterministic_and_prefix_stable():
    cfg = config.load_config("small")
    a = build.plan_clips(cfg)
    assert a == build.plan_clips(cfg)
    longer = build.plan_clips(cfg.model_copy(update={"clips": cfg.clips + 4}))
    assert longer[: cfg.clips] == a
    assert build.plan_clips(cfg.model_copy(update={"seed": 1})) != a


def test_other_config_in_same_dir_is_refused(small):
    cfg, out, _ = small
    with pytest.raises(ValueError, match="another config"):
        build.build(cfg.model_copy(update={"seed": 7}), out, workers=1)


def test_config_forbids_unknown_keys_and_loads_presets(tmp_path):
    assert config.load_config("full").clips >= 2000
    bad = tmp_path / "bad.yaml"
    bad.write_text("clips: 3\nbogus: 1\n")
    with pytest.raises(ValidationError):
        config.load_config(bad)
    with pytest.raises(FileNotFoundError, match="presets"):
        config.load_config("nope")


def test_cli_build_and_info(tmp_path, capsys):
    out = tmp_path / "c"
    args = [
        "data",
        "build",
        "--config",
        "small",
        "--out",
        str(out),
        "--workers",
        "2",
        "--limit",
        "2",
        "--geometry",
        "off",
    ]
    assert main(args) == 0
    assert "2 clips" in capsys.readouterr().out
    assert main(["data", "info", str(out)]) == 0
    assert "hours per engine" in capsys.readouterr().out
    assert main(["data", "info", str(tmp_path / "missing")]) == 2
