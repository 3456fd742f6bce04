"""Stage 6: frame time codes and the typed per-frame output record (no I/O).

Time codes (seconds from the start of the clip, the NIM ``time_code``):

* Regression runs at any rational fps ``fps_num / fps_den``; frame ``i`` is centred on audio
  sample ``floor(i * 16000 * fps_den / fps_num)`` (a2f_reference.md section 2.2), so its time
  code is ``i * fps_den / fps_num`` seconds.
* Diffusion is natively 60 fps: native frame ``f`` is at ``f / 60`` s. With
  ``output_fps=30`` we emit every other native frame (the even ones, ``f = 2j``, at
  ``j / 30`` s) and drop the odd ones -- OUR CHOICE: it keeps the time codes exactly on the
  30 fps grid and the delivered frames bit-identical to the 60 fps stream's; the post-processing
  smoothers and saccade clock still run at 60 fps on every native frame (dt = 1/60), before the
  decimation. (Whether the NIM streams 60 or 30 fps in diffusion mode is not established,
  a2f_reference.md section 7.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from a2f_actors.names import NUM_A2F_EMOTIONS, NUM_BLENDSHAPES
from a2f_actors.xp import to_numpy

#: Native frame rate of the diffusion network (one frame every 16.7 ms).
DIFFUSION_FPS = 60
#: Output rates supported for diffusion streams.
DIFFUSION_OUTPUT_FPS: tuple[int, ...] = (60, 30)


def regression_time_codes(frame_indices: Any, fps_num: int, fps_den: int = 1) -> np.ndarray:
    """Time codes of regression frames: ``i * fps_den / fps_num`` seconds.

    Args:
        frame_indices: ``[F]`` int frame indices (0 = first frame of the clip).
        fps_num: frame-rate numerator (e.g. 30, 30000).
        fps_den: frame-rate denominator (e.g. 1, 1001).

    Returns:
        ``[F]`` float64 seconds.
    """
    if fps_num <= 0 or fps_den <= 0:
        raise ValueError(f"fps must be positive; got {fps_num}/{fps_den}")
    i = np.asarray(frame_indices, dtype=np.int64)
    return i * float(fps_den) / float(fps_num)


def diffusion_output_frames(native_indices: Any, output_fps: int = DIFFUSION_FPS) -> np.ndarray:
    """Which native 60 fps frames are emitted at ``output_fps`` (60: all; 30: even ones).

    Args:
        native_indices: ``[F]`` int native (60 fps) frame indices.
        output_fps: 60 or 30.

    Returns:
        ``[F]`` bool mask of the frames to emit.
    """
    n = np.asarray(native_indices, dtype=np.int64)
    if output_fps not in DIFFUSION_OUTPUT_FPS:
        raise ValueError(f"diffusion output_fps must be one of {DIFFUSION_OUTPUT_FPS}")
    if output_fps == DIFFUSION_FPS:
        return np.ones(n.shape, dtype=bool)
    return n % 2 == 0


def diffusion_time_codes(native_indices: Any, output_fps: int = DIFFUSION_FPS) -> tuple:
    """Output frame indices and time codes of the emitted diffusion frames.

    Args:
        native_indices: ``[F]`` int native (60 fps) frame indices.
        output_fps: 60 or 30 (see the module docstring).

    Returns:
        ``(keep [F] bool, out_indices [F'] int64, time_codes [F'] float64 seconds)``; at 30 fps
        native frame ``2j`` becomes output frame ``j`` at ``j / 30`` s.
    """
    n = np.asarray(native_indices, dtype=np.int64)
    keep = diffusion_output_frames(n, output_fps)
    step = DIFFUSION_FPS // output_fps
    out = n[keep] // step
    return keep, out, out / float(output_fps)


def _frozen(a: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    if (
        type(a) is np.ndarray
        and a.dtype == np.float32
        and a.shape == shape
        and not a.flags.writeable
        and (a.base is None or not a.base.flags.writeable)
    ):
        return a  # already frozen (e.g. a row of a read-only block): sharing it is safe
    arr = np.array(to_numpy(a), dtype=np.float32)  # a private copy
    if arr.shape != shape:
        raise ValueError(f"BlendshapeFrame.{name} has shape {arr.shape}; expected {shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class BlendshapeFrame:
    """One output animation frame (typed record between the solver and the transport).

    Attributes:
        frame_index: index of the frame in its stream's output (0-based).
        time_code_s: seconds from the start of the clip.
        weights: ``[68]`` float32 read-only; 52 skin then 16 tongue weights in ``BLENDSHAPES``
            order.
        jaw_transform: optional ``[4, 4]`` float32 read-only jaw matrix (column-vector
            convention, see :func:`a2f_actors.postprocess.rigid_transform`).
        eye_rotations: optional ``[4]`` float32 read-only ``[rX, rY, lX, lY]``.
        emotion: optional ``[10]`` float32 read-only emotion applied to this frame
            (``A2F_EMOTIONS`` order; the NIM ``EmotionAggregate`` output).
    """

    frame_index: int
    time_code_s: float
    weights: np.ndarray
    jaw_transform: np.ndarray | None = None
    eye_rotations: np.ndarray | None = None
    emotion: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame_index", int(self.frame_index))
        object.__setattr__(self, "time_code_s", float(self.time_code_s))
        object.__setattr__(self, "weights", _frozen(self.weights, (NUM_BLENDSHAPES,), "weights"))
        optional = {
            "jaw_transform": (4, 4),
            "eye_rotations": (4,),
            "emotion": (NUM_A2F_EMOTIONS,),
        }
        for name, shape in optional.items():
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _frozen(value, shape, name))


def _optional_rows(a: Any, n: int, name: str) -> Sequence[Any]:
    if a is None:
        return [None] * n
    arr = to_numpy(a)
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} frames; weights have {n}")
    return list(arr)


def frames_from_arrays(
    frame_indices: Any,
    time_codes_s: Any,
    weights: Any,
    jaw_transforms: Any | None = None,
    eye_rotations: Any | None = None,
    emotions: Any | None = None,
) -> list[BlendshapeFrame]:
    """Build :class:`BlendshapeFrame` records from batched arrays (NumPy or CuPy).

    Args:
        frame_indices: ``[F]`` int.
        time_codes_s: ``[F]`` float seconds.
        weights: ``[F, 68]`` float.
        jaw_transforms: optional ``[F, 4, 4]``.
        eye_rotations: optional ``[F, 4]``.
        emotions: optional ``[F, 10]``.

    Returns:
        F frames, in input order.
    """
    w = to_numpy(weights)
    n = w.shape[0]
    idx = to_numpy(frame_indices).reshape(-1)
    tc = to_numpy(time_codes_s).reshape(-1)
    if idx.shape[0] != n or tc.shape[0] != n:
        raise ValueError(f"{idx.shape[0]} indices and {tc.shape[0]} time codes for {n} frames")
    jaws = _optional_rows(jaw_transforms, n, "jaw_transforms")
    eyes = _optional_rows(eye_rotations, n, "eye_rotations")
    emos = _optional_rows(emotions, n, "emotions")
    return [
        BlendshapeFrame(int(idx[i]), float(tc[i]), w[i], jaws[i], eyes[i], emos[i])
        for i in range(n)
    ]
