"""Shared fixtures: one espeak and one flite utterance per session (synthesis is the slow part)."""

from __future__ import annotations

import shutil

import pytest

from a2f_train.corpus import tts_espeak, tts_flite

TEXT = "Bob bought a map. Five vivid violets faded."


@pytest.fixture(scope="session")
def espeak_utt():
    try:
        return tts_espeak.synthesize(TEXT, "en-us+m3", rate_wpm=170)
    except tts_espeak.EspeakError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"espeak-ng unavailable: {exc}")


@pytest.fixture(scope="session")
def flite_utt():
    if shutil.which("flite") is None:  # pragma: no cover
        pytest.skip("flite not installed (make sysdeps)")
    return tts_flite.synthesize(TEXT, "slt")
