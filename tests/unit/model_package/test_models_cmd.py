"""`a2f models inspect` through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployments.cli import main


def test_models_inspect_prints_summary_when_package_is_valid(
    regression_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "inspect", str(regression_dir)]) == 0
    out = capsys.readouterr().out
    assert "regression" in out and "mark" in out and "validation:  OK" in out
    assert "poses=52" in out and "modelDataPath" in out


def test_models_inspect_prints_json_when_flag_given(
    diffusion_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "inspect", str(diffusion_dir / "model.json"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["validation"] == "OK"
    assert summary["identities"] == ["Claire", "James", "Mark"]
    assert summary["blendshapes"]["James"]["tongue"]["poses"] == 16
    assert summary["files"]["modelDataPaths[2]"].endswith("model_data_Mark.npz")


def test_models_inspect_reports_a2e_when_package_is_a2e(
    a2e_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "inspect", str(a2e_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["type"] == "a2e" and summary["emotions"][3] == "happy"


def test_models_inspect_exits_nonzero_when_package_is_invalid(
    regression_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (regression_dir / "bs_skin.npz").unlink()
    assert main(["models", "inspect", str(regression_dir)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "blendshapePaths.skin.data" in out


def test_models_inspect_json_carries_error_when_package_is_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "inspect", str(tmp_path), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["validation"] == "FAILED" and "not found" in summary["error"]


def test_models_group_prints_help_when_no_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 2
    assert "inspect" in capsys.readouterr().out
