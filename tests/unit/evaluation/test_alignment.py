from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from a2f_train.evaluation.alignment import force_align, normalize_transcript
from a2f_train.evaluation.real_speech import (
    APT_PACKAGE,
    RealSpeechUnavailable,
    find_testdata_root,
    load_real_speech,
    parse_transcription,
)

pytest.importorskip("pocketsphinx")


def real_clips():
    try:
        return load_real_speech()
    except RealSpeechUnavailable as exc:
        pytest.skip(str(exc))


def test_normalize_transcript_strips_marks_ids_and_punctuation() -> None:
    text = "<s> Ten of clubs, Mister Dashwood's! </s> (001)"
    assert normalize_transcript(text) == ["ten", "of", "clubs", "mister", "dashwood's"]


def test_parse_transcription_reads_sphinx_lines(tmp_path: Path) -> None:
    (tmp_path / "x.transcription").write_text("<s> ten of clubs  </s> (001)\nnoise\n")
    assert parse_transcription(tmp_path / "x.transcription") == [("001", "ten of clubs")]


def test_missing_testdata_names_the_apt_package(tmp_path: Path) -> None:
    with pytest.raises(RealSpeechUnavailable, match=APT_PACKAGE):
        find_testdata_root((tmp_path / "nowhere",))


def test_real_speech_lists_librivox_and_cards_with_transcripts() -> None:
    clips = real_clips()
    names = [c.name for c in clips]
    assert sum(n.startswith("librivox/") for n in names) == 5
    assert sum(n.startswith("cards/") for n in names) == 5
    assert all(c.transcript and c.audio.dtype == np.float32 for c in clips)
    assert sum(c.duration_s for c in clips) == pytest.approx(34.4, abs=0.5)


def test_alignment_of_a_real_clip_covers_words_and_places_bilabials() -> None:
    clip = next(c for c in real_clips() if c.name.endswith("0930"))
    assert clip.transcript == "he might even have been made amiable himself"
    al = force_align(clip.audio, clip.transcript)
    assert al.error is None and al.coverage > 0.8
    words = {w.label: w for w in al.words}
    bil = al.bilabials
    assert [p.label for p in bil] == ["M", "B", "M", "M", "B", "M"]  # might been made amiable(2)
    for p in bil:  # each bilabial lies inside a word that spells it
        word = next(w for w in al.words if w.start_s <= p.start_s < w.end_s)
        assert p.label.lower() in word.label and p.end_s <= word.end_s + 1e-9
        assert 0.03 <= p.end_s - p.start_s <= 0.2  # plausible closure durations
    assert bil[0].start_s == pytest.approx(words["might"].start_s, abs=0.02)
    assert bil[1].start_s == pytest.approx(words["been"].start_s, abs=0.02)
    assert 0.2 < al.silences[0].end_s < 0.3  # leading silence, speech starts ~0.21 s


def test_alignment_reports_words_missing_from_dictionary() -> None:
    clip = next(c for c in real_clips() if c.name == "cards/001")
    al = force_align(clip.audio, "ten of clubs qzxqzx")
    assert al.oov == ("qzxqzx",)
    assert al.coverage == pytest.approx(3 / 4)


def test_isolated_alignment_does_not_depend_on_earlier_clips() -> None:
    """Corpus workers align clips in any order: ``isolated`` must give the same segments."""
    from a2f_train.evaluation import alignment

    clips = real_clips()
    target = next(c for c in clips if c.name == "cards/002")
    alignment._decoder.cache_clear()  # a fresh process
    alone = force_align(target.audio, target.transcript)
    for c in clips:  # the shared front end adapts to these
        if c is not target:
            force_align(c.audio, c.transcript, isolated=False)
    after = force_align(target.audio, target.transcript, isolated=False)
    isolated = force_align(target.audio, target.transcript)  # the default
    assert after.phones != alone.phones  # the history effect is real (measured on this clip)
    assert isolated.phones == alone.phones and isolated.words == alone.words


def test_harness_alignment_does_not_depend_on_the_clips_scored_before() -> None:
    """A clip scores the same alone or inside any set (the harness aligns in isolation)."""
    from a2f_train.evaluation import alignment, harness

    clips = real_clips()
    target = next(c for c in clips if c.name == "cards/002")
    alignment._decoder.cache_clear()  # a fresh process
    alone, _ = harness._align(target.audio, target.transcript)
    for c in clips:
        if c is not target:
            harness._align(c.audio, c.transcript)
    after, _ = harness._align(target.audio, target.transcript)
    assert after == alone
