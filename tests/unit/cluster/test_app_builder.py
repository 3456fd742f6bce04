"""Every Serve config's ``args`` through the real ``deployments.app:app_builder`` and Ray's
application build (``ray.serve._private.build_app``: the step ``serve deploy`` runs before it
places replicas). No Ray cluster is started: this checks the bound graph, names and options.
"""

from __future__ import annotations

import pytest
import yaml

from tests.unit.cluster._cluster import (
    REPO,
    SERVE_CONFIGS,
    app_deployments,
    load_yaml,
    settings_from_args,
    the_app,
)
from tests.unit.cluster.test_kubernetes import mounted_files, rayservice

app_module = pytest.importorskip("deployments.app")
if not hasattr(app_module, "app_builder"):
    pytest.skip(
        "deployments.app.app_builder not there yet (issue #9 part B)", allow_module_level=True
    )


def build(args: dict, monkeypatch, tmp_path, files: dict[str, str] | None = None):
    """Ray's BuiltApplication of ``app_builder(args)``; settings files come from ``files``."""
    from ray.serve._private.build_app import build_app as ray_build_app

    monkeypatch.chdir(REPO)  # relative settings_file and model paths, as `serve run` from the root
    args = dict(args)
    if files and args.get("settings_file") in files:
        local = tmp_path / "a2f_settings.yaml"
        local.write_text(files[args["settings_file"]])
        args["settings_file"] = str(local)
    return ray_build_app(app_module.app_builder(args), name="a2f")


def check(config: dict, built, settings) -> None:
    names = {d.name for d in built.deployments}
    assert names == app_deployments(settings)
    assert built.ingress_deployment_name == "ApiIngress"
    assert {e["name"] for e in the_app(config).get("deployments", [])} <= names
    by_name = {d.name: d for d in built.deployments}
    for stage, name in (("inference", "A2FInference"), ("solver", "BlendshapeSolver")):
        opt = settings.deployment(stage)
        actor = by_name[name].ray_actor_options
        assert actor.get("resources", {}) == dict(opt.resources), name
        assert actor.get("num_gpus", 0) == opt.num_gpus, name


@pytest.mark.parametrize("path", SERVE_CONFIGS, ids=[p.name for p in SERVE_CONFIGS])
def test_serve_config_builds_the_application(path, monkeypatch, tmp_path) -> None:
    config = load_yaml(path)
    args = the_app(config)["args"]
    built = build(args, monkeypatch, tmp_path)
    check(config, built, settings_from_args(args))


def test_rayservice_serve_config_builds_the_application(monkeypatch, tmp_path) -> None:
    service = rayservice()
    config = yaml.safe_load(service["spec"]["serveConfigV2"])
    args, files = the_app(config)["args"], mounted_files(service)
    built = build(args, monkeypatch, tmp_path, files)
    check(config, built, settings_from_args(args, files))


def test_cpu_multi_node_gets_one_triton_owner_per_node(monkeypatch, tmp_path) -> None:
    config = load_yaml(next(p for p in SERVE_CONFIGS if p.name == "multi_node_cpu.yaml"))
    built = build(the_app(config)["args"], monkeypatch, tmp_path)
    owner = next(d for d in built.deployments if d.name == "TritonOwner")
    assert owner.num_replicas == 2
    assert owner._replica_config.max_replicas_per_node == 1


def test_broken_args_rejected_by_app_builder(monkeypatch, tmp_path) -> None:
    args = dict(the_app(load_yaml(SERVE_CONFIGS[0]))["args"], tick_msec=30)
    with pytest.raises(ValueError, match="tick_msec"):
        build(args, monkeypatch, tmp_path)
