from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from a2f_actors.names import BLENDSHAPES
from a2f_train.evaluation.results_io import (
    WeightTrack,
    list_corpus,
    read_csv,
    read_ground_truth,
    read_json,
    read_results,
    write_csv,
    write_json,
)


def random_track(n: int = 12, fps: float = 30.0) -> WeightTrack:
    w = np.random.default_rng(0).random((n, len(BLENDSHAPES))).astype(np.float32)
    return WeightTrack.from_fps(w, fps)


def test_csv_round_trip_in_nvidia_sample_layout(tmp_path: Path) -> None:
    track = random_track()
    write_csv(tmp_path / "animation_frames.csv", track)
    header = (tmp_path / "animation_frames.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["timeCode", "blendShapes.EyeBlinkLeft", "blendShapes.EyeLookDownLeft"]
    assert len(header) == 69
    back = read_csv(tmp_path / "animation_frames.csv")
    np.testing.assert_array_equal(back.weights, track.weights)
    np.testing.assert_allclose(back.time_codes, track.time_codes, atol=1e-12)
    assert back.missing == () and back.fps == pytest.approx(30.0)


def test_csv_reader_tolerates_index_column_lower_camel_and_missing_names(tmp_path: Path) -> None:
    text = ",timeCode,blendShapes.jawOpen,blendShapes.MouthClose,blendShapes.Unknown\n"
    text += "0,0.0,0.5,0.1,9\n1,0.0333333,0.25,0.0,9\n\n"
    (tmp_path / "a.csv").write_text(text)
    track = read_csv(tmp_path / "a.csv")
    assert track.weights.shape == (2, 68)
    assert track.weights[:, BLENDSHAPES.index("JawOpen")] == pytest.approx([0.5, 0.25])
    assert track.weights[0, BLENDSHAPES.index("MouthClose")] == pytest.approx(0.1)
    assert "JawOpen" not in track.missing and "EyeBlinkLeft" in track.missing
    assert len(track.missing) == 66


def test_csv_without_time_code_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("frame,blendShapes.JawOpen\n0,0.1\n")
    with pytest.raises(ValueError, match="timeCode"):
        read_csv(tmp_path / "a.csv")


def test_json_round_trip(tmp_path: Path) -> None:
    track = random_track(fps=60.0)
    write_json(tmp_path / "w.json", track)
    doc = json.loads((tmp_path / "w.json").read_text())
    assert doc["format"] == "a2f-weights/1" and doc["names"] == list(BLENDSHAPES)
    back = read_results(tmp_path / "w.json")
    np.testing.assert_array_equal(back.weights, track.weights)
    assert back.fps == pytest.approx(60.0)


def test_json_keyframes_in_nvidia_layout(tmp_path: Path) -> None:
    frames = [
        {"timeCode": 0.0, "blendShapes": {"JawOpen": 0.2, "TongueUp": 0.5}},
        {"timeCode": 0.0333, "blendShapes": {"JawOpen": 0.4, "TongueUp": 0.0}},
    ]
    (tmp_path / "k.json").write_text(json.dumps({"frames": frames}))
    track = read_json(tmp_path / "k.json")
    assert track.weights[:, BLENDSHAPES.index("JawOpen")] == pytest.approx([0.2, 0.4])
    assert track.weights[0, BLENDSHAPES.index("TongueUp")] == pytest.approx(0.5)


def test_json_weights_with_fps_only(tmp_path: Path) -> None:
    (tmp_path / "f.json").write_text(json.dumps({"fps": 30, "weights": [[0.0] * 68] * 3}))
    assert read_json(tmp_path / "f.json").time_codes == pytest.approx([0, 1 / 30, 2 / 30])


def test_track_refuses_non_increasing_time_codes() -> None:
    with pytest.raises(ValueError, match="increase"):
        WeightTrack(np.array([0.0, 0.0]), np.zeros((2, 68)))


def test_read_results_refuses_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown results format"):
        read_results(tmp_path / "w.txt")


def test_ground_truth_reads_targets_phones_closures_and_audio(corpus: Path) -> None:
    gt = read_ground_truth(corpus / "clips" / "clip_a.npz")
    assert gt.name == "clip_a" and gt.split == "test" and gt.transcript == "ba ma pa"
    assert gt.audio_path == corpus / "clips" / "clip_a.wav"
    assert sorted(gt.weights) == [30, 60] and gt.track(60).weights.shape == (120, 68)
    p = next(s for s in gt.phones if s.label == "p")
    assert (p.start_s, p.end_s) == pytest.approx((1.1, 1.17))  # closure: [start, release]
    assert [w.label for w in gt.words] == ["bamapa"]
    assert read_results(corpus / "clips" / "clip_a.npz").fps == pytest.approx(30.0)


def test_list_corpus_filters_by_split(corpus: Path) -> None:
    assert [p.stem for p in list_corpus(corpus, "test")] == ["clip_a", "clip_b"]
    assert [p.stem for p in list_corpus(corpus, "train")] == ["clip_c"]
    assert len(list_corpus(corpus, None)) == 3


def test_list_corpus_falls_back_to_split_array_or_folder_name(tmp_path: Path) -> None:
    for split in ("test", "train"):
        (tmp_path / split).mkdir()
        np.savez(tmp_path / split / "x.npz", weights_30=np.zeros((2, 68)))
    np.savez(tmp_path / "train" / "y.npz", weights_30=np.zeros((2, 68)), split=np.array("test"))
    assert [p.parent.name + "/" + p.stem for p in list_corpus(tmp_path, "test")] == [
        "test/x",
        "train/y",
    ]
