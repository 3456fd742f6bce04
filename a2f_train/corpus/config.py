"""Typed corpus configuration (pydantic, ``extra="forbid"``) and the ``small``/``full`` presets.

Presets live as YAML in ``a2f_train/corpus/presets/``; :func:`load_config` accepts a preset name
or a path to a YAML file with the same schema.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from a2f_train.corpus.expression import EMOTIONS
from a2f_train.corpus.tts_piper import PIPER_VOICES

__all__ = [
    "AugmentConfig",
    "CorpusConfig",
    "EmotionConfig",
    "SentenceConfig",
    "VoiceConfig",
    "config_hash",
    "load_config",
]

PRESET_DIR = Path(__file__).with_name("presets")
Range = tuple[float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_range(name: str, r: Range) -> None:
    if r[0] > r[1]:
        raise ValueError(f"{name}: low {r[0]} > high {r[1]}; write it as [low, high]")


class SentenceConfig(_Strict):
    """Which sentences are read."""

    n_generated: int = Field(200, ge=0, le=100_000, description="template sentences to add")
    use_hand_written: bool = Field(True, description="include sentences.yaml")
    val_fraction: float = Field(0.05, ge=0, le=0.5, description="share of sentences held out")
    test_fraction: float = Field(0.05, ge=0, le=0.5, description="share held out for testing")


class VoiceConfig(_Strict):
    """Engines, voices and prosody ranges (before emotional prosody is applied)."""

    espeak_share: float = Field(0.6, ge=0, le=1, description="share of clips spoken by espeak")
    espeak_accents: tuple[str, ...] = Field(
        ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc"),
        min_length=1,
        description="espeak-ng accents (voice names)",
    )
    espeak_variants: tuple[str, ...] = Field(
        ("", "m1", "m3", "m5", "f1", "f2", "f4"),
        description="espeak-ng variants appended as accent+variant ('' = none)",
    )
    flite_voices: tuple[str, ...] = Field(
        ("slt", "rms", "awb", "kal16"), min_length=1, description="flite voices"
    )
    rate_wpm: Range = Field((140.0, 200.0), description="espeak rate range, words per minute")
    pitch: Range = Field((35.0, 65.0), description="espeak base pitch range, 0..100")
    pitch_range: Range = Field((30.0, 70.0), description="espeak pitch range, 0..100")
    flite_stretch: Range = Field((0.9, 1.15), description="flite duration_stretch range")
    flite_semitones: Range = Field((-2.0, 2.0), description="flite mean-pitch shift range")
    piper_share: float = Field(
        0.0, ge=0, le=1,
        description="share of all clips spoken by piper (drawn from its own seeded stream, so "
        "the other clips are those of the same config without piper); espeak_share applies "
        "to the rest",
    )  # fmt: skip
    piper_voices: tuple[str, ...] = Field(("joe",), min_length=1, description="piper voices")
    piper_length_scale: Range = Field((0.9, 1.15), description="piper length_scale range")

    @model_validator(mode="after")
    def _ranges(self) -> VoiceConfig:
        for name in ("rate_wpm", "pitch", "pitch_range", "flite_stretch", "flite_semitones",
                     "piper_length_scale"):  # fmt: skip
            _check_range(name, getattr(self, name))
        unknown = sorted(set(self.piper_voices) - set(PIPER_VOICES))
        if unknown:
            raise ValueError(f"unknown piper voices {unknown}; choose from {sorted(PIPER_VOICES)}")
        return self


class EmotionConfig(_Strict):
    """Emotion mix and intensity."""

    emotions: tuple[str, ...] = Field(EMOTIONS, min_length=1, description="emotions drawn")
    neutral_share: float = Field(0.3, ge=0, le=1, description="share of neutral clips")
    intensity: Range = Field((0.4, 1.0), description="intensity range of non-neutral clips")

    @model_validator(mode="after")
    def _known(self) -> EmotionConfig:
        unknown = sorted(set(self.emotions) - set(EMOTIONS))
        if unknown:
            raise ValueError(f"unknown emotions {unknown}; choose from {list(EMOTIONS)}")
        _check_range("intensity", self.intensity)
        return self


class AugmentConfig(_Strict):
    """Augmented copies written beside each clean clip (same targets)."""

    copies: int = Field(1, ge=0, le=8, description="augmented WAVs per clean clip")
    snr_db: Range = Field((10.0, 40.0), description="additive-noise SNR range, dB")
    noise_prob: float = Field(0.8, ge=0, le=1, description="chance of additive noise")
    reverb_prob: float = Field(0.4, ge=0, le=1, description="chance of synthetic reverb")
    rt60_s: Range = Field((0.15, 0.7), description="reverb RT60 range, seconds")
    bandlimit_prob: float = Field(0.3, ge=0, le=1, description="chance of band-limiting")
    gain_db: Range = Field((-12.0, 6.0), description="gain range, dB")


class CorpusConfig(_Strict):
    """The whole corpus recipe; the same config and seed give the same clip plan."""

    name: str = Field("custom", description="preset or corpus name")
    seed: int = Field(0, ge=0, description="master seed")
    clips: int = Field(8, ge=1, le=1_000_000, description="clean clips to synthesize")
    pad_s: Range = Field((0.2, 0.6), description="silence added before and after speech, s")
    timeout_s: float = Field(30.0, gt=0, le=600, description="per-utterance synthesis limit, s")
    geometry: Literal["auto", "on", "off"] = Field(
        "auto", description="materialise character geometry targets (auto: if available)"
    )
    pca_frames: int = Field(2000, ge=16, le=100_000, description="frames sampled for PCA")
    sentences: SentenceConfig = Field(default_factory=SentenceConfig)
    voices: VoiceConfig = Field(default_factory=VoiceConfig)
    emotion: EmotionConfig = Field(default_factory=EmotionConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)

    @model_validator(mode="after")
    def _pad(self) -> CorpusConfig:
        _check_range("pad_s", self.pad_s)
        return self


def load_config(name_or_path: str | Path) -> CorpusConfig:
    """Load a preset (``small``, ``full``) or a YAML file.

    Raises:
        FileNotFoundError: neither a preset nor an existing file.
        pydantic.ValidationError: the YAML does not match the schema.
    """
    preset = PRESET_DIR / f"{name_or_path}.yaml"
    path = preset if preset.is_file() else Path(name_or_path)
    if not path.is_file():
        presets = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no corpus config {name_or_path!r}; presets: {presets}")
    return CorpusConfig.model_validate(yaml.safe_load(path.read_text()) or {})


def config_hash(cfg: CorpusConfig) -> str:
    """Hex digest of what changes the clips (not ``clips``: a longer plan extends a shorter one)."""
    data = cfg.model_dump(mode="json", exclude={"geometry", "pca_frames", "clips"})
    if cfg.voices.piper_share == 0:  # corpora built before piper existed keep their hash
        for key in ("piper_share", "piper_voices", "piper_length_scale"):
            data["voices"].pop(key)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
