"""Run one Triton Inference Server process: start, wait until ready, report, stop.

By default the ``tritonserver`` 2.51 bundled in the ``nvidia-pytriton`` wheel is used, run
standalone as in serving_stack.md section 2(b): the distribution is copied once into a cache
folder with the Python-backend stub of the running interpreter, and the process gets
``LD_LIBRARY_PATH`` = the wheel's ``nvidia_pytriton.libs`` + this Python's ``LIBDIR`` (the
copy loses its relative RPATH; Debian's libpython must not be mixed with pyenv's stdlib) and
``PATH`` starting with this venv's ``bin`` (how the stub's Python finds site-packages).

:class:`TritonServer` is a plain class (no ray import) so a Ray actor can own one per node. It
writes a JSON state file (pid, ports, repository, log) so ``a2f triton status|stop`` work from
another process. Without a GPU the log shows harmless NVML / DCGM / CUDA driver errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from deployments.procs import process_table

DEFAULT_WORKDIR = Path.home() / ".cache" / "a2f-cluster" / "triton"
STATE_FILE = "state.json"
_FAILED_LOAD = re.compile(r"failed to load '([^']+)' version \d+: (.*)")


class TritonError(RuntimeError):
    """Base class of process-management errors; the message carries the log's evidence."""


class TritonStartError(TritonError):
    """The server exited or did not become ready in time."""


