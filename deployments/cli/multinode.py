"""Several Ray nodes on one host: start, deploy the app across them, kill a node, stop.

Each node is its own ``ray start --block`` process group (head first, then workers joining it
on 127.0.0.1) with its own ``--num-cpus`` and ``--resources``; the nodes share one temp dir (a
private one, so no other Ray instance on the host is touched) and an auth token of their own.
The app is deployed through the dashboard's Serve REST API with a Serve config that names
``deployments.app:app_builder`` (what ``serve deploy`` sends), so this also exercises the
config path of KubeRay's RayService. Nothing here imports ray: the CLI and the tests are
clients of the cluster.

Stopping never uses ``ray stop`` (it would stop every Ray instance of the host, other users'
included): the processes of each node are found from its ``ray start`` pid (its process tree
and group, and anything else naming this cluster's temp dir) and killed by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deployments.procs import process_table
from deployments.triton.server import free_ports

ROOT = Path(__file__).resolve().parents[2]
STATE_FILE = "cluster.json"
DEFAULT_WORKDIR = Path.home() / ".cache" / "a2f-cluster" / "multinode"
TRITON_NODE, CPU_NODE, INGRESS_NODE = "a2f_triton_node", "a2f_cpu_node", "a2f_ingress_node"
#: Every node also advertises ``a2f_local_<name>: 1`` so that Ray node ids map to names.
NAME_PREFIX = "a2f_local_"
#: Environment of every node: GCS health checks declare a killed node dead in ~3 s (default
#: ~15 s), and Serve's handles and replicas push autoscaling metrics every second (default 10 s)
#: so that the autoscaler follows a ramp of a few minutes.
NODE_ENV = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
    "RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "1",
    "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "1",
}


class ClusterError(RuntimeError):
    """The local cluster could not be started, reached or deployed (message says why)."""


@dataclass(frozen=True)
class NodeSpec:
    """One Ray node: its name, logical CPUs and custom resources."""

    name: str
    num_cpus: int
    resources: Mapping[str, float]
    head: bool = False

    def all_resources(self) -> dict[str, float]:
        """The custom resources plus the naming one."""
        return {**self.resources, f"{NAME_PREFIX}{self.name}": 1.0}


#: The layout of cluster/multinode_local.yaml: the head hosts the ingress (sessions), one
#: "GPU" node runs Triton and inference, one CPU node holds the second encoder/solver replicas.
LAYOUT: tuple[NodeSpec, ...] = (
    NodeSpec("head", 2, {CPU_NODE: 100, INGRESS_NODE: 100}, head=True),
    NodeSpec("triton", 2, {TRITON_NODE: 100}),
    NodeSpec("cpu1", 2, {CPU_NODE: 100}),
)


@dataclass
class ClusterState:
    """What ``status`` / ``down`` / the tests need to find a running local cluster (JSON)."""

    workdir: str
    temp_dir: str
    token_path: str
    gcs_port: int
    dashboard_port: int
    metrics_port: int
    client_port: int
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> spec, pid, log
    app_name: str | None = None
    grpc_port: int | None = None
    http_port: int | None = None
    triton_workdir: str | None = None

    @property
    def dashboard_url(self) -> str:
        """The dashboard (Serve REST API, state API)."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def grpc_url(self) -> str:
        """``host:port`` of the NIM gRPC API (after :meth:`LocalCluster.deploy`)."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        """The head node's Prometheus endpoint (the ingress's a2f counters)."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def token(self) -> str:
        """The cluster's auth token (dashboard requests need it)."""
        return Path(self.token_path).read_text().strip()


# --- processes -------------------------------------------------------------------------------


def node_pids(root: int, temp_dir: str) -> set[int]:
    """The processes of the node started as ``root`` (``ray start --block``), from /proc.

    Its process group and every descendant: workers run in groups of their own, and a
    TritonOwner's tritonserver in its own session. Empty when ``root`` is gone or is no longer
    this cluster's ``ray start`` (its command line names ``temp_dir``): a recycled pid is never
    touched.
    """
    procs = process_table(cmdlines=True)
    if root not in procs or temp_dir.encode() not in procs[root][2]:
        return set()
    found = {root}
    found |= {pid for pid, (_, pgid, _) in procs.items() if pgid == root}
    grew = True
    while grew:  # children of anything found (workers have their own groups)
        new = {pid for pid, (ppid, _, _) in procs.items() if ppid in found} - found
        found |= new
        grew = bool(new)
    return found


