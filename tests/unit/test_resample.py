"""Polyphase resampler: frequency response targets, streaming exactness, lengths, alignment."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2f_actors.errors import AudioError
from a2f_actors.resample import (
    design_filter,
    flush,
    new_resample_state,
    output_length,
    resample,
    resample_chunk,
)

RATES = [22050, 24000, 32000, 44100, 48000, 96000, 144000, 44101]  # 44101: interpolated phases


def _tone(rate: int, freq: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _steady(y: np.ndarray) -> np.ndarray:
    return y[200:-200].astype(np.float64)  # skip the 2.5 ms filter edges (and more)


def _gain_db(rate: int, freq: float) -> float:
    """Gain of a tone through the resampler: least-squares sine fit at 16 kHz, in dB."""
    y = _steady(resample(_tone(rate, freq, 0.15), rate))
    t = (np.arange(len(y)) + 200) / 16000
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return 20 * np.log10(np.hypot(*coef) / 0.5)


def _attenuation_db(rate: int, freq: float) -> float:
    """Output RMS (whatever frequency it aliased to) relative to the input tone's RMS, in dB."""
    y = _steady(resample(_tone(rate, freq, 0.15), rate))
    return 20 * np.log10(np.sqrt(np.mean(y**2)) / (0.5 / np.sqrt(2)))


@pytest.mark.parametrize("rate", RATES)
def test_resample_meets_tone_targets_when_rate_above_16k(rate):
    gain_1k = _gain_db(rate, 1000.0)
    att = _attenuation_db(rate, 8500.0)
    edge = _gain_db(rate, 7000.0)
    print(f"\n{rate} Hz: 1 kHz {gain_1k:+.5f} dB, 7 kHz {edge:+.5f} dB, 8.5 kHz {att:.1f} dB")
    assert abs(gain_1k) < 0.1
    assert att < -60.0
    assert abs(edge) < 0.01  # passband extends to 7 kHz


def test_resample_passes_through_unchanged_when_rate_is_16k():
    x = np.random.default_rng(0).uniform(-1, 1, 1001).astype(np.float32)
    np.testing.assert_array_equal(resample(x, 16000), x)


@pytest.mark.parametrize("rate", [22050, 44100, 48000, 144000, 44101])
@pytest.mark.parametrize("n", [0, 1, 2, 440, 441, 9999])
def test_resample_output_length_is_rounded_ratio_when_any_length(rate, n):
    x = np.ones(n, np.float32)
    expected = int(np.floor(n * 16000 / rate + 0.5))
    assert output_length(n, rate) == expected
    assert len(resample(x, rate)) == expected


@settings(max_examples=25, deadline=None)
@given(
    rate=st.sampled_from([22050, 44100, 48000, 96000, 44101]),
    n=st.integers(0, 6000),
    cuts=st.lists(st.integers(0, 6000), max_size=8),
)
def test_resample_chunked_equals_one_pass_when_any_chunking(rate, n, cuts):
    x = np.random.default_rng(n).uniform(-1, 1, n).astype(np.float32)
    reference = resample(x, rate)
    state, outs = new_resample_state(rate), []
    for a, b in itertools.pairwise([0, *sorted(cuts), n]):
        state, out = resample_chunk(state, x[min(a, n) : min(b, n)])
        outs.append(out)
    state, tail = flush(state)
    np.testing.assert_array_equal(np.concatenate([*outs, tail]), reference)
    assert state.n_out == output_length(n, rate)
    assert len(state.history) == 0


def test_resample_history_stays_bounded_when_streaming_long_input():
    state = new_resample_state(48000)
    chunk = np.zeros(4800, np.float32)
    for _ in range(50):
        state, _ = resample_chunk(state, chunk)
    design = design_filter(48000)
    assert len(state.history) <= design.taps + design.down
    pending = output_length(50 * 4800, 48000) - state.n_out  # outputs waiting for look-ahead
    assert 0 < pending <= design.half // design.down + 1


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_resample_matches_scipy_resample_poly_when_signal_in_passband(rate):
    from scipy.signal import resample_poly

    t = np.arange(rate // 4) / rate
    freqs = [220.0, 1234.0, 3100.0, 5500.0]
    x = sum(0.2 * np.sin(2 * np.pi * f * t + f) for f in freqs).astype(np.float32)
    g = np.gcd(rate, 16000)
    ours = resample(x, rate)
    ref = resample_poly(x.astype(np.float64), 16000 // g, rate // g)
    n = min(len(ours), len(ref))
    np.testing.assert_allclose(ours[300 : n - 300], ref[300 : n - 300], atol=2e-3)


def test_resample_aligns_impulse_when_input_time_is_on_output_grid():
    rate = 48000
    x = np.zeros(4800, np.float32)
    x[3 * 1000] = 1.0  # input time 62.5 ms == output sample 1000
    y = resample(x, rate)
    assert int(np.argmax(y)) == 1000
    np.testing.assert_allclose(y[990:1011], y[1010:989:-1], atol=1e-7)  # zero phase: symmetric


def test_design_filter_rows_have_unit_dc_gain_when_exact_or_interpolated():
    for rate in (44100, 44101):
        table = design_filter(rate).table
        np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-5)
    assert design_filter(44100).exact
    assert not design_filter(44101).exact


def test_resample_chunk_raises_when_stream_already_flushed():
    state, _ = flush(new_resample_state(44100))
    assert flush(state)[1].size == 0
    with pytest.raises(AudioError, match="already flushed"):
        resample_chunk(state, np.zeros(3, np.float32))


def test_resample_module_does_not_import_scipy_when_imported_alone():
    code = (
        "import sys, a2f_actors.resample, a2f_actors.audio, a2f_actors.windows;"
        "sys.exit(any(m.split('.')[0] == 'scipy' for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
