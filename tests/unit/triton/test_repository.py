"""Repository builder: config.pbtxt parses and matches the ONNX, idempotence, stale entries."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from a2f_actors.model_package.synthetic import (
    make_a2e_package,
    make_diffusion_package,
    make_regression_package,
)
from deployments.cli.models_build import add_build_commands
from deployments.triton import fixtures, pbtxt
from deployments.triton.python_model.model import onnx_io
from deployments.triton.repository import (
    BuildOptions,
    NetworkSource,
    build_repository,
    model_name,
)

TARGETS = [
    BuildOptions(target="cpu"),
    BuildOptions(target="gpu", gpu_backend="tensorrt_plan"),
    BuildOptions(target="gpu", gpu_backend="onnxruntime_trt"),
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[NetworkSource]:
    root = tmp_path_factory.mktemp("onnx")
    return [
        NetworkSource(
            "regression", "t", fixtures.save(fixtures.build_regression(), root / "r.onnx")
        ),
        NetworkSource("diffusion", "t", fixtures.save(fixtures.build_diffusion(), root / "d.onnx")),
        NetworkSource("a2e", "t", fixtures.save(fixtures.build_a2e(), root / "a.onnx")),
    ]


def _parse(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def _dims(cfg: model_config_pb2.ModelConfig, section: str) -> dict[str, list[int]]:
    return {t.name: list(t.dims) for t in getattr(cfg, section)}


@pytest.mark.parametrize("opts", TARGETS, ids=lambda o: f"{o.target}-{o.gpu_backend}")
def test_config_pbtxt_parses_and_matches_onnx_names_and_dims(
    tmp_path: Path, sources: list[NetworkSource], opts: BuildOptions
) -> None:
    reports = build_repository(sources, tmp_path, opts)
    assert {r.status for r in reports} == {"created"}
    by_name = {model_name(s.kind, s.model_id): s for s in sources}
    configs = sorted(tmp_path.glob("*/config.pbtxt"))
    assert len(configs) == (4 if opts.target == "gpu" else 3)
    for config_path in configs:
        src = by_name[config_path.parent.name.removesuffix("_net")]
        nv_in, nv_out = onnx_io(str(src.onnx_path))
        cfg = _parse(config_path)
        assert cfg.name == config_path.parent.name
        ins, outs = _dims(cfg, "input"), _dims(cfg, "output")
        if cfg.max_batch_size == 0:  # GPU diffusion net: NVIDIA's full dims
            assert ins == nv_in and outs == nv_out
            continue
        latents = {"input_latents", "output_latents"}
        expect_in = {n: d[:2] + d[3:] if n in latents else d[1:] for n, d in nv_in.items()}
        expect_out = {n: d[:2] + d[3:] if n in latents else d[1:] for n, d in nv_out.items()}
        expect_in.pop("noise", None)
        assert ins == expect_in and outs == expect_out
        assert all(t.data_type == model_config_pb2.TYPE_FP32 for t in cfg.input)
        assert cfg.dynamic_batching.max_queue_delay_microseconds > 0
        assert max(cfg.dynamic_batching.preferred_batch_size) <= cfg.max_batch_size


def test_gpu_targets_select_backend_and_instance_kind(
    tmp_path: Path, sources: list[NetworkSource]
) -> None:
    build_repository(sources, tmp_path / "plan", TARGETS[1])
    build_repository(sources, tmp_path / "ort", TARGETS[2])
    plan = _parse(tmp_path / "plan" / "a2f_regression_t" / "config.pbtxt")
    assert (
        plan.platform == "tensorrt_plan"
        and plan.instance_group[0].kind == plan.instance_group[0].KIND_GPU
    )
    ort = _parse(tmp_path / "ort" / "a2f_regression_t" / "config.pbtxt")
    assert ort.backend == "onnxruntime"
    accel = ort.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert accel.name == "tensorrt" and accel.parameters["precision_mode"] == "FP16"
    assert (tmp_path / "ort" / "a2f_regression_t" / "1" / "model.onnx").resolve() == sources[
        0
    ].onnx_path
    wrapper = _parse(tmp_path / "ort" / "a2f_diffusion_t" / "config.pbtxt")
    assert (
        wrapper.backend == "python"
        and wrapper.parameters["net_model"].string_value == "a2f_diffusion_t_net"
    )


def test_cpu_model_references_package_onnx_and_noise_settings(
    tmp_path: Path, sources: list[NetworkSource]
) -> None:
    build_repository(sources, tmp_path, BuildOptions(constant_noise=False, noise_seed=7))
    cfg = _parse(tmp_path / "a2f_diffusion_t" / "config.pbtxt")
    assert cfg.backend == "python" and cfg.instance_group[0].kind == cfg.instance_group[0].KIND_CPU
    assert cfg.parameters["onnx_path"].string_value == str(sources[1].onnx_path)
    assert cfg.parameters["constant_noise"].string_value == "false"
    assert cfg.parameters["noise_seed"].string_value == "7"
    assert (tmp_path / "a2f_diffusion_t" / "1" / "model.py").is_file()
    assert not list(tmp_path.rglob("*.onnx")), "weights must be referenced, not copied"


def test_cpu_regression_model_runs_ort_8_rows_at_a_time_and_gpu_wrappers_do_not(
    tmp_path: Path, sources: list[NetworkSource]
) -> None:
    build_repository(sources, tmp_path / "cpu")
    reg = _parse(tmp_path / "cpu" / "a2f_regression_t" / "config.pbtxt")
    assert reg.parameters["run_rows"].string_value == "8"
    dif = _parse(tmp_path / "cpu" / "a2f_diffusion_t" / "config.pbtxt")
    assert "run_rows" not in dif.parameters  # 8 rows at most per request anyway
    build_repository(sources, tmp_path / "ort", TARGETS[2])
    wrapper = _parse(tmp_path / "ort" / "a2f_diffusion_t" / "config.pbtxt")
    assert "run_rows" not in wrapper.parameters  # a TensorRT engine gets the whole batch


def test_rebuild_is_idempotent(tmp_path: Path, sources: list[NetworkSource]) -> None:
    build_repository(sources, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    reports = build_repository(sources, tmp_path)
    assert {r.status for r in reports} == {"unchanged"}
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_changed_onnx_is_reported_stale_and_rebuilt_only_with_force(tmp_path: Path) -> None:
    onnx = fixtures.save(fixtures.build_regression(seed=1), tmp_path / "pkg" / "network.onnx")
    src = [NetworkSource("regression", "m", onnx)]
    build_repository(src, tmp_path / "repo")
    fixtures.save(fixtures.build_regression(seed=2), onnx)
    (report,) = build_repository(src, tmp_path / "repo")
    assert report.status == "stale" and "onnx_sha256" in report.detail
    prov = json.loads((tmp_path / "repo" / "a2f_regression_m" / "provenance.json").read_text())
    (report,) = build_repository(src, tmp_path / "repo", BuildOptions(force=True))
    assert report.status == "rebuilt"
    new = json.loads((tmp_path / "repo" / "a2f_regression_m" / "provenance.json").read_text())
    assert new["onnx_sha256"] != prov["onnx_sha256"]


def test_hand_edited_or_foreign_entry_is_stale(
    tmp_path: Path, sources: list[NetworkSource]
) -> None:
    build_repository(sources[:1], tmp_path)
    config = tmp_path / "a2f_regression_t" / "config.pbtxt"
    edited = config.read_text().replace("max_batch_size: 64", "max_batch_size: 32")
    assert edited != config.read_text()
    config.write_text(edited)
    (foreign := tmp_path / "a2e_t").mkdir()
    reports = {r.model: r for r in build_repository([sources[0], sources[2]], tmp_path)}
    assert reports["a2f_regression_t"].status == "stale"
    assert "config.pbtxt was modified" in reports["a2f_regression_t"].detail
    assert (
        reports["a2e_t"].status == "stale" and "without provenance.json" in reports["a2e_t"].detail
    )
    assert not (foreign / "config.pbtxt").exists()


def test_pbtxt_rejects_preferred_batch_above_max() -> None:
    tensor = (pbtxt.TensorConfig("x", (4,)),)
    with pytest.raises(ValueError, match="exceeds max_batch_size"):
        pbtxt.ModelConfig(
            "m", tensor, tensor, 8, backend="python", dynamic_batching=pbtxt.DynamicBatching((16,))
        )


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_build_commands(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_build_repo_command_on_synthetic_packages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_regression_package(
        tmp_path / "mark", onnx=fixtures.build_regression(8, 4).SerializeToString()
    )
    make_diffusion_package(
        tmp_path / "multi", onnx=fixtures.build_diffusion(3, 175).SerializeToString()
    )
    make_a2e_package(tmp_path / "emo", onnx=fixtures.build_a2e().SerializeToString())
    argv = ["build-repo", "--packages", str(tmp_path / "mark"), f"multi_v3={tmp_path / 'multi'}"]
    argv += [str(tmp_path / "emo"), "-o", str(tmp_path / "repo")]
    assert _run_cli(argv) == 0
    names = sorted(p.parent.name for p in (tmp_path / "repo").glob("*/config.pbtxt"))
    assert names == ["a2e_emo", "a2f_diffusion_multi_v3", "a2f_regression_mark"]
    assert _run_cli(argv) == 0 and "unchanged" in capsys.readouterr().out
    make_regression_package(
        tmp_path / "mark", onnx=fixtures.build_regression(8, 4, seed=5).SerializeToString()
    )
    assert _run_cli(argv) == 1 and "stale" in capsys.readouterr().out
    assert _run_cli([*argv, "--force"]) == 0


def test_build_repo_command_reports_bad_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        _run_cli(["build-repo", "--packages", str(tmp_path / "missing"), "-o", str(tmp_path)]) == 2
    )
    assert "error:" in capsys.readouterr().out
