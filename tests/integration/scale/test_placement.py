"""Placement options and the Serve config entry point, without a Ray cluster (fast)."""

from __future__ import annotations

import asyncio
import http.server
import threading
from pathlib import Path

import pytest

from deployments import app as app_mod
from deployments.app import _options, app_builder
from deployments.settings import DeploymentOptions, ServeSettings, load_settings
from deployments.triton.server import free_ports
from deployments.triton_owner import wait_for_local_triton

ROOT = Path(__file__).resolve().parents[3]
MULTINODE = ROOT / "cluster" / "multinode_local.yaml"


def test_defaults_place_every_stage_as_before() -> None:
    s = ServeSettings(serve_fast_path=False, serve_grpc_handles=False)
    assert _options(s, "ingress", fixed_replicas=True) == {
        "ray_actor_options": {"num_cpus": 0.2}, "max_ongoing_requests": 1000, "num_replicas": 1,
    }  # fmt: skip
    assert _options(s, "triton", fixed_replicas=True) == {
        "ray_actor_options": {"num_cpus": 0.5}, "max_ongoing_requests": 16, "num_replicas": 1,
    }  # fmt: skip
    assert _options(s, "audio_encoder") == {
        "ray_actor_options": {"num_cpus": 0.1},
        "max_ongoing_requests": 16,
        "autoscaling_config": {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 2,
                               "upscale_delay_s": 3, "downscale_delay_s": 30},
    }  # fmt: skip


def test_resources_gpus_and_per_node_cap_reach_the_actor_options() -> None:
    opt = DeploymentOptions(
        num_gpus=0.25, resources={"a2f_triton_node": 1}, max_replicas_per_node=2,
        min_replicas=1, max_replicas=4, target_ongoing_requests=0.3, upscale_delay_s=2,
        downscale_delay_s=10, look_back_period_s=12,
    )  # fmt: skip
    plain = {"serve_fast_path": False, "serve_grpc_handles": False}
    s = ServeSettings(deployments={"inference": opt}, **plain)
    got = _options(s, "inference")
    assert got["ray_actor_options"] == {
        "num_cpus": 0.1, "num_gpus": 0.25, "resources": {"a2f_triton_node": 1.0},
    }  # fmt: skip
    assert got["max_replicas_per_node"] == 2
    assert got["autoscaling_config"] == {
        "min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 0.3,
        "upscale_delay_s": 2, "downscale_delay_s": 10, "look_back_period_s": 12,
    }  # fmt: skip


def test_fast_path_env_reaches_every_replica_and_only_when_on() -> None:
    on = ServeSettings()
    off = ServeSettings(serve_fast_path=False, serve_grpc_handles=False)
    assert on.serve_fast_path and on.serve_grpc_handles  # the defaults
    want = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0",
            "RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH": str(1 << 30)}  # fmt: skip
    stages = (("ingress", True), ("triton", True), ("inference", False), ("solver", False),
              ("audio_encoder", False), ("emotion", False))  # fmt: skip
    for stage, fixed in stages:
        env = _options(on, stage, fixed)["ray_actor_options"]["runtime_env"]["env_vars"]
        assert env == want
        assert "runtime_env" not in _options(off, stage, fixed)["ray_actor_options"]
    assert load_settings(environ={"A2F_SERVE_FAST_PATH": "false"}).serve_fast_path is False
    grpc_only = ServeSettings(serve_fast_path=False)  # by-value calls still need the larger cap
    env = _options(grpc_only, "solver")["ray_actor_options"]["runtime_env"]["env_vars"]
    assert env == {"RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH": str(1 << 30)}


def test_one_triton_per_triton_node() -> None:
    per_node = DeploymentOptions(max_replicas=3, max_replicas_per_node=1,
                                 resources={"a2f_triton_node": 1})  # fmt: skip
    got = _options(ServeSettings(deployments={"triton": per_node}), "triton", fixed_replicas=True)
    assert got["num_replicas"] == 3 and got["max_replicas_per_node"] == 1
    shared = DeploymentOptions(max_replicas=3)  # no per-node cap: one server (fixed ports)
    got = _options(ServeSettings(deployments={"triton": shared}), "triton", fixed_replicas=True)
    assert got["num_replicas"] == 1


def test_negative_resources_are_refused() -> None:
    with pytest.raises(ValueError, match="resources"):
        DeploymentOptions(resources={"a2f_cpu_node": -1})


