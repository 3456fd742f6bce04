"""Real human speech with transcripts from Debian's ``pocketsphinx-testdata`` package.

The package installs ``/usr/share/pocketsphinx/test/data/``: ``librivox/`` (5 utterances of one
LibriVox reader, *Sense and Sensibility*, public domain, 24.7 s) with ``transcription`` and
``fileids``, and ``cards/`` (5 CMU recordings, 9.7 s) with ``cards.transcription`` (BSD-2).
Files are discovered by walking the data folder for transcription files whose lines read
``<s> words </s> (utterance-id)`` and a ``<utterance-id>.wav`` beside them, so a later layout
or a second folder in the same format works too. Raw ``.raw`` files without a transcript are
not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

APT_PACKAGE = "pocketsphinx-testdata"
#: Where Debian (and a source build's ``make install``) put the test data.
DEFAULT_ROOTS: tuple[Path, ...] = (
    Path("/usr/share/pocketsphinx/test/data"),
    Path("/usr/local/share/pocketsphinx/test/data"),
)
_LINE = re.compile(r"^(?P<text>.*?)\s*\((?P<id>[^()]+)\)\s*$")


class RealSpeechUnavailable(FileNotFoundError):
    """The real-speech test data is not installed (names the apt package to install)."""


@dataclass(frozen=True, eq=False)
class RealClip:
    """One real-speech utterance.

    Attributes:
        name: ``<folder>/<utterance-id>``, e.g. ``"librivox/sense_..._0930"``.
        path: The WAV file.
        transcript: Words spoken (sentence marks removed, original case).
        audio: ``[N]`` float32 mono samples at 16 kHz.
    """

    name: str
    path: Path
    transcript: str
    audio: np.ndarray

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return len(self.audio) / 16000.0


def find_testdata_root(roots: Sequence[Path] = DEFAULT_ROOTS) -> Path:
    """The first existing pocketsphinx test-data folder.

    Raises:
        RealSpeechUnavailable: None exists; the message names the package to install.
    """
    for root in roots:
        if root.is_dir():
            return root
    where = ", ".join(str(r) for r in roots)
    raise RealSpeechUnavailable(
        f"no real-speech test data at {where}: install the Debian package {APT_PACKAGE} "
        f"(`sudo apt-get install {APT_PACKAGE}`)"
    )


def _transcription_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and (path.name == "transcription" or path.suffix == ".transcription"):
            yield path


def parse_transcription(path: Path) -> list[tuple[str, str]]:
    """``(utterance_id, text)`` pairs of a Sphinx transcription file (``<s> .. </s> (id)``)."""
    pairs = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _LINE.match(line.strip())
        if match:
            text = re.sub(r"</?s>", " ", match["text"])
            pairs.append((match["id"].strip(), " ".join(text.split())))
    return pairs


def load_real_speech(root: Path | None = None) -> list[RealClip]:
    """Every transcribed WAV utterance under the test-data folder, sorted by name.

    Args:
        root: Test-data folder; default: the first of :data:`DEFAULT_ROOTS` that exists.

    Returns:
        The clips (decoded and resampled to 16 kHz when needed).

    Raises:
        RealSpeechUnavailable: No data folder, or no transcribed WAV under it.
    """
    from a2f_actors.audio import decode_wav
    from a2f_actors.resample import resample

    if root is not None and not Path(root).is_dir():
        raise RealSpeechUnavailable(
            f"no real-speech folder at {root}: for the development set run "
            f"`python -m a2f_train.evaluation.real_dev {root}`"
        )
    base = find_testdata_root() if root is None else Path(root)
    clips = []
    for trans in _transcription_files(base):
        for utt, text in parse_transcription(trans):
            wav = trans.parent / f"{utt}.wav"
            if not wav.is_file() or not text:
                continue
            decoded = decode_wav(wav)  # WAV --> float32 mono @ native rate
            audio = decoded.samples
            if decoded.sample_rate != 16000:
                audio = resample(audio, decoded.sample_rate)  # --> float32 @ 16 kHz
            name = f"{trans.parent.relative_to(base).as_posix()}/{utt}"
            clips.append(RealClip(name, wav, text, audio))
    if not clips:
        raise RealSpeechUnavailable(
            f"no transcribed WAV files under {base}; reinstall the Debian package {APT_PACKAGE}"
        )
    return sorted(clips, key=lambda c: c.name)


@dataclass(frozen=True)
class ClipAlignment:
    """Forced alignment of one real clip, as the harness reports it.

    Attributes:
        name: Clip name.
        duration_s: Clip length in seconds.
        words: Transcript word count.
        aligned: Words that received a segment.
        bilabials: /p b m/ phone segments ``(label, start_s, end_s)``.
        oov: Transcript words missing from the dictionary.
        error: Decoder error, or None.
    """

    name: str
    duration_s: float
    words: int
    aligned: int
    bilabials: tuple[tuple[str, float, float], ...]
    oov: tuple[str, ...]
    error: str | None

    @property
    def coverage(self) -> float:
        """Share of transcript words aligned."""
        return self.aligned / self.words if self.words else 0.0


def align_real_speech(clips: Sequence[RealClip]) -> list[ClipAlignment]:
    """Force-align every clip to its transcript (pocketsphinx); coverage and bilabials per clip."""
    from a2f_train.evaluation.alignment import force_align

    out = []
    for clip in clips:
        al = force_align(clip.audio, clip.transcript)
        bil = tuple((p.label, p.start_s, p.end_s) for p in al.bilabials)
        n = len(al.transcript_words)
        out.append(
            ClipAlignment(
                clip.name, clip.duration_s, n, min(len(al.words), n), bil, al.oov, al.error
            )
        )
    return out
