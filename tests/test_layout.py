"""The app's shape: function_app indexes, packages explain themselves, layers stay layered."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
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
    "tests",
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
    # the local host runs any Durable app given on its command line, never this one by name
    "local_host": {
        "bc_anaplan",
        "function_app",
        "triggers",
        "orchestrators",
        "activities",
        "entities",
        "sandbox",
    },
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
    """What the Python worker does once per process: import the app and index its functions."""
    script = (
        "import json, function_app\n"
        "for f in function_app.app.get_functions():\n"
        "    meta = json.loads(f.get_function_json())\n"
        "    print(f.get_function_name(), f.get_trigger().type, len(meta['bindings']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("BC_", "ANAPLAN_"))},
    )
    assert result.returncode == 0, result.stderr
    functions = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert functions["health"] == "httpTrigger"
    assert functions["ModelLock"] == "entityTrigger"
    for name in ("reference_sync", "actuals_load", "employees_load", "anaplan_import"):
        assert functions[name] == "orchestrationTrigger"
    assert functions["nightly_actuals_load"] == "timerTrigger"


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