def test_multinode_settings_place_stages_on_their_nodes() -> None:
    s = load_settings(MULTINODE, environ={})
    triton, inference = _options(s, "triton", True), _options(s, "inference")
    assert triton["ray_actor_options"]["resources"] == {"a2f_triton_node": 1}
    assert triton["max_replicas_per_node"] == 1 and triton["num_replicas"] == 1
    assert inference["ray_actor_options"]["resources"] == {"a2f_triton_node": 1}
    assert _options(s, "emotion")["ray_actor_options"]["resources"] == {"a2f_triton_node": 1}
    for stage in ("audio_encoder", "solver"):
        got = _options(s, stage)
        assert got["ray_actor_options"]["resources"] == {"a2f_cpu_node": 1}
        assert got["num_replicas"] == 2 and got["max_replicas_per_node"] == 1
    assert s.stage_attempts * s.retry_backoff_ms >= 1000  # room for a dead replica to go


def test_app_builder_reads_the_file_then_the_overrides(monkeypatch) -> None:
    monkeypatch.setattr(app_mod, "build_app", lambda settings: settings)
    got = app_builder({"settings_file": str(MULTINODE), "grpc_port": 50123, "tick_ms": 20})
    assert got.grpc_port == 50123 and got.tick_ms == 20
    assert got.deployment("inference").resources == {"a2f_triton_node": 1}
    assert app_builder({}).grpc_port == ServeSettings().grpc_port


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"grpc_prot": 1}, "grpc_prot"),
        ({"grpc_port": -1}, "grpc_port"),
        ({"deployments": {"solver": {"resources": {"a2f_cpu_node": "x"}}}}, "deployments"),
        ({"settings_file": "/nonexistent/a2f.yaml"}, "settings_file"),
    ],
)
def test_app_builder_errors_name_the_key(args, named) -> None:
    with pytest.raises(ValueError, match=named):
        app_builder(args)


def test_app_builder_returns_a_serve_application() -> None:
    from ray.serve import Application

    built = app_builder({"settings_file": str(MULTINODE), "backend": "fake", "models": []})
    assert isinstance(built, Application)


class _Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/v2/health/ready" else 404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_stage_waits_for_the_triton_of_its_own_node() -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        s = ServeSettings(triton_http_port=server.server_address[1], triton_grpc_port=8123)
        assert asyncio.run(wait_for_local_triton(s, timeout_s=5)) == "127.0.0.1:8123"
    finally:
        server.shutdown()


def test_stage_without_a_local_triton_fails_clearly() -> None:
    (port,) = free_ports(1)
    s = ServeSettings(triton_http_port=port)
    with pytest.raises(RuntimeError, match="a2f_triton_node"):
        asyncio.run(wait_for_local_triton(s, timeout_s=0.3, poll_s=0.1, where="node x"))


def test_work_autoscaling_uses_the_work_policy() -> None:
    opt = DeploymentOptions(min_replicas=1, max_replicas=4, autoscaling_metric="work",
                            target_work_per_replica=100)  # fmt: skip
    settings = ServeSettings(deployments={"inference": opt})
    auto = _options(settings, "inference")["autoscaling_config"]
    assert auto["policy"] == {"policy_function": "deployments.autoscaling:WorkPolicy",
                              "policy_kwargs": {"target_per_replica": 100}}  # fmt: skip
    assert "policy" not in _options(ServeSettings(), "inference")["autoscaling_config"]
    multinode = load_settings(MULTINODE, environ={})
    assert multinode.deployment("inference").autoscaling_metric == "work"


def test_serve_accepts_the_generated_autoscaling_config() -> None:
    from ray.serve.config import AutoscalingConfig

    opt = DeploymentOptions(
        min_replicas=1, max_replicas=4, autoscaling_metric="work", look_back_period_s=12,
        upscale_delay_s=2, downscale_delay_s=10,
    )  # fmt: skip
    auto = _options(ServeSettings(deployments={"solver": opt}), "solver")["autoscaling_config"]
    config = AutoscalingConfig(**auto)
    policy = config.policy.get_policy()
    assert policy.__name__ == "WorkPolicy"


def test_ingress_replicas_share_the_port_on_one_node_and_triton_stays_single() -> None:
    three = DeploymentOptions(num_cpus=0.2, min_replicas=1, max_replicas=3)
    s = ServeSettings(deployments={"ingress": three, "triton": three})
    assert _options(s, "ingress", fixed_replicas=True)["num_replicas"] == 3  # SO_REUSEPORT
    assert _options(s, "triton", fixed_replicas=True)["num_replicas"] == 1  # ports + a GPU
