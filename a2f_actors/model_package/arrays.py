"""Read, validate and serialise the .npz files of a model package.

Every check raises :class:`ModelPackageError` naming the file, the array and the expected
versus found shape/dtype. Shapes are validated against network_info.json; stored layouts
that only differ by a reshape (``[V, 3]`` vs ``[3V]``, ``[K, V, 3]`` vs ``[K, 3V]``) are
accepted, as the SDK reads by element count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from a2f_actors.errors import ModelPackageError
from a2f_actors.model_package.npz_io import NpzArchive
from a2f_actors.model_package.records import (
    DiffusionModelData,
    ImplicitEmotionDB,
    RegressionModelData,
)
from a2f_actors.model_package.schema import (
    DIFFUSION_DATA_ARRAYS,
    REGRESSION_DATA_ARRAYS,
    DiffusionNetworkInfo,
    RegressionNetworkInfo,
)

NEUTRAL_POSE = "neutral"
POSE_NAMES_KEY = "poseNames"
FRONTAL_MASK_KEY = "frontalMask"


def _err(arc: NpzArchive, name: str, msg: str) -> ModelPackageError:
    return ModelPackageError(f"{arc.path}: array {name!r} {msg}")


def _float32(arc: NpzArchive, name: str) -> np.ndarray:
    arr = arc[name]
    if arr.dtype != np.float32:
        raise _err(arc, name, f"has dtype {arr.dtype}; expected float32")
    return arr


def _sized(arc: NpzArchive, name: str, shape: tuple[int, ...], meaning: str) -> np.ndarray:
    """Return float32 array ``name`` reshaped to ``shape``; its element count must match."""
    arr = _float32(arc, name)
    lead_ok = len(shape) == 1 or arr.ndim == 1 or arr.shape[0] == shape[0]
    if arr.size != int(np.prod(shape)) or not lead_ok:
        raise _err(arc, name, f"has shape {list(arr.shape)}; expected {list(shape)} = {meaning}")
    return arr.reshape(shape)


def _saccade(arc: NpzArchive) -> np.ndarray:
    arr = _float32(arc, "saccade_rot_matrix")
    if arr.size == 0 or arr.size % 2:
        raise _err(
            arc,
            "saccade_rot_matrix",
            f"has shape {list(arr.shape)}; expected an even, non-zero number of values "
            "= [frames, 2] eye angles (5000 x 2 in NVIDIA's models)",
        )
    return arr.reshape(-1, 2)


def _exact_names(arc: NpzArchive, expected: tuple[str, ...]) -> None:
    missing = [n for n in expected if n not in arc]
    if missing:
        raise ModelPackageError(
            f"{arc.path}: missing array(s) {missing}; found {list(arc.names)}; "
            f"expected exactly {list(expected)}"
        )
    unexpected = [n for n in arc.names if n not in expected]
    if unexpected:
        raise ModelPackageError(
            f"{arc.path}: unexpected array(s) {unexpected}; the SDK accepts exactly "
            f"{list(expected)} (remove the extra arrays)"
        )


def read_regression_model_data(path: Path, info: RegressionNetworkInfo) -> RegressionModelData:
    """Read and validate a regression model_data.npz against ``info``."""
    s, t = info.num_shapes_skin, info.num_shapes_tongue
    vs, vt = 3 * info.num_verts_skin, 3 * info.num_verts_tongue
    with NpzArchive(path) as arc:
        _exact_names(arc, REGRESSION_DATA_ARRAYS)
        skin = f"[num_shapes_skin={s}, 3*num_verts_skin={vs}] from network_info.json"
        tongue = f"[num_shapes_tongue={t}, 3*num_verts_tongue={vt}] from network_info.json"
        skin_vec = f"[3*num_verts_skin={vs}] from network_info.json"
        return RegressionModelData(
            shapes_matrix_skin=_sized(arc, "shapes_matrix_skin", (s, vs), skin),
            shapes_mean_skin=_sized(arc, "shapes_mean_skin", (vs,), skin_vec),
            lip_open_pose_delta=_sized(arc, "lip_open_pose_delta", (vs,), skin_vec),
            eye_close_pose_delta=_sized(arc, "eye_close_pose_delta", (vs,), skin_vec),
            shapes_matrix_tongue=_sized(arc, "shapes_matrix_tongue", (t, vt), tongue),
            shapes_mean_tongue=_sized(
                arc, "shapes_mean_tongue", (vt,), f"[3*num_verts_tongue={vt}] from network_info"
            ),
            neutral_jaw=_sized(
                arc,
                "neutral_jaw",
                (info.result_jaw_size,),
                f"[result_jaw_size={info.result_jaw_size}] from network_info.json",
            ),
            saccade_rot_matrix=_saccade(arc),
        )


def read_diffusion_model_data(path: Path, info: DiffusionNetworkInfo) -> DiffusionModelData:
    """Read and validate a diffusion model_data_<identity>.npz against ``info``."""

    def meaning(key: str, value: int) -> str:
        return f"[{key}={value}] from network_info.json"

    skin = meaning("skin_size", info.skin_size)
    with NpzArchive(path) as arc:
        _exact_names(arc, DIFFUSION_DATA_ARRAYS)
        return DiffusionModelData(
            neutral_skin=_sized(arc, "neutral_skin", (info.skin_size,), skin),
            neutral_tongue=_sized(
                arc,
                "neutral_tongue",
                (info.tongue_size,),
                meaning("tongue_size", info.tongue_size),
            ),
            neutral_jaw=_sized(
                arc, "neutral_jaw", (info.jaw_size,), meaning("jaw_size", info.jaw_size)
            ),
            lip_open_pose_delta=_sized(arc, "lip_open_pose_delta", (info.skin_size,), skin),
            eye_close_pose_delta=_sized(arc, "eye_close_pose_delta", (info.skin_size,), skin),
            saccade_rot_matrix=_saccade(arc),
        )


def model_data_arrays(data: RegressionModelData | DiffusionModelData) -> dict[str, np.ndarray]:
    """Return the npz members of a model data record, in NVIDIA's order."""
    names = (
        REGRESSION_DATA_ARRAYS if isinstance(data, RegressionModelData) else DIFFUSION_DATA_ARRAYS
    )
    return {n: np.asarray(getattr(data, n), dtype=np.float32) for n in names}


