"""The app's shape: function_app indexes, packages explain themselves, layers stay layered."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.support.processes import REPO_ROOT

PACKAGES = [
    "bc_anaplan",
    "triggers",
    "orchestrators",
    "activities",
    "entities",
    "sandbox",
    "local_host",
    "devtools",
]
# layer -> top-level packages it must never import (architecture.md)
FORBIDDEN = {
    "bc_anaplan": {
        "azure.functions",
        "azure.durable_functions",
        "function_app",
        "triggers",
        "orchestrators",
        "activities",
        "entities",
        "local_host",
        "sandbox",
    },
    "sandbox": {
        "bc_anaplan",
        "function_app",
        "triggers",
        "orchestrators",
        "activities",
        "entities",
        "local_host",
    },
    "orchestrators": {
        "activities",
        "triggers",
        "local_host",
        "sandbox",
        "httpx",
        "azure.data",
        "azure.identity",
        "azure.keyvault",
    },
    "activities": {"triggers", "orchestrators", "local_host", "sandbox"},
    "triggers": {"activities", "orchestrators", "local_host", "sandbox"},
    "entities": {"activities", "triggers", "orchestrators", "local_host", "sandbox", "httpx"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_function_app_lists_functions() -> None:
    import function_app

    functions = function_app.app.get_functions()
    names = {f.get_function_name() for f in functions}
    assert "health" in names
    for f in functions:
        meta = json.loads(f.get_function_json())
        assert meta["bindings"], f.get_function_name()


@pytest.mark.parametrize("package", [p for p in PACKAGES if (REPO_ROOT / p).is_dir()])
def test_every_package_has_a_docstring(package: str) -> None:
    for init in (REPO_ROOT / package).rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 40, f"{init.relative_to(REPO_ROOT)} needs a module docstring"


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_what_they_may(layer: str) -> None:
    root = REPO_ROOT / layer
    violations = []
    for path in root.rglob("*.py"):
        for name in imports_of(path):
            for forbidden in FORBIDDEN[layer]:
                if name == forbidden or name.startswith(forbidden + "."):
                    violations.append(f"{path.relative_to(REPO_ROOT)} imports {name}")
    assert violations == []


def test_host_json_is_what_the_readme_promises() -> None:
    host = json.loads((REPO_ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    }
    durable = host["extensions"]["durableTask"]
    assert durable["hubName"] == "%TASK_HUB_NAME%"
    assert durable["maxConcurrentActivityFunctions"] >= 1


def test_requirements_are_pinned_exactly() -> None:
    for name in ("requirements.txt", "requirements-dev.txt", "constraints.txt"):
        for line in (REPO_ROOT / name).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "-r")):
                assert "==" in line, f"{name}: {line} is not pinned with =="
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/azurite"]["version"] == "3.35.0"
