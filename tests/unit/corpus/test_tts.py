from __future__ import annotations

import numpy as np
import pytest

from a2f_train.corpus import tts_espeak, tts_flite
from a2f_train.corpus.phonemes import SILENCE


@pytest.mark.parametrize("fixture", ["espeak_utt", "flite_utt"])
def test_engine_phone_durations_sum_to_audio_length(fixture, request):
    utt = request.getfixturevalue(fixture)
    p = utt.phones
    assert utt.audio.dtype == np.float32 and utt.audio.ndim == 1
    assert 1.0 < utt.duration_s < 10.0
    np.testing.assert_allclose(p.end[:-1], p.start[1:])  # contiguous
    assert p.start[0] == 0.0
    assert abs(p.end[-1] - utt.duration_s) < 0.01
    assert float(np.sum(p.end - p.start)) == pytest.approx(utt.duration_s, abs=0.01)
    assert np.all((p.start <= p.release) & (p.release <= p.end))
    labels = [lab for lab in p.label if lab != SILENCE]
    for ph in ("b", "m", "p", "f", "v"):
        assert ph in labels


@pytest.mark.parametrize("fixture", ["espeak_utt", "flite_utt"])
def test_engine_words_are_timed_in_order(fixture, request):
    w = request.getfixturevalue(fixture).words
    assert [t.strip(".").lower() for t in w.text][:4] == ["bob", "bought", "a", "map"]
    assert np.all(np.isfinite(w.start)) and np.all(np.diff(w.start) >= 0)
    assert np.all(w.end >= w.start)


def test_espeak_p_closure_is_silent_before_release(espeak_utt):
    p = espeak_utt.phones
    i = p.label.index("p")
    s0, r = round(p.start[i] * 16000), round(p.release[i] * 16000)
    assert r - s0 > 0.02 * 16000  # a real closure interval, not the burst event only
    assert np.max(np.abs(espeak_utt.audio[s0 + 40 : r - 40])) < 0.01


def test_fix_stop_closures_moves_onset_to_start_of_silent_run():
    x = np.full(2000, 3000, np.int16)
    x[1000:1500] = 0  # closure silence ending at the /p/ event (sample 1500)
    onsets, releases = tts_espeak.fix_stop_closures(x, [0, 600, 1500], ["sil", "aa", "p"])
    assert onsets == [0, 600, 1000]
    assert releases == [-1, -1, 1500]


def test_fix_stop_closures_keeps_onset_without_silence():
    x = np.full(2000, 3000, np.int16)
    onsets, releases = tts_espeak.fix_stop_closures(x, [0, 600, 1500], ["sil", "aa", "b"])
    assert onsets == [0, 600, 1500]
    assert 1500 < releases[2] < 2000


def test_espeak_unknown_voice_is_a_clear_error():
    with pytest.raises(tts_espeak.EspeakError, match="not found"):
        tts_espeak.synthesize("hello", "xx-nonexistent")


def test_espeak_timeout_aborts():
    with pytest.raises(TimeoutError):
        tts_espeak.synthesize("a long sentence " * 20, "en-us", timeout_s=1e-9)


def test_flite_missing_binary_names_the_package(monkeypatch):
    monkeypatch.setattr(tts_flite.shutil, "which", lambda _name: None)
    with pytest.raises(tts_flite.FliteError, match="Debian package 'flite'"):
        tts_flite.synthesize("hello", "slt")


def test_parse_psdur():
    pairs = tts_flite.parse_psdur("pau:0.193 b:0.224 aa:0.435\n")
    assert pairs == [("pau", 0.193), ("b", 0.224), ("aa", 0.435)]
    with pytest.raises(tts_flite.FliteError):
        tts_flite.parse_psdur("")