def _strings(arc: NpzArchive, name: str) -> tuple[str, ...]:
    arr = arc[name]
    if arr.ndim != 1 or arr.dtype.kind not in "SU":
        raise _err(
            arc, name, f"has dtype {arr.dtype} and shape {list(arr.shape)}; expected 1-D strings"
        )
    return tuple(x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in arr.tolist())


def _ints(arc: NpzArchive, name: str, length: int) -> tuple[int, ...]:
    arr = arc[name]
    if arr.dtype.kind not in "iu" or arr.shape != (length,):
        raise _err(
            arc,
            name,
            f"has dtype {arr.dtype} and shape {list(arr.shape)}; expected {length} integers "
            "(one per emo_spec_names entry)",
        )
    return tuple(int(x) for x in arr)


def read_emotion_db(path: Path, implicit_emotion_len: int) -> ImplicitEmotionDB:
    """Read and validate implicit_emo_db.npz (rows of ``implicit_emotion_len`` floats)."""
    with NpzArchive(path) as arc:
        db = _float32(arc, "emo_db")
        if db.ndim != 2 or db.shape[1] != implicit_emotion_len:
            raise _err(
                arc,
                "emo_db",
                f"has shape {list(db.shape)}; expected [frames, implicit_emotion_len="
                f"{implicit_emotion_len}] from network_info.json",
            )
        names = _strings(arc, "emo_spec_names")
        start = _ints(arc, "emo_spec_start", len(names))
        size = _ints(arc, "emo_spec_size", len(names))
    for name, s, n in zip(names, start, size, strict=True):
        if s < 0 or n < 0 or s + n > db.shape[0]:
            raise ModelPackageError(
                f"{path}: array 'emo_spec_start'/'emo_spec_size' shot {name!r} covers rows "
                f"[{s}, {s + n}); expected a range within emo_db's {db.shape[0]} rows"
            )
    return ImplicitEmotionDB(emo_db=db, names=names, start=start, size=size)


