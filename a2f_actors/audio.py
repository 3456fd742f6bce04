"""Audio in: decode PCM16 bytes, float arrays and WAV files to float32 mono in [-1, 1].

Stage 1 of the pipeline (``PCM16 bytes --> float32 mono @ native rate``); resampling to
16 kHz is :mod:`a2f_actors.resample`, windowing is :mod:`a2f_actors.windows`.

Rules (see ``docs/audio_and_windows.md``):

* PCM16 is signed 16-bit little-endian; sample ``s`` maps to ``s / 32768`` (so the range is
  ``[-1, 32767/32768]``). Interleaved channels are averaged to mono.
* Float input (arrays or 32-bit IEEE float WAV) must be finite; values outside [-1, 1] are
  clipped, as any conversion to a fixed range would.
* WAV: 16-bit PCM (read with the stdlib ``wave`` module) and 32-bit IEEE float (format tag 3,
  or WAVE_FORMAT_EXTENSIBLE with a PCM16 / float32 sub-format; RIFF chunks parsed here).
  Anything else (8/24/32-bit int, A-law, mu-law, ADPCM, RF64, ...) is refused with a fix.
* Limits come from the NIM advanced config ``input_sanitization`` section
  (:class:`AudioLimits`): sample rate in [16000, 144000] Hz, one streamed buffer at most
  10 s, one clip at most 300 s.

Every failure raises :class:`a2f_actors.errors.AudioError` naming the value and the fix.
"""

from __future__ import annotations

import io
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from a2f_actors.errors import AudioError

__all__ = [
    "AudioLimits",
    "DecodedAudio",
    "check_buffer_length",
    "check_clip_length",
    "check_sample_rate",
    "decode_float",
    "decode_pcm16",
    "decode_wav",
]

PCM16_SCALE = 32768.0  # full scale of signed 16-bit PCM
_CONVERT_HINT = "convert it, e.g. `ffmpeg -i in.wav -ac 1 -c:a pcm_s16le out.wav`"
_TAG_PCM, _TAG_FLOAT, _TAG_EXTENSIBLE = 1, 3, 0xFFFE
_TAG_NAMES = {1: "PCM", 2: "MS ADPCM", 3: "IEEE float", 6: "A-law", 7: "mu-law"}
_TAG_NAMES |= {0x11: "IMA ADPCM", 0x55: "MP3", _TAG_EXTENSIBLE: "extensible"}
_UNKNOWN_SIZE = 0xFFFFFFFF  # streaming writers put this in the data chunk size


@dataclass(frozen=True)
class AudioLimits:
    """Input sanitization limits (NIM ``advanced_config.yaml`` ``input_sanitization``).

    Attributes:
        min_sample_rate: Lowest accepted sample rate in Hz.
        max_sample_rate: Highest accepted sample rate in Hz.
        max_audio_buffer_size_second: Longest single streamed buffer, in seconds.
        max_audio_clip_size_second: Longest whole clip (one stream or one file), in seconds.
    """

    min_sample_rate: int = 16000
    max_sample_rate: int = 144000
    max_audio_buffer_size_second: float = 10.0
    max_audio_clip_size_second: float = 300.0


DEFAULT_LIMITS = AudioLimits()


@dataclass(frozen=True, eq=False)
class DecodedAudio:
    """A decoded clip at its native rate.

    Attributes:
        samples: float32 [N] mono samples in [-1, 1].
        sample_rate: Native sample rate in Hz.
        channels: Channel count of the source (averaged into ``samples``).
        encoding: Source encoding, ``"pcm16"`` or ``"float32"``.
    """

    samples: np.ndarray
    sample_rate: int
    channels: int
    encoding: str

    @property
    def duration_s(self) -> float:
        """Clip duration in seconds."""
        return len(self.samples) / self.sample_rate


def check_sample_rate(sample_rate: int, limits: AudioLimits = DEFAULT_LIMITS) -> int:
    """Return ``sample_rate`` as int, or raise if outside the configured range.

    Args:
        sample_rate: Sample rate in Hz.
        limits: Accepted range.

    Raises:
        AudioError: Not an integer, or outside [min_sample_rate, max_sample_rate].
    """
    if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate:
        raise AudioError(f"sample rate {sample_rate!r} is not a whole number of Hz")
    rate = int(sample_rate)
    if not limits.min_sample_rate <= rate <= limits.max_sample_rate:
        raise AudioError(
            f"sample rate {rate} Hz is outside the accepted range "
            f"[{limits.min_sample_rate}, {limits.max_sample_rate}] Hz; resample the audio "
            f"into that range (16000 Hz is best) or change input_sanitization limits"
        )
    return rate


def check_buffer_length(
    n_samples: int, sample_rate: int, limits: AudioLimits = DEFAULT_LIMITS
) -> None:
    """Raise if one streamed buffer is longer than ``max_audio_buffer_size_second``.

    Args:
        n_samples: Samples per channel in the buffer.
        sample_rate: Sample rate in Hz.
        limits: Configured limits.
    """
    if n_samples > limits.max_audio_buffer_size_second * sample_rate:
        raise AudioError(
            f"audio buffer of {n_samples / sample_rate:.3f} s ({n_samples} samples at "
            f"{sample_rate} Hz) exceeds max_audio_buffer_size_second="
            f"{limits.max_audio_buffer_size_second}; send the audio in smaller chunks"
        )


