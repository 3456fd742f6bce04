from __future__ import annotations

import pathlib

import pytest

from a2f_actors.config.loader import default_data, load_file, validate_data
from a2f_actors.config.stylization import BlendshapeParamsStylization, StylizationConfig
from a2f_actors.errors import ConfigError
from a2f_actors.names import BLENDSHAPES

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
NIM_STYLIZATION = sorted((FIXTURES / "nim_v2.0").glob("*stylization_config.yaml"))


def test_fixture_list_has_six_nvidia_stylization_files_when_globbed() -> None:
    assert len(NIM_STYLIZATION) == 6


@pytest.mark.parametrize("path", NIM_STYLIZATION, ids=lambda p: p.name)
def test_stylization_loads_unchanged_when_given_nvidia_v20_file(path: pathlib.Path) -> None:
    kind, cfg = load_file(path)
    assert kind == "stylization"
    character = path.name.split("_")[0]
    assert cfg.a2f.diffusion_model.identity == character
    expected_type = "diffusion" if "diffusion" in path.name else "regression"
    assert cfg.a2f.inference_type == expected_type
    assert len(cfg.a2f.blendshape_params.weight_multipliers) == 68


def test_stylization_keeps_per_character_face_params_when_loading_mark() -> None:
    _, cfg = load_file(FIXTURES / "nim_v2.0" / "mark_stylization_config.yaml")
    face = cfg.a2f.face_params.sdk_overrides()
    assert face["input_strength"] == 1.3
    assert face["lip_open_offset"] == -0.03  # lip_close_offset -> SDK lip_open_offset
    assert face["eyelid_open_offset"] == 0.06
    assert cfg.a2f.model_id == "mark_v2.3"


def test_stylization_model_id_is_diffusion_id_when_inference_type_is_diffusion() -> None:
    _, cfg = load_file(FIXTURES / "nim_v2.0" / "claire_diffusion_stylization_config.yaml")
    assert cfg.a2f.model_id == "multi_v3.2"


def test_embedded_defaults_equal_model_defaults_when_loaded() -> None:
    loaded = validate_data("stylization", {}, "defaults")
    assert loaded == StylizationConfig()
    assert loaded.a2f.regression_model.inference_model_id == "ada_v2.3"
    assert loaded.a2f.diffusion_model.inference_model_id == "ada_multi_v3.0"
    assert loaded.a2f.diffusion_model.identity == "ada"
    assert loaded.a2e.enabled is False  # the shipped A2E model is at chance (model card)
    assert default_data("stylization")["a2f"]["face_params"]["skin_strength"] is None


def test_blendshape_map_is_completed_with_nim_defaults_when_partial() -> None:
    bs = BlendshapeParamsStylization(weight_multipliers={"JawOpen": 1.5})
    assert list(bs.weight_multipliers) == list(BLENDSHAPES)
    assert bs.weight_multipliers["JawOpen"] == 1.5
    assert bs.weight_multipliers["TongueTipUp"] == 1.0
    assert bs.active_poses["EyeLookInLeft"] == 0
    assert bs.active_poses["JawOpen"] == 1
    assert bs.symmetry_poses["MouthSmileRight"] == 2
    assert bs.cancel_poses["JawOpen"] == -1


def test_stylization_error_names_closest_blendshape_when_name_is_misspelt() -> None:
    data = {"a2f": {"blendshape_params": {"weight_offsets": {"JawOpn": 0.1}}}}
    with pytest.raises(ConfigError) as exc:
        validate_data("stylization", data, "mark_stylization_config.yaml")
    msg = str(exc.value)
    assert "mark_stylization_config.yaml: a2f.blendshape_params.weight_offsets" in msg
    assert "'JawOpn'" in msg
    assert "did you mean 'JawOpen'" in msg