def kill_pids(pids: Iterable[int], sig: int = signal.SIGKILL) -> int:
    """Send ``sig`` to each pid (ours: found by :func:`node_pids`); return how many got it."""
    sent = 0
    for pid in sorted(set(pids)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            sent += 1
    return sent


def leftovers(temp_dir: str) -> list[int]:
    """Pids whose command line still names a cluster's temp dir (empty after a clean stop)."""
    mark = temp_dir.encode()
    return sorted(pid for pid, (_, _, cmd) in process_table(cmdlines=True).items() if mark in cmd)


def _alive(pid: int) -> bool:
    return pid in process_table()


# --- REST ------------------------------------------------------------------------------------


def rest(
    state: ClusterState, method: str, path: str, body: Any = None, timeout_s: float = 10.0
) -> Any:
    """A dashboard REST call with the cluster's token; the decoded JSON (or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(state.dashboard_url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {state.token()}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout_s) as response:
        text = response.read().decode()
    return json.loads(text) if text.strip() else None


def _try_rest(state: ClusterState, path: str) -> Any:
    try:
        return rest(state, "GET", path, timeout_s=5.0)
    except (urllib.error.URLError, OSError, ValueError):
        return None


# --- the cluster -----------------------------------------------------------------------------


class LocalCluster:
    """A Ray cluster of several nodes on this host (see the module docstring).

    Args:
        workdir: state file, node logs, the Triton workdir, the generated Serve config.
        layout: the nodes; exactly one ``head``.
        env: extra environment for every node (e.g. ``RAY_*`` settings).
    """

    def __init__(
        self,
        workdir: Path = DEFAULT_WORKDIR,
        layout: tuple[NodeSpec, ...] = LAYOUT,
        env: Mapping[str, str] | None = None,
    ) -> None:
        heads = [n for n in layout if n.head]
        if len(heads) != 1:
            raise ClusterError(f"the layout needs exactly one head node, got {len(heads)}")
        self.workdir = Path(workdir).resolve()
        self.layout = layout
        self.env = dict(env or {})
        self.state: ClusterState | None = None

    # -- state --

    @classmethod
    def attach(cls, workdir: Path = DEFAULT_WORKDIR) -> LocalCluster:
        """The cluster recorded in ``workdir`` (raises ClusterError when there is none)."""
        path = Path(workdir).resolve() / STATE_FILE
        if not path.is_file():
            raise ClusterError(f"no local cluster recorded in {path.parent} (a2f cluster up)")
        state = ClusterState(**json.loads(path.read_text()))
        layout = tuple(
            NodeSpec(n, int(d["num_cpus"]), d["resources"], bool(d["head"]))
            for n, d in state.nodes.items()
        )
        out = cls(Path(state.workdir), layout)
        out.state = state
        return out

    def _save(self) -> None:
        assert self.state is not None
        (self.workdir / STATE_FILE).write_text(json.dumps(asdict(self.state), indent=2) + "\n")

    def require(self) -> ClusterState:
        """The state of the started cluster (raises ClusterError before :meth:`start`)."""
        if self.state is None:
            raise ClusterError("the cluster is not started")
        return self.state

    # -- start --

    def _node_env(self, state: ClusterState) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("RAY_ADDRESS", "RAY_AUTH_TOKEN"):
            env.pop(var, None)  # this cluster's own address and token only
        pythonpath = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
        env.update(
            RAY_USAGE_STATS_ENABLED="0",
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN_PATH=state.token_path,
            PYTHONPATH=os.pathsep.join(pythonpath),
            **NODE_ENV,
            **self.env,
        )
        return env

    def _command(self, spec: NodeSpec, state: ClusterState) -> list[str]:
        ray = str(Path(sys.executable).parent / "ray")
        args = [
            ray, "start", "--block", "--disable-usage-stats",
            f"--num-cpus={spec.num_cpus}",
            f"--resources={json.dumps(spec.all_resources())}",
            "--object-store-memory=200000000",
            "--min-worker-port=0", "--max-worker-port=0",
            "--dashboard-agent-listen-port=0",
        ]  # fmt: skip
        if spec.head:
            return [
                *args, "--head", "--node-ip-address=127.0.0.1", f"--port={state.gcs_port}",
                f"--temp-dir={state.temp_dir}", "--include-dashboard=true",
                "--dashboard-host=127.0.0.1", f"--dashboard-port={state.dashboard_port}",
                f"--ray-client-server-port={state.client_port}",
                f"--metrics-export-port={state.metrics_port}",
            ]  # fmt: skip
        return [*args, f"--address=127.0.0.1:{state.gcs_port}", f"--temp-dir={state.temp_dir}"]

    def start_node(self, spec: NodeSpec) -> int:
        """Start one node's ``ray start --block`` in its own process group; return its pid."""
        state = self.require()
        log = self.workdir / f"node-{spec.name}.log"
        with log.open("ab") as fh:
            proc = subprocess.Popen(
                self._command(spec, state), stdout=fh, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=self._node_env(state), cwd=str(ROOT),
                start_new_session=True,
            )  # fmt: skip
        state.nodes[spec.name] = {
            "pid": proc.pid, "log": str(log), "num_cpus": spec.num_cpus,
            "resources": dict(spec.resources), "head": spec.head,
        }  # fmt: skip
        self._save()
        return proc.pid

    def start(self, timeout_s: float = 240.0) -> ClusterState:
        """Start every node and wait until all are ALIVE in the dashboard.

        Raises:
            ClusterError: a node exited or the cluster was not up within ``timeout_s``; the
                nodes started so far are stopped again.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        if (self.workdir / STATE_FILE).is_file():
            raise ClusterError(
                f"a local cluster is already recorded in {self.workdir}; stop it first "
                f"(a2f cluster down --workdir {self.workdir})"
            )
        gcs, dash, metrics, client = free_ports(4)
        token = self.workdir / "auth_token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        temp = tempfile.mkdtemp(prefix="a2fmn-", dir="/tmp")  # short: Unix socket paths
        self.state = ClusterState(
            str(self.workdir), temp, str(token), gcs, dash, metrics, client,
            triton_workdir=str(self.workdir / "serve"),
        )  # fmt: skip
        self._save()
        try:
            deadline = time.monotonic() + timeout_s
            head = next(n for n in self.layout if n.head)
            self.start_node(head)
            self.wait_nodes(timeout_s)
            # One at a time: nodes sharing a session dir pick socket names by counting the
            # files already there, so two nodes starting together collide (plasma_store.1).
            for spec in self.layout:
                if not spec.head:
                    self.start_node(spec)
                    self.wait_nodes(max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self.state

    def nodes(self) -> dict[str, dict[str, Any]]:
        """Node name -> the dashboard's node record (node_id, state, resources_total)."""
        state = self.require()
        got = _try_rest(state, "/api/v0/nodes?limit=1000")
        rows = (((got or {}).get("data") or {}).get("result") or {}).get("result") or []
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            names = [r[len(NAME_PREFIX) :] for r in row.get("resources_total", {})
                     if r.startswith(NAME_PREFIX)]  # fmt: skip
            if names and (names[0] not in out or row.get("state") == "ALIVE"):
                out[names[0]] = row
        return out

    def wait_nodes(self, timeout_s: float) -> None:
        """Wait until every started node is ALIVE (raises ClusterError with the logs' tails)."""
        state = self.require()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, node in state.nodes.items():
                if not _alive(node["pid"]):
                    raise ClusterError(f"node {name} exited while starting:\n{self._tail(name)}")
            nodes = self.nodes()
            if all(nodes.get(n, {}).get("state") == "ALIVE" for n in state.nodes):
                return
            time.sleep(1.0)
        raise ClusterError(
            f"nodes not ALIVE after {timeout_s:.0f} s: {sorted(self.nodes())} of "
            f"{sorted(state.nodes)}\n" + "\n".join(self._tail(n) for n in state.nodes)
        )

    def _tail(self, name: str, lines: int = 8) -> str:
        path = Path(self.require().nodes[name]["log"])
        text = path.read_text(errors="replace") if path.is_file() else ""
        return f"--- {path}\n" + "\n".join(text.splitlines()[-lines:])

    # -- Serve --

    def serve_config(self, settings_file: Path | None, overrides: Mapping[str, Any],
                     app_name: str = "a2f") -> dict[str, Any]:  # fmt: skip
        """The Serve config (``serve deploy`` schema) of the app on this cluster.

        Ports are free ones (HTTP, gRPC, Triton) unless ``overrides`` names them; the Triton
        workdir is the cluster's. Serve's HTTP proxy runs on the head only (one port per host).
        """
        state = self.require()
        grpc, http, t_grpc, t_http, t_metrics = free_ports(5)
        args: dict[str, Any] = {
            "grpc_port": grpc, "http_port": http, "triton_grpc_port": t_grpc,
            "triton_http_port": t_http, "triton_metrics_port": t_metrics,
            "triton_workdir": state.triton_workdir, "metrics_port": 0, "app_name": app_name,
        }  # fmt: skip
        if settings_file is not None:
            args["settings_file"] = str(Path(settings_file).resolve())
        args.update(overrides)
        return {
            "proxy_location": "HeadOnly",
            "http_options": {"host": "127.0.0.1", "port": args["http_port"]},
            "applications": [
                {"name": app_name, "route_prefix": "/",
                 "import_path": "deployments.app:app_builder", "args": args},
            ],
        }  # fmt: skip

    def deploy(self, settings_file: Path | None, overrides: Mapping[str, Any] | None = None,
               app_name: str = "a2f", timeout_s: float = 300.0) -> ClusterState:  # fmt: skip
        """Deploy the app (Serve REST API, ``app_builder``) and wait until it is RUNNING.

        Raises:
            ClusterError: the deployment failed (Serve's message) or timed out.
        """
        state = self.require()
        config = self.serve_config(settings_file, overrides or {}, app_name)
        (self.workdir / "serve_config.json").write_text(json.dumps(config, indent=2) + "\n")
        args = config["applications"][0]["args"]
        state.app_name, state.grpc_port = app_name, args["grpc_port"]
        state.http_port = args["http_port"]
        self._save()
        rest(state, "PUT", "/api/serve/applications/", config, timeout_s=60.0)
        deadline = time.monotonic() + timeout_s
        status, message = "NOT_STARTED", ""
        while time.monotonic() < deadline:
            app = self.application()
            status, message = app.get("status", "NOT_STARTED"), app.get("message", "")
            if status == "RUNNING":
                return state
            if status == "DEPLOY_FAILED":
                raise ClusterError(f"deploying {app_name} failed: {message}")
            time.sleep(1.0)
        raise ClusterError(f"{app_name} not RUNNING after {timeout_s:.0f} s ({status}): {message}")

    def application(self) -> dict[str, Any]:
        """The Serve REST API's record of the app ({} when unknown or unreachable)."""
        state = self.require()
        got = _try_rest(state, "/api/serve/applications/") or {}
        return (got.get("applications") or {}).get(state.app_name or "", {})

    def placement(self) -> dict[str, list[str]]:
        """Deployment -> node names of its RUNNING replicas (sorted)."""
        by_id = {row["node_id"]: name for name, row in self.nodes().items()}
        out: dict[str, list[str]] = {}
        for dep, details in (self.application().get("deployments") or {}).items():
            out[dep] = sorted(
                by_id.get(r.get("node_id"), "?")
                for r in details.get("replicas", [])
                if r.get("state") == "RUNNING"
            )
        return out

    def grep_logs(self, text: str) -> list[str]:
        """Lines of the nodes' Ray logs (every replica's too) that contain ``text``."""
        out = []
        for path in sorted(Path(self.require().temp_dir).glob("session_*/logs/**/*")):
            if path.is_file() and path.suffix in (".log", ".err", ".out"):
                with path.open(errors="replace") as fh:
                    out += [f"{path.name}: {line.rstrip()}" for line in fh if text in line]
        return out

    # -- stop --

    def kill_node(self, name: str) -> int:
        """SIGKILL every process of node ``name`` at once: a node lost.

        Its raylet, workers and the tritonserver a TritonOwner there started all die.

        Returns:
            The number of processes killed.
        """
        state = self.require()
        node = state.nodes[name]
        if node["head"]:
            raise ClusterError("killing the head node ends the cluster; kill a worker")
        pids = node_pids(node["pid"], state.temp_dir)
        killed = kill_pids(pids)
        node["killed"] = True
        self._save()
        return killed

    def stop(self, timeout_s: float = 30.0, keep_logs: bool = False) -> None:
        """Delete the Serve apps, kill every node (workers first), stop a leftover Triton.

        Also removes the state file and (unless ``keep_logs``) the temp dir with Ray's logs.
        Safe to call twice or after a failed start.
        """
        state = self.state
        if state is None:
            return
        if state.app_name and _try_rest(state, "/api/serve/applications/") is not None:
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
                rest(state, "DELETE", "/api/serve/applications/", timeout_s=timeout_s)
                deadline = time.monotonic() + timeout_s
                while time.monotonic() < deadline and self.application():
                    time.sleep(1.0)
        heads_last = sorted(state.nodes.items(), key=lambda kv: kv[1]["head"])
        for _, node in heads_last:
            kill_pids(node_pids(node["pid"], state.temp_dir))
        # Stragglers (a worker forked while its raylet died) still name the private temp dir.
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and (left := leftovers(state.temp_dir)):
            kill_pids(left)
            time.sleep(0.5)
        if state.triton_workdir:
            from deployments.triton.server import stop_from_state

            stop_from_state(Path(state.triton_workdir) / "triton")
        if not keep_logs:
            shutil.rmtree(state.temp_dir, ignore_errors=True)
        (self.workdir / STATE_FILE).unlink(missing_ok=True)
        self.state = None
