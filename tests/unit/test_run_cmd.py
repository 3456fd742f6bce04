"""``a2f run`` (offline path): streams audio through resampling and the window schedulers."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from deployments.cli import main
from deployments.cli.run_cmd import demo_clip, stream_offline


def _summary(out: Path) -> dict:
    (run_dir,) = list(out.iterdir())
    return json.loads((run_dir / "summary.json").read_text())


def test_run_offline_reports_exact_frame_counts_when_demo_clip_streams(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--offline", "-o", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "OFFLINE PATH ONLY" in printed
    sched = _summary(tmp_path)["schedules"]
    # 3.0 s: regression frames with i*16000/30 < 48000 -> 90; diffusion 60 fps -> 180;
    # A2E one inference per second with target k*16000 < 48000 -> 3.
    assert sched["regression_30fps"]["frames"] == 90
    assert sched["diffusion_60fps"]["frames"] == 180
    assert sched["a2e"]["frames"] == 3
    assert sched["regression_30fps"]["window_shape"] == [8320]
    assert sched["regression_30fps"]["samples_16k"] == 48000


def test_run_offline_bounds_memory_when_clip_is_long() -> None:
    clip = demo_clip(rate=48000, seconds=12.0)
    stats = stream_offline(clip, 48000, 1.0)
    assert stats["regression_30fps"]["frames"] == 360
    # the accumulator keeps about one window plus one chunk, not the whole 12 s clip
    assert stats["regression_30fps"]["peak_retained"] < 8320 + 2 * 1600 + 600
    assert stats["diffusion_60fps"]["peak_retained"] < 16000 + 2 * 1600 + 8000


def test_run_offline_rejects_audio_when_rate_is_below_16khz(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "low.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(8000, "<i2").tobytes())
    with pytest.raises(ValueError, match="8000"):
        main(["run", "--offline", "--audio", str(path), "-o", str(tmp_path / "out")])