def test_stylization_error_prints_path_value_and_range_when_multiplier_too_large() -> None:
    data = {"a2f": {"blendshape_params": {"weight_multipliers": {"JawOpen": 50}}}}
    with pytest.raises(ConfigError) as exc:
        validate_data("stylization", data, "s.yaml")
    msg = str(exc.value)
    assert "s.yaml: a2f.blendshape_params.weight_multipliers.JawOpen" in msg
    assert "got 50" in msg
    assert "allowed range [0.0, 10.0]" in msg
    assert "fix: set a2f.blendshape_params.weight_multipliers.JawOpen" in msg


def test_stylization_error_prints_sdk_range_when_face_param_out_of_range() -> None:
    data = {"a2f": {"face_params": {"lip_close_offset": 0.5}}}
    with pytest.raises(ConfigError, match=r"lip_close_offset.*got 0.5.*\[-0.2, 0.2\]"):
        validate_data("stylization", data, "s.yaml")


def test_stylization_error_lists_choices_when_inference_type_unknown() -> None:
    data = {"a2f": {"inference_type": "gan"}}
    with pytest.raises(ConfigError, match=r"allowed values: regression, diffusion"):
        validate_data("stylization", data, "s.yaml")


@pytest.mark.parametrize("bad_id", ["Claire_v2.3", "claire", "claire_v2.3.1.2.3", "x v1"])
def test_stylization_rejects_model_id_when_shape_is_wrong(bad_id: str) -> None:
    data = {"a2f": {"regression_model": {"inference_model_id": bad_id}}}
    with pytest.raises(ConfigError, match=r"a2f.regression_model.inference_model_id"):
        validate_data("stylization", data, "s.yaml")


def test_stylization_accepts_unknown_model_id_when_shape_is_right() -> None:
    data = {"a2f": {"regression_model": {"inference_model_id": "bob_v1.0"}}}
    assert validate_data("stylization", data, "s.yaml").a2f.model_id == "bob_v1.0"


def test_stylization_rejects_identity_when_not_in_known_diffusion_model() -> None:
    data = {"a2f": {"diffusion_model": {"inference_model_id": "multi_v3.2", "identity": "ada"}}}
    with pytest.raises(ConfigError, match=r"identity 'ada'.*claire, james, mark"):
        validate_data("stylization", data, "s.yaml")


def test_stylization_rejects_symmetry_group_when_three_poses_share_it() -> None:
    data = {"a2f": {"blendshape_params": {"symmetry_poses": {"JawOpen": 2}}}}
    with pytest.raises(ConfigError, match=r"group 2 is used by 3 pose"):
        validate_data("stylization", data, "s.yaml")


def test_stylization_error_suggests_key_when_key_is_misspelt() -> None:
    data = {"a2e": {"post_processing_params": {"emotion_strenght": 0.5}}}
    with pytest.raises(ConfigError) as exc:
        validate_data("stylization", data, "s.yaml")
    assert "a2e.post_processing_params.emotion_strenght" in str(exc.value)
    assert "did you mean 'emotion_strength'" in str(exc.value)


def test_stylization_fills_emotions_and_rejects_unknown_emotion_when_partial() -> None:
    cfg = validate_data("stylization", {"default_beginning_emotions": {"joy": 0.4}}, "s.yaml")
    assert cfg.default_beginning_emotions["joy"] == 0.4
    assert cfg.default_beginning_emotions["anger"] == 0.0
    with pytest.raises(ConfigError, match=r"did you mean 'joy'"):
        validate_data("stylization", {"default_beginning_emotions": {"Joyy": 0.4}}, "s.yaml")


def test_stylization_asks_for_migration_when_file_is_v13() -> None:
    with pytest.raises(ConfigError, match=r"NIM v1.3 stylization config.*a2f config migrate"):
        load_file(FIXTURES / "nim_v1.3" / "claire_stylization_config.yaml")


def test_stylization_reports_every_problem_when_several_keys_are_bad() -> None:
    data = {"a2e": {"live_transition_time": -1}, "a2f": {"face_params": {"skin_strength": 9}}}
    with pytest.raises(ConfigError) as exc:
        validate_data("stylization", data, "s.yaml")
    assert "2 invalid setting(s)" in str(exc.value)
