"""Window schedules (regression, diffusion, A2E), incremental feeding, cutting, accumulator."""

from __future__ import annotations

import itertools
import json
import wave

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2f_actors import windows
from a2f_actors.errors import AudioError
from a2f_actors.windows import (
    AudioAccumulator,
    WindowBatch,
    a2e_schedule,
    accumulate,
    clip_windows,
    close,
    cut_windows,
    diffusion_schedule,
    drop_before,
    drop_consumed,
    feed,
    frame_count,
    new_schedule_state,
    read_windows,
    regression_schedule,
    window_count,
)

SCHEDULES = {
    "regression30": regression_schedule(30),
    "regression60": regression_schedule(60),
    "regression29.97": regression_schedule(30000, 1001),
    "diffusion": diffusion_schedule(),
    "a2e": a2e_schedule(30, 1, 60000, 30),
}


def _concat(batches: list[WindowBatch]) -> dict[str, np.ndarray]:
    fields = ["window", "start", "end", "target", "frame", "frame_output", "time_code"]
    out = {f: np.concatenate([getattr(b, f) for b in batches]) for f in fields}
    out["frame_window"] = np.concatenate([b.window[b.frame_row] for b in batches])
    return out


def _run_stream(schedule, chunks: list[int]) -> dict[str, np.ndarray]:
    state, batches = new_schedule_state(schedule), []
    for n in chunks:
        state, batch = feed(state, n)
        assert np.all(batch.end <= state.accumulated)
        batches.append(batch)
    state, batch = close(state)
    return _concat([*batches, batch])


# Hand-derived references (N samples at 16 kHz: 0 s, 0.1 s, 1 s, 7.3 s).
# Regression at F fps: frames k with floor(k * 16000 / F) < N, i.e. ceil(N * F / 16000).
# Diffusion: windows k with 8000k - 12000 < N; frames f with f * 800 / 3 < N.
@pytest.mark.parametrize(
    ("name", "n", "windows", "frames"),
    [
        ("regression30", 0, 0, 0),
        ("regression30", 1600, 3, 3),
        ("regression30", 16000, 30, 30),
        ("regression30", 116800, 219, 219),  # ceil(116800 / 533.33) = 219
        ("regression60", 0, 0, 0),
        ("regression60", 1600, 6, 6),
        ("regression60", 16000, 60, 60),
        ("regression60", 116800, 438, 438),
        ("diffusion", 0, 2, 0),  # inferences 0 and 1 have targets -12000, -4000 < 0: no frames
        ("diffusion", 1600, 2, 6),
        ("diffusion", 16000, 4, 60),  # k < 28000 / 8000 = 3.5
        ("diffusion", 116800, 17, 438),  # k < 128800 / 8000 = 16.1; f < 438
    ],
)
def test_clip_windows_counts_match_reference_when_clip_of_given_length(name, n, windows, frames):
    schedule = SCHEDULES[name]
    batch = clip_windows(schedule, n)
    assert (len(batch), window_count(schedule, n)) == (windows, windows)
    assert frame_count(schedule, n) == frames
    np.testing.assert_array_equal(batch.frame, np.arange(frames))


def test_clip_windows_positions_match_reference_when_regression_30fps_7_3s():
    batch = clip_windows(regression_schedule(30), 116800)
    # k=1: floor(533.33) = 533; k=218: floor(218 * 1600 / 3) = floor(116266.67) = 116266.
    assert batch.start[:3].tolist() == [-4160, -3627, -3094]
    assert batch.target[:3].tolist() == [0, 533, 1066]
    assert (batch.start[-1], batch.target[-1], batch.end[-1]) == (112106, 116266, 120426)
    assert batch.time_code[-1] == pytest.approx(218 / 30)
    assert batch.frame_output.tolist() == [0] * 219


def test_clip_windows_positions_match_reference_when_regression_60fps_7_3s():
    batch = clip_windows(regression_schedule(60), 116800)
    # k=437: floor(437 * 800 / 3) = floor(116533.33) = 116533.
    assert (batch.start[-1], batch.target[-1], batch.end[-1]) == (112373, 116533, 120693)
    assert batch.target[1:4].tolist() == [266, 533, 800]


def test_clip_windows_maps_good_outputs_when_diffusion():
    batch = clip_windows(diffusion_schedule(), 116800)
    assert batch.start[:3].tolist() == [-16000, -8000, 0]
    assert batch.end[:3].tolist() == [0, 8000, 16000]
    assert batch.target[:3].tolist() == [-12000, -4000, 4000]
    window_of = batch.window[batch.frame_row]
    assert not np.any(window_of == 0)  # inference 0 is warm-up only
    # inference 1 (frames -15..14) keeps frames 0..14 at outputs 30..44
    assert batch.frame[window_of == 1].tolist() == list(range(15))
    assert batch.frame_output[window_of == 1].tolist() == list(range(30, 45))
    # inference 2 covers frames 15..44 at outputs 15..44; last inference 16 frames 435..437
    assert batch.frame_output[window_of == 2].tolist() == list(range(15, 45))
    assert batch.frame[window_of == 16].tolist() == [435, 436, 437]
    assert (batch.start[-1], batch.end[-1], batch.target[-1]) == (112000, 128000, 116000)
    np.testing.assert_allclose(batch.time_code, batch.frame / 60)


