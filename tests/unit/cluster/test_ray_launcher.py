"""``cluster/ray/cluster_launcher.yaml``: Ray's own launcher schema and the Serve layout.

Validator: ``ray.autoscaler._private.util.prepare_config`` (fills the provider's defaults, as
``ray up`` does) then ``validate_config``, which checks the result against
``ray/autoscaler/ray-schema.json`` shipped in the ray wheel, plus Ray's node-type rules.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from ray.autoscaler._private.util import prepare_config, validate_config

from tests.unit.cluster._cluster import (
    CLUSTER,
    LAUNCHER,
    NodeKind,
    load_yaml,
    missing_placement_fields,
    placement_problems,
    settings_from_args,
    the_app,
)


def validate_launcher(config: dict[str, Any]) -> dict[str, Any]:
    """Ray's own checks; returns the filled config."""
    filled = prepare_config(copy.deepcopy(config))
    validate_config(filled)
    return filled


def node_kinds(config: dict[str, Any]) -> list[NodeKind]:
    kinds = []
    for name, node in config["available_node_types"].items():
        res = dict(node["resources"])
        cpus, gpus = float(res.pop("CPU", 0)), float(res.pop("GPU", 0))
        if name == config["head_node_type"]:
            cpus = 0.0  # `ray start --head --num-cpus=0` in head_start_ray_commands
        kinds.append(NodeKind(name, cpus, gpus, {k: float(v) for k, v in res.items()}))
    return kinds


def test_launcher_config_validates_with_ray_schema() -> None:
    filled = validate_launcher(load_yaml(LAUNCHER))
    assert filled["provider"]["type"] == "aws"
    assert {"head", "cpu", "gpu"} <= set(filled["available_node_types"])


def test_launcher_head_runs_no_replicas_and_exports_metrics_on_9464() -> None:
    config = load_yaml(LAUNCHER)
    head = " ".join(config["head_start_ray_commands"])
    assert "--num-cpus=0" in head and "--metrics-export-port=9464" in head
    assert "--metrics-export-port=9464" in " ".join(config["worker_start_ray_commands"])


def test_multi_node_serve_config_fits_the_launcher_node_types() -> None:
    if missing_placement_fields():
        pytest.skip(f"DeploymentOptions lacks {missing_placement_fields()} (issue #9 part B)")
    settings = settings_from_args(the_app(load_yaml(CLUSTER / "serve" / "multi_node.yaml"))["args"])
    assert placement_problems(settings, node_kinds(load_yaml(LAUNCHER))) == []


def test_gpu_node_type_runs_the_gpu_image_with_the_engine_cache() -> None:
    gpu = load_yaml(LAUNCHER)["available_node_types"]["gpu"]
    assert gpu["resources"]["GPU"] >= 1 and gpu["resources"]["a2f_triton_node"] > 0
    assert "a2f-gpu:" in gpu["docker"]["worker_image"]
    assert any("/var/cache/a2f" in o for o in gpu["docker"]["worker_run_options"])


# --- the checks can fail -------------------------------------------------------------------


def test_broken_launcher_rejected_when_resources_are_fractional() -> None:
    config = load_yaml(LAUNCHER)
    config["available_node_types"]["gpu"]["resources"]["GPU"] = 0.5
    with pytest.raises(jsonschema.ValidationError):
        validate_launcher(config)


def test_broken_launcher_rejected_when_docker_key_is_unknown() -> None:
    config = load_yaml(LAUNCHER)
    config["docker"]["shm_size"] = "8g"
    with pytest.raises(jsonschema.ValidationError):
        validate_launcher(config)


def test_broken_layout_detected_when_gpu_nodes_lose_their_resource() -> None:
    if missing_placement_fields():
        pytest.skip("placement fields missing (issue #9 part B)")
    config = load_yaml(LAUNCHER)
    del config["available_node_types"]["gpu"]["resources"]["a2f_triton_node"]
    settings = settings_from_args(the_app(load_yaml(CLUSTER / "serve" / "multi_node.yaml"))["args"])
    assert placement_problems(settings, node_kinds(config))


def test_gpu_host_cache_directory_belongs_to_the_image_user() -> None:
    gpu = load_yaml(LAUNCHER)["available_node_types"]["gpu"]
    init = " ".join(gpu["initialization_commands"])
    assert "chown 10001:10001 /var/cache/a2f" in init