def check_clip_length(
    n_samples: int, sample_rate: int, limits: AudioLimits = DEFAULT_LIMITS
) -> None:
    """Raise if a whole clip is longer than ``max_audio_clip_size_second``.

    Args:
        n_samples: Samples per channel in the clip so far.
        sample_rate: Sample rate in Hz.
        limits: Configured limits.
    """
    if n_samples > limits.max_audio_clip_size_second * sample_rate:
        raise AudioError(
            f"audio clip of {n_samples / sample_rate:.3f} s exceeds "
            f"max_audio_clip_size_second={limits.max_audio_clip_size_second}; split it into "
            f"several requests"
        )


def decode_pcm16(
    data: bytes,
    sample_rate: int,
    *,
    channels: int = 1,
    limits: AudioLimits = DEFAULT_LIMITS,
) -> np.ndarray:
    """Decode one streamed buffer of signed 16-bit little-endian PCM.

    Args:
        data: Interleaved PCM16 LE bytes, ``2 * channels`` bytes per frame.
        sample_rate: Sample rate in Hz.
        channels: Interleaved channel count (averaged to mono).
        limits: Sanitization limits (rate range, buffer length).

    Returns:
        float32 [N] mono samples in [-1, 1), N = len(data) / (2 * channels).

    Raises:
        AudioError: Empty or truncated buffer, bad rate or channel count, buffer too long.
    """
    rate = check_sample_rate(sample_rate, limits)
    _check_channels(channels)
    if len(data) == 0:
        raise AudioError("audio buffer is empty (0 bytes); send at least one PCM16 sample")
    frame_bytes = 2 * channels
    if len(data) % frame_bytes:
        raise AudioError(
            f"PCM16 buffer of {len(data)} bytes is not a whole number of {frame_bytes}-byte "
            f"frames ({channels} channel(s) x 2 bytes): truncated or not PCM16; send whole samples"
        )
    pcm = np.frombuffer(data, dtype="<i2").reshape(-1, channels)
    check_buffer_length(pcm.shape[0], rate, limits)
    return _to_mono(pcm.astype(np.float32) / np.float32(PCM16_SCALE))


def decode_float(
    samples: np.ndarray,
    sample_rate: int,
    *,
    limits: AudioLimits = DEFAULT_LIMITS,
) -> np.ndarray:
    """Validate one streamed buffer of float samples and return float32 mono.

    Args:
        samples: Float array [N] (mono) or [N, C] (C channels, averaged).
        sample_rate: Sample rate in Hz.
        limits: Sanitization limits (rate range, buffer length).

    Returns:
        float32 [N] mono samples clipped to [-1, 1].

    Raises:
        AudioError: Empty, not floating point, bad shape, NaN/Inf, bad rate, too long.
    """
    rate = check_sample_rate(sample_rate, limits)
    arr = np.asarray(samples)
    if not np.issubdtype(arr.dtype, np.floating):
        raise AudioError(
            f"float audio has dtype {arr.dtype}; pass float32/float64 in [-1, 1], or integer "
            f"PCM16 bytes through decode_pcm16"
        )
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise AudioError(
            f"float audio has shape {arr.shape}; expected a non-empty [N] or [N, channels] array"
        )
    check_buffer_length(arr.shape[0], rate, limits)
    return _finite_mono(arr)


