"""Write "ada"'s blendshape files in NVIDIA's layout, and hand over the model_data pieces.

Files (``identity_suffix`` ``""`` for a regression package, ``"_ada"`` style for diffusion):
``bs_skin{sfx}.npz``, ``bs_skin_config{sfx}.json``, ``bs_tongue{sfx}.npz``,
``bs_tongue_config{sfx}.json``. Serialisation is ``a2f_actors.model_package``'s own
(:func:`~a2f_actors.model_package.arrays.blendshape_arrays`, ``save_npz``, ``bs_config_json``),
so the files read back with ``load_package``'s blendshape reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from a2f_actors.model_package import BlendshapeSet
from a2f_actors.model_package.arrays import blendshape_arrays
from a2f_actors.model_package.json_files import bs_config_json, write_json
from a2f_actors.model_package.npz_io import save_npz
from a2f_actors.names import SKIN_BLENDSHAPES, TONGUE_BLENDSHAPES, to_lower_camel
from a2f_train.character.rig import Character, load_default_character


@dataclass(frozen=True, eq=False)
class CharacterAssets:
    """What was written, plus the character pieces of model_data.npz (flat float32).

    Attributes:
        files: part (``"skin"``/``"tongue"``) -> {``"data"``, ``"config"``} written paths.
        skin: the skin :class:`BlendshapeSet` written to bs_skin*.npz.
        tongue: the tongue :class:`BlendshapeSet`.
        neutral_skin: ``[3V]`` (model_data ``neutral_skin`` / ``shapes_mean_skin``).
        neutral_tongue: ``[3Vt]`` (``neutral_tongue`` / ``shapes_mean_tongue``).
        lip_open_pose_delta: ``[3V]``.
        eye_close_pose_delta: ``[3V]``.
        neutral_jaw: ``[15]`` (5 keypoints x xyz).
        saccade_rot_matrix: ``[5000, 2]`` degrees.
    """

    files: dict[str, dict[str, Path]]
    skin: BlendshapeSet
    tongue: BlendshapeSet
    neutral_skin: np.ndarray
    neutral_tongue: np.ndarray
    lip_open_pose_delta: np.ndarray
    eye_close_pose_delta: np.ndarray
    neutral_jaw: np.ndarray
    saccade_rot_matrix: np.ndarray


def blendshape_sets(character: Character) -> tuple[BlendshapeSet, BlendshapeSet]:
    """The (skin, tongue) blendshape records of ``character`` (lowerCamel pose names)."""
    skin = BlendshapeSet(
        pose_names=tuple(to_lower_camel(n) for n in SKIN_BLENDSHAPES),
        neutral=character.skin_neutral,
        deltas=character.skin_deltas,
        frontal_mask=character.frontal_mask,
        config=character.skin_config,
    )
    tongue = BlendshapeSet(
        pose_names=tuple(to_lower_camel(n) for n in TONGUE_BLENDSHAPES),
        neutral=character.tongue_neutral,
        deltas=character.tongue_deltas,
        frontal_mask=None,
        config=character.tongue_config,
    )
    return skin, tongue


def _flat(a: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(a, dtype=np.float32).reshape(-1)
    out.flags.writeable = False
    return out


def write_character_assets(
    out_dir: Path | str, identity_suffix: str = "", character: Character | None = None
) -> CharacterAssets:
    """Write the four blendshape files into ``out_dir`` (created if needed).

    Args:
        out_dir: target model directory.
        identity_suffix: appended to each file stem, e.g. ``"_ada"`` for a diffusion package.
        character: the character to write (default :func:`load_default_character`).

    Returns:
        The :class:`CharacterAssets` (paths, records, model_data pieces). Writing twice gives
        identical bytes.
    """
    ch = character or load_default_character()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    skin, tongue = blendshape_sets(ch)
    files: dict[str, dict[str, Path]] = {}
    for part, bs in (("skin", skin), ("tongue", tongue)):
        data = out / f"bs_{part}{identity_suffix}.npz"
        config = out / f"bs_{part}_config{identity_suffix}.json"
        save_npz(data, blendshape_arrays(bs.pose_names, bs.neutral, bs.deltas, bs.frontal_mask))
        write_json(config, bs_config_json(bs.config))
        files[part] = {"data": data, "config": config}
    return CharacterAssets(
        files=files,
        skin=skin,
        tongue=tongue,
        neutral_skin=_flat(ch.skin_neutral),
        neutral_tongue=_flat(ch.tongue_neutral),
        lip_open_pose_delta=_flat(ch.lip_open_pose_delta),
        eye_close_pose_delta=_flat(ch.eye_close_pose_delta),
        neutral_jaw=_flat(ch.jaw_neutral),
        saccade_rot_matrix=np.ascontiguousarray(ch.saccade, dtype=np.float32),
    )
