"""The development-set builder's offline pieces: transcript parsing, G.722 decoding, hashes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from a2f_train.evaluation import real_dev
from a2f_train.evaluation.real_dev import (
    ASTERISK_PROMPTS,
    UTTERANCES,
    asterisk_transcripts,
    check_sha256,
    g722_decode,
    prompt_words,
)

CORE_SOUNDS = """; Core Asterisk Sounds in English

activated: Activated.
beep: [this is a simple beep tone]
vm-intro: Please leave your message after the tone.  When done hang up or press the pound key. \
(simple tone sound plays)
dictate/play_help: press 1 to switch to record mode, press 2 to toggle fast playback
empty:
"""


def test_asterisk_transcripts_skip_comments_effects_and_blanks() -> None:
    texts = asterisk_transcripts(CORE_SOUNDS)
    assert set(texts) == {"activated", "vm-intro", "dictate/play_help"}
    assert texts["activated"] == "Activated."
    assert prompt_words(texts["vm-intro"]) == (
        "please leave your message after the tone when done hang up or press the pound key"
    )
    assert prompt_words(texts["dictate/play_help"]) == (
        "press one to switch to record mode press two to toggle fast playback"
    )


def test_prompt_words_spell_keys_and_fix_known_words() -> None:
    assert prompt_words("Press * for help, # to exit, or 0.") == (
        "press star for help pound to exit or zero"
    )
    assert prompt_words("Re-enter Waldo's number...") == "re enter waldo number"
    assert prompt_words("All of our represenatives") == "all of our representatives"
    with pytest.raises(ValueError, match="multi-digit"):
        prompt_words("Dial 1234 now")


def test_utterance_ids_are_unique_file_names() -> None:
    ids = [u[0] for utts in UTTERANCES.values() for u in utts]
    ids += [name.replace("/", "_") for name in ASTERISK_PROMPTS]
    assert len(ids) == len(set(ids)) == 11 + 25
    assert all("/" not in i for i in ids)


def test_check_sha256_passes_unpinned_and_matching_and_rejects_others(monkeypatch) -> None:
    data = b"speech"
    monkeypatch.setitem(real_dev.SHA256, "k", hashlib.sha256(data).hexdigest())
    assert check_sha256(data, "k") is data
    assert check_sha256(data, "not-pinned") is data
    with pytest.raises(ValueError, match="sha256"):
        check_sha256(b"other", "k")


# A minimal G.722 encoder (the reference's QUANTL/QUANTH and QMF analysis) that reuses the
# decoder's band adaptation: what it encodes the decoder must give back.
_Q6 = (
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858,
    940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919,
)  # fmt: skip
_ILN = (
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12,
    11, 10, 9, 8, 7, 6, 5, 4,
)  # fmt: skip
_ILP = (
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40,
    39, 38, 37, 36, 35, 34, 33, 32,
)  # fmt: skip


def g722_encode(pcm: np.ndarray) -> bytes:
    lo, hi = real_dev._G722Band(32), real_dev._G722Band(8)
    x = [0] * 24
    out = bytearray()
    qmf = real_dev._G722_QMF
    for j in range(0, len(pcm) - 1, 2):
        x = [*x[2:], int(pcm[j]), int(pcm[j + 1])]
        sumodd = sum(x[2 * i] * qmf[i] for i in range(12))
        sumeven = sum(x[2 * i + 1] * qmf[11 - i] for i in range(12))
        el = real_dev._sat16(((sumeven + sumodd) >> 14) - lo.s)
        wd = el if el >= 0 else -(el + 1)
        i = next((i for i in range(1, 30) if wd < (_Q6[i] * lo.det) >> 12), 30)
        ilow = _ILN[i] if el < 0 else _ILP[i]
        dlow = (lo.det * real_dev._G722_QM4[ilow >> 2]) >> 15
        lo.scale(real_dev._G722_WL[real_dev._G722_RL42[ilow >> 2]], 18432, 8)
        lo.adapt(dlow)
        eh = real_dev._sat16(((sumeven - sumodd) >> 14) - hi.s)
        wd = eh if eh >= 0 else -(eh + 1)
        mih = 2 if wd >= (564 * hi.det) >> 12 else 1
        ihigh = (0, 1, 0)[mih] if eh < 0 else (0, 3, 2)[mih]
        dhigh = (hi.det * real_dev._G722_QM2[ihigh]) >> 15
        hi.scale(real_dev._G722_WH[real_dev._G722_RH2[ihigh]], 22528, 10)
        hi.adapt(dhigh)
        out.append((ihigh << 6) | ilow)
    return bytes(out)


def test_g722_decode_inverts_the_encoder_on_a_chirp() -> None:
    t = np.arange(8000) / 16000  # 0.5 s at 16 kHz
    chirp = (6000 * np.sin(2 * np.pi * (200 + 3000 * t) * t)).astype(np.int16)
    coded = g722_encode(chirp)
    assert len(coded) == 4000
    decoded = g722_decode(coded)
    assert decoded.dtype == np.int16 and decoded.shape == (8000,)
    # the QMF pair delays the signal by 22 samples; skip the predictor's warm-up
    ref, got = chirp[1000:-22].astype(float), decoded[1022:].astype(float)
    snr = 10 * np.log10(np.sum(ref**2) / np.sum((ref - got) ** 2))
    assert snr > 30  # 46 dB: a table or QMF error gives < 5 dB
