from __future__ import annotations

import pathlib

import pytest
import yaml

from a2f_actors.config.loader import read_yaml, validate_data
from a2f_actors.config.migrate import migrate_text
from a2f_actors.errors import ConfigError
from a2f_actors.names import TONGUE_BLENDSHAPES

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("character", ["claire", "james", "mark"])
def test_migrate_equals_nvidia_v20_file_when_given_v13_stylization(character: str) -> None:
    name = f"{character}_stylization_config.yaml"
    result = migrate_text((FIXTURES / "nim_v1.3" / name).read_text(), name)
    assert result.changed and result.from_version == "1.3"
    expected = read_yaml(FIXTURES / "nim_v2.0" / name)
    assert yaml.safe_load(result.text) == expected
    validate_data("stylization", yaml.safe_load(result.text), name)


def test_migrate_upgrades_ids_and_removes_blendshape_ids_when_v13() -> None:
    text = (FIXTURES / "nim_v1.3" / "claire_stylization_config.yaml").read_text()
    result = migrate_text(text, "claire_stylization_config.yaml")
    a2f = result.data["a2f"]
    assert a2f["regression_model"] == {"inference_model_id": "claire_v2.3.1"}
    assert a2f["inference_type"] == "regression"
    assert "blendshape_id" not in a2f and "tongue_blendshape_id" not in a2f
    for table in ("weight_multipliers", "active_poses", "symmetry_poses"):
        assert list(a2f["blendshape_params"][table])[-16:] == list(TONGUE_BLENDSHAPES)
    assert any("claire_v2.3 -> a2f.regression_model" in n for n in result.notes)
    assert result.text.startswith("# Test fixture")  # leading comments kept


def test_migrate_keeps_unknown_model_id_when_not_in_upgrade_table() -> None:
    text = "a2f:\n  inference_model_id: bob_v1.0\n  blendshape_id: bob_topo\n"
    result = migrate_text(text, "bob_stylization_config.yaml")
    assert result.data["a2f"]["regression_model"]["inference_model_id"] == "bob_v1.0"
    assert "diffusion_model" not in result.data["a2f"]
    assert result.data["a2f"]["face_params"]["tongue_strength"] == 1.3


def test_migrate_equals_expected_file_when_given_v13_advanced() -> None:
    name = "advanced_config.yaml"
    result = migrate_text((FIXTURES / "nim_v1.3" / name).read_text(), name)
    assert result.kind == "advanced" and result.changed
    expected = read_yaml(FIXTURES / "advanced_config_migrated_expected.yaml")
    assert yaml.safe_load(result.text) == expected
    pipeline = list(result.data["pipeline_parameters"])
    assert pipeline.index("blendshape_streaming_fps") < pipeline.index("streammux")


def test_migrate_renames_log_level_when_deployment_uses_v13_name() -> None:
    result = migrate_text("logging:\n  log_level: off\n", "deployment_config.yaml")
    assert result.data["logging"]["log_level"] == "disabled"


@pytest.mark.parametrize(
    "name",
    [
        "mark_diffusion_stylization_config.yaml",
        "deployment_config.yaml",
        "advanced_config.yaml",
    ],
)
def test_migrate_is_noop_when_file_is_already_v20(name: str) -> None:
    text = (FIXTURES / "nim_v2.0" / name).read_text()
    result = migrate_text(text, name)
    assert not result.changed
    assert result.from_version == "2.0"
    assert result.text == ""


def test_migrate_reports_invalid_result_when_v13_value_is_out_of_range() -> None:
    text = "a2f:\n  inference_model_id: mark_v2.3\n  face_params:\n    skin_strength: 7\n"
    with pytest.raises(ConfigError, match=r"\(migrated\): a2f.face_params.skin_strength"):
        migrate_text(text, "mark_stylization_config.yaml")
