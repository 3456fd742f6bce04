"""Seeded audio augmentation for 16 kHz clips; augmented copies share the clean clip's targets.

Chain (each step drawn with its probability): reverb -> additive noise -> band-limiting -> gain
-> peak limit. Every function is pure given its ``numpy.random.Generator``.

* noise: white, pink (1/f power) or babble (a mix of other utterances), scaled so that the
  *whole-clip* mean power ratio ``10 log10(P_signal / P_noise)`` equals the requested SNR (dB);
* reverb: impulse response = a unit direct path plus exponentially decaying Gaussian noise
  (``exp(-6.91 t / RT60)``, i.e. -60 dB at RT60), convolved and RMS-matched to the input;
* band-limiting: 4th-order Butterworth high-pass and/or low-pass (telephone-ish 300-3400 Hz
  when both are drawn);
* gain: uniform in dB, then a peak limit to 0.99 (so PCM16 never clips).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal

__all__ = [
    "AugmentSpec",
    "add_noise",
    "augment",
    "band_limit",
    "measure_snr_db",
    "pink_noise",
    "reverb",
]

RATE_HZ = 16000
PEAK_LIMIT = 0.99
NOISE_KINDS: tuple[str, ...] = ("white", "pink", "babble")


@dataclass(frozen=True)
class AugmentSpec:
    """Probabilities and ranges of the augmentation chain (see ``config.AugmentConfig``).

    Attributes:
        snr_db: (low, high) additive-noise SNR range, dB.
        noise_prob: chance of additive noise.
        noise_kinds: kinds drawn uniformly.
        reverb_prob: chance of reverb.
        rt60_s: (low, high) reverb time, seconds.
        bandlimit_prob: chance of band-limiting.
        gain_db: (low, high) gain range, dB.
    """

    snr_db: tuple[float, float] = (10.0, 40.0)
    noise_prob: float = 0.8
    noise_kinds: tuple[str, ...] = NOISE_KINDS
    reverb_prob: float = 0.4
    rt60_s: tuple[float, float] = (0.15, 0.7)
    bandlimit_prob: float = 0.3
    gain_db: tuple[float, float] = (-12.0, 6.0)


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def measure_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Whole-clip SNR of ``noisy`` against ``clean`` (same length), dB."""
    return 10.0 * np.log10(_power(clean) / max(_power(noisy - clean), 1e-30))


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """[n] float64 noise with a 1/f power spectrum (DC removed), unit variance."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.shape[0], dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(f)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / max(np.std(x), 1e-12)


def _babble(n: int, sources: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    if not sources:
        raise ValueError("babble noise needs at least one source utterance")
    out = np.zeros(n)
    for src in sources:
        reps = int(np.ceil(n / max(src.shape[0], 1))) + 1
        tiled = np.tile(src.astype(np.float64), reps)
        offset = int(rng.integers(0, max(src.shape[0], 1)))
        seg = tiled[offset : offset + n]
        out += seg / max(np.std(seg), 1e-12)
    return out


def add_noise(
    x: np.ndarray,
    snr_db: float,
    kind: str,
    rng: np.random.Generator,
    babble_sources: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Add ``kind`` noise to ``x`` at exactly ``snr_db`` (whole-clip power ratio).

    Args:
        x: [N] float32 clean audio at 16 kHz.
        snr_db: target SNR, dB.
        kind: ``"white"``, ``"pink"`` or ``"babble"``.
        rng: random generator.
        babble_sources: other utterances (any lengths) mixed for ``"babble"``.

    Returns:
        [N] float64 noisy audio (not limited).
    """
    n = x.shape[0]
    if kind == "white":
        noise = rng.standard_normal(n)
    elif kind == "pink":
        noise = pink_noise(n, rng)
    elif kind == "babble":
        noise = _babble(n, babble_sources, rng)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; use one of {NOISE_KINDS}")
    scale = np.sqrt(_power(x) / max(_power(noise), 1e-30) / 10.0 ** (snr_db / 10.0))
    return x.astype(np.float64) + scale * noise


def reverb(x: np.ndarray, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic exponential-decay noise impulse response; RMS preserved.

    Args:
        x: [N] audio at 16 kHz.
        rt60_s: time for the tail to decay by 60 dB, seconds.
        rng: random generator.

    Returns:
        [N] float64 reverberant audio (the tail beyond N is cut).
    """
    m = max(int(rt60_s * RATE_HZ), 1)
    t = np.arange(m) / RATE_HZ
    ir = rng.standard_normal(m) * np.exp(-6.91 * t / rt60_s) * 0.3
    ir[0] = 1.0
    y = signal.fftconvolve(x.astype(np.float64), ir)[: x.shape[0]]
    return y * np.sqrt(_power(x) / max(_power(y), 1e-30))


def band_limit(x: np.ndarray, low_hz: float | None, high_hz: float | None) -> np.ndarray:
    """4th-order Butterworth high-pass at ``low_hz`` and/or low-pass at ``high_hz`` (zero-phase)."""
    y = x.astype(np.float64)
    if low_hz:
        y = signal.sosfiltfilt(signal.butter(4, low_hz, "highpass", fs=RATE_HZ, output="sos"), y)
    if high_hz:
        y = signal.sosfiltfilt(signal.butter(4, high_hz, "lowpass", fs=RATE_HZ, output="sos"), y)
    return y


def _draw_band(rng: np.random.Generator) -> tuple[float | None, float | None]:
    mode = int(rng.integers(3))
    low = float(rng.uniform(200, 400)) if mode in (0, 2) else None
    high = float(rng.uniform(3000, 5000)) if mode in (1, 2) else None
    return low, high


def augment(
    x: np.ndarray,
    spec: AugmentSpec,
    rng: np.random.Generator,
    babble_sources: Sequence[np.ndarray] = (),
) -> tuple[np.ndarray, dict[str, float | str]]:
    """Apply the augmentation chain once.

    Args:
        x: [N] float32 clean audio at 16 kHz.
        spec: probabilities and ranges.
        rng: random generator (the only source of randomness).
        babble_sources: utterances for babble noise; babble is skipped when empty.

    Returns:
        ``([N] float32 augmented audio, description of what was applied)``.
    """
    y = x.astype(np.float64)
    info: dict[str, float | str] = {}
    if rng.random() < spec.reverb_prob:
        info["rt60_s"] = float(rng.uniform(*spec.rt60_s))
        y = reverb(y, float(info["rt60_s"]), rng)
    kinds = [k for k in spec.noise_kinds if k != "babble" or babble_sources]
    if kinds and rng.random() < spec.noise_prob:
        info["noise"] = kinds[int(rng.integers(len(kinds)))]
        info["snr_db"] = float(rng.uniform(*spec.snr_db))
        y = add_noise(y, float(info["snr_db"]), str(info["noise"]), rng, babble_sources)
    if rng.random() < spec.bandlimit_prob:
        low, high = _draw_band(rng)
        info.update({"highpass_hz": low or 0.0, "lowpass_hz": high or 0.0})
        y = band_limit(y, low, high)
    info["gain_db"] = float(rng.uniform(*spec.gain_db))
    y = y * 10.0 ** (info["gain_db"] / 20.0)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > PEAK_LIMIT:
        y *= PEAK_LIMIT / peak
    return y.astype(np.float32), info
