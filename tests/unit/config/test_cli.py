from __future__ import annotations

import json
import pathlib

import pytest
import yaml

from deployments.cli import main

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def test_show_prints_embedded_defaults_when_no_file_given(capsys) -> None:
    assert main(["config", "show"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert set(data) == {"stylization", "deployment", "advanced"}
    assert data["stylization"]["a2f"]["regression_model"]["inference_model_id"] == "ada_v2.3"
    assert data["advanced"]["pipeline_parameters"]["blendshape_streaming_fps"] == 90


def test_show_overlays_file_when_given_as_json(capsys, write) -> None:
    path = write("my_advanced.yaml", "trt_model_generation:\n  a2f:\n    maximum_shape: 16\n")
    assert main(["config", "show", "--advanced", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["advanced"]["trt_model_generation"]["a2f"]["maximum_shape"] == 16
    assert data["advanced"]["trt_model_generation"]["a2f"]["optimal_shape"] == 10


def test_show_fails_with_message_when_file_is_invalid(capsys, write) -> None:
    path = write("my_deployment.yaml", "common:\n  stream_number: 0\n")
    assert main(["config", "show", "--deployment", str(path)]) == 1
    assert "my_deployment.yaml: common.stream_number" in capsys.readouterr().err


def test_validate_prints_ok_when_every_file_is_valid(capsys) -> None:
    files = [str(p) for p in sorted((FIXTURES / "nim_v2.0").glob("*.yaml"))]
    assert main(["config", "validate", *files]) == 0
    out = capsys.readouterr().out
    assert out.count(": OK (") == len(files) == 8


def test_validate_exits_nonzero_and_prints_errors_when_one_file_is_bad(capsys, write) -> None:
    bad = write("bad_advanced.yaml", "resampling:\n  quality: 0\n")
    good = FIXTURES / "nim_v2.0" / "advanced_config.yaml"
    assert main(["config", "validate", str(good), str(bad)]) == 1
    captured = capsys.readouterr()
    assert "advanced_config.yaml: OK (advanced)" in captured.out
    assert "bad_advanced.yaml: resampling.quality" in captured.err
    assert "allowed range [1.0, 10.0]" in captured.err


def test_migrate_writes_v20_file_when_given_v13_file(capsys, tmp_path) -> None:
    out = tmp_path / "new.yaml"
    old = FIXTURES / "nim_v1.3" / "james_stylization_config.yaml"
    assert main(["config", "migrate", str(old), "-o", str(out)]) == 0
    assert "migrated v1.3 -> v2.0" in capsys.readouterr().out
    assert main(["config", "validate", "--kind", "stylization", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["a2f"]["regression_model"] == {
        "inference_model_id": "james_v2.3.1"
    }


def test_migrate_prints_message_and_writes_nothing_when_file_is_v20(capsys, tmp_path) -> None:
    out = tmp_path / "new.yaml"
    src = FIXTURES / "nim_v2.0" / "claire_stylization_config.yaml"
    assert main(["config", "migrate", str(src), "-o", str(out)]) == 0
    assert "already a NIM v2.0 stylization config" in capsys.readouterr().out
    assert not out.exists()


def test_migrate_fails_when_source_is_missing(capsys, tmp_path) -> None:
    assert main(["config", "migrate", str(tmp_path / "none.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_config_requires_subcommand_when_called_bare() -> None:
    with pytest.raises(SystemExit):
        main(["config"])