class ModelLoadError(TritonStartError):
    """One or more models failed to load.

    Attributes:
        failures: Model name -> the model's own error text from the server log.
    """

    def __init__(self, failures: dict[str, str], log_file: Path) -> None:
        self.failures = failures
        lines = "\n".join(f"  {name}: {err}" for name, err in failures.items())
        super().__init__(
            f"Triton failed to load {len(failures)} model(s):\n{lines}\n(log: {log_file})"
        )


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that were free a moment ago (tests, benchmarks).

    Drawn below the kernel's ephemeral range when it leaves room (ports 20000 and up): a port
    the kernel hands out for ``bind(0)`` can be handed out again, to an outgoing connection
    or another ``bind(0)`` (Ray's workers), before the server it was meant for binds it. That
    race broke a Ray head's dashboard once in CI ("address already in use").
    """
    low = _ephemeral_low()
    ports: list[int] = []
    if low - _FIXED_PORTS_FROM >= 100 * n:
        for port in random.SystemRandom().sample(range(_FIXED_PORTS_FROM, low), 50 * n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            ports.append(port)
            if len(ports) == n:
                return ports
    socks = [socket.socket() for _ in range(n)]  # no room below: the kernel's choice
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


#: Where :func:`free_ports` starts drawing: above the well-known and registered service ports
#: this project or Ray use (Serve 8000, Triton 8010-8012, Ray 6379/8265/10001, Ray's default
#: worker ports 10002-19999).
_FIXED_PORTS_FROM = 20000


def _ephemeral_low() -> int:
    """First port of the kernel's ephemeral range (Linux ``ip_local_port_range``; 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


@dataclass(frozen=True)
class TritonPorts:
    """Where the server listens. HTTP 8000 belongs to Serve in this project, hence 8010."""

    http: int = 8010
    grpc: int = 8001
    metrics: int = 8002
    address: str = "127.0.0.1"


@dataclass(frozen=True)
class ServerState:
    """What ``status`` / ``stop`` need to find a running server from another process."""

    pid: int
    repository: str
    http: int
    grpc: int
    metrics: int
    address: str
    log_file: str
    tritonserver: str
    started_at: float

    @property
    def ready_url(self) -> str:
        """The HTTP readiness endpoint."""
        return f"http://{self.address}:{self.http}/v2/health/ready"


def parse_load_failures(log_text: str) -> dict[str, str]:
    """Model name -> error message for every ``failed to load`` line of a Triton log."""
    failures: dict[str, str] = {}
    for line in log_text.splitlines():
        match = _FAILED_LOAD.search(line)
        if match:
            message = match.group(2).rstrip().removesuffix('"')
            failures[match.group(1)] = message.replace('\\"', '"').replace("\\n", " ")
    return failures


def prepare_bundled(workdir: Path = DEFAULT_WORKDIR) -> Path:
    """Copy the wheel's tritonserver with this Python's backend stub into ``workdir`` (once).

    Returns:
        The path of the ``tritonserver`` binary of the copy.

    Raises:
        TritonError: if nvidia-pytriton is not installed.
    """
    src = _site_packages() / "pytriton" / "tritonserver"
    if not (src / "bin" / "tritonserver").is_file():
        raise TritonError(f"no bundled tritonserver at {src}: pip install nvidia-pytriton==0.7.0")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    dist = workdir / f"tritondist-py{version}"
    binary = dist / "bin" / "tritonserver"
    if binary.is_file():
        return binary
    tmp = workdir / f".tritondist-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("python_backend_stubs", "__pycache__"))
    stub = src / "python_backend_stubs" / version / "triton_python_backend_stub"
    shutil.copy2(stub, tmp / "backends" / "python" / stub.name)
    try:
        tmp.rename(dist)
    except OSError:  # another process finished the copy first
        shutil.rmtree(tmp, ignore_errors=True)
    return binary


def _site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the bundled server and its Python stub (serving_stack.md 2(b))."""
    env = dict(os.environ if base is None else base)
    libs = [str(_site_packages() / "nvidia_pytriton.libs"), str(sysconfig.get_config_var("LIBDIR"))]
    if env.get("LD_LIBRARY_PATH"):
        libs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = ":".join(libs)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def group_members(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in process group ``pgid``, read from /proc."""
    return [pid for pid, (_, group, _) in process_table().items() if group == pgid]


def _is_tritonserver(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"tritonserver" in cmdline.split(b"\0", 1)[0]


#: The python backend's per-stub regions; a killed server or stub leaves its files behind.
PYTHON_BACKEND_SHM = "triton_python_backend_shm_region_*"


def remove_unmapped_shm(
    pattern: str = PYTHON_BACKEND_SHM,
    min_age_s: float = 60.0,
    shm_dir: Path = Path("/dev/shm"),
    proc: Path = Path("/proc"),
) -> list[str]:
    """Unlink this user's ``shm_dir`` files matching ``pattern`` that no process maps.

    Every live python-backend region is mapped by its server and stub, so an unmapped one is
    left from a killed server (1 MB each, in RAM, never freed otherwise). Only files of this
    user (whose processes' maps are readable) and older than ``min_age_s`` (a region between
    its creation and its mapping is in use) are considered. Returns the removed names.
    """
    now, uid = time.time(), os.getuid()
    candidates = []
    for path in shm_dir.glob(pattern) if shm_dir.is_dir() else ():
        try:
            st = path.stat()
        except OSError:
            continue
        if st.st_uid == uid and now - st.st_mtime >= min_age_s:
            candidates.append(path)
    if not candidates:
        return []
    mapped: set[str] = set()
    for maps in proc.glob("[0-9]*/maps"):
        try:
            text = maps.read_text()
        except OSError:  # the process ended, or is another user's
            continue
        mapped.update(
            line.split(None, 5)[-1] for line in text.splitlines() if str(shm_dir) + "/" in line
        )
    removed = []
    for path in candidates:
        if str(path) not in mapped:
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path.name)
    return removed


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    """True when ``url`` answers HTTP 200 within ``timeout_s`` (readiness probes)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class TritonServer:
    """One tritonserver process on a model repository.

    Args:
        repository: The model repository folder.
        ports: Listening address and ports.
        workdir: Holds the copied distribution, the state file and the log.
        tritonserver: A system ``tritonserver`` binary instead of the bundled one.
        extra_args: More command-line flags (e.g. ``--model-control-mode=explicit``).
    """

    def __init__(
        self,
        repository: Path,
        ports: TritonPorts | None = None,
        workdir: Path = DEFAULT_WORKDIR,
        tritonserver: Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.repository = Path(repository).resolve()
        self.ports = ports or TritonPorts()
        self.workdir = Path(workdir)
        self.tritonserver = tritonserver
        self.extra_args = extra_args
        self.log_file = self.workdir / f"tritonserver-{self.ports.grpc}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self, binary: Path) -> list[str]:
        """The full command line."""
        p = self.ports
        args = [
            str(binary),
            f"--model-repository={self.repository}",
            f"--http-port={p.http}",
            f"--grpc-port={p.grpc}",
            f"--metrics-port={p.metrics}",
            f"--http-address={p.address}",
            f"--grpc-address={p.address}",
            f"--metrics-address={p.address}",
            "--allow-gpu-metrics=false",
            "--log-verbose=0",
        ]
        if self.tritonserver is None:
            args += [
                f"--backend-directory={binary.parent.parent / 'backends'}",
                f"--cache-directory={binary.parent.parent / 'caches'}",
            ]
        return args + list(self.extra_args)

    def start(self, timeout_s: float = 60.0) -> ServerState:
        """Start the server and wait until ``/v2/health/ready`` answers 200.

        Raises:
            TritonError: a server from this workdir is already running.
            ModelLoadError: a model failed to load (its own error text is in the message).
            TritonStartError: the server exited or was not ready within ``timeout_s``.
        """
        running = read_state(self.workdir)
        if running and _is_tritonserver(running.pid):
            raise TritonError(f"tritonserver already running (pid {running.pid}); stop it first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        remove_unmapped_shm()  # what killed servers left in /dev/shm (RAM)
        binary = self.tritonserver or prepare_bundled(self.workdir)
        env = server_env() if self.tritonserver is None else None
        with self.log_file.open("wb") as log:
            self._proc = subprocess.Popen(
                self.command(binary),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # own process group: stop() can reach the stubs
            )
        p = self.ports
        state = ServerState(
            self._proc.pid, str(self.repository), p.http, p.grpc, p.metrics, p.address,
            str(self.log_file), str(binary), time.time(),
        )  # fmt: skip
        (self.workdir / STATE_FILE).write_text(json.dumps(asdict(state), indent=2))
        try:
            self._wait_ready(state, timeout_s)
        except TritonError:
            self.stop()
            raise
        return state

    def _wait_ready(self, state: ServerState, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if http_ok(state.ready_url, 0.5):
                return
            if self._proc is not None and self._proc.poll() is not None:
                self._raise_start_failure(f"tritonserver exited with code {self._proc.returncode}")
            time.sleep(0.1)
        self._raise_start_failure(f"tritonserver not ready after {timeout_s:.0f} s")

    def _raise_start_failure(self, why: str) -> None:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        failures = parse_load_failures(text)
        if failures:
            raise ModelLoadError(failures, self.log_file)
        tail = "\n".join(text.splitlines()[-15:])
        raise TritonStartError(f"{why}; last log lines ({self.log_file}):\n{tail}")

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Stop the server (SIGTERM, then SIGKILL of its group); True if one was running."""
        state = read_state(self.workdir)
        pid = self._proc.pid if self._proc else (state.pid if state else None)
        stopped = pid is not None and terminate_group(pid, timeout_s, self._proc)
        self._proc = None
        (self.workdir / STATE_FILE).unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, object]:
        """State of the server of this workdir: running, ready, pid, ports, log."""
        return server_status(self.workdir)


