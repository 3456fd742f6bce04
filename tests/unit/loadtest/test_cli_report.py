"""``a2f loadtest`` end to end against the fake server: results folder, plots, compare."""

from __future__ import annotations

import asyncio
import json
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from deployments.cli import loadtest_cmd
from tests.unit.loadtest.fake_server import FakeA2F, start

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def fake_url():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server, url = asyncio.run_coroutine_threadsafe(start(FakeA2F()), loop).result(10)
    yield url
    asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "clip.wav"
    pcm = (np.random.default_rng(1).standard_normal(8000) * 2000).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(16000)
        fh.writeframes(pcm.tobytes())
    return path


def test_burst_and_sweep_write_complete_results_folders_that_compare(
    fake_url, wav, tmp_path, capsys
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--url", fake_url, "--clips", str(wav), "--quiet"]
    rc = loadtest_cmd.main(["loadtest", "burst", "--streams", "2", "--out", str(a), *common])
    assert rc == 0
    for name in ("report.md", "result.json", "levels.csv", "streams.csv", "latency_vs_streams.png",
                 "fps_vs_streams.png", "cpu_per_stream.png"):  # fmt: skip
        assert (a / name).exists(), name
    data = json.loads((a / "result.json").read_text())
    assert data["header"]["git"] and data["header"]["machine"]["cpus"]
    row = data["levels"][0]["row"]
    assert row["received_frames"] == row["expected_frames"] > 0 and row["lost_frames"] == 0
    rc = loadtest_cmd.main(["loadtest", "sweep", "--levels", "1,2", "--duration-s", "0.1",
                            "--chunk-ms", "50", "--out", str(b), *common])  # fmt: skip
    assert rc == 0, (b / "report.md").read_text()
    assert len(json.loads((b / "result.json").read_text())["levels"]) == 2
    capsys.readouterr()
    assert loadtest_cmd.main(["loadtest", "compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "| 2 | p99_ms |" in out


def test_sweep_stops_at_the_first_level_breaking_the_slo(fake_url, wav, tmp_path) -> None:
    out = tmp_path / "s"
    rc = loadtest_cmd.main(["loadtest", "sweep", "--levels", "1,2,4", "--duration-s", "0.1",
                            "--slo-p99-ms", "0.001", "--url", fake_url, "--clips", str(wav),
                            "--quiet", "--out", str(out)])  # fmt: skip
    assert rc == 1
    data = json.loads((out / "result.json").read_text())
    assert len(data["levels"]) == 1 and data["header"]["max_streams_at_slo"] == 0


def test_run_and_soak_scenarios_meet_the_slo_on_a_healthy_server(fake_url, wav, tmp_path) -> None:
    common = ["--url", fake_url, "--clips", str(wav), "--quiet", "--duration-s", "0.1",
              "--chunk-ms", "50"]  # fmt: skip
    assert loadtest_cmd.main(["loadtest", "run", "--streams", "2", "--out",
                              str(tmp_path / "r"), *common]) == 0  # fmt: skip
    assert loadtest_cmd.main(["loadtest", "soak", "--streams", "1", "--total-s", "2",
                              "--out", str(tmp_path / "s"), *common]) == 0  # fmt: skip
    levels = json.loads((tmp_path / "s" / "result.json").read_text())["levels"]
    assert [lv["row"]["name"] for lv in levels] == ["soak-1/2", "soak-2/2"]


def test_repeated_sweeps_report_each_answer_and_their_median(fake_url, wav, tmp_path) -> None:
    out = tmp_path / "rep"
    rc = loadtest_cmd.main(["loadtest", "sweep", "--levels", "1,2", "--repeats", "2",
                            "--duration-s", "0.1", "--chunk-ms", "50", "--url", fake_url,
                            "--clips", str(wav), "--quiet", "--out", str(out)])  # fmt: skip
    assert rc == 0, (out / "report.md").read_text()
    data = json.loads((out / "result.json").read_text())
    names = [lv["row"]["name"] for lv in data["levels"]]
    assert names == ["sweep-1#1", "sweep-2#1", "sweep-1#2", "sweep-2#2"]
    assert data["header"]["max_streams_per_sweep"] == [2, 2]
    assert data["header"]["max_streams_at_slo"] == 2
    assert "**2** (median of 2 sweeps: 2, 2)" in (out / "report.md").read_text()
    with pytest.raises(SystemExit, match="--repeats 0"):
        loadtest_cmd.main(["loadtest", "sweep", "--repeats", "0", "--url", fake_url])