def test_clip_windows_one_window_per_skip_when_a2e():
    batch = clip_windows(a2e_schedule(30, 1, 60000, 30), 116800)
    # stride 16000 / 30 * 31 = 16533.33; targets floor(k * 16533.33) < 116800 -> k <= 7
    assert batch.target.tolist() == [0, 16533, 33066, 49600, 66133, 82666, 99200, 115733]
    assert batch.start[0] == -30000 and batch.end[0] == 30000
    assert batch.frame.tolist() == [31 * k for k in range(8)]


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(SCHEDULES)),
    n=st.integers(0, 70000),
    cuts=st.lists(st.integers(0, 70000), max_size=10),
)
def test_feed_yields_same_windows_as_one_pass_when_any_chunking(name, n, cuts):
    schedule = SCHEDULES[name]
    edges = [0, *sorted(min(c, n) for c in cuts), n]
    chunked = _run_stream(schedule, [b - a for a, b in itertools.pairwise(edges)])
    one_pass = _run_stream(schedule, [n])
    reference = _concat([clip_windows(schedule, n)])
    for key, value in reference.items():
        np.testing.assert_array_equal(chunked[key], value, err_msg=key)
        np.testing.assert_array_equal(one_pass[key], value, err_msg=key)


def test_feed_yields_window_only_when_its_end_has_arrived():
    state = new_schedule_state(regression_schedule(30))
    state, batch = feed(state, 4159)
    assert len(batch) == 0  # window 0 ends at 4160
    state, batch = feed(state, 1)
    assert batch.window.tolist() == [0]
    state, batch = feed(state, 533)
    assert batch.window.tolist() == [1]  # ends at 533 + 4160 = 4693
    assert state.next_window == 2


def test_feed_raises_when_stream_closed_or_negative():
    state, _ = close(new_schedule_state(diffusion_schedule()))
    assert len(close(state)[1]) == 0
    with pytest.raises(AudioError, match="closed=True"):
        feed(state, 10)
    with pytest.raises(AudioError):
        feed(new_schedule_state(diffusion_schedule()), -1)


@pytest.mark.parametrize(
    "make", [lambda: regression_schedule(0), lambda: a2e_schedule(window_size=59999)]
)
def test_schedule_raises_when_parameters_invalid(make):
    with pytest.raises(AudioError):
        make()


def test_cut_windows_zero_pads_when_before_zero_or_past_end():
    samples = np.arange(1, 11, dtype=np.float32)  # absolute samples 0..9
    out = cut_windows(samples, 0, np.array([-3, 4, 8]), 5, gain=2.0)
    assert out.dtype == np.float32 and out.shape == (3, 5)
    expected = np.array([[0, 0, 0, 1, 2], [5, 6, 7, 8, 9], [9, 10, 0, 0, 0]], np.float32) * 2
    np.testing.assert_array_equal(out, expected)


def test_cut_windows_reads_absolute_indices_when_offset_buffer():
    samples = np.arange(100, 110, dtype=np.float32)  # absolute samples 100..109
    out = cut_windows(samples, 100, np.array([100, 107]), 4)
    np.testing.assert_array_equal(out, [[100, 101, 102, 103], [107, 108, 109, 0]])


def test_cut_windows_inside_buffer_equals_padded_gather():
    # windows fully inside the buffer take the fast path; edge windows the general one
    rng = np.random.default_rng(3)
    samples = rng.standard_normal(50).astype(np.float32)
    padded = np.concatenate([np.zeros(20, np.float32), samples, np.zeros(20, np.float32)])
    for starts in ([0, 7, 40], [-4, 45], [3]):
        out = cut_windows(samples, 0, np.array(starts), 10, gain=0.5)
        expected = np.stack([padded[20 + s : 30 + s] for s in starts]) * np.float32(0.5)
        np.testing.assert_array_equal(out, expected)
        assert out.dtype == np.float32 and out.flags.c_contiguous


def test_cut_windows_raises_when_reading_dropped_samples():
    with pytest.raises(ValueError, match="dropped"):
        cut_windows(np.zeros(10, np.float32), 100, np.array([95]), 10)


def test_cut_windows_returns_zeros_when_buffer_empty():
    out = cut_windows(np.zeros(0, np.float32), 0, np.array([-5, 0, 7]), 4)
    np.testing.assert_array_equal(out, np.zeros((3, 4), np.float32))


