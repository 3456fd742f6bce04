"""Decoding of PCM16 bytes, float arrays and WAV files, and the input sanitization errors."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest

from a2f_actors.audio import (
    AudioLimits,
    check_clip_length,
    decode_float,
    decode_pcm16,
    decode_wav,
)
from a2f_actors.errors import AudioError

_EXT_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def _pcm16_wav(pcm: np.ndarray, rate: int) -> bytes:
    """WAV bytes written by the stdlib: pcm is int16 [N, C]."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


def _riff(tag: int, channels: int, rate: int, bits: int, payload: bytes, **kw: object) -> bytes:
    """Hand-built WAV: fmt chunk (plain or WAVE_FORMAT_EXTENSIBLE) + a LIST chunk + data."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if kw.get("extensible_sub") is not None:
        fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * block, block, bits)
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", kw["extensible_sub"])
        fmt += _EXT_GUID_TAIL
    declared = kw.get("declared_size", len(payload))
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # odd-sized chunk, word padded
    body += b"data" + struct.pack("<I", declared) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_decode_pcm16_scales_to_unit_range_when_full_scale_samples():
    data = np.array([-32768, 0, 16384, 32767], "<i2").tobytes()
    out = decode_pcm16(data, 16000)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [-1.0, 0.0, 0.5, 32767 / 32768])


def test_decode_pcm16_averages_channels_when_interleaved_stereo():
    data = np.array([[1000, 3000], [-2000, 0]], "<i2").tobytes()
    np.testing.assert_allclose(decode_pcm16(data, 48000, channels=2), [2000 / 32768, -1000 / 32768])


@pytest.mark.parametrize(
    ("data", "match"),
    [(b"", "empty"), (b"\x01\x02\x03", "whole number"), (b"\x01\x02", "whole number")],
)
def test_decode_pcm16_raises_when_empty_or_truncated(data, match):
    channels = 2 if len(data) == 2 else 1
    with pytest.raises(AudioError, match=match):
        decode_pcm16(data, 16000, channels=channels)


@pytest.mark.parametrize("rate", [8000, 15999, 144001, 192000])
def test_decode_pcm16_raises_naming_rate_when_outside_limits(rate):
    with pytest.raises(AudioError, match=rf"{rate} Hz is outside .*\[16000, 144000\]"):
        decode_pcm16(b"\x00\x00", rate)


def test_decode_pcm16_accepts_rate_when_limits_widened():
    limits = AudioLimits(min_sample_rate=8000)
    assert decode_pcm16(b"\x00\x00", 8000, limits=limits).shape == (1,)


def test_decode_pcm16_raises_when_buffer_longer_than_limit():
    limits = AudioLimits(max_audio_buffer_size_second=0.5)
    ok = np.zeros(8000, "<i2").tobytes()
    assert decode_pcm16(ok, 16000, limits=limits).shape == (8000,)
    with pytest.raises(AudioError, match=r"max_audio_buffer_size_second=0.5"):
        decode_pcm16(ok + b"\x00\x00", 16000, limits=limits)


def test_decode_float_clips_and_averages_when_multichannel_float64():
    x = np.array([[0.5, 1.5], [-3.0, -1.0], [0.25, 0.25]])
    out = decode_float(x, 24000)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [1.0, -1.0, 0.25])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_decode_float_raises_naming_position_when_non_finite(bad):
    x = np.zeros(10, np.float32)
    x[7] = bad
    with pytest.raises(AudioError, match=r"NaN/Inf value.*sample 7"):
        decode_float(x, 16000)


@pytest.mark.parametrize(
    "x", [np.zeros(0, np.float32), np.zeros((2, 2, 2), np.float32), np.zeros(4, np.int16)]
)
def test_decode_float_raises_when_empty_wrong_shape_or_integer(x):
    with pytest.raises(AudioError):
        decode_float(x, 16000)


def test_check_clip_length_raises_when_clip_longer_than_limit():
    limits = AudioLimits(max_audio_clip_size_second=2.0)
    check_clip_length(32000, 16000, limits)
    with pytest.raises(AudioError, match=r"max_audio_clip_size_second=2.0"):
        check_clip_length(32001, 16000, limits)


def test_decode_wav_reads_pcm16_stereo_when_written_by_stdlib(tmp_path):
    pcm = np.array([[100, 300], [-32768, -32768], [32767, 1]], np.int16)
    path = tmp_path / "a.wav"
    path.write_bytes(_pcm16_wav(pcm, 44100))
    for source in (path, str(path), path.read_bytes()):
        clip = decode_wav(source)
        assert (clip.sample_rate, clip.channels, clip.encoding) == (44100, 2, "pcm16")
        np.testing.assert_allclose(clip.samples, pcm.mean(axis=1) / 32768, rtol=1e-6)
    assert clip.duration_s == pytest.approx(3 / 44100)


def test_decode_wav_reads_float32_when_format_tag_3():
    x = np.array([0.1, -0.5, 0.75, 1.0], "<f4")
    clip = decode_wav(_riff(3, 1, 22050, 32, x.tobytes()))
    assert (clip.sample_rate, clip.encoding) == (22050, "float32")
    np.testing.assert_array_equal(clip.samples, x)


@pytest.mark.parametrize(("sub", "dtype", "scale"), [(3, "<f4", 1.0), (1, "<i2", 32768.0)])
def test_decode_wav_reads_subformat_when_wave_format_extensible(sub, dtype, scale):
    frames = (np.array([[0.5, -0.25], [0.125, 0.0]]) * scale).astype(dtype)
    clip = decode_wav(_riff(0, 2, 48000, frames.itemsize * 8, frames.tobytes(), extensible_sub=sub))
    assert clip.channels == 2
    np.testing.assert_allclose(clip.samples, [0.125, 0.0625])


@pytest.mark.parametrize(
    ("tag", "bits", "name"),
    [
        (1, 8, "PCM 8-bit"),
        (1, 24, "PCM 24-bit"),
        (6, 8, "A-law"),
        (7, 8, "mu-law"),
        (3, 64, "IEEE float 64-bit"),
    ],
)
def test_decode_wav_raises_naming_encoding_when_unsupported(tag, bits, name):
    with pytest.raises(AudioError, match=rf"unsupported WAV encoding.*{name}.*pcm_s16le"):
        decode_wav(_riff(tag, 1, 16000, bits, bytes(bits // 8 * 4)))


def test_decode_wav_raises_when_float_samples_non_finite():
    x = np.array([0.0, np.nan], "<f4")
    with pytest.raises(AudioError, match="NaN/Inf"):
        decode_wav(_riff(3, 1, 16000, 32, x.tobytes()))


def test_decode_wav_raises_when_data_chunk_truncated():
    wav = _pcm16_wav(np.zeros((100, 1), np.int16), 16000)
    with pytest.raises(AudioError, match="truncated"):
        decode_wav(wav[:-11])


def test_decode_wav_reads_available_data_when_size_unknown_streaming_header():
    pcm = np.array([1, 2, 3], "<i2")
    clip = decode_wav(_riff(1, 1, 16000, 16, pcm.tobytes(), declared_size=0xFFFFFFFF))
    np.testing.assert_allclose(clip.samples * 32768, [1, 2, 3])


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "not a RIFF/WAVE"),
        (b"RIFX\x00\x00\x00\x00WAVE", "not a RIFF/WAVE"),
        (b"RIFF\x04\x00\x00\x00WAVE", "no 'data' chunk"),
    ],
)
def test_decode_wav_raises_when_not_a_wav_or_no_data(data, match):
    with pytest.raises(AudioError, match=match):
        decode_wav(data)


def test_decode_wav_raises_when_no_samples():
    with pytest.raises(AudioError, match="empty"):
        decode_wav(_pcm16_wav(np.zeros((0, 1), np.int16), 16000))


def test_decode_wav_raises_when_rate_or_length_outside_limits():
    wav = _pcm16_wav(np.zeros((16001, 1), np.int16), 16000)
    with pytest.raises(AudioError, match=r"max_audio_clip_size_second=1.0"):
        decode_wav(wav, limits=AudioLimits(max_audio_clip_size_second=1.0))
    with pytest.raises(AudioError, match="8000 Hz is outside"):
        decode_wav(_pcm16_wav(np.zeros((10, 1), np.int16), 8000))
