from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from a2f_train.evaluation import harness
from a2f_train.evaluation.report import (
    aggregate,
    format_scores,
    group_closures,
    wilson_interval,
)
from a2f_train.evaluation.results_io import WeightTrack, read_ground_truth, write_csv, write_json
from deployments.cli import main

from .conftest import JAW, clip_weights

LIP = harness.LipModel(lambda w: np.asarray(w)[:, JAW], 0.03, "stand-in")


def test_ground_truth_scores_perfect_closure_and_rest(corpus: Path) -> None:
    scores = harness.score_ground_truth(corpus, "test", lip=LIP)
    assert [s.name for s in scores] == ["clip_a", "clip_b"]
    pooled = aggregate(scores)
    assert pooled["bilabial_closure"] == 1.0 and pooled["bilabial_total"] == 6
    assert pooled["bilabial_near"] == 1.0 and pooled["bilabial_near_closed"] == 6
    assert pooled["spurious_closure"] == 0.0 and pooled["other_phones"] == 6  # open vowels
    assert pooled["rest_in_silence"] == 1.0
    assert pooled["energy_r"] > 0.5 and abs(pooled["energy_lag_ms"]) < 60
    assert pooled["jitter"] < 0.2
    assert "ALL (2 clips)" in format_scores(scores)
    assert "bilabial closure 6/6 = 100.0% (95% Wilson interval 61.0% - 100.0%)" in format_scores(
        scores
    )


def test_open_mouth_fails_closure_and_rest(corpus: Path) -> None:
    gt = read_ground_truth(corpus / "clips" / "clip_a.npz")
    w = gt.weights[30].copy()
    w[:, JAW] += 0.2
    audio = np.zeros(32000, np.float32)
    s = harness.score_track("open", WeightTrack.from_fps(w, 30), audio, phones=gt.phones, lip=LIP)
    assert s.metrics["bilabial_closure"] == 0.0 and s.metrics["rest_in_silence"] == 0.0
    assert s.metrics["bilabial_near"] == 0.0  # 0.2 is far past twice the threshold


def test_under_closed_bilabials_count_as_near_not_closed(corpus: Path) -> None:
    gt = read_ground_truth(corpus / "clips" / "clip_a.npz")
    w = gt.weights[30].copy()
    w[:, JAW] += 1.5 * LIP.threshold  # between the threshold and twice it
    s = harness.score_track("half", WeightTrack.from_fps(w, 30), np.zeros(32000, np.float32),
                            phones=gt.phones, lip=LIP)  # fmt: skip
    assert s.metrics["bilabial_total"] > 0
    assert s.metrics["bilabial_closure"] == 0.0 and s.metrics["bilabial_near"] == 1.0
    assert s.metrics["bilabial_near_closed"] == s.metrics["bilabial_total"]
    assert "near" in format_scores([s])


def test_lips_shut_throughout_count_as_spurious_closures(corpus: Path) -> None:
    gt = read_ground_truth(corpus / "clips" / "clip_a.npz")
    shut = np.zeros_like(gt.weights[30])
    s = harness.score_track("shut", WeightTrack.from_fps(shut, 30), np.zeros(32000, np.float32),
                            phones=gt.phones, lip=LIP)  # fmt: skip
    assert s.metrics["bilabial_closure"] == 1.0  # closing everything scores every bilabial...
    assert s.metrics["spurious_closure"] == 1.0  # ...and is caught here
    assert s.metrics["spurious_closed"] == s.metrics["other_phones"] > 0


def test_results_dir_against_corpus_gives_zero_mae_for_the_targets(
    tmp_path: Path, corpus: Path
) -> None:
    out = tmp_path / "results"
    out.mkdir()
    write_csv(out / "clip_a.csv", WeightTrack.from_fps(clip_weights(60), 60))
    write_json(out / "clip_b.json", WeightTrack.from_fps(clip_weights(30), 30))
    scores = harness.score_results_dir(out, corpus, "test", lip=LIP)
    assert [s.name for s in scores] == ["clip_a", "clip_b"]
    for s in scores:
        assert s.metrics["mae_all"] == pytest.approx(0.0, abs=1e-6)
        assert s.metrics["jitter"] == pytest.approx(s.metrics["jitter_truth"], abs=1e-9)


