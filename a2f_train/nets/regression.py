"""The regression network (v2.3 family I/O) sized for CPU: filterbank + autocorrelation + conv.

In the spirit of NVIDIA's ``conv_w2v_autocorr`` (a2f_reference.md section 5), with the
wav2vec2 encoder replaced by a learned filterbank so one frame costs ~15 MFLOP, not ~1 GFLOP:

* **Framing.** The 8320-sample window (520 ms at 16 kHz, centred on the target frame) is cut
  into 25 frames of 640 samples, hop 320 (frame 12 is centred on the target sample).
* **Learned filterbank.** A strided Conv1d (kernel 640, stride 320, written as a matmul over
  the frames) with ``2 * num_bands`` filters initialised as Hann-windowed cosine/sine pairs
  at mel-spaced centre frequencies; each pair's squared sum is a band power, then ``log``.
* **Autocorrelation.** NVIDIA's branch: per frame, DC removed, Hann window, 32 coefficients:
  ``log(r0 + eps)`` and the normalised ``r_k / (r0 + eps)``, ``k = 1..31``
  (:func:`autocorrelation`, as one batched matmul).
* **Decoder.** Per-feature standardisation (buffers fitted on data), then 1-D convolutions
  over time (kernel 3, strides 1, 2, 2, 2: 25 -> 25 -> 13 -> 7 -> 4 steps) with the 26-dim
  emotion embedded to ``emo_dim`` and concatenated before each layer, a Linear over the
  flattened time axis, and one head predicting every output in standardised units; the
  buffers ``out_scale``/``out_bias`` map them back to skin PCA || tongue PCA || 15 jaw
  deltas || 4 eye angles (NVIDIA's order).

ONNX: ``input`` [B, 1, 8320] float32, ``emotion`` [B, 1, 26] -> ``result`` [B, 1, S+T+19],
dynamic batch (:func:`export_onnx`).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = [
    "RegressionNet",
    "RegressionNetConfig",
    "count_flops",
    "describe",
    "export_onnx",
    "num_params",
]

SAMPLE_RATE = 16000
EPS = 1e-6


@dataclass(frozen=True)
class RegressionNetConfig:
    """Sizes of :class:`RegressionNet`.

    Attributes:
        num_skin: S skin PCA coefficients.
        num_tongue: T tongue PCA coefficients.
        jaw_size: jaw outputs (5 keypoints x xyz).
        eyes_size: eye angle outputs.
        emotion_size: emotion input (16 implicit + 10 explicit).
        buffer_len: window in samples (8320).
        frame_len: analysis frame (640 samples = 40 ms).
        hop: analysis hop (320 samples = 20 ms).
        num_bands: learned filterbank bands (2 filters each).
        autocorr: autocorrelation coefficients per frame (32).
        emo_dim: emotion embedding width concatenated before each conv layer.
        channels: conv widths; strides are 1 then 2 for every further layer.
        hidden: width of the fully connected layer.
        band_norm: subtract, per band, the window's mean log band power over its 25 frames
            (a per-window "cepstral mean" normalisation: a fixed microphone/room EQ is a
            constant offset per band in the log domain and cancels); the absolute frame
            energy ``log r0`` is kept, so silence stays detectable.
        learn_filterbank: train the filterbank (True, the shipped net) or keep its fixed
            Hann-windowed cos/sin initialisation (a plain mel-spaced spectrogram, as the
            diffusion net's fixed log-mel front-end).
    """

    num_skin: int
    num_tongue: int
    jaw_size: int = 15
    eyes_size: int = 4
    emotion_size: int = 26
    buffer_len: int = 8320
    frame_len: int = 640
    hop: int = 320
    num_bands: int = 48
    autocorr: int = 32
    emo_dim: int = 16
    channels: tuple[int, ...] = field(default=(160, 192, 224, 256))
    hidden: int = 256
    band_norm: bool = False
    learn_filterbank: bool = True

    def __post_init__(self) -> None:
        # frames() cuts the window into hop-sized chunks and joins neighbours: one frame is
        # exactly two hops; the autocorrelation splits a frame into lag-sized blocks
        if self.frame_len != 2 * self.hop or self.buffer_len % self.hop:
            raise ValueError(
                f"frame_len {self.frame_len} / hop {self.hop}: need frame_len == 2 * hop and "
                f"buffer_len {self.buffer_len} divisible by hop (e.g. 640/320 or 320/160)"
            )
        if self.frame_len % self.autocorr:
            raise ValueError(
                f"frame_len {self.frame_len} must be a multiple of autocorr {self.autocorr}"
            )

    @property
    def result_size(self) -> int:
        """S + T + jaw + eyes."""
        return self.num_skin + self.num_tongue + self.jaw_size + self.eyes_size

    @property
    def num_frames(self) -> int:
        """Analysis frames per window (25)."""
        return (self.buffer_len - self.frame_len) // self.hop + 1

    def steps(self) -> list[int]:
        """Time steps after each conv layer (25, 25, 13, 7, 4 for 4 layers)."""
        out, t = [], self.num_frames
        for i in range(len(self.channels)):
            t = t if i == 0 else (t - 1) // 2 + 1
            out.append(t)
        return out

    def to_dict(self) -> dict:
        """JSON-friendly dict (``channels`` as a list)."""
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d


def _mel_centres(n: int, lo: float = 60.0, hi: float = 7600.0) -> np.ndarray:
    mel = np.linspace(2595 * np.log10(1 + lo / 700), 2595 * np.log10(1 + hi / 700), n)
    return 700 * (10 ** (mel / 2595) - 1)


def filterbank_init(num_bands: int, frame_len: int) -> torch.Tensor:
    """[frame_len, 2 * num_bands] Hann-windowed cos (first half) / sin (second half) filters."""
    t = np.arange(frame_len) / SAMPLE_RATE
    hann = np.hanning(frame_len)
    phase = 2 * np.pi * _mel_centres(num_bands)[None, :] * t[:, None]
    w = np.concatenate([np.cos(phase), np.sin(phase)], axis=1) * hann[:, None]
    return torch.tensor(w / np.sqrt(frame_len), dtype=torch.float32)


def autocorr_block(frame: int, lags: int) -> int:
    """Default block of :func:`autocorrelation`: 16 samples when 16 divides both, else ``lags``."""
    return 16 if frame % 16 == 0 and lags % 16 == 0 else lags


def autocorrelation(x: torch.Tensor, lags: int, block: int | None = None) -> torch.Tensor:
    """``r_k = sum_n x[n] x[n + k]`` for ``k < lags`` over the last axis, as matrix products.

    The frame [N] is cut into N / s blocks ``b_i`` of ``s`` = ``block`` samples; with
    ``Y_i = x[s i : s i + s + L]`` (L = ``lags``, zero after the frame), ``M = sum_i b_i^T Y_i``
    is [s, s + L] and ``r_k = sum_m M[m, m + k]``: flattening M row-major puts ``M[m, m + k]``
    at ``m (s + L + 1) + k``, so a pad, a reshape to [s, s + L + 1] and a sum over rows give
    every lag. Same values as the direct sum (the SDK-style formula), one batched matmul
    instead of L shifted products. The block trades the matmul's inner size (N / s) against
    its output (s (s + L)): for 320-sample frames and 32 lags, s = 16 runs about 1.9x faster
    in ONNX Runtime than s = 32 (and about 4x faster than the shifted products).

    Args:
        x: ``[B, T, N]`` frames.
        lags: L.
        block: s, dividing N and L; None: :func:`autocorr_block`.

    Returns:
        ``[B, T, L]`` autocorrelation at lags 0..L-1.
    """
    b, t, n = x.shape[0], int(x.shape[1]), int(x.shape[2])  # static T, N in the ONNX graph
    s = block or autocorr_block(n, lags)
    if n % s or lags % s:
        raise ValueError(f"autocorrelation block {s} must divide the frame ({n}) and lags ({lags})")
    nb, extra = n // s, lags // s
    blocks = nn.functional.pad(x, (0, lags)).reshape(b, t, nb + extra, s)
    y = torch.cat([blocks[:, :, j : j + nb] for j in range(extra + 1)], dim=3)  # [.., nb, s+L]
    m = blocks[:, :, :nb].transpose(2, 3) @ y
    width = s + lags
    flat = nn.functional.pad(m.reshape(b, t, s * width), (0, s))
    return flat.reshape(b, t, s, width + 1).sum(dim=2)[..., :lags]


def half_overlap_frames(audio: torch.Tensor, hop: int, chunks: int) -> torch.Tensor:
    """``[B, chunks * hop]`` (or ``[B, 1, chunks * hop]``) -> ``[B, chunks - 1, 2 hop]``.

    Frame i joins hop-sized chunks i and i + 1 (frames overlap by half).
    """
    c = audio.reshape(audio.shape[0], chunks, hop)
    return torch.cat([c[:, :-1], c[:, 1:]], dim=2)


def normalised_autocorrelation(
    frames: torch.Tensor, hann: torch.Tensor, lags: int, block: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """NVIDIA's autocorrelation features of ``[B, T, N]`` frames: DC removed, Hann windowed.

    ``block`` is :func:`autocorrelation`'s (None: the default, what the export uses).

    Returns:
        ``(r0 [B, T, 1], r_k / r0 [B, T, lags - 1])``: frame energy and lags 1.. normalised.
    """
    x = (frames - frames.mean(dim=2, keepdim=True)) * hann
    r = autocorrelation(x, lags, block)
    r0 = r[..., :1]
    return r0, r[..., 1:] / (r0 + EPS)


class RegressionNet(nn.Module):
    """Audio window + emotion -> one frame of skin/tongue PCA, jaw deltas, eye angles.

    ``forward(input [B,1,8320], emotion [B,1,26]) -> result [B,1,S+T+19]`` in physical units
    (PCA coefficients, model units, degrees). :meth:`forward_std` gives the standardised
    prediction the training losses use.
    """

    def __init__(self, cfg: RegressionNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.fb = nn.Parameter(
            filterbank_init(cfg.num_bands, cfg.frame_len), requires_grad=cfg.learn_filterbank
        )
        self.register_buffer("hann", torch.hann_window(cfg.frame_len, periodic=False))
        nfeat = cfg.num_bands + cfg.autocorr
        self.register_buffer("feat_mean", torch.zeros(nfeat, 1))
        self.register_buffer("feat_std", torch.ones(nfeat, 1))
        self.register_buffer("out_bias", torch.zeros(cfg.result_size))
        self.register_buffer("out_scale", torch.ones(cfg.result_size))
        self.emo = nn.Linear(cfg.emotion_size, cfg.emo_dim)
        convs, width = [], nfeat
        for i, ch in enumerate(cfg.channels):
            convs.append(
                nn.Conv1d(width + cfg.emo_dim, ch, 3, stride=1 if i == 0 else 2, padding=1)
            )
            width = ch
        self.convs = nn.ModuleList(convs)
        self.fc = nn.Linear(width * cfg.steps()[-1] + cfg.emo_dim, cfg.hidden)
        self.head = nn.Linear(cfg.hidden, cfg.result_size)
        self.act = nn.LeakyReLU(0.2)
        # The autocorrelation's block (None: autocorr_block's default, which the export uses).
        # Not part of the config or the state: every block gives the same values to about
        # 3e-6, but training's float rounding depends on it, so a bit-exact rebuild of a
        # package trained with another block sets it for training only (TrainConfig).
        self.autocorr_block: int | None = None

    def frames(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, 1, 8320] -> [B, F, frame_len] overlapping frames, hop = half a frame.

        F = 25 frames for 640/320 (the shipped net), 51 for 320/160.
        """
        c = self.cfg
        return half_overlap_frames(audio, c.hop, c.buffer_len // c.hop)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, 1, 8320] -> raw (unstandardised) features [B, bands + 32, 25]."""
        fr = self.frames(audio)
        spec = fr @ self.fb
        nb = self.cfg.num_bands
        power = spec[..., :nb] ** 2 + spec[..., nb:] ** 2
        logpow = torch.log(power + EPS)
        if self.cfg.band_norm:
            logpow = logpow - logpow.mean(dim=1, keepdim=True)
        r0, ac = normalised_autocorrelation(fr, self.hann, self.cfg.autocorr, self.autocorr_block)
        feats = torch.cat([logpow, torch.log(r0 + EPS), ac], dim=2)
        return feats.transpose(1, 2)

    def forward_std(self, audio: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        """Standardised prediction [B, S+T+19] (``result = out * out_scale + out_bias``)."""
        return self.head(self.hidden(audio, emotion))

    def hidden(self, audio: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        """[B, hidden] activations of the fully connected layer, before the output head.

        Training-only heads (the phoneme classifier of ``a2f_train.train.regression``) read
        them; the exported graph is ``head(hidden(...))`` only.
        """
        h = (self.features(audio) - self.feat_mean) / self.feat_std
        e = self.act(self.emo(emotion.reshape(emotion.shape[0], -1)))
        for conv in self.convs:
            eb = e.unsqueeze(2).expand(-1, -1, h.shape[2])
            h = self.act(conv(torch.cat([h, eb], dim=1)))
        return self.act(self.fc(torch.cat([h.flatten(1), e], dim=1)))

    def forward(self, input: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        """NVIDIA's contract: ``result`` [B, 1, S+T+19] in physical units."""
        out = self.forward_std(input, emotion) * self.out_scale + self.out_bias
        return out.unsqueeze(1)


def count_flops(cfg: RegressionNetConfig) -> dict[str, float]:
    """Floating-point operations per frame (1 multiply-add = 2 FLOPs), by block.

    Counts matmuls, convolutions and the autocorrelation products; elementwise ops
    (activations, logs, normalisation) are listed under ``elementwise`` (approximate).
    """
    t, n, lags = cfg.num_frames, cfg.frame_len, cfg.autocorr
    s = autocorr_block(n, lags)
    out = {
        "filterbank": 2.0 * t * n * 2 * cfg.num_bands,
        "autocorr": 2.0 * t * (n // s) * s * (s + lags),
        "emotion": 2.0 * cfg.emotion_size * cfg.emo_dim,
    }
    width, steps = cfg.num_bands + cfg.autocorr, cfg.steps()
    conv = 0.0
    for ch, st in zip(cfg.channels, steps, strict=True):
        conv += 2.0 * (width + cfg.emo_dim) * ch * 3 * st
        width = ch
    out["convs"] = conv
    fc_in = width * steps[-1] + cfg.emo_dim
    out["fc_head"] = 2.0 * (fc_in * cfg.hidden + cfg.hidden * cfg.result_size)
    out["elementwise"] = float(t * (6 * n + 8 * cfg.num_bands) + sum(cfg.channels) * 25)
    out["total"] = sum(out.values())
    return out


def num_params(net: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def export_onnx(net: RegressionNet, opset: int = 17) -> bytes:
    """Export ``net`` (eval mode, CPU) with NVIDIA's names and a dynamic batch axis."""
    net = net.eval()
    cfg = net.cfg
    audio = torch.zeros(2, 1, cfg.buffer_len)
    emotion = torch.zeros(2, 1, cfg.emotion_size)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's DeprecationWarning
        torch.onnx.export(
            net,
            (audio, emotion),
            buf,
            input_names=["input", "emotion"],
            output_names=["result"],
            dynamic_axes={"input": {0: "batch"}, "emotion": {0: "batch"}, "result": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    return buf.getvalue()


def describe(cfg: RegressionNetConfig) -> str:
    """One-line summary: MFLOP per frame and the time steps of the conv stack."""
    f = count_flops(cfg)
    return f"{f['total'] / 1e6:.1f} MFLOP/frame, steps {cfg.steps()}, bands {cfg.num_bands}"
