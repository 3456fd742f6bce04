"""Training smoke test and package writer: a few steps on the small corpus -> loadable package."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def package(small_corpus, tmp_path_factory):
    from a2f_train.train import regression

    root = tmp_path_factory.mktemp("train")
    preset = regression.PRESETS / "regression_smoke.yaml"
    cfg = root / "smoke.yaml"
    text = preset.read_text() + f"work_dir: {root / 'work'}\n"
    cfg.write_text(text)
    return root, regression.run(small_corpus, root / "models", cfg, seed=0)


def test_training_writes_log_checkpoint_and_package(package):
    root, pkg = package
    assert pkg == root / "models" / "ada_v2.3"
    log = (root / "work" / "train.log").read_text()
    assert "[train] step 4/4" in log and "[val] step 4" in log and "ETA" in log
    assert (root / "work" / "best.pt").is_file()
    summary = json.loads((root / "work" / "summary.json").read_text())
    assert np.isfinite(summary["best_val_score"])


def test_package_loads_and_matches_the_contract(package):
    from a2f_actors.model_package import RegressionPackage, load_package

    _, pkg_dir = package
    pkg = load_package(pkg_dir)
    assert isinstance(pkg, RegressionPackage)
    info = pkg.network_info
    assert (info.audio_params.buffer_len, info.audio_params.buffer_ofs) == (8320, 4160)
    assert pkg.model_config.source_shot == "ada_neutral"
    assert pkg.implicit_emotion().shape == (16,)
    assert len(pkg.emotion_db.names) == 11
    files = {p.name for p in pkg_dir.iterdir()}
    assert {"network.onnx", "trt_info.json", "model_data.npz", "bs_skin.npz"} <= files


def test_package_runs_through_the_offline_pipeline(package):
    from a2f_train.evaluation.package_runner import package_animator

    _, pkg_dir = package
    animate, _ = package_animator(pkg_dir)
    track = animate(np.zeros(16000, np.float32))
    assert track.weights.shape == (30, 68)
    assert np.isfinite(track.weights).all()


def test_package_is_deterministic_to_rewrite(package, tmp_path):
    from a2f_actors.model_package import load_package, write_package

    _, pkg_dir = package
    copy = tmp_path / "copy"
    write_package(load_package(pkg_dir), copy)
    for name in ("model_data.npz", "implicit_emo_db.npz", "model_config.json"):
        assert (copy / name).read_bytes() == (pkg_dir / name).read_bytes()
    shutil.rmtree(copy)


def test_smoke_preset_is_tiny():
    from a2f_train.train.regression import PRESETS, TrainConfig

    cfg = TrainConfig.load(Path(PRESETS / "regression_smoke.yaml"))
    assert cfg.steps <= 10 and cfg.batch <= 8


def test_training_block_is_for_training_only(small_corpus, tmp_path, monkeypatch):
    """``autocorr_block`` changes the training arithmetic only: the package uses the default."""
    from a2f_train.train import regression

    seen = []
    real_export = regression.export_onnx

    def export(net):
        seen.append(net.autocorr_block)
        return real_export(net)

    monkeypatch.setattr(regression, "export_onnx", export)
    cfg = tmp_path / "smoke.yaml"
    text = (regression.PRESETS / "regression_smoke.yaml").read_text()
    cfg.write_text(text + f"work_dir: {tmp_path / 'work'}\nautocorr_block: 32\n")
    regression.run(small_corpus, tmp_path / "models", cfg, seed=0)
    assert seen == [None]


def test_negative_training_block_is_refused():
    from a2f_train.train.regression import TrainConfig

    with pytest.raises(ValueError, match="autocorr_block=-1"):
        TrainConfig(autocorr_block=-1)


def test_a_binding_time_budget_is_announced(tmp_path):
    """Reruns are bit-identical only while the budget leaves the step count alone: say when not."""
    from a2f_train.train.regression import TrainConfig, _budget_steps

    for budget, cut in ((1000.0, False), (1.0, True)):
        cfg, log = TrainConfig(steps=100, time_budget_s=budget), tmp_path / f"{budget}.log"
        _budget_steps(cfg, 30, 3.0, log)  # 0.1 s per step
        assert (cfg.steps < 100) is cut
        assert ("WARNING" in log.read_text()) is cut
