"""Whole-clip animation in one process: audio -> windows -> network -> post-process -> solve.

The reference composition of the pipeline's stages, used by the evaluation harness, by
``a2f animate`` in-process and by the integration tests as the ground truth the cluster must
match. The network is a callable taking and returning NVIDIA's ONNX tensors by name (an ONNX
Runtime session, a Triton client, or a fake), so this module stays free of any runtime::

    infer({"input": [B,1,8320], "emotion": [B,1,26]}) -> {"result": [B,1,R]}           # regression
    infer({"window", "identity", "emotion", "input_latents", "noise"})
        -> {"prediction": [B,60,D], "output_latents": [2,2,B,256]}                       # diffusion

Emotions: a constant 10-vector or an :class:`~a2f_actors.emotion.EmotionKeyframes` track read
at each frame's target sample (the SDK's emotion accumulator rules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from a2f_actors import windows as win
from a2f_actors.animator import (
    AnimFrames,
    DiffusionAnimator,
    RegressionAnimator,
    output_arrays,
)
from a2f_actors.emotion import EmotionKeyframes, close_keyframes, read_keyframes
from a2f_actors.names import NUM_A2F_EMOTIONS
from a2f_actors.params import BlendshapeOutputParams, FaceParams
from a2f_actors.postprocess import face_param_arrays

Infer = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
Emotion = np.ndarray | EmotionKeyframes | None
#: Frames post-processed per call: bounds memory on long clips; the state carries across.
ANIMATE_CHUNK = 512


@dataclass(frozen=True, eq=False)
class ClipAnimation:
    """The animation of one clip.

    Attributes:
        fps: frames per second of the rows.
        time_codes: ``[F]`` float64 seconds.
        weights: ``[F, 68]`` float32 blendshape weights (``names.BLENDSHAPES`` order).
        jaw: ``[F, 16]`` float32 jaw transforms (SDK column-major 4x4).
        eyes: ``[F, 4]`` float32 eye angles, degrees.
        emotions: ``[F, 10]`` float32 explicit emotions fed to the network.
    """

    fps: float
    time_codes: np.ndarray
    weights: np.ndarray
    jaw: np.ndarray
    eyes: np.ndarray
    emotions: np.ndarray


def emotions_at(emotion: Emotion, samples: np.ndarray) -> np.ndarray:
    """Explicit emotions ``[n, 10]`` float32 at the given 16 kHz sample positions.

    Args:
        emotion: None (all zero), a ``[10]`` constant, or a keyframe track (closed here: the
            whole clip is known, so reads after the last key take the last key).
        samples: ``[n]`` int64 target samples.
    """
    n = len(samples)
    if emotion is None:
        return np.zeros((n, NUM_A2F_EMOTIONS), np.float32)
    if isinstance(emotion, EmotionKeyframes):
        if len(emotion.timestamps) == 0:
            return np.zeros((n, NUM_A2F_EMOTIONS), np.float32)
        track = emotion if emotion.closed else close_keyframes(emotion)
        values, _ = read_keyframes(track, samples)
        return np.asarray(values, np.float32)
    vec = np.asarray(emotion, np.float32).reshape(NUM_A2F_EMOTIONS)
    return np.broadcast_to(vec, (n, NUM_A2F_EMOTIONS)).copy()


def _animate_rows(
    animator: RegressionAnimator | DiffusionAnimator,
    rows: np.ndarray,
    face: FaceParams,
    tables: BlendshapeOutputParams,
) -> AnimFrames:
    """Post-process + solve ``[F, R]`` network rows of one track, chunk by chunk."""
    params = face_param_arrays([face])
    outputs = output_arrays([tables])
    state = animator.new_state(1)
    parts: list[AnimFrames] = []
    for i in range(0, len(rows), ANIMATE_CHUNK):
        frames, state = animator.animate(rows[None, i : i + ANIMATE_CHUNK], params, outputs, state)
        parts.append(frames)
    if not parts:
        empty = np.zeros((0,), np.float32)
        return AnimFrames(empty.reshape(0, 68), empty.reshape(0, 16), empty.reshape(0, 4))
    cat = [np.concatenate([getattr(p, k)[0] for p in parts]) for k in ("weights", "jaw", "eyes")]
    return AnimFrames(*cat)


def animate_regression_clip(
    animator: RegressionAnimator,
    samples: np.ndarray,
    face: FaceParams,
    tables: BlendshapeOutputParams,
    infer: Infer,
    *,
    fps: Fraction = Fraction(30),
    emotion: Emotion = None,
    batch_size: int = 64,
) -> ClipAnimation:
    """Animate a whole clip with a regression network.

    Args:
        animator: built for the same fps as ``fps``.
        samples: ``[N]`` float32 mono audio at 16 kHz.
        face: the stream's face parameters (``input_strength`` scales the windows).
        tables: the stream's blendshape output parameters.
        infer: the network (see module docstring).
        fps: output frame rate (any rational fps).
        emotion: explicit emotion (constant, keyframes or None).
        batch_size: frames per network call.

    Returns:
        The :class:`ClipAnimation` (frames whose target lies inside the clip).
    """
    if abs(float(fps) - animator.fps) > 1e-9:
        raise ValueError(f"animator was built for {animator.fps} fps, clip asks for {fps}")
    samples = np.asarray(samples, np.float32).reshape(-1)
    sched = win.regression_schedule(fps.numerator, fps.denominator)
    batch = win.clip_windows(sched, len(samples))
    explicit = emotions_at(emotion, batch.target)
    results = []
    for i in range(0, len(batch), batch_size):
        starts = batch.start[i : i + batch_size]
        windows = win.cut_windows(samples, 0, starts, sched.window_size, face.input_strength)
        out = infer(animator.network_inputs(windows, explicit[i : i + batch_size]))
        results.append(np.asarray(out["result"], np.float32).reshape(len(starts), -1))
    rows = np.concatenate(results) if results else np.zeros((0, 0), np.float32)
    frames = _animate_rows(animator, rows, face, tables)
    return ClipAnimation(
        float(fps), batch.time_code, frames.weights, frames.jaw, frames.eyes, explicit
    )


def diffusion_noise(animator: DiffusionAnimator, seed: int = 0) -> np.ndarray:
    """The constant noise ``[1, 3, 60, D]`` float32 N(0, 1) (``constant_noise: true``)."""
    width = sum(animator.sizes)
    return np.random.default_rng(seed).standard_normal((1, 3, 60, width), dtype=np.float32)


def _diffusion_inputs(
    animator: DiffusionAnimator, window: np.ndarray, emotion: np.ndarray, latents: np.ndarray,
    noise: np.ndarray,
) -> dict[str, np.ndarray]:  # fmt: skip
    identity = np.zeros((1, animator.num_identities), np.float32)
    identity[0, animator.identity_index] = 1.0
    return {
        "window": window.reshape(1, -1).astype(np.float32),
        "identity": identity,
        "emotion": emotion.reshape(1, 30, NUM_A2F_EMOTIONS).astype(np.float32),
        "input_latents": latents,
        "noise": noise,
    }


def animate_diffusion_clip(
    animator: DiffusionAnimator,
    samples: np.ndarray,
    face: FaceParams,
    tables: BlendshapeOutputParams,
    infer: Infer,
    *,
    latent_shape: tuple[int, int, int] = (2, 2, 256),
    emotion: Emotion = None,
    noise_seed: int = 0,
) -> ClipAnimation:
    """Animate a whole clip with a diffusion network (60 fps, windows strictly in order).

    Args:
        animator: one identity of a diffusion package.
        samples: ``[N]`` float32 mono audio at 16 kHz.
        face: face parameters (``input_strength`` scales the windows).
        tables: blendshape output parameters.
        infer: the network (see module docstring).
        latent_shape: (diffusion steps, GRU layers, latent dim) of ``input_latents``.
        emotion: explicit emotion (constant, keyframes or None), read at each centre frame.
        noise_seed: seed of the constant noise.
    """
    samples = np.asarray(samples, np.float32).reshape(-1)
    sched = win.diffusion_schedule()
    batch = win.clip_windows(sched, len(samples))
    steps, layers, dim = latent_shape
    latents = np.zeros((steps, layers, 1, dim), np.float32)
    noise = diffusion_noise(animator, noise_seed)
    centre = np.arange(sched.frames_per_window)
    rows = np.zeros((len(batch.frame), sum(animator.sizes)), np.float32)
    for k in range(len(batch)):
        start = int(batch.start[k])
        window = win.cut_windows(
            samples, 0, np.array([start]), sched.window_size, face.input_strength
        )
        # one explicit emotion per centre frame, read at that frame's target sample
        targets = start + sched.target_offset + (centre * win.SAMPLE_RATE_HZ) // win.DIFFUSION_FPS
        out = infer(
            _diffusion_inputs(animator, window, emotions_at(emotion, targets), latents, noise)
        )
        latents = np.asarray(out["output_latents"], np.float32)
        sel = batch.frame_row == k
        rows[sel] = np.asarray(out["prediction"], np.float32)[0, batch.frame_output[sel]]
    frames = _animate_rows(animator, rows, face, tables)
    explicit = emotions_at(emotion, np.round(batch.time_code * win.SAMPLE_RATE_HZ).astype(np.int64))
    return ClipAnimation(60.0, batch.time_code, frames.weights, frames.jaw, frames.eyes, explicit)
