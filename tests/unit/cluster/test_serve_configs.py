"""``cluster/serve/*.yaml``: Ray's own ServeDeploySchema, then the a2f settings in ``args``.

Ray's schema (``ray.serve.schema.ServeDeploySchema``, pydantic) ignores unknown keys, so a
misspelt option would be dropped silently by ``serve deploy``; :func:`unknown_keys` adds the
strictness on top of it, against the same schema classes.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from ray.serve.schema import ServeDeploySchema

from tests.unit.cluster._cluster import (
    SERVE_CONFIGS,
    app_deployments,
    image_path_in_repo,
    load_yaml,
    missing_placement_fields,
    settings_from_args,
    the_app,
)

IDS = [p.name for p in SERVE_CONFIGS]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``X``, ``X | None``, ``list[X]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def unknown_keys(model: type[BaseModel], data: Any, where: str = "") -> list[str]:
    """Keys of ``data`` (recursively) that ``model`` does not declare."""
    if isinstance(data, list):
        return [
            k for i, item in enumerate(data) for k in unknown_keys(model, item, f"{where}[{i}]")
        ]
    if not isinstance(data, dict):
        return []
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    found = [f"{where}.{k}".lstrip(".") for k in data if k not in fields]
    for key, value in data.items():
        sub = _model_of(fields[key].annotation) if key in fields else None
        if sub is not None and key != "args":
            found += unknown_keys(sub, value, f"{where}.{key}")
    return found


def validate_serve_config(config: dict[str, Any]) -> ServeDeploySchema:
    """Ray's schema plus no unknown keys; raises ValueError listing them."""
    schema = ServeDeploySchema.model_validate(config)
    unknown = unknown_keys(ServeDeploySchema, config)
    if unknown:
        raise ValueError(f"keys Ray's ServeDeploySchema does not know: {unknown}")
    return schema


def test_serve_configs_exist_for_every_layout() -> None:
    names = {p.stem for p in SERVE_CONFIGS}
    assert {"local", "single_gpu_node", "multi_node"} <= names


@pytest.mark.parametrize("path", SERVE_CONFIGS, ids=IDS)
def test_serve_config_validates_with_ray_schema(path) -> None:
    schema = validate_serve_config(load_yaml(path))
    (app,) = schema.applications
    assert app.import_path == "deployments.app:app_builder"
    assert app.route_prefix == "/", "route_prefix None hides the app from Serve's proxies"


@pytest.mark.parametrize("path", SERVE_CONFIGS, ids=IDS)
def test_serve_config_args_validate_as_a2f_settings(path) -> None:
    config = load_yaml(path)
    args = the_app(config)["args"]
    settings = settings_from_args(args)
    assert settings.http_port == config["http_options"]["port"], "Serve proxy port != settings"
    for model in settings.models:
        package = image_path_in_repo(model.path)
        assert (package / "model.json").is_file(), f"{model.model_id}: no package at {package}"


@pytest.mark.parametrize("path", SERVE_CONFIGS, ids=IDS)
def test_serve_config_overrides_only_deployments_the_app_binds(path) -> None:
    config = load_yaml(path)
    app = the_app(config)
    built = app_deployments(settings_from_args(app["args"]))
    for entry in app.get("deployments", []):
        # Serve refuses the whole config when it names a deployment the app does not bind.
        assert entry["name"] in built, f"{entry['name']} is not bound (bound: {sorted(built)})"
        # Resources and replicas come from the a2f settings only (one source of truth).
        owned = {"ray_actor_options", "num_replicas", "autoscaling_config", "max_replicas_per_node"}
        assert not owned & set(entry), f"{entry['name']}: set {owned & set(entry)} in args"


@pytest.mark.parametrize("path", SERVE_CONFIGS, ids=IDS)
def test_serve_config_on_non_loopback_binds_requires_auth(path) -> None:
    config = load_yaml(path)
    settings = settings_from_args(the_app(config)["args"])
    host = config.get("http_options", {}).get("host", "127.0.0.1")
    if host not in ("127.0.0.1", "localhost") or settings.grpc_host != "127.0.0.1":
        assert settings.tenancy.auth, "reachable from other machines without API keys"


def test_gpu_layouts_place_solver_on_a_gpu_and_use_node_local_triton() -> None:
    missing = missing_placement_fields()
    if missing:
        pytest.skip(f"deployments.settings.DeploymentOptions lacks {missing} (issue #9 part B)")
    for name in ("single_gpu_node.yaml", "multi_node.yaml"):
        config = load_yaml(next(p for p in SERVE_CONFIGS if p.name == name))
        settings = settings_from_args(the_app(config)["args"])
        assert settings.deployment("solver").num_gpus > 0, name
        assert settings.triton_url == "127.0.0.1:8001", f"{name}: entrypoint_gpu.sh's Triton"


def test_cpu_multi_node_runs_one_triton_owner_per_triton_node() -> None:
    missing = missing_placement_fields()
    if missing:
        pytest.skip(f"deployments.settings.DeploymentOptions lacks {missing} (issue #9 part B)")
    config = load_yaml(next(p for p in SERVE_CONFIGS if p.name == "multi_node_cpu.yaml"))
    settings = settings_from_args(the_app(config)["args"])
    owner = settings.deployment("triton")
    assert owner.max_replicas_per_node == 1
    assert owner.resources.get("a2f_triton_node") == 1
    assert settings.deployment("inference").resources.get("a2f_triton_node") == 1


# --- the checks can fail -------------------------------------------------------------------


def _local() -> dict[str, Any]:
    return copy.deepcopy(load_yaml(next(p for p in SERVE_CONFIGS if p.name == "local.yaml")))


def test_broken_serve_config_rejected_when_proxy_location_is_unknown() -> None:
    config = _local()
    config["proxy_location"] = "Everywhere"
    with pytest.raises(ValidationError):
        validate_serve_config(config)


def test_broken_serve_config_rejected_when_a_key_is_misspelt() -> None:
    config = _local()
    the_app(config)["deployments"][0]["graceful_shutdown_timeout"] = 30
    with pytest.raises(ValueError, match="graceful_shutdown_timeout"):
        validate_serve_config(config)


def test_broken_args_rejected_when_a2f_settings_field_is_invalid() -> None:
    args = dict(the_app(_local())["args"], tick_ms=0)
    with pytest.raises(ValidationError, match="tick_ms"):
        settings_from_args(args)


def test_broken_args_rejected_when_public_bind_has_no_auth() -> None:
    args = dict(the_app(_local())["args"], grpc_host="0.0.0.0")
    with pytest.raises(ValidationError, match="without authentication"):
        settings_from_args(args)
