"""Frame time codes and BlendshapeFrame records (a2f_actors.framing)."""

from __future__ import annotations

import numpy as np
import pytest

from a2f_actors import framing as fr
from a2f_actors.xp import backend

BACKENDS = ["numpy", pytest.param("cupy", marks=pytest.mark.requires_gpu)]


@pytest.fixture(params=BACKENDS)
def xp(request: pytest.FixtureRequest):
    return backend(request.param)


def test_regression_time_codes_are_i_over_fps_when_fps_is_rational() -> None:
    tc = fr.regression_time_codes([0, 1, 30, 1001], 30000, 1001)
    for i, t in zip([0, 1, 30, 1001], tc, strict=True):
        assert t == pytest.approx(i * 1001 / 30000, abs=1e-12)
    assert fr.regression_time_codes([3], 30).tolist() == [0.1]


def test_regression_time_codes_reject_fps_when_not_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        fr.regression_time_codes([0], 0)


def test_diffusion_time_codes_are_native_when_output_is_60_fps() -> None:
    keep, out, tc = fr.diffusion_time_codes(np.arange(5))
    assert keep.all() and out.tolist() == [0, 1, 2, 3, 4]
    assert tc.tolist() == pytest.approx([i / 60 for i in range(5)])


def test_diffusion_keeps_even_native_frames_when_output_is_30_fps() -> None:
    keep, out, tc = fr.diffusion_time_codes(np.arange(3, 9), output_fps=30)
    assert keep.tolist() == [False, True, False, True, False, True]
    assert out.tolist() == [2, 3, 4]
    assert tc.tolist() == pytest.approx([2 / 30, 3 / 30, 4 / 30])
    with pytest.raises(ValueError, match="output_fps"):
        fr.diffusion_output_frames([0], 24)


def test_frames_are_built_from_arrays_when_optional_parts_are_given(xp) -> None:
    n = 3
    weights = xp.asarray(np.random.default_rng(0).random((n, 68)).astype(np.float32))
    jaws = xp.asarray(np.tile(np.eye(4, dtype=np.float32), (n, 1, 1)))
    frames = fr.frames_from_arrays(
        xp.arange(n), xp.asarray([0.0, 1 / 30, 2 / 30]), weights, jaws,
        xp.zeros((n, 4)), xp.ones((n, 10)),
    )  # fmt: skip
    assert [f.frame_index for f in frames] == [0, 1, 2]
    assert frames[2].time_code_s == pytest.approx(2 / 30)
    assert frames[1].weights.dtype == np.float32 and frames[1].weights.shape == (68,)
    assert frames[0].jaw_transform.shape == (4, 4) and frames[0].emotion.tolist() == [1.0] * 10
    with pytest.raises(ValueError, match="read-only"):
        frames[0].weights[0] = 5.0


def test_frame_has_no_optional_parts_when_only_weights_are_given() -> None:
    frame = fr.BlendshapeFrame(0, 0.0, np.zeros(68))
    assert frame.jaw_transform is None and frame.eye_rotations is None and frame.emotion is None
    with pytest.raises(AttributeError):
        frame.frame_index = 3  # type: ignore[misc]


def test_frame_rejects_weights_when_shape_is_wrong() -> None:
    with pytest.raises(ValueError, match="weights"):
        fr.BlendshapeFrame(0, 0.0, np.zeros(52))
    with pytest.raises(ValueError, match="eye_rotations"):
        fr.frames_from_arrays([0], [0.0], np.zeros((1, 68)), eye_rotations=np.zeros((2, 4)))


def test_read_only_float32_rows_are_shared_and_writable_inputs_copied() -> None:
    BlendshapeFrame, NUM_BLENDSHAPES = fr.BlendshapeFrame, fr.NUM_BLENDSHAPES
    block = np.array(np.arange(2 * NUM_BLENDSHAPES, dtype=np.float32).reshape(2, -1))
    block.setflags(write=False)
    shared = BlendshapeFrame(0, 0.0, block[1])
    assert np.shares_memory(shared.weights, block)  # frozen already: no per-frame copy
    writable = np.ones(NUM_BLENDSHAPES, np.float32)
    copied = BlendshapeFrame(0, 0.0, writable)
    writable[:] = 5.0
    assert not np.shares_memory(copied.weights, writable)
    assert float(copied.weights[0]) == 1.0 and not copied.weights.flags.writeable
