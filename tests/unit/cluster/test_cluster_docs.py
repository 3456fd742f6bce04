"""The deployment docs name files that exist, and every ``cluster/`` file is documented."""

from __future__ import annotations

import re

from tests.unit.cluster._cluster import CLUSTER, REPO

DOCS = (REPO / "docs" / "deploy_kubernetes.md", CLUSTER / "README.md")


def paths_named(text: str) -> set[str]:
    """``cluster/...`` paths and bare ``kuberay/...``-style paths in code spans."""
    spans = re.findall(r"`([^`\s]+)`", text)
    return {
        s
        for s in spans
        if re.match(r"^(cluster/)?(serve|ray|kuberay|docker|prometheus|grafana)/", s)
    }


def test_deploy_docs_name_only_existing_cluster_files() -> None:
    for doc in DOCS:
        for name in paths_named(doc.read_text(encoding="utf-8")):
            path = name if name.startswith("cluster/") else f"cluster/{name}"
            if "*" in path:
                assert list(REPO.glob(path)), f"{doc.name}: {name} matches nothing"
            else:
                assert (REPO / path).exists(), f"{doc.name}: {name} does not exist"


def test_cluster_readme_lists_every_file_of_this_issue() -> None:
    readme = (CLUSTER / "README.md").read_text(encoding="utf-8")
    for sub in ("serve", "ray", "kuberay", "docker", "prometheus", "grafana"):
        for path in sorted((CLUSTER / sub).iterdir()):
            rel = f"{sub}/{path.name}"
            listed = rel in readme or (
                path.name.endswith(".dockerignore") and "dockerignore" in readme
            )
            assert listed, f"cluster/README.md does not describe {rel}"
