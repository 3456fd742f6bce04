"""``cluster/kuberay/*.yaml``: Kubernetes schemas, the RayService CRD's shape, Ray's Serve schema.

Validators:

- Built-in kinds (ConfigMap, PersistentVolumeClaim, Service) and every pod template of the
  RayService: ``kubernetes-validate`` (PyPI), which bundles the Kubernetes OpenAPI JSON schemas
  and validates offline, in strict mode (unknown fields are errors). A pod template is checked
  as the ``template`` of a core/v1 ``PodTemplate`` object.
- The RayService custom resource: :data:`RAYSERVICE_SCHEMA`, a reduced JSON schema derived from
  KubeRay's CRD (ray-project/kuberay ``ray-operator/config/crd/bases/ray.io_rayservices.yaml``,
  API ``ray.io/v1``, generated from ``ray-operator/apis/ray/v1/{rayservice,raycluster}_types.go``).
  It keeps the envelope the operator reads (field names, types, required keys, the
  ``rayStartParams`` string map, the ``upscalingMode`` enum); the pod templates inside it are
  left to the Kubernetes schemas above.
- ``spec.serveConfigV2``: Ray's ``ServeDeploySchema`` (the operator passes it to Serve verbatim),
  and its ``args`` as a2f ``ServeSettings`` with the settings file taken from the ConfigMap the
  pods mount.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.unit.cluster._cluster import (
    RAYSERVICE,
    NodeKind,
    image_path_in_repo,
    kube_documents,
    kube_object,
    kube_quantity_cpu,
    load_yaml,
    missing_placement_fields,
    placement_problems,
    ray_resources_param,
    settings_from_args,
    the_app,
)
from tests.unit.cluster.test_serve_configs import validate_serve_config

#: Oldest and newest Kubernetes minor versions the manifests must satisfy.
K8S_VERSIONS = ("1.29.0", "1.37.0")

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_QUANTITY = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
_INT32 = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
_TEMPLATE = {"type": "object", "required": ["spec"]}  # checked by the Kubernetes schemas
_WORKER_GROUP = {
    "type": "object",
    "required": ["groupName", "template"],
    "additionalProperties": False,
    "properties": {
        "groupName": {"type": "string", "minLength": 1},
        "replicas": _INT32,
        "minReplicas": _INT32,
        "maxReplicas": _INT32,
        "idleTimeoutSeconds": _INT32,
        "numOfHosts": _INT32,
        "suspend": {"type": "boolean"},
        "rayStartParams": _STRING_MAP,
        "template": _TEMPLATE,
        "scaleStrategy": {"type": "object"},
    },
}
#: Reduced RayService schema (see the module docstring for its source).
RAYSERVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayService"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["serveConfigV2", "rayClusterConfig"],
            "additionalProperties": False,
            "properties": {
                "serveConfigV2": {"type": "string", "minLength": 1},
                "serviceUnhealthySecondThreshold": _INT32,
                "deploymentUnhealthySecondThreshold": _INT32,
                "serveService": {"type": "object"},
                "upgradeStrategy": {"type": "object"},
                "excludeHeadPodFromServeSvc": {"type": "boolean"},
                "rayClusterDeletionDelaySeconds": _INT32,
                "rayClusterConfig": {
                    "type": "object",
                    "required": ["headGroupSpec"],
                    "additionalProperties": False,
                    "properties": {
                        "rayVersion": {"type": "string"},
                        "enableInTreeAutoscaling": {"type": "boolean"},
                        "autoscalerOptions": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "resources": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "requests": {
                                            "type": "object",
                                            "additionalProperties": _QUANTITY,
                                        },
                                        "limits": {
                                            "type": "object",
                                            "additionalProperties": _QUANTITY,
                                        },
                                    },
                                },
                                "image": {"type": "string"},
                                "imagePullPolicy": {"type": "string"},
                                "env": {"type": "array"},
                                "envFrom": {"type": "array"},
                                "volumeMounts": {"type": "array"},
                                "securityContext": {"type": "object"},
                                "idleTimeoutSeconds": _INT32,
                                "upscalingMode": {
                                    "enum": ["Default", "Aggressive", "Conservative"]
                                },
                                "version": {"enum": ["v1", "v2"]},
                            },
                        },
                        "headServiceAnnotations": _STRING_MAP,
                        "suspend": {"type": "boolean"},
                        "gcsFaultToleranceOptions": {"type": "object"},
                        "managedBy": {"type": "string"},
                        "headGroupSpec": {
                            "type": "object",
                            "required": ["template"],
                            "additionalProperties": False,
                            "properties": {
                                "serviceType": {"type": "string"},
                                "headService": {"type": "object"},
                                "enableIngress": {"type": "boolean"},
                                "rayStartParams": _STRING_MAP,
                                "template": _TEMPLATE,
                            },
                        },
                        "workerGroupSpecs": {"type": "array", "items": _WORKER_GROUP},
                    },
                },
            },
        },
    },
}


def rayservice() -> dict[str, Any]:
    return load_yaml(RAYSERVICE)


def groups(service: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(group name, group spec) for the head ('head') and every worker group."""
    cluster = service["spec"]["rayClusterConfig"]
    return [("head", cluster["headGroupSpec"])] + [
        (g["groupName"], g) for g in cluster.get("workerGroupSpecs", [])
    ]


