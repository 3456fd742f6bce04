"""Engine builder logic up to the TensorRT call: profiles, placeholders, cache keys, no-TRT."""

from __future__ import annotations

import argparse
import builtins
from pathlib import Path

import pytest

from a2f_actors.model_package.schema import TrtInfo
from a2f_actors.model_package.synthetic import make_regression_package
from deployments.cli.models_build import add_build_commands
from deployments.triton import engines, fixtures
from deployments.triton.repository import NetworkSource

REGRESSION_TRT = TrtInfo(
    trt_build_param={
        "batch": (
            "--minShapes=input:1x1x8320,emotion:1x1x26",
            "--maxShapes=input:{MAX_BATCH_SIZE}x1x8320,emotion:{MAX_BATCH_SIZE}x1x26",
            "--optShapes=input:{OPT_BATCH_SIZE}x1x8320,emotion:{OPT_BATCH_SIZE}x1x26",
        ),
        "mem": ("--memPoolSize=tacticSharedMem:0.046875",),
    },
    defaults={"MAX_BATCH_SIZE": 8, "OPT_BATCH_SIZE": 3},
)


def test_parse_shapes_reads_trtexec_lists() -> None:
    assert engines.parse_shapes("input:4x1x8320,emotion:4x1x26") == {
        "input": (4, 1, 8320),
        "emotion": (4, 1, 26),
    }
    with pytest.raises(ValueError, match="name:AxBxC"):
        engines.parse_shapes("4x1x8320")


def test_trt_info_placeholders_take_the_config_batches() -> None:
    profile = engines.profile_from_trt_info(REGRESSION_TRT, 1, 10, 128)
    assert profile.min["input"] == (1, 1, 8320)
    assert profile.opt["emotion"] == (10, 1, 26)
    assert profile.max["input"] == (128, 1, 8320)
    with pytest.raises(ValueError, match="min <= opt <= max"):
        engines.profile_from_trt_info(REGRESSION_TRT, 1, 200, 128)


def test_profile_from_onnx_puts_latent_batch_on_axis_2_and_a2e_lengths(tmp_path: Path) -> None:
    from deployments.triton.python_model.model import onnx_io

    diff = fixtures.save(fixtures.build_diffusion(out_dim=12), tmp_path / "d.onnx")
    profile = engines.profile_from_onnx(onnx_io(str(diff))[0], 1, 3, 8)
    assert profile.max["input_latents"] == (2, 2, 8, 256)
    assert profile.opt["noise"] == (3, 3, 60, 12)
    a2e = fixtures.save(fixtures.build_a2e(), tmp_path / "a.onnx")
    profile = engines.profile_from_onnx(onnx_io(str(a2e))[0], 1, 10, 128)
    assert (profile.min["input_values"], profile.max["input_values"]) == ((1, 5000), (128, 60000))


def test_cache_key_changes_with_every_component() -> None:
    base = engines.EngineKey("NVIDIA L4", "8.9", "10.3.0", "fp16", "abc")
    assert base.folder() == "nvidia_l4-sm89-trt10.3.0-fp16-abc"
    variants = [
        engines.EngineKey("NVIDIA A10G", "8.6", "10.3.0", "fp16", "abc"),
        engines.EngineKey("NVIDIA L4", "8.9", "10.4.0", "fp16", "abc"),
        engines.EngineKey("NVIDIA L4", "8.9", "10.3.0", "fp32", "abc"),
        engines.EngineKey("NVIDIA L4", "8.9", "10.3.0", "fp16", "abd"),
    ]
    assert len({base.folder(), *(v.folder() for v in variants)}) == 5
    p1 = engines.profile_from_trt_info(REGRESSION_TRT, 1, 10, 128)
    p2 = engines.profile_from_trt_info(REGRESSION_TRT, 1, 10, 64)
    assert p1.digest() == engines.profile_from_trt_info(REGRESSION_TRT, 1, 10, 128).digest()
    assert p1.digest() != p2.digest()


def test_plan_engine_names_diffusion_net_and_forces_a2e_fp32(tmp_path: Path) -> None:
    onnx = fixtures.save(fixtures.build_diffusion(), tmp_path / "d.onnx")
    req = engines.plan_engine(NetworkSource("diffusion", "multi", onnx), None, (1, 3, 8), "fp16")
    assert req.model == "a2f_diffusion_multi_net"
    a2e = fixtures.save(fixtures.build_a2e(), tmp_path / "a.onnx")
    with pytest.raises(ValueError, match="fp32 only"):
        engines.plan_engine(NetworkSource("a2e", "e", a2e), None, (1, 10, 128), "fp16")


def _hide_tensorrt(monkeypatch: pytest.MonkeyPatch, error: type[Exception]) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "tensorrt":
            raise error("libnvinfer.so.10: cannot open shared object file")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)


@pytest.mark.parametrize("error", [ImportError, OSError])
def test_missing_tensorrt_explains_the_fix(
    monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    _hide_tensorrt(monkeypatch, error)
    with pytest.raises(engines.TensorRTUnavailable) as info:
        engines.load_tensorrt()
    assert 'pip install "a2f-cluster[gpu]"' in str(info.value)
    assert "Triton container" in str(info.value)


def test_build_engines_command_exits_nonzero_without_tensorrt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _hide_tensorrt(monkeypatch, ImportError)
    make_regression_package(
        tmp_path / "mark", onnx=fixtures.build_regression(8, 4).SerializeToString()
    )
    parser = argparse.ArgumentParser()
    add_build_commands(parser.add_subparsers())
    args = parser.parse_args(
        ["build-engines", "--packages", str(tmp_path / "mark"), "--cache-dir", str(tmp_path)]
    )
    assert args.func(args) == 3
    assert "TensorRT is not available" in capsys.readouterr().out
