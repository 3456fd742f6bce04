"""``a2f run`` (``make run``): a whole local cluster in a subprocess, the sample, clean exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest
import yaml

from deployments.cli import main
from deployments.cli.run_serve import SAMPLE_WAV
from tests.integration.http.test_http_api import expected_frames
from tests.integration.serve.conftest import PROJECT_DIR, free_ports, make_settings

pytestmark = pytest.mark.integration


def _our_processes(marker: str) -> list[int]:
    """Pids whose command line mentions ``marker`` (our workdir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                pids.append(int(entry.name))
    return pids


def test_run_says_make_train_when_the_default_packages_are_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--once", "--models-dir", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "make train" in out and "ada_v2.3" in out


def test_run_once_serves_animates_the_sample_and_stops_everything(tmp_path: Path) -> None:
    ports = free_ports(5)
    settings = make_settings(tmp_path, ports).model_copy(update={"http_port": ports[4]})
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"a2f_serve": settings.model_dump(mode="json")}))
    env = {**os.environ, "PYTHONPATH": PROJECT_DIR, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    cmd = [
        str(Path(sys.executable).parent / "a2f"),
        "run",
        "--once",
        "--settings",
        str(config),
        "--num-cpus",
        "2",
        "-o",
        str(tmp_path / "out"),
    ]
    proc = subprocess.run(
        cmd, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=400
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for endpoint in (f":{ports[0]}", f"http://127.0.0.1:{ports[4]}/v1/animate", "ws://", "/docs"):
        assert endpoint in proc.stdout
    (run_dir,) = (tmp_path / "out").iterdir()
    with wave.open(str(SAMPLE_WAV)) as w:
        n = expected_frames(w.getnframes())
    rows = (run_dir / "animation_frames.csv").read_text().splitlines()
    assert rows[0].startswith("timeCode,blendShapes.EyeBlinkLeft") and len(rows) == n + 1
    doc = json.loads((run_dir / "animation.json").read_text())
    assert doc["status"]["code"] == "SUCCESS" and len(doc["weights"]) == n
    assert not _our_processes(str(settings.workdir()))  # no tritonserver left behind
    assert not (settings.workdir() / "triton" / "state.json").exists()