def validate_rayservice(service: dict[str, Any], version: str = K8S_VERSIONS[-1]) -> None:
    """The reduced CRD schema, then every pod template against the Kubernetes schemas."""
    jsonschema.validate(service, RAYSERVICE_SCHEMA)
    for name, group in groups(service):
        wrapper = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": f"a2f-{name}"},
            "template": group["template"],
        }
        kubernetes_validate.validate(wrapper, version, strict=True)


def serve_config(service: dict[str, Any]) -> dict[str, Any]:
    return yaml.safe_load(service["spec"]["serveConfigV2"])


def mounted_files(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> content of every ConfigMap key mounted in the pods."""
    files: dict[str, str] = {}
    for _, group in groups(service):
        spec = group["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            for mount in container.get("volumeMounts", []):
                source = volumes[mount["name"]].get("configMap")
                if source:
                    data = kube_object("ConfigMap", source["name"])["data"]
                    files.update({f"{mount['mountPath']}/{k}": v for k, v in data.items()})
    return files


def node_kinds(service: dict[str, Any]) -> list[NodeKind]:
    """What each group advertises to Ray (CPU and GPU from the container limits, as KubeRay)."""
    kinds = []
    for name, group in groups(service):
        params = group.get("rayStartParams", {})
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        cpus = (
            float(params["num-cpus"]) if "num-cpus" in params else kube_quantity_cpu(limits["cpu"])
        )
        gpus = float(params.get("num-gpus", limits.get("nvidia.com/gpu", 0)))
        custom = ray_resources_param(params["resources"]) if "resources" in params else {}
        kinds.append(NodeKind(name, cpus, gpus, custom))
    return kinds


#: Kubernetes resource.Quantity syntax (apimachinery; the same pattern is in KubeRay's CRD).
QUANTITY = re.compile(
    r"^[+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def bad_quantities(node: Any, where: str = "") -> list[str]:
    """``path=value`` of every malformed quantity under a ``requests`` / ``limits`` /
    ``sizeLimit`` key."""
    found: list[str] = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            found += bad_quantities(item, f"{where}[{i}]")
    elif isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}".lstrip(".")
            if key in ("requests", "limits") and isinstance(value, dict):
                found += [f"{path}.{k}={v}" for k, v in value.items() if not QUANTITY.match(str(v))]
            elif key == "sizeLimit" and not QUANTITY.match(str(value)):
                found.append(f"{path}={value}")
            else:
                found += bad_quantities(value, path)
    return found


# --- every manifest validates -------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_manifests_validate_with_kubernetes_schemas(version) -> None:
    checked = 0
    for _path, doc in kube_documents():
        if doc["apiVersion"].startswith("ray.io/"):
            continue
        kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked >= 4, "ConfigMaps, PVC and Service expected"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_rayservice_validates_with_crd_and_kubernetes_schemas(version) -> None:
    validate_rayservice(rayservice(), version)


def test_rayservice_serve_config_validates_with_ray_schema_and_a2f_settings() -> None:
    service = rayservice()
    config = serve_config(service)
    validate_serve_config(config)
    settings = settings_from_args(the_app(config)["args"], mounted_files(service))
    assert settings.tenancy.auth, "the cluster binds 0.0.0.0: API keys are required"
    for model in settings.models:
        assert (image_path_in_repo(model.path) / "model.json").is_file(), model.path


def test_rayservice_serves_the_multi_node_application() -> None:
    ours = the_app(serve_config(rayservice()))
    multi = the_app(load_yaml(RAYSERVICE.parents[1] / "serve" / "multi_node.yaml"))
    assert {k: v for k, v in ours["args"].items() if k != "settings_file"} == {
        k: v for k, v in multi["args"].items() if k != "tenancy"
    }
    assert ours["deployments"] == multi["deployments"]


# --- the manifests agree with each other and with the images ------------------------------


def test_every_resource_quantity_is_well_formed() -> None:
    for path, doc in kube_documents():
        assert bad_quantities(doc) == [], path.name


def test_rayservice_deployments_fit_the_groups() -> None:
    missing = missing_placement_fields()
    if missing:
        pytest.skip(f"deployments.settings.DeploymentOptions lacks {missing} (issue #9 part B)")
    service = rayservice()
    settings = settings_from_args(the_app(serve_config(service))["args"], mounted_files(service))
    assert placement_problems(settings, node_kinds(service)) == []


def test_rayservice_autoscaling_on_with_bounded_groups() -> None:
    cluster = rayservice()["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    for group in cluster["workerGroupSpecs"]:
        assert group["minReplicas"] <= group.get("replicas", 0) <= group["maxReplicas"]


def test_rayservice_containers_have_requests_limits_and_probes() -> None:
    for name, group in groups(rayservice()):
        for container in group["template"]["spec"]["containers"]:
            res = container["resources"]
            assert {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(
                res["limits"]
            ), name
            assert "readinessProbe" in container and "livenessProbe" in container, name
            assert container["image"].rsplit(":", 1)[-1] not in ("", "latest"), name


def test_rayservice_ingress_ready_on_the_app_health_endpoint() -> None:
    ingress = dict(groups(rayservice()))["ingress"]
    probe = ingress["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"] == {"path": "/v1/health/ready", "port": 8000}


def test_rayservice_gpu_group_has_gpu_engine_cache_and_triton_probes() -> None:
    gpu = dict(groups(rayservice()))["gpu"]
    spec = gpu["template"]["spec"]
    container = spec["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] >= 1
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in spec["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == [kube_object("PersistentVolumeClaim")["metadata"]["name"]]
    assert "/v2/health/ready" in " ".join(container["readinessProbe"]["exec"]["command"])
    assert container["command"] == ["/opt/a2f/cluster/docker/entrypoint_gpu.sh"]


def test_rayservice_shm_holds_the_object_store() -> None:
    units = {"Mi": 2**20, "Gi": 2**30}
    for name, group in groups(rayservice()):
        volumes = group["template"]["spec"]["volumes"]
        (shm,) = [v for v in volumes if v["name"] == "shm"]
        assert shm["emptyDir"]["medium"] == "Memory", name
        size = shm["emptyDir"]["sizeLimit"]
        shm_bytes = int(size[:-2]) * units[size[-2:]]
        store = int(group["rayStartParams"]["object-store-memory"])
        assert store < shm_bytes, f"{name}: object store {store} B > /dev/shm {size}"
        mounts = group["template"]["spec"]["containers"][0]["volumeMounts"]
        assert {"name": "shm", "mountPath": "/dev/shm"} in mounts, name


def test_client_service_selects_the_ingress_group_by_named_ports() -> None:
    service = kube_object("Service", "a2f")
    ingress = dict(groups(rayservice()))["ingress"]
    labels = ingress["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {
        p["name"]: p["containerPort"] for p in ingress["template"]["spec"]["containers"][0]["ports"]
    }
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(port_names)
    assert port_names["nim-grpc"] == 52000 and port_names["serve"] == 8000


def test_overwrite_container_cmd_annotation_comes_with_commands() -> None:
    service = rayservice()
    assert service["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"
    for name, group in groups(service):
        container = group["template"]["spec"]["containers"][0]
        text = " ".join(container.get("command", []) + container.get("args", []))
        assert "KUBERAY_GEN_RAY_START_CMD" in text or "entrypoint_gpu.sh" in text, name


# --- the checks can fail -------------------------------------------------------------------


def test_broken_rayservice_rejected_when_ray_start_param_is_not_a_string() -> None:
    service = copy.deepcopy(rayservice())
    service["spec"]["rayClusterConfig"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validate_rayservice(service)


def test_broken_rayservice_rejected_when_pod_template_has_unknown_field() -> None:
    service = copy.deepcopy(rayservice())
    container = service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"][
        "containers"
    ][0]
    container["readinessProbe"]["httpGett"] = container["readinessProbe"].pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_rayservice(service)


def test_broken_manifest_rejected_when_access_modes_is_not_a_list() -> None:
    pvc = copy.deepcopy(kube_object("PersistentVolumeClaim"))
    pvc["spec"]["accessModes"] = "ReadWriteMany"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pvc, K8S_VERSIONS[-1], strict=True)


def test_broken_quantity_rejected_when_malformed() -> None:
    # The Kubernetes JSON schemas type quantities as plain strings; the format check is ours.
    assert bad_quantities({"resources": {"requests": {"storage": "twenty gigs"}}}) == [
        "resources.requests.storage=twenty gigs"
    ]


def test_broken_rayservice_rejected_when_a_deployment_fits_no_group() -> None:
    if missing_placement_fields():
        pytest.skip("placement fields missing (issue #9 part B)")
    service = copy.deepcopy(rayservice())
    config = serve_config(service)
    the_app(config)["args"]["deployments"]["solver"]["resources"] = {"a2f_tpu_node": 1}
    settings = settings_from_args(the_app(config)["args"], mounted_files(service))
    assert placement_problems(settings, node_kinds(service))


def test_gpu_pods_build_engines_for_every_served_model() -> None:
    service = rayservice()
    settings = settings_from_args(the_app(serve_config(service))["args"], mounted_files(service))
    served = {m.path for m in settings.models if m.kind != "a2e" or settings.a2e_model}
    env = dict(groups(service))["gpu"]["template"]["spec"]["containers"][0]["env"]
    packages = next(e["value"] for e in env if e["name"] == "A2F_PACKAGES").split()
    assert set(packages) == served
    entrypoint = (RAYSERVICE.parents[1] / "docker" / "entrypoint_gpu.sh").read_text()
    default = re.search(r'A2F_PACKAGES=\$\{A2F_PACKAGES:-"([^"]+)"\}', entrypoint)
    assert default, "entrypoint_gpu.sh lost its A2F_PACKAGES default"
    assert {p.replace("$A2F_HOME", "/opt/a2f") for p in default.group(1).split()} == served
