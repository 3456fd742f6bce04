"""Shared loaders for the ``cluster/`` validation tests (data only: nothing is started).

The Serve configs, the KubeRay manifests and the Ray launcher config all describe the same
application (``deployments.app:app_builder``) placed on node kinds that advertise Ray custom
resources. These helpers turn each file into plain dicts, rebuild the a2f settings the
application would see from a config's ``args``, and answer "does this deployment fit on one
of these node kinds".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deployments.settings import ServeSettings, load_settings

REPO = Path(__file__).resolve().parents[3]
CLUSTER = REPO / "cluster"
SERVE_CONFIGS = sorted((CLUSTER / "serve").glob("*.yaml"))
KUBERAY = CLUSTER / "kuberay"
RAYSERVICE = KUBERAY / "rayservice.yaml"
LAUNCHER = CLUSTER / "ray" / "cluster_launcher.yaml"
#: Where the images copy the repository (cluster/docker/Dockerfile.*: WORKDIR /opt/a2f).
IMAGE_ROOT = "/opt/a2f/"

#: Serve deployment names bound by deployments/app.py.
ALWAYS = ("ApiIngress", "AudioEncoder", "A2FInference", "BlendshapeSolver")
#: ServeSettings ``deployments`` key -> Serve deployment name.
STAGE_DEPLOYMENT = {
    "ingress": "ApiIngress",
    "audio_encoder": "AudioEncoder",
    "emotion": "EmotionDetector",
    "inference": "A2FInference",
    "solver": "BlendshapeSolver",
    "triton": "TritonOwner",
}


def load_yaml(path: Path) -> Any:
    """One YAML document."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    """Every non-empty document of a (multi-document) YAML file."""
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def kube_documents() -> list[tuple[Path, dict[str, Any]]]:
    """(file, document) for every Kubernetes manifest in ``cluster/kuberay``."""
    return [(p, d) for p in sorted(KUBERAY.glob("*.yaml")) for d in load_yaml_docs(p)]


def kube_object(kind: str, name: str | None = None) -> dict[str, Any]:
    """The manifest of ``kind`` (and ``name``) in ``cluster/kuberay``."""
    for _, doc in kube_documents():
        if doc.get("kind") == kind and (name is None or doc["metadata"]["name"] == name):
            return doc
    raise LookupError(f"no {kind} {name or ''} in {KUBERAY}")


def the_app(serve_config: Mapping[str, Any]) -> dict[str, Any]:
    """The single a2f application of a Serve config."""
    apps = serve_config["applications"]
    assert len(apps) == 1, "one application: NIM clients send no 'application' metadata"
    return apps[0]


def settings_from_args(args: Mapping[str, Any], files: Mapping[str, str] | None = None) -> Any:
    """The ServeSettings ``app_builder(args)`` would build (environment ignored).

    Args:
        args: the application's ``args``.
        files: contents of settings files by their path in the container (ConfigMap mounts);
            other paths are read relative to the repository root.
    """
    overrides = dict(args)
    settings_file = overrides.pop("settings_file", None)
    path = None
    if settings_file is not None:
        if files and settings_file in files:
            data = yaml.safe_load(files[settings_file]) or {}
            return ServeSettings.model_validate({**data.get("a2f_serve", data), **overrides})
        path = REPO / settings_file
        assert path.is_file(), f"settings_file {settings_file} is not in the repository"
    return load_settings(path, environ={}, **overrides)


def app_deployments(settings: Any) -> set[str]:
    """Names of the Serve deployments ``build_app(settings)`` binds."""
    names = set(ALWAYS)
    if settings.backend == "triton" and settings.triton_url is None:
        names.add("TritonOwner")
    if settings.a2e_model:
        names.add("EmotionDetector")
    return names


def ray_resources_param(text: str) -> dict[str, float]:
    """KubeRay's ``rayStartParams.resources`` value (``'"{\\"x\\": 1}"'``) as a dict."""
    value = text.strip()
    if value.startswith('"') and value.endswith('"'):
        value = value[1:-1].replace('\\"', '"')
    parsed = json.loads(value)
    assert isinstance(parsed, dict), text
    return {k: float(v) for k, v in parsed.items()}


def kube_quantity_cpu(value: str | int | float) -> float:
    """A Kubernetes CPU quantity (``"8"``, ``"500m"``) in cores."""
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


@dataclass
class NodeKind:
    """What one node kind (KubeRay group, launcher node type) offers to Ray."""

    name: str
    cpus: float
    gpus: float
    custom: dict[str, float] = field(default_factory=dict)

    def fits(self, need_cpus: float, need_gpus: float, need: Mapping[str, float]) -> bool:
        """Whether one replica with these requests can be placed on an empty node."""
        enough = all(self.custom.get(k, 0) >= v for k, v in need.items())
        return enough and self.cpus >= need_cpus and self.gpus >= need_gpus


def placement_problems(settings: Any, kinds: list[NodeKind]) -> list[str]:
    """Deployments of ``settings`` that no node kind can host (empty list: all fit)."""
    built = app_deployments(settings)
    problems = []
    for stage, name in STAGE_DEPLOYMENT.items():
        if name not in built:
            continue
        opt = settings.deployment(stage)
        if not any(k.fits(opt.num_cpus, opt.num_gpus, opt.resources) for k in kinds):
            problems.append(
                f"{name}: num_cpus={opt.num_cpus} num_gpus={opt.num_gpus} "
                f"resources={dict(opt.resources)} fits none of {[k.name for k in kinds]}"
            )
    return problems


def image_path_in_repo(path: str) -> Path:
    """The repository file an image path (``/opt/a2f/...``) or a relative path refers to."""
    return REPO / (path[len(IMAGE_ROOT) :] if path.startswith(IMAGE_ROOT) else path)


#: DeploymentOptions fields the cluster layouts use (issue #9 placement contract).
PLACEMENT_FIELDS = ("num_gpus", "resources", "max_replicas_per_node")


def missing_placement_fields() -> list[str]:
    """Placement fields not (yet) in ``deployments.settings.DeploymentOptions``."""
    from deployments.settings import DeploymentOptions

    return [f for f in PLACEMENT_FIELDS if f not in DeploymentOptions.model_fields]
