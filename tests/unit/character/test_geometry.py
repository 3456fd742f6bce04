from __future__ import annotations

import hashlib

import numpy as np
import pytest

from a2f_actors.names import SKIN_BLENDSHAPES, TONGUE_BLENDSHAPES
from a2f_train.character import Character, build_character
from a2f_train.character.mesh import build_skin
from a2f_train.character.render import weights_of
from a2f_train.character.tongue import build_tongue


def _digest(ch: Character) -> str:
    h = hashlib.sha256()
    for a in (ch.skin_neutral, ch.skin_triangles, ch.skin_deltas, ch.tongue_neutral,
              ch.tongue_deltas, ch.saccade, ch.frontal_mask, ch.jaw_neutral):  # fmt: skip
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_character_build_is_deterministic(ada: Character) -> None:
    assert _digest(build_character()) == _digest(ada)


def test_character_counts_meet_the_brief(ada: Character) -> None:
    assert ada.num_skin_verts >= 3000
    assert ada.skin_deltas.shape == (52, ada.num_skin_verts, 3)
    assert 200 <= ada.num_tongue_verts <= 1000
    assert ada.tongue_deltas.shape == (16, ada.num_tongue_verts, 3)
    assert ada.skin_triangles.max() < ada.num_skin_verts
    assert ada.tongue_triangles.max() < ada.num_tongue_verts
    assert ada.saccade.shape == (5000, 2)
    assert ada.jaw_neutral.shape == (5, 3)
    assert 0.25 < ada.frontal_mask.size / ada.num_skin_verts < 0.45
    height = np.ptp(ada.skin_neutral[:, 1])
    assert 20.0 <= height <= 25.0


def test_every_skin_vertex_is_used_by_a_triangle(ada: Character) -> None:
    assert np.unique(ada.skin_triangles).size == ada.num_skin_verts
    assert np.unique(ada.tongue_triangles).size == ada.num_tongue_verts


def test_skin_is_closed_except_at_the_mouth_and_eye_slits(ada: Character) -> None:
    tri = ada.skin_triangles.astype(np.int64)
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    n = ada.num_skin_verts
    directed = edges[:, 0] * n + edges[:, 1]
    assert np.unique(directed).size == directed.size  # consistently oriented, manifold
    open_edges = edges[~np.isin(edges[:, 1] * n + edges[:, 0], directed)]
    slit = np.concatenate([ada.upper_lip_ids, ada.lower_lip_ids, ada.upper_lid_ids.ravel(),
                           ada.lower_lid_ids.ravel()])  # fmt: skip
    corners = np.setdiff1d(open_edges, slit)
    assert corners.size <= 6  # only the shared mouth and eye corner vertices
    assert open_edges.size > 0


@pytest.mark.parametrize("mirror_source", ["skin", "tongue"])
def test_left_right_pairs_are_exact_mirror_images(ada: Character, mirror_source: str) -> None:
    if mirror_source == "skin":
        names, deltas, mirror = SKIN_BLENDSHAPES, ada.skin_deltas, build_skin().mirror
    else:
        names, deltas, mirror = TONGUE_BLENDSHAPES, ada.tongue_deltas, build_tongue().mirror
    pairs = [(n, n[:-4] + "Right") for n in names if n.endswith("Left")]
    assert len(pairs) >= 3
    for left, right in pairs:
        d_left = deltas[names.index(left)].astype(np.float64)
        d_right = deltas[names.index(right)].astype(np.float64)
        mirrored = np.empty_like(d_left)
        mirrored[mirror] = d_left * [-1.0, 1.0, 1.0]
        np.testing.assert_allclose(mirrored, d_right, atol=1e-6, err_msg=left)


def test_left_shapes_act_on_positive_x(ada: Character) -> None:
    for name in ("EyeBlinkLeft", "MouthSmileLeft", "BrowDownLeft", "NoseSneerLeft"):
        motion = np.linalg.norm(ada.skin_deltas[SKIN_BLENDSHAPES.index(name)], axis=1)
        x = ada.skin_neutral[:, 0]
        assert motion[x > 0].sum() > 20 * motion[x < 0].sum(), name


def test_jaw_open_opens_the_lips_monotonically(ada: Character) -> None:
    w = np.stack([weights_of(JawOpen=a) for a in np.linspace(0.0, 1.0, 11)])
    gap = ada.lip_gap(w)
    assert gap[0] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(gap) > 0)
    assert 2.0 < gap[-1] < 4.5


def test_mouth_close_keeps_the_lips_together_with_the_jaw_open(ada: Character) -> None:
    w = np.stack([weights_of(JawOpen=a, MouthClose=a) for a in (0.3, 0.7, 1.0)])
    assert np.all(ada.lip_gap(w) < 0.02)
    assert np.all(np.abs(ada.mouth_open(w)) < 0.02)


def test_mouth_close_alone_does_not_open_the_lips(ada: Character) -> None:
    w = weights_of(MouthClose=1.0)[None]
    assert ada.lip_gap(w)[0] < 1e-6
    assert ada.mouth_open(w)[0] < 0.0  # lips pressed into each other


def test_blink_moves_the_upper_lid_onto_the_lower_lid(ada: Character) -> None:
    for eye, name in ((1, "EyeBlinkLeft"), (0, "EyeBlinkRight")):
        up, low = ada.upper_lid_ids[eye], ada.lower_lid_ids[eye]
        open_gap = np.linalg.norm(ada.skin_neutral[up] - ada.skin_neutral[low], axis=1).max()
        posed = ada.skin_at(weights_of(**{name: 1.0})[None], np.concatenate([up, low]))[0]
        closed_gap = np.linalg.norm(posed[: up.size] - posed[up.size :], axis=1).max()
        assert open_gap > 0.6
        assert closed_gap < 0.05 * open_gap


def test_jaw_keypoints_follow_the_jaw(ada: Character) -> None:
    w = np.stack([weights_of(), weights_of(JawOpen=1.0), weights_of(JawForward=1.0)])
    kp = ada.jaw_keypoints(w)
    np.testing.assert_allclose(kp[0], ada.jaw_neutral, atol=1e-6)
    assert np.all(kp[1, :, 1] < ada.jaw_neutral[:, 1] - 0.5)  # jaw drops
    np.testing.assert_allclose(kp[2] - kp[0], np.tile([0.0, 0.0, 0.8], (5, 1)), atol=1e-6)
    # the lower incisor moves like the lower lip above it
    lip = ada.skin_at(w[1:2], np.array([ada.lip_center_ids[1]]))[0, 0]
    lip_move = lip - ada.skin_neutral[ada.lip_center_ids[1]]
    np.testing.assert_allclose(kp[1, 0] - kp[0, 0], lip_move, atol=0.5)


def test_pose_shapes_and_dtypes(ada: Character) -> None:
    skin, tongue, jaw = ada.pose(np.zeros((3, 68)))
    assert skin.shape == (3, ada.num_skin_verts, 3) and skin.dtype == np.float32
    assert tongue.shape == (3, ada.num_tongue_verts, 3)
    assert jaw.shape == (3, 5, 3)
    np.testing.assert_array_equal(skin[0], ada.skin_neutral)
    with pytest.raises(ValueError, match="expected"):
        ada.pose(np.zeros((2, 10)))


def test_saccade_table_is_small_and_deterministic(ada: Character) -> None:
    assert np.abs(ada.saccade).max() <= 6.0
    assert 0.3 < float(ada.saccade.std()) < 3.0
