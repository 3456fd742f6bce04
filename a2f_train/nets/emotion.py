"""The Audio2Emotion-interface classifier: ``input_values`` [B, L] -> ``output`` [B, 6] logits.

Classes in NVIDIA's order (a2f_reference.md 1.1, 1.5): angry, disgust, fear, happy, neutral,
sad. Architecture (docs/models/emotion.md): the fixed 40-band log-mel front-end of the
diffusion network (25 ms / 10 ms), four 1-D convolutions (two with stride 2), mean and
standard-deviation pooling over time (any L), a 2-layer MLP head.
"""

from __future__ import annotations

import torch
from torch import nn

from a2f_train.nets.diffusion import N_MELS, LogMel

CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad")


class EmotionNet(nn.Module):
    """Small conv + statistics-pooling classifier.

    Args:
        width: channels of the conv stack.
    """

    def __init__(self, width: int = 96) -> None:
        super().__init__()
        self.logmel = LogMel()
        self.convs = nn.Sequential(
            nn.Conv1d(N_MELS, width, 5, padding=2), nn.GELU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(width, width, 3, padding=1), nn.GELU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Linear(2 * width, 64), nn.GELU(), nn.Linear(64, len(CLASSES)))

    def classify_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """``[B, 40, T]`` log-mel -> ``[B, 6]`` logits."""
        x = self.convs(mel)
        mean = x.mean(dim=2)
        std = torch.sqrt(((x - mean[..., None]) ** 2).mean(dim=2) + 1e-5)
        return self.head(torch.cat([mean, std], dim=1))

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` float32 16 kHz audio -> ``[B, 6]`` logits."""
        return self.classify_mel(self.logmel(input_values))


def count_flops(width: int, samples: int) -> float:
    """Approximate FLOPs (2 per multiply-add) of one ``samples``-long inference."""
    t = samples // 160 + 1
    mel = 2 * t * 402 * 400
    convs = (
        2 * 5 * width * (N_MELS * t + width * t // 2 + width * t // 4) + 2 * 3 * width**2 * t // 4
    )
    return float(mel + convs)
