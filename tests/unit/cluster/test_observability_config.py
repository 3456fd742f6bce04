"""Prometheus scrape configs and the Grafana dashboard of ``cluster/``.

No Prometheus binary (promtool) installs from the registries these machines reach, so the
Prometheus files are checked structurally: known keys, durations, relabel actions, and scrape
ports equal to the settings defaults and to the RayService's named container ports. The
dashboard's queries may only name metrics documented in ``docs/metrics.md`` (the a2f table and
the Ray Serve / Triton names listed there) or the few Ray/Triton names in :data:`KNOWN_EXTRA`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from deployments.settings import ServeSettings
from tests.unit.cluster._cluster import CLUSTER, REPO, kube_object, load_yaml
from tests.unit.cluster.test_kubernetes import groups, rayservice

PROMETHEUS = CLUSTER / "prometheus" / "prometheus.yml"
DASHBOARD = CLUSTER / "grafana" / "a2f_dashboard.json"
METRICS_DOC = REPO / "docs" / "metrics.md"

_TOP_KEYS = {
    "global",
    "scrape_configs",
    "rule_files",
    "alerting",
    "remote_write",
    "remote_read",
    "storage",
    "tracing",
    "scrape_config_files",
    "runtime",
    "otlp",
}
_SCRAPE_KEYS = {
    "job_name",
    "scrape_interval",
    "scrape_timeout",
    "metrics_path",
    "scheme",
    "honor_labels",
    "honor_timestamps",
    "params",
    "static_configs",
    "file_sd_configs",
    "kubernetes_sd_configs",
    "relabel_configs",
    "metric_relabel_configs",
    "basic_auth",
    "authorization",
    "tls_config",
    "sample_limit",
}
_RELABEL_ACTIONS = {
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
}
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
#: Ray / Triton metrics used by the dashboard that docs/metrics.md does not list: Ray's node
#: metrics (metrics agent, every node) and Triton's GPU metrics (GPU nodes).
KNOWN_EXTRA = {"ray_node_cpu_utilization", "nv_gpu_utilization", "nv_gpu_memory_used_bytes"}
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def check_prometheus(config: dict[str, Any]) -> list[str]:
    """Structural problems of a Prometheus config (empty list: none)."""
    problems = [f"unknown top-level key {k}" for k in set(config) - _TOP_KEYS]
    for key, value in (config.get("global") or {}).items():
        if key.endswith("_interval") and not _DURATION.match(str(value)):
            problems.append(f"global.{key}: bad duration {value!r}")
    jobs = [job["job_name"] for job in config.get("scrape_configs", [])]
    if len(set(jobs)) != len(jobs):
        problems.append(f"duplicate job names {jobs}")
    for job in config.get("scrape_configs", []):
        problems += [f"{job['job_name']}: unknown key {k}" for k in set(job) - _SCRAPE_KEYS]
        for rule in job.get("relabel_configs", []):
            if rule.get("action", "replace") not in _RELABEL_ACTIONS:
                problems.append(f"{job['job_name']}: unknown relabel action {rule['action']}")
        for static in job.get("static_configs", []):
            problems += [
                f"{job['job_name']}: bad target {t}"
                for t in static["targets"]
                if not re.match(r"^[\w.-]+:\d{1,5}$", t)
            ]
    return problems


def test_prometheus_config_is_well_formed() -> None:
    assert check_prometheus(load_yaml(PROMETHEUS)) == []


def test_prometheus_scrapes_the_default_ports() -> None:
    defaults = ServeSettings()
    ports = {
        job["job_name"]: {
            int(t.rsplit(":", 1)[1]) for s in job["static_configs"] for t in s["targets"]
        }
        for job in load_yaml(PROMETHEUS)["scrape_configs"]
    }
    assert ports == {"a2f": {defaults.metrics_port}, "triton": {defaults.triton_metrics_port}}


def test_kubernetes_scrape_config_keeps_the_pods_metrics_ports() -> None:
    embedded = yaml.safe_load(kube_object("ConfigMap", "a2f-prometheus")["data"]["prometheus.yml"])
    assert check_prometheus(embedded) == []
    kept = {
        rule["regex"]
        for job in embedded["scrape_configs"]
        for rule in job["relabel_configs"]
        if rule.get("action") == "keep"
        and rule["source_labels"] == ["__meta_kubernetes_pod_container_port_name"]
    }
    named = {
        p["name"]: p["containerPort"]
        for _, g in groups(rayservice())
        for c in g["template"]["spec"]["containers"]
        for p in c.get("ports", [])
    }
    defaults = ServeSettings()
    assert kept == {"metrics", "triton-metrics"}
    assert named["metrics"] == defaults.metrics_port
    assert named["triton-metrics"] == defaults.triton_metrics_port


# --- Grafana -------------------------------------------------------------------------------


def documented_metrics() -> tuple[set[str], set[str]]:
    """(exact names, name prefixes from ``name_*`` entries) in docs/metrics.md."""
    spans = " ".join(re.findall(r"`([^`]+)`", METRICS_DOC.read_text(encoding="utf-8")))
    names = set(re.findall(r"\b((?:ray|nv)_[a-z0-9_]*[a-z0-9])\b(?!\*)", spans))
    prefixes = set(re.findall(r"\b((?:ray|nv)_[a-z0-9_]+_)\*", spans))
    return names, prefixes


def documented_stages() -> set[str]:
    text = METRICS_DOC.read_text(encoding="utf-8")
    section = text[text.index("Stages (`stage` label)") :].split("\n\n", 1)[0]
    return set(re.findall(r"`([a-z_0-9]+)` \(", section)) | {"serialize"}


def unknown_metrics(expr: str) -> list[str]:
    """Metric names of a PromQL expression that are neither documented nor known."""
    names, prefixes = documented_metrics()
    found = []
    for metric in re.findall(r"\b((?:ray|nv)_[a-z0-9_]+)\b", expr):
        base = next((metric[: -len(s)] for s in _HISTOGRAM_SUFFIXES if metric.endswith(s)), metric)
        ok = metric in names or base in names or metric in KNOWN_EXTRA
        if not (ok or any(metric.startswith(p) for p in prefixes)):
            found.append(metric)
    return found


def dashboard_panels() -> list[dict[str, Any]]:
    return [
        p for p in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"] if p["type"] != "row"
    ]


def test_dashboard_loads_with_unique_ids_and_a_datasource_variable() -> None:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert dash["uid"] and dash["title"]
    assert [v["name"] for v in dash["templating"]["list"] if v["type"] == "datasource"] == [
        "datasource"
    ]
    for p in dashboard_panels():
        assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
        assert p["datasource"]["uid"] == "${datasource}", p["title"]


def test_dashboard_queries_name_only_known_metrics() -> None:
    problems = {
        p["title"]: unknown_metrics(t["expr"])
        for p in dashboard_panels()
        for t in p["targets"]
        if unknown_metrics(t["expr"])
    }
    assert problems == {}


def test_dashboard_stage_selectors_use_documented_stages() -> None:
    stages = documented_stages()
    assert {"resample", "a2f", "postprocess_solve"} <= stages
    for p in dashboard_panels():
        for t in p["targets"]:
            assert set(re.findall(r'stage="([^"]+)"', t["expr"])) <= stages, p["title"]


def test_dashboard_covers_the_headline_a2f_metrics() -> None:
    exprs = " ".join(t["expr"] for p in dashboard_panels() for t in p["targets"])
    for metric in (
        "ray_a2f_active_streams",
        "ray_a2f_frames_emitted_total",
        "ray_a2f_frame_lateness_seconds",
        "ray_a2f_stage_latency_seconds",
        "ray_a2f_errors_total",
        "nv_inference_exec_count",
    ):
        assert metric in exprs, metric


# --- the checks can fail -------------------------------------------------------------------


def test_broken_dashboard_query_rejected_when_metric_is_misspelt() -> None:
    assert unknown_metrics("sum(rate(ray_a2f_frames_emited_total[1m]))") == [
        "ray_a2f_frames_emited_total"
    ]


@pytest.mark.parametrize(
    ("patch", "problem"),
    [
        ({"global": {"scrape_interval": "15 seconds"}}, "bad duration"),
        (
            {
                "scrape_configs": [
                    {"job_name": "a2f", "static_configs": [{"targets": ["127.0.0.1"]}]}
                ]
            },
            "bad target",
        ),
        ({"scrape_configs": [{"job_name": "a2f", "scrape_intervall": "5s"}]}, "unknown key"),
    ],
)
def test_broken_prometheus_config_rejected(patch, problem) -> None:
    config = {**load_yaml(PROMETHEUS), **patch}
    assert any(problem in p for p in check_prometheus(config))
