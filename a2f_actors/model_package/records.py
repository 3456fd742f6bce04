"""Typed, frozen records of the array files (.npz) and of whole model packages.

Arrays are read-only NumPy arrays (large ones memory-mapped) in the canonical shapes listed in
:mod:`a2f_actors.model_package.schema`. Records holding arrays compare by identity
(``eq=False``); compare their fields instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from a2f_actors.errors import ModelPackageError
from a2f_actors.model_package.schema import (
    A2EModelConfig,
    A2ENetworkInfo,
    BlendshapeConfig,
    DiffusionNetworkInfo,
    ModelConfig,
    RegressionNetworkInfo,
    TrtInfo,
)

# --------------------------------------------------------------------------- npz records


@dataclass(frozen=True, eq=False)
class RegressionModelData:
    """model_data.npz of a regression model (exactly these 8 arrays, float32).

    Attributes:
        shapes_matrix_skin: ``[num_shapes_skin, 3 * num_verts_skin]`` skin PCA basis.
        shapes_mean_skin: ``[3 * num_verts_skin]`` skin neutral pose.
        lip_open_pose_delta: ``[3 * num_verts_skin]`` lip-open offset direction.
        eye_close_pose_delta: ``[3 * num_verts_skin]`` eye-close offset direction.
        shapes_matrix_tongue: ``[num_shapes_tongue, 3 * num_verts_tongue]`` tongue PCA basis.
        shapes_mean_tongue: ``[3 * num_verts_tongue]`` tongue neutral pose.
        neutral_jaw: ``[result_jaw_size]`` neutral jaw keypoints (5 x xyz).
        saccade_rot_matrix: ``[N, 2]`` eye saccade angles, one row per 30 fps frame.
    """

    shapes_matrix_skin: np.ndarray
    shapes_mean_skin: np.ndarray
    lip_open_pose_delta: np.ndarray
    eye_close_pose_delta: np.ndarray
    shapes_matrix_tongue: np.ndarray
    shapes_mean_tongue: np.ndarray
    neutral_jaw: np.ndarray
    saccade_rot_matrix: np.ndarray


@dataclass(frozen=True, eq=False)
class DiffusionModelData:
    """model_data_<identity>.npz of a diffusion model (exactly these 6 arrays, float32).

    Attributes:
        neutral_skin: ``[skin_size]`` skin neutral pose (3 x vertices).
        neutral_tongue: ``[tongue_size]`` tongue neutral pose.
        neutral_jaw: ``[jaw_size]`` neutral jaw keypoints.
        lip_open_pose_delta: ``[skin_size]`` lip-open offset direction.
        eye_close_pose_delta: ``[skin_size]`` eye-close offset direction.
        saccade_rot_matrix: ``[N, 2]`` eye saccade angles.
    """

    neutral_skin: np.ndarray
    neutral_tongue: np.ndarray
    neutral_jaw: np.ndarray
    lip_open_pose_delta: np.ndarray
    eye_close_pose_delta: np.ndarray
    saccade_rot_matrix: np.ndarray


@dataclass(frozen=True, eq=False)
class ImplicitEmotionDB:
    """implicit_emo_db.npz: learned implicit-emotion vectors, one row per training frame.

    Attributes:
        emo_db: ``[total_frames, implicit_emotion_len]`` float32.
        names: Shot names (``emo_spec_names``; bytes strings on disk).
        start: First row of each shot (``emo_spec_start``, int32 on disk).
        size: Frame count of each shot (``emo_spec_size``, int32 on disk).
    """

    emo_db: np.ndarray
    names: tuple[str, ...]
    start: tuple[int, ...]
    size: tuple[int, ...]

    def row(self, shot: str, frame: int) -> np.ndarray:
        """Return the ``[implicit_emotion_len]`` vector of ``frame`` within ``shot``.

        Raises:
            ModelPackageError: if the shot is unknown or the frame is outside the shot.
        """
        if shot not in self.names:
            raise ModelPackageError(
                f"implicit_emo_db.npz: emo_spec_names has no shot {shot!r}; "
                f"known shots: {', '.join(self.names)}"
            )
        i = self.names.index(shot)
        if not 0 <= frame < self.size[i]:
            raise ModelPackageError(
                f"implicit_emo_db.npz: frame {frame} of shot {shot!r} is outside "
                f"[0, {self.size[i] - 1}] (emo_spec_size={self.size[i]})"
            )
        return self.emo_db[self.start[i] + frame]


@dataclass(frozen=True, eq=False)
class BlendshapeSet:
    """One blendshape solver target: bs_{skin,tongue}*.npz plus its config JSON.

    Attributes:
        pose_names: P pose names, lowerCamel, without the leading ``"neutral"`` of the
            npz ``poseNames`` array.
        neutral: ``[V, 3]`` float32 neutral vertex positions.
        deltas: ``[P, V, 3]`` float32 delta of each pose from neutral.
        frontal_mask: ``[M]`` int32 vertex indices the solver uses, or None (all vertices).
        config: The solver configuration of this set.
    """

    pose_names: tuple[str, ...]
    neutral: np.ndarray
    deltas: np.ndarray
    frontal_mask: np.ndarray | None
    config: BlendshapeConfig

    @property
    def num_verts(self) -> int:
        """Vertex count V."""
        return int(self.neutral.shape[0])


# --------------------------------------------------------------------------- packages


@dataclass(frozen=True)
class NetworkFiles:
    """Where the network lives: model.json's ``networkPath`` and the ONNX beside it.

    Attributes:
        declared: ``networkPath`` resolved against model.json's directory (usually
            network.trt, which is built locally and may not exist yet).
        trt: The TensorRT engine if it exists, else None.
        onnx: ``network.onnx`` beside it if it exists, else None.
    """

    declared: Path
    trt: Path | None
    onnx: Path | None


@dataclass(frozen=True)
class PackageFiles:
    """Provenance of a package read from disk.

    Attributes:
        model_json: The model.json that was read.
        paths: model.json key (``"modelDataPath"``, ``"blendshapePaths[1].skin.data"``,
            ...) -> resolved path, plus ``"trt_info"`` when trt_info.json exists.
        network: The network files.
    """

    model_json: Path
    paths: Mapping[str, Path]
    network: NetworkFiles


@dataclass(frozen=True, eq=False)
class RegressionPackage:
    """A regression model directory (one identity, implicit emotion DB)."""

    network_info: RegressionNetworkInfo
    model_config: ModelConfig
    model_data: RegressionModelData
    emotion_db: ImplicitEmotionDB
    skin: BlendshapeSet | None
    tongue: BlendshapeSet | None
    trt_info: TrtInfo | None = None
    files: PackageFiles | None = None

    @property
    def identities(self) -> tuple[str, ...]:
        """Identity names: network_info ``identities`` or ``(id.actor,)``."""
        return self.network_info.identities or (self.network_info.id.actor or "",)

    def implicit_emotion(self) -> np.ndarray:
        """Return the ``[implicit_emotion_len]`` row selected by source_shot/source_frame."""
        cfg = self.model_config
        return self.emotion_db.row(cfg.source_shot or "", cfg.source_frame or 0)


@dataclass(frozen=True, eq=False)
class DiffusionIdentity:
    """The per-identity files of a diffusion package (``*_<name>.{json,npz}``)."""

    name: str
    model_config: ModelConfig
    model_data: DiffusionModelData
    skin: BlendshapeSet | None
    tongue: BlendshapeSet | None


@dataclass(frozen=True, eq=False)
class DiffusionPackage:
    """A diffusion model directory; ``identities`` follow network_info ``identities`` order."""

    network_info: DiffusionNetworkInfo
    identities: tuple[DiffusionIdentity, ...]
    trt_info: TrtInfo | None = None
    files: PackageFiles | None = None

    def identity(self, name: str) -> DiffusionIdentity:
        """Return the identity called ``name`` (raises ModelPackageError if unknown)."""
        for ident in self.identities:
            if ident.name == name:
                return ident
        known = ", ".join(i.name for i in self.identities)
        raise ModelPackageError(f"diffusion package has no identity {name!r}; known: {known}")


@dataclass(frozen=True, eq=False)
class A2EPackage:
    """An Audio2Emotion model directory (network_info, post-processing config)."""

    network_info: A2ENetworkInfo
    model_config: A2EModelConfig
    trt_info: TrtInfo | None = None
    files: PackageFiles | None = None


Package = RegressionPackage | DiffusionPackage | A2EPackage
