"""The emotion classifier: A2E contract, ONNX parity (dynamic B and L), training, package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from a2f_actors.model_package import A2EPackage, load_package  # noqa: E402
from a2f_train.nets.emotion import CLASSES, EmotionNet  # noqa: E402
from a2f_train.package.a2e import export_onnx, write_a2e_package  # noqa: E402
from a2f_train.train import emotion as em  # noqa: E402
from a2f_train.train.data_diffusion import ClipFeatures  # noqa: E402


@pytest.fixture(scope="module")
def net() -> EmotionNet:
    torch.manual_seed(0)
    return EmotionNet(width=8).eval()


def test_classes_follow_nvidia_order() -> None:
    assert CLASSES == ("angry", "disgust", "fear", "happy", "neutral", "sad")
    assert em.CORPUS_TO_CLASS["grief"] == em.CORPUS_TO_CLASS["sadness"] == "sad"
    assert "amazement" not in em.CORPUS_TO_CLASS


def test_onnx_parity_dynamic_batch_and_length(net: EmotionNet) -> None:
    session = ort.InferenceSession(export_onnx(net), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_values"]
    assert [o.name for o in session.get_outputs()] == ["output"]
    for batch, length in ((1, 5000), (3, 24000)):
        x = torch.randn(batch, length) * 0.1
        with torch.no_grad():
            ref = net(x).numpy()
        got = session.run(None, {"input_values": x.numpy()})[0]
        assert got.shape == (batch, 6)
        np.testing.assert_allclose(got, ref, atol=1e-4)


def _clip(name: str, level: float) -> ClipFeatures:
    mel = np.full((300 + 200, 40), level, np.float16)  # 100 padding frames each side
    rows = np.zeros((10, 68), np.float32)
    return ClipFeatures("c", mel, rows, rows[:, :4], np.zeros(10, np.float32), name, 2)


def test_training_learns_a_separable_toy_problem(net: EmotionNet) -> None:
    data = em.labelled([_clip("anger", 1.0), _clip("sadness", -1.0), _clip("pain", 0.0)])
    assert [y for _, y in data] == [0, 5]  # pain is dropped
    cfg = em.EmotionConfig(width=8, batch=4, steps=20, min_frames=20, max_frames=40)
    model = EmotionNet(cfg.width)
    summary = em.train(model, data, cfg, seed=0, log=lambda _msg: None)
    assert summary["steps"] == 20
    result = em.evaluate(model.eval(), data)
    assert result["accuracy"] == 1.0 and result["clips"] == 2


def test_package_writer(net: EmotionNet, tmp_path: Path) -> None:
    model_json = write_a2e_package(net, tmp_path / "ada_a2e_v1.0", summary={"steps": 1})
    pkg = load_package(model_json)
    assert isinstance(pkg, A2EPackage)
    assert tuple(pkg.network_info.emotions) == CLASSES
    corr = pkg.model_config.emotion_correspondence
    assert corr == {"angry": 1, "disgust": 3, "fear": 4, "happy": 6, "neutral": -1, "sad": 9}
    assert pkg.files.network.onnx is not None


def test_same_seed_same_weights(small_corpus: Path, tmp_path: Path) -> None:
    """The initial weights are seeded too, so a run is reproducible from its seed."""
    states = []
    for name in ("a", "b"):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(
            "width: 8\nbatch: 4\nsteps: 2\nminutes: 5\nmin_frames: 50\nmax_frames: 60\n"
            f"max_aug: 0\nlimit_clips: 4\nthreads: 1\ncheckpoint: {tmp_path / name}.pt\n"
        )
        em.run(small_corpus, tmp_path / f"m_{name}", cfg, seed=3)
        states.append(torch.load(tmp_path / f"{name}.pt", weights_only=False).state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