def emotion_db_arrays(db: ImplicitEmotionDB) -> dict[str, np.ndarray]:
    """Return the npz members of implicit_emo_db.npz (names as bytes, offsets int32)."""
    return {
        "emo_db": np.asarray(db.emo_db, dtype=np.float32),
        "emo_spec_names": np.array([n.encode("utf-8") for n in db.names], dtype="S"),
        "emo_spec_start": np.asarray(db.start, dtype=np.int32),
        "emo_spec_size": np.asarray(db.size, dtype=np.int32),
    }


def read_blendshape_data(
    path: Path, num_verts: int | None
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray | None]:
    """Read and validate bs_*.npz.

    Args:
        path: The npz file.
        num_verts: Expected vertex count V (from network_info.json), or None to accept any.

    Returns:
        ``(pose_names, neutral [V,3], deltas [P,V,3], frontal_mask [M] int32 or None)``;
        ``pose_names`` excludes the leading ``"neutral"``.
    """
    with NpzArchive(path) as arc:
        names = _strings(arc, POSE_NAMES_KEY) if POSE_NAMES_KEY in arc else None
        if not names or names[0] != NEUTRAL_POSE:
            found = "missing" if names is None else f"{list(names[:3])}..."
            raise _err(
                arc, POSE_NAMES_KEY, f"is {found}; expected poseNames[0] == {NEUTRAL_POSE!r}"
            )
        neutral = _float32(arc, NEUTRAL_POSE)
        verts = num_verts if num_verts is not None else neutral.size // 3
        where = "num_verts from network_info.json" if num_verts is not None else "vertices"
        meaning = f"[{where}={verts}, 3]"
        neutral = _sized(arc, NEUTRAL_POSE, (verts, 3), meaning)
        deltas = np.stack([_sized(arc, n, (verts, 3), meaning) for n in names[1:]])
        mask = _frontal_mask(arc, verts) if FRONTAL_MASK_KEY in arc else None
    deltas.flags.writeable = False
    return names[1:], neutral, deltas, mask


def _frontal_mask(arc: NpzArchive, num_verts: int) -> np.ndarray:
    mask = arc[FRONTAL_MASK_KEY]
    if mask.dtype.kind not in "iu" or mask.ndim != 1:
        raise _err(
            arc,
            FRONTAL_MASK_KEY,
            f"has dtype {mask.dtype} and shape {list(mask.shape)}; expected 1-D vertex indices",
        )
    bad = mask[(mask < 0) | (mask >= num_verts)]
    if bad.size:
        raise _err(
            arc,
            FRONTAL_MASK_KEY,
            f"has index {int(bad[0])} ({bad.size} out of range); expected indices in "
            f"[0, {num_verts - 1}] for {num_verts} vertices",
        )
    out = mask.astype(np.int32)
    out.flags.writeable = False
    return out


def blendshape_arrays(
    pose_names: tuple[str, ...],
    neutral: np.ndarray,
    deltas: np.ndarray,
    frontal_mask: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Return the npz members of bs_*.npz: poseNames (bytes), neutral, poses, frontalMask."""
    names = (NEUTRAL_POSE, *pose_names)
    out: dict[str, np.ndarray] = {
        POSE_NAMES_KEY: np.array([n.encode("utf-8") for n in names], dtype="S"),
        NEUTRAL_POSE: np.asarray(neutral, dtype=np.float32),
    }
    for i, name in enumerate(pose_names):
        out[name] = np.asarray(deltas[i], dtype=np.float32)
    if frontal_mask is not None:
        out[FRONTAL_MASK_KEY] = np.asarray(frontal_mask, dtype=np.int32)
    return out