def decode_wav(source: bytes | str | Path, *, limits: AudioLimits = DEFAULT_LIMITS) -> DecodedAudio:
    """Decode a whole WAV file (path or bytes) to float32 mono at its native rate.

    Args:
        source: WAV file contents, or a path to one.
        limits: Sanitization limits (rate range, clip length).

    Returns:
        The decoded clip.

    Raises:
        AudioError: Not a RIFF/WAVE file, unsupported encoding, truncated, empty, NaN/Inf,
            bad rate, longer than ``max_audio_clip_size_second``.
    """
    data = Path(source).read_bytes() if isinstance(source, str | Path) else bytes(source)
    fmt, (start, size) = _parse_riff(data)
    tag, channels, rate, bits, extensible = fmt
    rate = check_sample_rate(rate, limits)
    frame_bytes = channels * bits // 8
    if size == 0:
        raise AudioError("WAV data chunk is empty (0 samples); the file holds no audio")
    if size % frame_bytes:
        raise AudioError(
            f"WAV data chunk of {size} bytes is not a whole number of {frame_bytes}-byte frames: "
            f"the file is truncated; re-export it"
        )
    check_clip_length(size // frame_bytes, rate, limits)
    if tag == _TAG_FLOAT:
        raw = np.frombuffer(data, dtype="<f4", count=size // 4, offset=start)
        samples = _finite_mono(raw.reshape(-1, channels))
        return DecodedAudio(samples, rate, channels, "float32")
    pcm = _read_pcm16(data, start, size, extensible=extensible)
    samples = _to_mono(pcm.reshape(-1, channels).astype(np.float32) / np.float32(PCM16_SCALE))
    return DecodedAudio(samples, rate, channels, "pcm16")


def _check_channels(channels: int) -> None:
    if not 1 <= channels <= 64:
        raise AudioError(f"channel count {channels} is invalid; expected 1..64")


def _to_mono(frames: np.ndarray) -> np.ndarray:
    """Average [N, C] float32 frames to a contiguous float32 [N] array."""
    if frames.shape[1] == 1:
        return np.ascontiguousarray(frames[:, 0], dtype=np.float32)
    return frames.mean(axis=1, dtype=np.float64).astype(np.float32)


def _finite_mono(arr: np.ndarray) -> np.ndarray:
    """Check finiteness of float [N] or [N, C] samples; return clipped float32 mono [N]."""
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(np.flatnonzero(~finite.reshape(arr.shape[0], -1).all(axis=1))[0])
        raise AudioError(
            f"float audio holds {int(arr.size - finite.sum())} NaN/Inf value(s), first at "
            f"sample {bad}; replace them (e.g. np.nan_to_num) before sending"
        )
    frames = arr.reshape(arr.shape[0], -1)
    mono = frames[:, 0] if frames.shape[1] == 1 else frames.mean(axis=1, dtype=np.float64)
    return np.clip(mono, -1.0, 1.0).astype(np.float32)  # clip before the cast: no overflow


def _read_pcm16(data: bytes, start: int, size: int, *, extensible: bool) -> np.ndarray:
    """Return int16 PCM samples (interleaved, flat) of a validated 16-bit data chunk."""
    if extensible:  # Python 3.11 ``wave`` refuses WAVE_FORMAT_EXTENSIBLE: read the chunk here
        return np.frombuffer(data, dtype="<i2", count=size // 2, offset=start)
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            raw = reader.readframes(size // (2 * reader.getnchannels()))
    except (wave.Error, EOFError) as exc:
        raise AudioError(
            f"WAV file could not be read as 16-bit PCM: {exc}; {_CONVERT_HINT}"
        ) from exc
    return np.frombuffer(raw[:size], dtype="<i2")


def _parse_riff(data: bytes) -> tuple[tuple[int, int, int, int, bool], tuple[int, int]]:
    """Walk the RIFF chunks of a WAV file.

    Returns:
        ``(tag, channels, sample_rate, bits, extensible)`` of a supported ``fmt `` chunk (tag
        is the effective format, 1 or 3, after resolving WAVE_FORMAT_EXTENSIBLE) and the
        ``(offset, size)`` in bytes of the ``data`` chunk body.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        head = data[:4]
        raise AudioError(
            f"not a RIFF/WAVE file (starts with {head!r}; RF64 and other containers are not "
            f"supported); {_CONVERT_HINT}"
        )
    fmt = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if cid == b"fmt ":
            fmt = _parse_fmt(data[body : body + size])
        elif cid == b"data":
            if fmt is None:
                raise AudioError("WAV 'data' chunk comes before the 'fmt ' chunk; re-export it")
            return fmt, (body, _data_size(size, len(data) - body))
        pos = body + size + (size & 1)  # chunks are word aligned
    raise AudioError("WAV file has no 'data' chunk (empty or truncated); re-export it")


def _data_size(declared: int, available: int) -> int:
    """Size of the data chunk body: the declared size, or what is there for streamed files."""
    if declared <= available:
        return declared
    if declared == _UNKNOWN_SIZE:
        return available
    raise AudioError(
        f"WAV data chunk declares {declared} bytes but only {available} are present: "
        f"the file is truncated; re-export or re-download it"
    )


def _parse_fmt(body: bytes) -> tuple[int, int, int, int, bool]:
    """Decode a ``fmt `` chunk; raise for anything but PCM16 or float32."""
    if len(body) < 16:
        raise AudioError(f"WAV 'fmt ' chunk is {len(body)} bytes, expected >= 16: corrupt file")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", body)
    name = _TAG_NAMES.get(tag, f"format tag {tag:#06x}")
    extensible = tag == _TAG_EXTENSIBLE
    if extensible:
        if len(body) < 40:
            raise AudioError("WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is shorter than 40 bytes")
        tag = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
        name = f"extensible/{_TAG_NAMES.get(tag, f'format tag {tag:#06x}')}"
    if (tag, bits) not in ((_TAG_PCM, 16), (_TAG_FLOAT, 32)):
        raise AudioError(
            f"unsupported WAV encoding {name} {bits}-bit; supported are 16-bit PCM and 32-bit "
            f"IEEE float: {_CONVERT_HINT}"
        )
    _check_channels(channels)
    if block_align != channels * bits // 8:
        raise AudioError(
            f"WAV block_align {block_align} != channels {channels} x {bits // 8} bytes: "
            f"corrupt header; re-export it"
        )
    return tag, channels, rate, bits, extensible