def terminate_group(
    pid: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None
) -> bool:
    """SIGTERM ``pid`` (a process-group leader we started), SIGKILL its group after a timeout."""
    if proc is None and not _is_tritonserver(pid):
        return False  # gone, or the pid was recycled by an unrelated process
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and group_members(pid):
        if proc is not None:
            proc.poll()  # reap the leader so it does not linger as a zombie
        time.sleep(0.1)
    if group_members(pid):
        os.killpg(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(timeout=timeout_s)
    return True


def read_state(workdir: Path = DEFAULT_WORKDIR) -> ServerState | None:
    """The state file of ``workdir``, or None."""
    path = Path(workdir) / STATE_FILE
    if not path.is_file():
        return None
    return ServerState(**json.loads(path.read_text()))


def server_status(workdir: Path = DEFAULT_WORKDIR) -> dict[str, object]:
    """Running / ready flags plus the recorded state, for ``a2f triton status``."""
    state = read_state(workdir)
    if state is None:
        return {"running": False, "ready": False}
    running = _is_tritonserver(state.pid)
    ready = running and http_ok(state.ready_url)
    return {"running": running, "ready": ready, **asdict(state)}


def stop_from_state(workdir: Path = DEFAULT_WORKDIR, timeout_s: float = 15.0) -> bool:
    """Stop the server recorded in ``workdir`` (from any process); True if one was running."""
    state = read_state(workdir)
    stopped = state is not None and terminate_group(state.pid, timeout_s)
    (Path(workdir) / STATE_FILE).unlink(missing_ok=True)
    return stopped
