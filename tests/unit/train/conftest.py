"""A tiny corpus with geometry (the ``small`` preset, 6 clips) built once per session."""

from __future__ import annotations

import io

import pytest


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    from a2f_train.corpus import build, config, targets

    try:
        targets.load_character()
    except targets.CharacterUnavailable as exc:  # pragma: no cover
        pytest.skip(f"character unavailable: {exc}")
    cfg = config.load_config("small")
    out = tmp_path_factory.mktemp("corpus")
    result = build.build(
        cfg, out, workers=1, progress_stream=io.StringIO(), geometry_fn=targets.geometry_hook("on")
    )
    if result.written == 0:  # pragma: no cover - no speech engine on this machine
        pytest.skip("the small corpus could not be built (espeak-ng / flite missing)")
    return out
