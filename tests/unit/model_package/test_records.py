"""Behaviour of the records: emotion DB rows, trtexec args, param conversion, summary."""

from __future__ import annotations

import numpy as np
import pytest

from a2f_actors.errors import ModelPackageError
from a2f_actors.model_package import ImplicitEmotionDB, TrtInfo, summarize
from a2f_actors.model_package.synthetic import (
    build_a2e_package,
    build_diffusion_package,
    build_regression_package,
)


def _db() -> ImplicitEmotionDB:
    return ImplicitEmotionDB(
        emo_db=np.arange(5 * 16, dtype=np.float32).reshape(5, 16),
        names=("a", "b"),
        start=(0, 2),
        size=(2, 3),
    )


def test_emotion_db_row_returns_start_plus_frame_when_shot_known() -> None:
    np.testing.assert_array_equal(_db().row("b", 1), _db().emo_db[3])


def test_emotion_db_row_raises_when_shot_unknown() -> None:
    with pytest.raises(ModelPackageError, match="no shot 'c'"):
        _db().row("c", 0)


def test_emotion_db_row_raises_when_frame_outside_shot() -> None:
    with pytest.raises(ModelPackageError, match=r"frame 2 of shot 'a' is outside \[0, 1\]"):
        _db().row("a", 2)


def test_trt_info_fills_placeholders_when_defaults_and_overrides_given() -> None:
    info = TrtInfo(
        trt_build_param={"batch": ("--maxShapes=input:{MAX_BATCH_SIZE}x1x8320",)},
        defaults={"MAX_BATCH_SIZE": 8},
    )
    assert info.trtexec_args() == ["--maxShapes=input:8x1x8320"]
    assert info.trtexec_args(MAX_BATCH_SIZE=32) == ["--maxShapes=input:32x1x8320"]


def test_trt_info_raises_when_placeholder_has_no_value() -> None:
    info = TrtInfo(trt_build_param={"batch": ("--optShapes=input:{OPT_BATCH_SIZE}x1",)})
    with pytest.raises(ModelPackageError, match="OPT_BATCH_SIZE"):
        info.trtexec_args()


def test_synthetic_trt_info_uses_network_dims_when_regression() -> None:
    args = build_regression_package(num_shapes_skin=3).trt_info.trtexec_args()
    assert "--minShapes=input:1x1x8320,emotion:1x1x26" in args
    assert "--maxShapes=input:8x1x8320,emotion:8x1x26" in args


def test_synthetic_trt_info_uses_frame_size_when_diffusion() -> None:
    package = build_diffusion_package(num_verts_skin=10, num_verts_tongue=2)
    args = package.trt_info.trtexec_args(OPT_BATCH_SIZE=2)
    frame = 30 + 6 + 15 + 4
    assert any(a.startswith("--optShapes=window:2x16000,identity:2x3") for a in args)
    assert any(a.endswith(f"noise:2x3x60x{frame}") for a in args)


def test_a2e_config_converts_to_emotion_post_params_when_defaults() -> None:
    params = build_a2e_package().model_config.emotion_post_params()
    assert params.live_transition_time == 0.5
    assert params.emotion_correspondence["neutral"] == -1


def test_summarize_lists_identities_and_blendshape_counts_when_diffusion() -> None:
    summary = summarize(build_diffusion_package(identities=("A", "B"), num_verts_skin=9))
    assert summary["type"] == "diffusion"
    assert summary["identities"] == ["A", "B"]
    assert summary["blendshapes"]["B"]["skin"]["poses"] == 52
    assert summary["blendshapes"]["B"]["skin"]["active"] == 43
    assert summary["dims"]["skin_size"] == 27
    assert "files" not in summary  # built in memory, not read from disk
