"""Serving settings: one typed, validated object from YAML, keyword overrides and the environment.

This is the ONLY module that reads environment variables (``A2F_*``, see :data:`ENV_VARS`).
The NIM config files (stylization / deployment / advanced) are referenced by path and loaded
with :func:`a2f_actors.config.load_config`; these settings add what the NIM files do not
describe: where the model packages are, which inference backend, ports, ticks, retries and the
Ray Serve resources of every deployment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from a2f_actors.config import A2FConfig, load_config
from deployments.tenancy import TenancySettings

#: Environment variable -> dotted settings key (values parsed as YAML scalars).
ENV_VARS: dict[str, str] = {
    "A2F_GRPC_HOST": "grpc_host",
    "A2F_GRPC_PORT": "grpc_port",
    "A2F_BACKEND": "backend",
    "A2F_TRITON_URL": "triton_url",
    "A2F_TICK_MS": "tick_ms",
    "A2F_INFER_DEPTH": "infer_depth",
    "A2F_SERVE_FAST_PATH": "serve_fast_path",
    "A2F_SERVE_GRPC_HANDLES": "serve_grpc_handles",
    "A2F_INFERENCE_SPLIT_ROWS": "inference_split_rows",
    "A2F_TRITON_SHARED_MEMORY": "triton_shared_memory",
    "A2F_INFERENCE_CONCURRENCY": "inference_concurrency",
    "A2F_STYLIZATION_CONFIG": "stylization_config",
    "A2F_DEPLOYMENT_CONFIG": "deployment_config",
    "A2F_ADVANCED_CONFIG": "advanced_config",
    # HTTP ingress and tenancy (issue 7 part 2)
    "A2F_HTTP_HOST": "http_host",
    "A2F_HTTP_PORT": "http_port",
    "A2F_AUTH": "tenancy.auth",
}
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
STAGES = ("ingress", "audio_encoder", "emotion", "inference", "solver", "triton")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelEntry(_Strict):
    """One model package served by the cluster."""

    model_id: str = Field(description="id clients select (header 'model'), e.g. mark_v2.3")
    kind: Literal["regression", "diffusion", "a2e"] = Field(description="network kind")
    path: str = Field(description="package directory (NVIDIA layout, holds model.json)")
    identity: str | None = Field(None, description="diffusion identity (e.g. claire)")
    triton_name: str | None = Field(
        None, description="Triton model name; default a2f_<kind>_<model_id> / a2e_<model_id>"
    )

    def network_name(self) -> str:
        """The model name the inference backend knows."""
        if self.triton_name:
            return self.triton_name
        return f"a2e_{self.model_id}" if self.kind == "a2e" else f"a2f_{self.kind}_{self.model_id}"


class DeploymentOptions(_Strict):
    """Ray Serve resources and autoscaling of one deployment."""

    num_cpus: float = Field(0.1, ge=0, le=64, description="logical CPUs per replica")
    min_replicas: int = Field(1, ge=0, le=1000, description="autoscaling lower bound")
    max_replicas: int = Field(2, ge=1, le=1000, description="autoscaling upper bound")
    target_ongoing_requests: float = Field(2, gt=0, le=1000, description="autoscaling target")
    max_ongoing_requests: int = Field(16, ge=1, le=100000, description="per-replica queue cap")
    upscale_delay_s: float = Field(3, ge=0, le=3600, description="autoscaling: wait to scale up")
    downscale_delay_s: float = Field(
        30, ge=0, le=3600, description="autoscaling: wait to scale down"
    )
    look_back_period_s: float | None = Field(
        None,
        gt=10,
        le=3600,
        description="autoscaling: metrics window (None = Serve's 30 s; Serve wants > 10 s)",
    )
    autoscaling_metric: Literal["ongoing_requests", "work"] = Field(
        "ongoing_requests",
        description="ongoing_requests: Serve's default policy (a batched stage sees <= 1 call "
        "per ingress); work: the stage's windows or frames per second (autoscaling.py)",
    )
    target_work_per_replica: float = Field(
        120, gt=0, le=1e7, description="work autoscaling: windows/frames per second per replica"
    )
    # --- placement (issue #9; docs/scale_out.md) ---
    num_gpus: float = Field(0, ge=0, le=64, description="GPUs (or fractions) per replica")
    resources: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Ray custom resources per replica, e.g. {a2f_triton_node: 1}",
    )
    max_replicas_per_node: int | None = Field(
        None, ge=1, le=1000, description="cap of replicas on one node (None = no cap)"
    )


def _default_deployments() -> dict[str, DeploymentOptions]:
    out = {name: DeploymentOptions() for name in STAGES}
    out["ingress"] = DeploymentOptions(num_cpus=0.2, max_replicas=1, max_ongoing_requests=1000)
    out["triton"] = DeploymentOptions(num_cpus=0.5, max_replicas=1)
    return out


class ServeSettings(_Strict):
    """Everything ``build_app`` needs."""

    app_name: str = Field("a2f", description="Serve application name")
    grpc_host: str = Field("127.0.0.1", description="NIM gRPC bind address (0.0.0.0 = all)")
    grpc_port: int = Field(52000, ge=0, le=65535, description="NIM gRPC port (0 = any free)")
    backend: Literal["triton", "onnx", "fake"] = Field(
        "triton", description="inference backend: Triton gRPC, in-process ONNX Runtime, or fake"
    )
    triton_url: str | None = Field(
        None, description="external Triton host:port; None = the cluster's own TritonOwner"
    )
    triton_grpc_port: int = Field(8001, ge=1, le=65535, description="own Triton gRPC port")
    triton_http_port: int = Field(8010, ge=1, le=65535, description="own Triton HTTP port")
    triton_metrics_port: int = Field(8002, ge=1, le=65535, description="own Triton metrics")
    metrics_port: int = Field(
        9464, ge=0, le=65535, description="Prometheus export of Ray's and the app's metrics (0 off)"
    )
    triton_workdir: str | None = Field(None, description="repository + logs; None = cache dir")
    models: tuple[ModelEntry, ...] = Field((), description="served model packages")
    default_model: str | None = Field(
        None, description="model of streams that name none; None = stylization's model"
    )
    a2e_model: str | None = Field(None, description="A2E model id; None = emotion detection off")
    fps: int = Field(30, ge=1, le=240, description="regression output frames per second")
    tick_ms: float = Field(30, ge=1, le=1000, description="session scheduler tick")
    encode_in_ingress: Literal["auto", "always", "never"] = Field(
        "auto",
        description="decode + resample + schedule in the ingress instead of the AudioEncoder "
        "hop: auto = for 16 kHz streams only (no resampling: the hop would carry no work)",
    )
    infer_depth: int = Field(
        1, ge=1, le=8,
        description="inference calls in flight per ingress replica (1 = each tick waits for "
        "its inference; 2 = the next tick's call queues while one runs: for a remote, "
        "latency-bound inference hop; slower on a CPU-bound box)",
    )  # fmt: skip
    inference_split_rows: int = Field(
        12, ge=0, le=4096,
        description="A2FInference splits a call of >= 2x this many rows into concurrent "
        "backend calls (one per Triton instance; docs/serving.md); 0 = only above max_batch",
    )  # fmt: skip
    inference_concurrency: int = Field(
        3, ge=1, le=64,
        description="backend calls one A2FInference call keeps in flight: one more than the "
        "Triton instances (2 on CPU) keeps an instance from idling between a burst tick's "
        "requests (docs/serving.md)",
    )  # fmt: skip
    triton_shared_memory: bool | Literal["auto"] = Field(
        "auto",
        description="inference inputs reach Triton through system shared memory instead of "
        "gRPC bytes (docs/triton.md): true, false, or auto = when triton_url is a loopback "
        "address and /dev/shm exists (a remote Triton cannot open the regions)",
    )
    serve_fast_path: bool = Field(
        True,
        description="replicas run Ray Serve's throughput-optimized request path (user code and "
        "handle routing on the replica's own event loop; deployments.app.FAST_PATH_ENV); "
        "false = Serve's defaults",
    )
    serve_grpc_handles: bool = Field(
        True,
        description="the ingress calls the stages over Serve's inter-deployment gRPC "
        "(by value; deployments.app.GRPC_HANDLES_ENV) instead of Ray actor calls whose "
        "results go through the object store",
    )
    stage_attempts: int = Field(3, ge=1, le=20, description="tries per stage call")
    retry_backoff_ms: float = Field(50, ge=0, le=10000, description="first retry delay")
    stage_timeout_s: float = Field(30, gt=0, le=600, description="deadline per stage call")
    burst_mode: bool | None = Field(None, description="override advanced burst_mode")
    stylization_config: str | None = Field(None, description="stylization_config.yaml path")
    deployment_config: str | None = Field(None, description="deployment_config.yaml path")
    advanced_config: str | None = Field(None, description="advanced_config.yaml path")
    deployments: dict[str, DeploymentOptions] = Field(
        default_factory=_default_deployments, description="per-deployment resources"
    )
    # --- HTTP ingress and tenancy (issue 7 part 2; deployments/ingress/http, tenancy.py) ---
    http_host: str = Field("127.0.0.1", description="HTTP/WebSocket bind address (Serve proxy)")
    http_port: int = Field(8000, ge=0, le=65535, description="HTTP/WebSocket port")
    tenancy: TenancySettings = Field(
        default_factory=TenancySettings, description="API keys, tenants, quotas (auth off)"
    )

    @model_validator(mode="after")
    def _check_open_bind(self) -> ServeSettings:
        public = [h for h in (self.grpc_host, self.http_host) if h not in _LOOPBACK]
        if public and not self.tenancy.auth:
            raise ValueError(
                f"binding {public} without authentication; turn tenancy.auth on (with tenants) "
                f"or bind 127.0.0.1"
            )
        return self

    @model_validator(mode="after")
    def _check(self) -> ServeSettings:
        ids = [m.model_id for m in self.models]
        if len(set(ids)) != len(ids):
            raise ValueError(f"models: duplicate model_id in {ids}; make them unique")
        unknown = set(self.deployments) - set(STAGES)
        if unknown:
            raise ValueError(f"deployments: unknown {sorted(unknown)}; use {list(STAGES)}")
        if self.a2e_model and self.a2e_model not in ids:
            raise ValueError(f"a2e_model {self.a2e_model!r} is not in models {ids}")
        return self

    def deployment(self, stage: str) -> DeploymentOptions:
        """Options of ``stage`` (defaults when not configured)."""
        return self.deployments.get(stage) or _default_deployments()[stage]

    def model(self, model_id: str) -> ModelEntry | None:
        """The entry of ``model_id``, or None."""
        return next((m for m in self.models if m.model_id == model_id), None)

    def nim_config(self) -> A2FConfig:
        """The three NIM configs (embedded defaults overlaid by the configured files)."""
        return load_config(self.stylization_config, self.deployment_config, self.advanced_config)

    def triton_address(self) -> str:
        """host:port of the Triton the stages talk to."""
        return self.triton_url or f"127.0.0.1:{self.triton_grpc_port}"

    def use_triton_shared_memory(self) -> bool:
        """Whether the stages send Triton their inputs through system shared memory."""
        if self.triton_shared_memory != "auto":
            return bool(self.triton_shared_memory)
        from deployments.backends.triton_shm import available

        host = self.triton_address().rsplit(":", 1)[0].strip("[]")
        return host in _LOOPBACK and available()

    def workdir(self) -> Path:
        """Folder of the cluster's own Triton (repository, logs)."""
        return Path(self.triton_workdir or Path.home() / ".cache" / "a2f-cluster" / "serve")


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings overrides from ``A2F_*`` environment variables (YAML-parsed values)."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for var, key in ENV_VARS.items():
        if var in env:
            _set_dotted(out, key, yaml.safe_load(env[var]))
    return out


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> ServeSettings:
    """Settings from an optional YAML file, then the environment, then keyword overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        data.update(loaded.get("a2f_serve", loaded))
    data.update(env_overrides(environ))
    data.update(overrides)
    return ServeSettings.model_validate(data)