def test_cli_scores_a_results_file_with_its_audio(tmp_path: Path, corpus: Path, capsys) -> None:
    csv = tmp_path / "animation_frames.csv"
    write_csv(csv, WeightTrack.from_fps(clip_weights(30), 30))
    out = tmp_path / "report.json"
    rc = main(
        ["eval", str(csv), "--audio", str(corpus / "clips" / "clip_a.wav"), "--json", str(out)]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "animation_frames" in printed and "silence: energy VAD" in printed
    doc = json.loads(out.read_text())
    metrics = doc["clips"][0]["metrics"]
    assert metrics["rest_in_silence"] == 1.0 and "bilabial_closure" not in metrics
    assert doc["aggregate"]["energy_r"] > 0.5


def test_cli_scores_corpus_ground_truth(corpus: Path, capsys) -> None:
    assert main(["eval", "--corpus", str(corpus), "--split", "train"]) == 0
    out = capsys.readouterr().out
    assert "ground truth" in out and "clip_c" in out and "clip_a" not in out


def test_cli_refuses_results_file_without_audio(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "a.csv"
    write_csv(csv, WeightTrack.from_fps(clip_weights(30), 30))
    assert main(["eval", str(csv)]) == 2
    assert "--audio" in capsys.readouterr().err


def test_cli_with_nothing_to_score_fails_with_usage_hint(capsys) -> None:
    assert main(["eval"]) == 2
    assert "nothing to score" in capsys.readouterr().err


def test_cli_results_with_transcript_aligns_real_speech(tmp_path: Path, capsys) -> None:
    pytest.importorskip("pocketsphinx")
    from a2f_train.evaluation.real_speech import RealSpeechUnavailable, load_real_speech

    try:
        clip = next(c for c in load_real_speech() if c.name.endswith("0930"))
    except RealSpeechUnavailable as exc:
        pytest.skip(str(exc))
    csv = tmp_path / "zeros.csv"
    write_csv(csv, WeightTrack.from_fps(np.zeros((99, 68), np.float32), 30))
    out = tmp_path / "r.json"
    argv = ["eval", str(csv), "--audio", str(clip.path), "--transcript", clip.transcript]
    assert main([*argv, "--json", str(out)]) == 0
    assert "alignment coverage 1.00" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["clips"][0]["metrics"]["bilabial_total"] == 6
    assert doc["clips"][0]["metrics"]["bilabial_closure"] == 1.0  # all-zero weights: lips shut


@pytest.mark.slow
def test_cli_real_speech_reports_alignment_coverage(tmp_path: Path, capsys) -> None:
    pytest.importorskip("pocketsphinx")
    from a2f_train.evaluation.real_speech import RealSpeechUnavailable, find_testdata_root

    try:
        find_testdata_root()
    except RealSpeechUnavailable as exc:
        pytest.skip(str(exc))
    out = tmp_path / "rs.json"
    assert main(["eval", "--real-speech", "--json", str(out)]) == 0
    assert "pocketsphinx forced alignment" in capsys.readouterr().out
    doc = json.loads(out.read_text())["real_speech_alignment"]
    assert doc["coverage"] > 0.8 and len(doc["clips"]) == 10
    assert sum(len(c["bilabials"]) for c in doc["clips"]) >= 30


def _dev_folder(tmp_path: Path) -> Path:
    """A one-utterance real-speech folder in the pocketsphinx layout (LibriVox 0930's audio)."""
    pytest.importorskip("pocketsphinx")
    from a2f_train.evaluation.real_speech import RealSpeechUnavailable, load_real_speech

    try:
        clip = next(c for c in load_real_speech() if c.name.endswith("0930"))
    except RealSpeechUnavailable as exc:
        pytest.skip(str(exc))
    folder = tmp_path / "dev" / "group"
    folder.mkdir(parents=True)
    (folder / "utt.wav").write_bytes(clip.path.read_bytes())
    (folder / "group.transcription").write_text(f"<s> {clip.transcript} </s> (utt)\n")
    return folder.parent


def test_cli_real_speech_dir_scores_another_folder(tmp_path: Path, capsys) -> None:
    from a2f_actors.model_package.synthetic import make_regression_package

    dev = _dev_folder(tmp_path)
    model_json = make_regression_package(tmp_path / "pkg", onnx=tiny_regression_onnx(8 + 4 + 19))
    out = tmp_path / "dev.json"
    argv = ["eval", str(model_json.parent), "--real-speech-dir", str(dev), "--json", str(out)]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert [c["name"] for c in doc["clips"]] == ["group/utt"]  # only the folder's clip
    assert doc["clips"][0]["metrics"]["bilabial_total"] == 6
    assert [c["name"] for c in doc["real_speech_alignment"]["clips"]] == ["group/utt"]
    assert main(["eval", "--real-speech-dir", str(tmp_path / "none")]) == 2
    assert "a2f_train.evaluation.real_dev" in capsys.readouterr().err


def test_real_dev_converts_raw_and_wav_sources_to_16k() -> None:
    import io

    from scipy.io import wavfile

    from a2f_train.evaluation.real_dev import UTTERANCES, to_16k

    tone = (np.sin(2 * np.pi * 200 * np.arange(8000) / 8000) * 8000).astype(np.int16)
    raw = to_16k(tone.tobytes(), 8000)  # 1 s of raw s16le at 8 kHz
    buf = io.BytesIO()
    wavfile.write(buf, 8000, tone)
    wav = to_16k(buf.getvalue(), 0)
    assert raw.shape == wav.shape == (16000,) and raw.dtype == np.float32
    np.testing.assert_allclose(raw, wav, atol=1e-6)
    assert abs(np.abs(raw).max() - 8000 / 32768) < 0.01
    names = [u[0] for utts in UTTERANCES.values() for u in utts]
    assert len(names) == len(set(names)) == 11  # utterance ids are file names: unique


def test_real_dev_word_names_become_transcripts() -> None:
    from a2f_train.evaluation.real_dev import word_transcript, words_folder

    assert word_transcript("umbrella") == "umbrella"
    assert word_transcript("pizzeria_broccolli") == "broccoli"  # file name misspelt
    assert word_transcript("egypt_palmtree") == "palm tree"
    assert word_transcript("moon_fallingstar") == "falling star"
    assert words_folder(Path("data/real_dev")) == Path("data/real_dev_words")


def tiny_regression_onnx(rows: int) -> bytes:
    """result[b, 0, :] = mean|input[b]| * gains: louder audio opens every shape more."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    gains = numpy_helper.from_array(
        np.linspace(-2, 8, rows, dtype=np.float32).reshape(1, 1, rows), "g"
    )
    nodes = [
        helper.make_node("Abs", ["input"], ["a"]),
        helper.make_node("ReduceMean", ["a"], ["m"], axes=[2], keepdims=1),
        helper.make_node("Mul", ["m", "g"], ["result"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, ["B", 1, 8320]),
            helper.make_tensor_value_info("emotion", TensorProto.FLOAT, ["B", 1, 26]),
        ],
        [helper.make_tensor_value_info("result", TensorProto.FLOAT, ["B", 1, rows])],
        [gains],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_package_is_scored_through_the_offline_pipeline(
    tmp_path: Path, corpus: Path, capsys
) -> None:
    from a2f_actors.model_package.synthetic import make_regression_package

    model_json = make_regression_package(
        tmp_path / "pkg", num_verts_skin=40, num_shapes_skin=8, num_shapes_tongue=4,
        onnx=tiny_regression_onnx(8 + 4 + 19),
    )  # fmt: skip
    scores = harness.score_package(
        model_json.parent, corpus_dir=corpus, audio=corpus / "clips" / "clip_a.wav", lip=LIP
    )
    assert [s.name for s in scores] == ["clip_a", "clip_a", "clip_b"]
    assert all(s.source == "package" for s in scores)
    assert np.isfinite(scores[1].metrics["mae_all"]) and scores[1].metrics["bilabial_total"] == 3
    out = tmp_path / "pkg.json"
    argv = ["eval", str(model_json.parent), "--corpus", str(corpus), "--json", str(out)]
    assert main(argv) == 0
    assert "package" in capsys.readouterr().out
    assert len(json.loads(out.read_text())["clips"]) == 2


def test_package_without_clip_source_is_refused(tmp_path: Path, capsys) -> None:
    from a2f_actors.model_package.synthetic import make_regression_package

    model_json = make_regression_package(tmp_path / "pkg", onnx=tiny_regression_onnx(8 + 4 + 19))
    assert main(["eval", str(model_json.parent)]) == 2
    assert "needs audio" in capsys.readouterr().err


def test_package_without_onnx_is_refused(tmp_path: Path, capsys) -> None:
    from a2f_actors.model_package.synthetic import make_regression_package

    model_json = make_regression_package(tmp_path / "pkg")
    assert main(["eval", str(model_json.parent), "--audio", "x.wav"]) == 2
    assert "network.onnx" in capsys.readouterr().err


def test_default_lip_model_has_a_positive_closure_threshold() -> None:
    lip = harness.default_lip_model()
    assert lip.source in {"character", "weight proxy"} and lip.threshold > 0
    w = np.zeros((2, 68), np.float32)
    w[1, JAW] = 0.3
    gap = np.asarray(lip.lip_gap(w))
    assert gap[0] < lip.threshold < gap[1]


def test_wilson_interval_matches_the_published_values() -> None:
    lo, hi = wilson_interval(27, 34)  # the real-speech test set's diffusion score
    assert (round(lo, 3), round(hi, 3)) == (0.632, 0.897)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert all(np.isnan(wilson_interval(0, 0)))


def test_closures_are_also_reported_per_group_of_a_real_speech_folder() -> None:
    from a2f_train.evaluation.harness import ClipScore

    def clip(name: str, closed: int, total: int) -> ClipScore:
        m = {"bilabial_closed": closed, "bilabial_total": total}
        return ClipScore(name, "package", {**m, "bilabial_closure": closed / max(total, 1)})

    scores = [clip("voice/a", 9, 10), clip("arctic/b", 1, 2), clip("arctic/c", 2, 2),
              clip("words/none", 0, 0), clip("loose", 3, 3)]  # fmt: skip
    assert group_closures(scores) == {"arctic": (3, 4), "voice": (9, 10)}
    assert "bilabial closure by group: arctic 3/4, voice 9/10" in format_scores(scores)
    assert "by group" not in format_scores(scores[1:3])  # one group: the pooled line says it
