"""The layering rules of STYLE.md, checked on the source tree's imports (as MNE does).

1. A service imports only the shared infrastructure, never another service.
2. Infrastructure never imports a service or an application.
3. ``import clarity`` stays light: no torch, xgboost, transformers or mlflow.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SRC = REPO / "src" / "clarity"

SERVICES = {"ingest", "synth", "wearable", "physiology", "genotype", "pgx", "notes", "mood", "twin"}
INFRASTRUCTURE = {
    "contracts",
    "errors",
    "bus",
    "store",
    "registry",
    "config",
    "reference",
    "security",
    "testing",
    "_utils",
    "_version_info",
    "_version",
}
APPLICATIONS = {"api", "dashboard", "sdk", "cli", "__main__"}
HEAVY = ("torch", "xgboost", "transformers", "mlflow")


def _clarity_imports(path: Path) -> set[str]:
    """Top-level clarity subpackages imported by a module, wherever the import stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "clarity":
                names = [f"clarity.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "clarity" and len(parts) > 1:
                found.add(parts[1])
    return found


def _part_of(path: Path, root: Path) -> str:
    relative = path.relative_to(root)
    return relative.parts[0].removesuffix(".py")


def layering_violations(root: Path) -> list[str]:
    """Every import that breaks rules 1 and 2 under a ``clarity`` source root."""
    violations = []
    for path in sorted(root.rglob("*.py")):
        part = _part_of(path, root)
        if part == "__init__":
            continue
        for imported in _clarity_imports(path) - {part}:
            where = f"{path.relative_to(root.parent)} imports clarity.{imported}"
            if part in SERVICES and imported not in INFRASTRUCTURE:
                violations.append(f"{where}: a service may import only {sorted(INFRASTRUCTURE)}")
            elif part in INFRASTRUCTURE and imported in SERVICES | APPLICATIONS:
                violations.append(f"{where}: infrastructure must not depend on services or apps")
    return violations


def test_layering__the_source_tree_follows_the_rules():
    assert layering_violations(SRC) == []


def test_layering__every_part_of_the_tree_has_a_layer():
    parts = {_part_of(p, SRC) for p in SRC.rglob("*.py")} - {"__init__"}
    assert parts <= SERVICES | INFRASTRUCTURE | APPLICATIONS, parts - (
        SERVICES | INFRASTRUCTURE | APPLICATIONS
    )


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_layering__the_check_catches_each_kind_of_violation(tmp_path):
    root = tmp_path / "clarity"
    _write(
        root,
        "wearable/_model.py",
        "from clarity.contracts import Envelope\nfrom clarity import pgx\n",
    )
    _write(root, "pgx/service.py", "def f():\n    import clarity.wearable._model\n")
    _write(root, "bus/_bus.py", "from clarity.api import app\n")
    _write(root, "contracts/_x.py", "from clarity.errors import ClarityError\n")
    violations = layering_violations(root)
    assert len(violations) == 3
    assert any("wearable/_model.py imports clarity.pgx" in v for v in violations)
    assert any("pgx/service.py imports clarity.wearable" in v for v in violations)
    assert any("bus/_bus.py imports clarity.api" in v for v in violations)


@pytest.mark.parametrize(
    "module",
    [
        "clarity",
        "clarity.contracts",
        "clarity.bus",
        "clarity.store",
        "clarity.registry",
        "clarity.config",
    ],
)
def test_import__does_not_pull_in_heavy_libraries(module):
    code = (
        f"import sys, json, {module}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_import__heavy_check_would_see_a_heavy_import():
    # The subprocess check above is only honest if it can fail: torch is installed here.
    code = f"import sys, json, torch; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "torch" in json.loads(result.stdout)
