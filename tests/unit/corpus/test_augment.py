from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from a2f_train.corpus import augment


def _speechy(n=32000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return (
        0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
        + 0.01 * rng.standard_normal(n)
    ).astype(np.float32)


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
@pytest.mark.parametrize("snr", [10.0, 25.0, 40.0])
def test_noise_snr_is_what_was_asked(kind, snr):
    x = _speechy()
    rng = np.random.default_rng(3)
    y = augment.add_noise(x, snr, kind, rng, [_speechy(12000, 5), _speechy(20000, 6)])
    assert augment.measure_snr_db(x, y) == pytest.approx(snr, abs=0.01)


def test_pink_noise_spectrum_falls():
    x = augment.pink_noise(1 << 16, np.random.default_rng(0))
    f, p = signal.welch(x, fs=16000, nperseg=4096)
    low, high = p[(f > 50) & (f < 200)].mean(), p[(f > 3200) & (f < 6400)].mean()
    assert 10 * np.log10(low / high) > 10  # ~1/f: 32x in frequency ~ 15 dB


def test_reverb_keeps_rms_and_spreads_energy():
    x = np.zeros(16000, np.float32)
    x[100] = 1.0
    y = augment.reverb(x, 0.5, np.random.default_rng(0))
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=1e-6)
    assert np.sum(np.abs(y[2000:]) > 1e-4) > 1000


def test_band_limit_attenuates_outside_band():
    t = np.arange(16000) / 16000
    x = np.sin(2 * np.pi * 100 * t) + np.sin(2 * np.pi * 6000 * t)
    y = augment.band_limit(x, 300.0, 3400.0)
    assert np.std(y) < 0.1 * np.std(x)


def test_augment_is_seeded_and_limited():
    x = _speechy()
    spec = augment.AugmentSpec(
        noise_prob=1.0, reverb_prob=1.0, bandlimit_prob=1.0, gain_db=(6.0, 6.0)
    )
    a, info_a = augment.augment(x, spec, np.random.default_rng(9), [_speechy(8000, 1)])
    b, info_b = augment.augment(x, spec, np.random.default_rng(9), [_speechy(8000, 1)])
    np.testing.assert_array_equal(a, b)
    assert info_a == info_b and {"snr_db", "rt60_s", "gain_db"} <= set(info_a)
    assert np.max(np.abs(a)) <= augment.PEAK_LIMIT + 1e-6 and a.dtype == np.float32
