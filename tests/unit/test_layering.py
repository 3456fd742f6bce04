"""The layering rules of the architecture, checked by the tools that enforce them."""

from __future__ import annotations

import ast
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
FORBIDDEN_IN_ACTORS = {"ray", "fastapi", "starlette", "grpc", "tritonclient", "onnxruntime"}


def _imported_roots(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_import_linter_contract_is_kept_when_run_on_the_tree() -> None:
    exe = shutil.which("lint-imports", path=str(pathlib.Path(sys.executable).parent))
    assert exe, "import-linter is missing: install the [dev] extra"
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actors_never_import_transport_when_scanned_file_by_file() -> None:
    # Belt and braces: import-linter misses imports hidden in functions of files it cannot
    # build a graph for; the AST scan sees every import statement.
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imported_roots(p) & FORBIDDEN_IN_ACTORS)
        for p in (ROOT / "a2f_actors").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_xp_module_imports_cupy_when_scanned() -> None:
    importers = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "a2f_actors").rglob("*.py")
        if "cupy" in _imported_roots(p)
    )
    assert importers in ([], ["a2f_actors/xp.py"])
