"""One real Ray Serve cluster for the HTTP/WebSocket/tenant tests (127.0.0.1, free ports).

The app is :func:`deployments.app.build_app` on the synthetic packages of
``tests/integration/serve`` (real tritonserver on CPU), with tenancy ON: tenant ``alpha``
(scrypt key, one stream at a time, only MODEL_ID) and ``beta`` (sha256 key, 8 streams, any
model). Package-scoped, so it is gone before ``tests/integration/serve`` starts its own; if a
Ray instance is already running in this process (another order on the command line), the app
is added to it under its own name and removed afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployments.settings import DeploymentOptions, ServeSettings
from deployments.tenancy import TenancySettings, TenantConfig, hash_key
from tests.integration.serve.conftest import MODEL_ID, PROJECT_DIR, free_ports, make_settings

ALPHA_KEY = "a2f_alpha-test-key"
BETA_KEY = "a2f_beta-test-key"
APP_NAME = "a2f_http"


def tenancy() -> TenancySettings:
    return TenancySettings(
        auth=True,
        tenants=(
            TenantConfig(
                name="alpha",
                key_hashes=(hash_key(ALPHA_KEY),),
                max_streams=1,
                default_model=MODEL_ID,
                allowed_models=(MODEL_ID,),
            ),
            TenantConfig(
                name="beta", key_hashes=(hash_key(BETA_KEY, method="sha256"),), max_streams=8
            ),
        ),
    )


@dataclass(frozen=True)
class HttpCluster:
    settings: ServeSettings
    grpc_url: str
    http_url: str
    ws_url: str
    ingress: object  # DeploymentHandle of ApiIngress

    def auth(self, key: str = BETA_KEY) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}


def _settings(root: Path, ports: list[int]) -> ServeSettings:
    base = make_settings(root, ports)
    small = DeploymentOptions(num_cpus=0.05, min_replicas=1, max_replicas=1)
    return base.model_copy(
        update={
            "app_name": APP_NAME,
            "http_port": ports[4],
            "tenancy": tenancy(),
            "stage_attempts": 6,
            "retry_backoff_ms": 200,
            "deployments": {k: small for k in base.deployments},
        }
    )


def _http_port(own_port: int, started: bool) -> int:
    if started:
        return own_port
    from ray.serve.context import _get_global_client  # the running proxy's port (private API)

    return _get_global_client().http_config.port


@pytest.fixture(scope="package")
def http_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpCluster]:
    import ray
    from ray import serve
    from ray.serve.config import HTTPOptions

    from deployments.app import build_app

    settings = _settings(tmp_path_factory.mktemp("http"), free_ports(5))
    started = not ray.is_initialized()
    if started:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            address="local",  # a new instance, never a `ray start` cluster on this host
            num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING",
            runtime_env={"env_vars": {"PYTHONPATH": PROJECT_DIR, "RAY_USAGE_STATS_ENABLED": "0"}},
        )  # fmt: skip
    try:
        if started:
            serve.start(http_options=HTTPOptions(host="127.0.0.1", port=settings.http_port))
        handle = serve.run(build_app(settings), name=APP_NAME, route_prefix="/")
        port = handle.port.remote().result(timeout_s=120)
        http = f"127.0.0.1:{_http_port(settings.http_port, started)}"
        yield HttpCluster(settings, f"127.0.0.1:{port}", f"http://{http}", f"ws://{http}", handle)
    finally:
        if started:
            serve.shutdown()
            ray.shutdown()
        else:
            serve.delete(APP_NAME)