@pytest.mark.parametrize("name", ["regression30", "diffusion", "a2e"])
def test_accumulator_cuts_same_windows_as_full_clip_when_streaming_with_drops(name):
    schedule = SCHEDULES[name]
    clip = np.random.default_rng(3).uniform(-1, 1, 70001).astype(np.float32)
    acc, state, got = AudioAccumulator(), new_schedule_state(schedule), []
    for chunk in np.array_split(clip, 37):
        acc = accumulate(acc, chunk)
        state, batch = feed(state, len(chunk))
        got.append(read_windows(acc, batch))
        acc = drop_consumed(acc, state)
        assert len(acc.samples) <= schedule.window_size + len(chunk) + int(schedule.stride) + 1
    state, batch = close(state)
    got.append(read_windows(acc, batch))
    full = clip_windows(schedule, len(clip))
    expected = cut_windows(clip, 0, full.start, schedule.window_size)
    np.testing.assert_array_equal(np.concatenate(got), expected)
    assert acc.total == len(clip)


def test_drop_before_keeps_absolute_offset_when_dropping_past_end():
    acc = accumulate(AudioAccumulator(), np.ones(10, np.float32))
    assert drop_before(acc, -5) is acc
    acc = drop_before(acc, 4)
    assert (acc.offset, len(acc.samples), acc.total) == (4, 6, 10)
    acc = drop_before(acc, 50)
    assert (acc.offset, len(acc.samples), acc.total) == (10, 0, 10)


def _write_wav(path, seconds: float, rate: int, channels: int = 2) -> None:
    t = np.arange(round(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(tone[:, None], channels, axis=1).tobytes())


def test_cli_audio_windows_prints_schedule_json_when_regression_wav(tmp_path, capsys):
    from deployments.cli import main

    path = tmp_path / "clip.wav"
    _write_wav(path, 7.3, 44100)
    assert main(["audio", "windows", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["source"]["channels"] == 2
    assert summary["resample"]["samples_16k"] == 116800
    assert (summary["windows"], summary["frames"]) == (219, 219)
    assert summary["last_window"]["target"] == 116266
    assert summary["first_window"]["start"] == -4160


def test_cli_audio_windows_prints_text_when_diffusion(tmp_path, capsys):
    from deployments.cli import main

    path = tmp_path / "clip.wav"
    _write_wav(path, 1.0, 16000, channels=1)
    assert main(["audio", "windows", str(path), "--mode", "diffusion"]) == 0
    out = capsys.readouterr().out
    assert "windows:   4, frames: 60" in out
    assert "k=0 [-16000, 0) target -12000, no frames" in out


def test_cli_audio_windows_exits_2_with_message_when_audio_invalid(tmp_path, capsys):
    from deployments.cli import main

    path = tmp_path / "low.wav"
    _write_wav(path, 0.1, 8000, channels=1)
    assert main(["audio", "windows", str(path)]) == 2
    assert "8000 Hz is outside" in capsys.readouterr().err


@pytest.mark.parametrize(
    "schedule",
    [
        windows.regression_schedule(30),
        windows.regression_schedule(60),
        windows.regression_schedule(24000, 1001),
        windows.diffusion_schedule(),
        windows.a2e_schedule(30, 1, 16000, 9),
    ],
    ids=["reg30", "reg60", "reg23.976", "diffusion", "a2e"],
)
def test_few_window_batches_equal_the_vectorized_batches_exactly(schedule) -> None:
    """The streaming fast path (a few windows per feed) builds the very same arrays."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        k0 = int(rng.integers(0, 400))
        k1 = k0 + int(rng.integers(-1, windows._SMALL_BATCH + 1))
        n = None if rng.random() < 0.5 else int(rng.integers(0, 16000 * 30))
        small = windows._batch_small(schedule, k0, max(k0, k1), n)
        want = windows._batch_vectorized(schedule, k0, k1, n)
        for name in ("window", "start", "end", "target", "frame", "frame_row", "frame_output",
                     "time_code"):  # fmt: skip
            got, expected = getattr(small, name), getattr(want, name)
            assert got.dtype == expected.dtype, name
            np.testing.assert_array_equal(got, expected, err_msg=name)
        assert small.window_size == want.window_size


def test_cut_windows_equals_a_per_window_reference_at_and_past_both_ends():
    """Random buffers, offsets and window starts (many past either end): zeros outside."""
    rng = np.random.default_rng(11)
    for _ in range(300):
        n, size = int(rng.integers(0, 60)), int(rng.integers(1, 25))
        offset = int(rng.integers(0, 3)) * int(rng.integers(0, 40))
        samples = rng.standard_normal(n).astype(np.float32)
        lo = offset if offset else -size - 5  # never read dropped samples
        starts = np.sort(rng.integers(lo, offset + n + 5, size=int(rng.integers(1, 6))))
        gain = float(rng.choice([1.0, 0.7]))
        out = cut_windows(samples, offset, starts, size, gain)
        expected = np.zeros((len(starts), size), np.float32)
        for w, s in enumerate(starts):
            for j in range(size):
                rel = s + j - offset
                if s + j >= 0 and 0 <= rel < n:
                    expected[w, j] = samples[rel]
        expected = expected * np.float32(gain) if gain != 1.0 else expected
        np.testing.assert_array_equal(out, expected)
        assert out.dtype == np.float32 and out.shape == (len(starts), size)
