from __future__ import annotations

import numpy as np
import pytest

from a2f_actors.config.runtime import apply_runtime, resolve_stream_params, stylized_params
from a2f_actors.config.stylization import StylizationConfig
from a2f_actors.errors import ConfigError
from a2f_actors.names import A2F_EMOTIONS, BLENDSHAPES
from a2f_actors.params import BlendshapeOutputParams, EmotionPostParams, FaceParams

MARK_MODEL_CONFIG = {
    "config": {"input_strength": 1.3, "lower_face_strength": 1.4, "skin_strength": 1.1}
    | {"source_shot": "cp1_neutral", "source_frame": 10}
}


def _styl(**face: float) -> StylizationConfig:
    return StylizationConfig.model_validate({"a2f": {"face_params": face}})


def test_layers_apply_in_order_when_every_layer_sets_a_value() -> None:
    header = {"face_params": {"float_params": {"skinStrength": 0.5}}}
    styl = _styl(skin_strength=0.8, lower_face_strength=1.0)
    p = resolve_stream_params(styl, header, MARK_MODEL_CONFIG)
    assert p.face.skin_strength == 0.5  # runtime beats stylization
    assert p.face.lower_face_strength == 1.0  # stylization beats model_config.json
    assert p.face.input_strength == 1.3  # model_config.json beats SDK default
    assert p.face.blink_strength == FaceParams().blink_strength  # SDK default


def test_stylization_names_map_to_sdk_names_when_offsets_are_set() -> None:
    p = stylized_params(_styl(eyelid_offset=0.1, lip_close_offset=-0.05))
    assert p.face.eyelid_open_offset == 0.1
    assert p.face.lip_open_offset == -0.05


def test_runtime_accepts_float32_value_when_it_rounds_just_past_the_bound() -> None:
    f32 = float(np.float32(0.1))
    assert f32 > 0.1
    header = {"face_params": {"float_params": {"upperFaceSmoothing": f32}}}
    p = resolve_stream_params(StylizationConfig(), header)
    assert p.face.upper_face_smoothing == 0.1


def test_runtime_error_names_field_and_range_when_value_out_of_range() -> None:
    header = {"face_params": {"float_params": {"lipOpenOffset": 0.5}}}
    with pytest.raises(ConfigError, match=r"face_params.float_params: lipOpenOffset=0.5.*\[-0.2"):
        resolve_stream_params(StylizationConfig(), header)


def test_runtime_error_suggests_name_when_float_param_is_misspelt() -> None:
    header = {"face_params": {"float_params": {"skinStrenght": 1.0}}}
    with pytest.raises(ConfigError, match=r"did you mean 'skinStrength'"):
        resolve_stream_params(StylizationConfig(), header)


def test_runtime_rejects_snake_name_when_sent_in_float_params() -> None:
    header = {"face_params": {"float_params": {"skin_strength": 1.0}}}
    with pytest.raises(ConfigError, match=r"did you mean 'skinStrength'"):
        resolve_stream_params(StylizationConfig(), header)


def test_runtime_rejects_integer_params_when_not_empty() -> None:
    header = {"face_params": {"integer_params": {"x": 1}}}
    with pytest.raises(ConfigError, match=r"integer_params: no keys are defined"):
        resolve_stream_params(StylizationConfig(), header)


def test_runtime_blendshape_maps_override_per_name_when_partial() -> None:
    styl = StylizationConfig.model_validate(
        {"a2f": {"blendshape_params": {"weight_multipliers": {"JawOpen": 0.5, "CheekPuff": 0.2}}}}
    )
    header = {
        "blendshape_params": {
            "bs_weight_multipliers": {"JawOpen": 2.0},
            "bs_weight_offsets": {"TongueTipUp": 0.1},
            "enable_clamping_bs_weight": True,
        }
    }
    bs = resolve_stream_params(styl, header).blendshapes
    assert bs.multipliers[BLENDSHAPES.index("JawOpen")] == 2.0
    assert bs.multipliers[BLENDSHAPES.index("CheekPuff")] == 0.2
    assert bs.offsets[BLENDSHAPES.index("TongueTipUp")] == 0.1
    assert bs.enable_clamping is True
    assert bs.active_poses[BLENDSHAPES.index("EyeLookUpLeft")] == 0


def test_runtime_error_names_closest_blendshape_when_name_unknown() -> None:
    header = {"blendshape_params": {"bs_weight_offsets": {"jawOpen": 0.1}}}
    with pytest.raises(ConfigError, match=r"blendshape_params.offsets: .*did you mean 'JawOpen'"):
        resolve_stream_params(StylizationConfig(), header)


def test_runtime_emotion_params_override_stylization_when_given() -> None:
    styl = StylizationConfig.model_validate({"default_beginning_emotions": {"grief": 0.3}})
    header = {
        "emotion_post_processing_params": {"max_emotions": 2, "emotion_contrast": 1.5},
        "emotion_params": {"live_transition_time": 0.2, "beginning_emotion": {"joy": 0.9}},
    }
    e = resolve_stream_params(styl, header).emotion
    assert e.max_emotions == 2
    assert e.emotion_contrast == 1.5
    assert e.live_transition_time == pytest.approx(0.2)
    begin = dict(zip(A2F_EMOTIONS, e.beginning_emotion, strict=True))
    assert begin["joy"] == pytest.approx(0.9)
    assert begin["grief"] == 0.3


def test_runtime_rejects_emotion_contrast_when_below_documented_minimum() -> None:
    header = {"emotion_post_processing_params": {"emotion_contrast": 0.1}}
    with pytest.raises(ConfigError, match=r"emotion_contrast=0.1 .*\[0.3, 3.0\]"):
        resolve_stream_params(StylizationConfig(), header)


def test_runtime_rejects_unknown_emotion_when_in_beginning_emotion() -> None:
    header = {"emotion_params": {"beginning_emotion": {"happy": 0.5}}}
    with pytest.raises(ConfigError, match=r"unknown emotion 'happy'"):
        resolve_stream_params(StylizationConfig(), header)


def test_runtime_rejects_unknown_section_when_header_has_camel_case_keys() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'face_params'"):
        resolve_stream_params(StylizationConfig(), {"faceParams": {}})


def test_runtime_returns_base_unchanged_when_header_is_empty() -> None:
    base = stylized_params(StylizationConfig())
    assert apply_runtime(base, {}) is base
    assert apply_runtime(base, {"audio_header": {"samples_per_second": 16000}}) == base


def test_a2e_model_config_feeds_fixed_dt_when_given() -> None:
    a2e = {"post_processing_config": {"fixed_dt": 0.05, "transition_smoothing": 0.9}}
    p = stylized_params(StylizationConfig(), a2e_model_config=a2e)
    assert p.emotion.fixed_dt == 0.05
    assert p.emotion.live_transition_time == 0.5  # stylization beats the model file
    assert p.emotion.enable_preferred_emotion is True


def test_stylized_params_disable_a2e_when_stylization_says_so() -> None:
    styl = StylizationConfig.model_validate({"a2e": {"enabled": False}})
    assert stylized_params(styl).a2e_enabled is False


def test_blendshape_output_params_reject_wrong_length_when_built_directly() -> None:
    with pytest.raises(ConfigError, match=r"needs 68"):
        BlendshapeOutputParams(multipliers=(1.0,) * 52)


def test_emotion_post_params_reject_max_emotions_when_not_integer() -> None:
    with pytest.raises(ConfigError, match=r"must be an integer"):
        EmotionPostParams(max_emotions=2.5)
