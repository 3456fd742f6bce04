"""The v3.0-family diffusion network in NVIDIA's exact ONNX contract (a2f_reference.md 1.5, 5).

One call animates one 1 s window (16000 samples at 16 kHz, 60 frames at 60 fps)::

    window [B,16000], identity [B,K] one-hot, emotion [B,30,10], input_latents [2,2,B,H],
    noise [B,3,60,D]  ->  prediction [B,60,D] vertex deltas, output_latents [2,2,B,H]

Inside (see docs/models/diffusion.md):

* :class:`LogMel` -- a fixed DFT convolution (25 ms Hann, 10 ms hop) -> 40 log-mel bands at
  100 fps; optionally (``DiffusionDims.autocorr`` > 0) :class:`Autocorr` -- the regression
  net's normalised autocorrelation of 20 ms frames on the same 100 fps grid (voicing and
  pitch, which the log-mel blurs); :class:`AudioEncoder` -- two convs at 100 fps, a fixed
  linear resampling to the 60 frames, two residual convs.
* Per diffusion step ``s`` (2 respaced DDPM steps, timesteps :data:`TIMESTEPS` of a 1000-step
  cosine schedule): the noisy code ``x_t`` [B,60,C], the audio features, the emotion and
  identity embeddings and a sinusoidal timestep embedding go through a 2-layer GRU whose state
  is ``input_latents[s]`` (the first H = 128 of NVIDIA's 256 latent entries); the state after
  frame 29 (the first frame of the next window is frame 30, hop 0.5 s) is
  ``output_latents[s]`` (zero-padded to 256). A non-causal conv head predicts ``x_0``.
* The code (C = 72: 68 blendshape weights of the character + 4 eye angles, normalised) is
  decoded to D vertex deltas by a fixed linear layer (:class:`CodeDecoder`): the character's
  skin blendshape deltas (exact) and a least-squares linear map for tongue and jaw keypoints.
* The code-space noise is the first C entries of each frame's D-dim ``noise`` vector (still
  i.i.d. N(0, 1)); ``noise[:, 2]`` is accepted and unused (the last DDPM step adds none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from a2f_train.nets.regression import half_overlap_frames, normalised_autocorrelation

SAMPLE_RATE = 16000
WINDOW = 16000
FRAMES = 60
CENTER_FIRST, CENTER_LAST = 15, 45  # good frames [15, 45)
CARRY_FRAME = 30  # GRU state after frames [0, 30) is carried to the next window
N_FFT, HOP, N_MELS = 400, 160, 40
MEL_FRAMES = WINDOW // HOP  # 100 fps inside the window
NUM_STEPS = 1000
TIMESTEPS = (999, 499)  # respaced inference (and training) timesteps
NUM_EMOTIONS = 10
CODE_WEIGHTS = 68
CODE_DIM = 72  # 68 weights + 4 eye angles


def cosine_alpha_bar(t: int, steps: int = NUM_STEPS, s: float = 0.008) -> float:
    """Cumulative alpha of the cosine schedule at integer timestep ``t`` (clipped betas)."""
    f = [math.cos((i / steps + s) / (1 + s) * math.pi / 2) ** 2 for i in range(steps + 1)]
    alpha = 1.0
    for i in range(t + 1):
        alpha *= 1.0 - min(1.0 - f[i + 1] / f[i], 0.999)
    return alpha


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, fmin: float = 60.0) -> np.ndarray:
    """HTK-style triangular mel filters ``[n_fft//2+1, n_mels]`` float32 at 16 kHz."""

    def mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    edges = 700.0 * (10 ** (np.linspace(mel(fmin), mel(7600.0), n_mels + 2) / 2595.0) - 1.0)
    freqs = np.linspace(0, SAMPLE_RATE / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    tri = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return tri.T.astype(np.float32)


class LogMel(nn.Module):
    """Fixed log-mel front-end: audio ``[B, N]`` -> ``[B, n_mels, N // 160 + 1]`` (frame j: 160 j).

    The DFT is a strided Conv1d with Hann-windowed cos/sin kernels (zero padding 200 samples
    each side), so it exports to plain ONNX ops; values are ``(log(mel + 1e-6) + 7) / 4``.
    """

    def __init__(self, n_mels: int = N_MELS) -> None:
        super().__init__()
        bins = N_FFT // 2 + 1
        n = np.arange(N_FFT)
        k = np.arange(bins)[:, None]
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)
        ker = np.concatenate([np.cos(2 * np.pi * k * n / N_FFT), np.sin(2 * np.pi * k * n / N_FFT)])
        self.register_buffer("kernel", torch.from_numpy((ker * hann).astype(np.float32)[:, None]))
        self.register_buffer("fbank", torch.from_numpy(mel_filterbank(n_mels)))
        self.bins = bins

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` float32 audio -> ``[B, n_mels, N // 160 + 1]`` normalised log-mel."""
        spec = nn.functional.conv1d(audio[:, None], self.kernel, stride=HOP, padding=N_FFT // 2)
        power = spec[:, : self.bins] ** 2 + spec[:, self.bins :] ** 2
        mel = torch.matmul(power.transpose(1, 2), self.fbank).transpose(1, 2)
        return (torch.log(mel + 1e-6) + 7.0) / 4.0


#: Autocorrelation frame (20 ms, as the regression network's), centred on the log-mel frames.
AC_FRAME = 320


class Autocorr(nn.Module):
    """Fixed autocorrelation features: audio ``[B, N]`` -> ``[B, lags, N // 160 + 1]``.

    Frame j is samples ``[160 j - 160, 160 j + 160)`` (zero padded), centred like the log-mel
    frame j; mean removed, Hann windowed. Row 0 is ``(log(r_0 + 1e-6) + 7) / 4`` (the log-mel
    scaling), rows 1.. are ``r_k / (r_0 + 1e-6)`` for lags ``k = 1 .. lags - 1`` samples.
    """

    def __init__(self, lags: int) -> None:
        super().__init__()
        if lags < 2 or AC_FRAME % lags:
            raise ValueError(f"autocorr lags {lags}: need >= 2 and a divisor of {AC_FRAME}")
        self.lags = lags
        self.register_buffer("hann", torch.hann_window(AC_FRAME, periodic=False))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` float32 audio (N a multiple of 160) -> ``[B, lags, N // 160 + 1]``."""
        x = nn.functional.pad(audio, (HOP, HOP))
        fr = half_overlap_frames(x, HOP, int(x.shape[1]) // HOP)
        r0, ac = normalised_autocorrelation(fr, self.hann, self.lags)
        feats = torch.cat([(torch.log(r0 + 1e-6) + 7.0) / 4.0, ac], dim=2)
        return feats.transpose(1, 2)


def _interp_matrix(src: int = MEL_FRAMES, dst: int = FRAMES) -> np.ndarray:
    """``[src, dst]`` linear interpolation from 100 fps frame j (t = j/100) to t = f/60."""
    m = np.zeros((src, dst), np.float32)
    for f in range(dst):
        pos = f * src / dst
        j = min(int(pos), src - 2)
        frac = pos - j
        m[j, f], m[j + 1, f] = 1.0 - frac, frac
    return m


class AudioEncoder(nn.Module):
    """Audio features ``[B, 40 + A, 100]`` -> ``[B, 60, C]``.

    A = ``autocorr`` extra rows (:class:`Autocorr`) after the 40 log-mel bands (0 = log-mel only).
    Two k5 convs at 100 fps (+-40 ms), the resampling to 60 fps, then one residual k5 conv per
    entry of ``dilations`` (dilation d reaches +-2d frames): (1, 1) gives +-107 ms, (1, 2, 4)
    +-273 ms, about the regression net's +-260 ms.
    """

    def __init__(
        self, channels: int, autocorr: int = 0, dilations: tuple[int, ...] = (1, 1)
    ) -> None:
        super().__init__()
        self.pre = nn.Sequential(
            nn.Conv1d(N_MELS + autocorr, channels, 5, padding=2), nn.GELU(),
            nn.Conv1d(channels, channels, 5, padding=2), nn.GELU(),
        )  # fmt: skip
        self.register_buffer("interp", torch.from_numpy(_interp_matrix()))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(channels, channels, 5, padding=2 * d, dilation=d), nn.GELU())
            for d in dilations
        )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``[B, 40 + A, 100]`` -> ``[B, 60, C]``."""
        x = torch.matmul(self.pre(mel), self.interp)
        for block in self.blocks:
            x = x + block(x)
        return x.transpose(1, 2)


@dataclass(frozen=True)
class DiffusionDims:
    """Sizes of the network.

    Attributes:
        identities: K, length of the identity one-hot.
        hidden: H, GRU hidden size (``input_latents`` last axis).
        channels: audio feature / head width.
        emb: emotion and identity embedding width.
        latent: width of ``input_latents``/``output_latents`` (NVIDIA: 256); the GRU reads
            the first ``hidden`` entries; the rest carries the cross-fade stash.
        crossfade: centre frames (from frame 15) cross-faded from the previous window's own
            prediction of them, carried in the spare latent entries (0 = off).
        autocorr: autocorrelation lags added to the log-mel (:class:`Autocorr`; 0 = off, the
            shipped ada_multi_v3.0).
        dilations: dilation of each residual conv of the audio encoder after the resampling
            (:class:`AudioEncoder`; the shipped net: (1, 1)).
    """

    identities: int = 3
    hidden: int = 128
    channels: int = 96
    emb: int = 32
    latent: int = 256
    crossfade: int = 7
    autocorr: int = 0
    dilations: tuple[int, ...] = (1, 1)


def timestep_embedding(t: int, dim: int) -> torch.Tensor:
    """Sinusoidal embedding ``[dim]`` of integer timestep ``t``."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    ang = float(t) * freqs
    return torch.cat([torch.sin(ang), torch.cos(ang)])


class Denoiser(nn.Module):
    """One diffusion step: ``x_t`` [B,60,C] + conditions + GRU state -> ``x_0`` estimate."""

    def __init__(self, dims: DiffusionDims) -> None:
        super().__init__()
        c, h = dims.channels, dims.hidden
        self.code_in = nn.Linear(CODE_DIM, c)
        self.time_mlp = nn.Sequential(nn.Linear(64, h), nn.Mish(), nn.Linear(h, h))
        self.inp = nn.Linear(2 * c + 2 * dims.emb, h)
        self.gru = nn.GRU(h, h, num_layers=2, batch_first=True)
        self.head = nn.Sequential(nn.Conv1d(h + c, c, 3, padding=1), nn.GELU())
        self.out = nn.Linear(c, CODE_DIM)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(
        self, x_t: torch.Tensor, t: int, audio: torch.Tensor, cond: torch.Tensor, h0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x0 [B,60,C], state after frame 29 [2,B,H])``.

        Args:
            x_t: ``[B, 60, 72]`` noisy normalised code.
            t: integer timestep.
            audio: ``[B, 60, channels]`` audio features.
            cond: ``[B, 60, 2*emb]`` emotion || identity embeddings.
            h0: ``[2, B, H]`` GRU state at frame 0.
        """
        temb = self.time_mlp(timestep_embedding(t, 64))
        z = torch.cat([audio, self.code_in(x_t), cond], dim=-1)
        z = nn.functional.gelu(self.inp(z) + temb)
        first, h_mid = self.gru(z[:, :CARRY_FRAME], h0)
        second, _ = self.gru(z[:, CARRY_FRAME:], h_mid)
        y = torch.cat([torch.cat([first, second], dim=1), audio], dim=-1)
        y = self.head(y.transpose(1, 2)).transpose(1, 2)
        return self.out(y), h_mid


class CodeDecoder(nn.Module):
    """Fixed linear decode of the 72-dim code to the ``[.., D]`` vertex-delta row.

    One float16 matrix ``[73, D]`` (cast to float32 at run time): rows 0..51 the skin
    blendshape deltas (skin columns), rows 0..67 the tongue || jaw map, rows 68..71 the eye
    pass-through, row 72 the tongue || jaw bias (multiplied by a constant 1 appended to the
    code). One MatMul writes the whole row: no Concat or Add over the large output.

    Args:
        skin_basis: ``[52, 3V]`` skin blendshape deltas.
        tj_matrix: ``[68, 3Vt + 15]`` weights -> tongue || jaw deltas (least squares).
        tj_bias: ``[3Vt + 15]``.
    """

    def __init__(self, skin_basis: np.ndarray, tj_matrix: np.ndarray, tj_bias: np.ndarray) -> None:
        super().__init__()
        skin, tj = np.asarray(skin_basis), np.asarray(tj_matrix)
        s, t = skin.shape[1], tj.shape[1]
        full = np.zeros((CODE_DIM + 1, s + t + 4), np.float32)
        full[:52, :s] = skin
        full[:CODE_WEIGHTS, s : s + t] = tj
        full[CODE_DIM, s : s + t] = np.asarray(tj_bias)
        full[CODE_WEIGHTS:CODE_DIM, s + t :] = np.eye(4)
        self.register_buffer("matrix", torch.from_numpy(full.astype(np.float16)))
        self.skin_width, self.tj_width = s, t

    @property
    def width(self) -> int:
        """D = skin + tongue + jaw + eyes."""
        return int(self.matrix.shape[1])

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        """``[B, F, 72]`` de-normalised code -> ``[B, F, D]`` deltas."""
        ones = torch.ones_like(code[..., :1])
        return torch.matmul(torch.cat([code, ones], dim=-1), self.matrix.float())


class DiffusionNet(nn.Module):
    """The whole exported graph (see module docstring).

    Args:
        dims: network sizes.
        decoder: the fixed code decoder (sets D).
        code_mean: ``[72]`` normalisation mean of the code.
        code_std: ``[72]`` normalisation std of the code.
    """

    def __init__(
        self, dims: DiffusionDims, decoder: CodeDecoder, code_mean: np.ndarray,
        code_std: np.ndarray,
    ) -> None:  # fmt: skip
        super().__init__()
        self.dims = dims
        self.logmel = LogMel()
        self.autocorr = Autocorr(dims.autocorr) if dims.autocorr else None
        self.encoder = AudioEncoder(dims.channels, dims.autocorr, tuple(dims.dilations))
        self.emotion_emb = nn.Linear(NUM_EMOTIONS, dims.emb, bias=False)
        self.identity_emb = nn.Linear(dims.identities, dims.emb, bias=False)
        self.denoiser = Denoiser(dims)
        self.decoder = decoder
        self.register_buffer("code_mean", torch.from_numpy(np.asarray(code_mean, np.float32)))
        self.register_buffer("code_std", torch.from_numpy(np.asarray(code_std, np.float32)))
        idx = np.clip(np.arange(FRAMES) - CENTER_FIRST, 0, CENTER_LAST - CENTER_FIRST - 1)
        self.register_buffer("emo_index", torch.from_numpy(idx.astype(np.int64)))
        self.alpha_bars = [cosine_alpha_bar(t) for t in TIMESTEPS]

    def conditions(
        self, mel: torch.Tensor, identity: torch.Tensor, emotion: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio features ``[B,60,C]`` and embeddings ``[B,60,2*emb]`` of one window.

        ``mel`` is :meth:`features` of the window, ``[B, 40 + autocorr, 100]``.
        """
        audio = self.encoder(mel)
        emo = self.emotion_emb(emotion[:, self.emo_index])
        ident = self.identity_emb(identity)[:, None].expand(-1, FRAMES, -1)
        return audio, torch.cat([emo, ident], dim=-1)

    def sample(
        self, audio: torch.Tensor, cond: torch.Tensor, latents: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """2-step DDPM sampling: normalised code ``[B,60,72]`` and new latents ``[2,2,B,L]``."""
        noise = noise[..., :CODE_DIM]  # slice the wide axis first: copies 72 columns only
        x = noise[:, 0]
        states = []
        x0 = x
        hidden = self.dims.hidden
        for s, t in enumerate(TIMESTEPS):
            x0, h = self.denoiser(x, t, audio, cond, latents[s, :, :, :hidden])
            states.append(h)
            if s + 1 < len(TIMESTEPS):
                ab = self.alpha_bars[s + 1]
                x = math.sqrt(ab) * x0 + math.sqrt(1.0 - ab) * noise[:, s + 1]
        return x0, torch.stack(states)

    def crossfade(
        self, code: torch.Tensor, input_latents: torch.Tensor, states: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Seam removal: blend frames 15.. from the previous window's stashed prediction.

        The previous window predicted frames 45..45+n-1 (this window's 15..15+n-1); they ride in
        the spare latent entries ``[..., hidden:]`` (4 x (latent - hidden) floats per stream).
        Frame 15+i becomes ``(1 - a_i) prev_i + a_i cur_i`` (``a_i``: :attr:`fade`).

        Args:
            code: ``[B, 60, 72]`` de-normalised code of this window.
            input_latents: ``[2, 2, B, latent]``.
            states: ``[2, 2, B, hidden]`` new GRU states.

        Returns:
            ``(blended code [B,60,72], output_latents [2,2,B,latent])``.
        """
        n, hidden, spare = (
            self.dims.crossfade,
            self.dims.hidden,
            self.dims.latent - self.dims.hidden,
        )
        if n == 0 or spare == 0:
            return code, nn.functional.pad(states, (0, spare))
        b = code.shape[0]
        prev = input_latents[..., hidden:].permute(2, 0, 1, 3).reshape(b, 4 * spare)
        prev = prev[:, : n * CODE_DIM].reshape(b, n, CODE_DIM)
        a, c0 = self.fade, CENTER_FIRST
        mid = (1.0 - a) * prev + a * code[:, c0 : c0 + n]
        blended = torch.cat([code[:, :c0], mid, code[:, c0 + n :]], dim=1)
        stash = code[:, CENTER_LAST : CENTER_LAST + n].reshape(b, n * CODE_DIM)
        stash = nn.functional.pad(stash, (0, 4 * spare - n * CODE_DIM))
        stash = stash.reshape(b, 2, 2, spare).permute(1, 2, 0, 3)
        return blended, torch.cat([states, stash], dim=-1)

    def forward(
        self, window: torch.Tensor, identity: torch.Tensor, emotion: torch.Tensor,
        input_latents: torch.Tensor, noise: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """NVIDIA's contract: ``(prediction [B,60,D], output_latents [2,2,B,latent])``."""
        audio, cond = self.conditions(self.features(window), identity, emotion)
        x0, states = self.sample(audio, cond, input_latents, noise)
        code, latents = self.crossfade(x0 * self.code_std + self.code_mean, input_latents, states)
        return self.decoder(code), latents

    def features(self, window: torch.Tensor) -> torch.Tensor:
        """``[B, 16000]`` -> ``[B, 40 + autocorr, 100]`` (log-mel, then autocorrelation rows)."""
        mel = self.logmel(window)[:, :, :MEL_FRAMES]
        if getattr(self, "autocorr", None) is None:  # also modules pickled before the option
            return mel
        return torch.cat([mel, self.autocorr(window)[:, :, :MEL_FRAMES]], dim=1)

    @property
    def fade(self) -> torch.Tensor:
        """``[n, 1]`` smoothstep fade weights ``3 u^2 - 2 u^3``, ``u = (i + 1) / (n + 1)``."""
        n = self.dims.crossfade
        u = torch.arange(1, n + 1, dtype=torch.float32) / (n + 1)
        return (3.0 * u**2 - 2.0 * u**3)[:, None]


def count_flops(dims: DiffusionDims, skin_width: int, tj_width: int) -> dict[str, float]:
    """Approximate FLOPs (2 per multiply-add) of one window of one stream, by part.

    Args:
        dims: network sizes.
        skin_width: 3 V skin columns of the decode.
        tj_width: 3 Vt + 15 tongue and jaw columns.
    """
    c, h, e = dims.channels, dims.hidden, dims.emb
    mel = 2 * (MEL_FRAMES + 1) * (2 * (N_FFT // 2 + 1)) * N_FFT
    a = dims.autocorr
    enc = 2 * MEL_FRAMES * 5 * c * (N_MELS + a + c) + 2 * FRAMES * 5 * c * c * len(dims.dilations)
    if a:  # block-matmul autocorrelation (a2f_train.nets.regression.autocorrelation)
        mel += 2 * (MEL_FRAMES + 1) * (AC_FRAME // a) * a * 2 * a
    step = 2 * FRAMES * (CODE_DIM * c + (2 * c + 2 * e) * h + 2 * 3 * 2 * h * h)
    step += 2 * FRAMES * (3 * (h + c) * c + c * CODE_DIM)
    dec = 2 * FRAMES * (CODE_DIM + 1) * (skin_width + tj_width + 4)
    return {"logmel": mel, "encoder": enc, "denoiser_2_steps": 2 * step, "decode": dec}
