"""infra/package.py stages exactly the app: everything it imports, none of the repository's rest."""

from __future__ import annotations

import ast
import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.processes import REPO_ROOT

# infra/ is a folder of deployment files, not a package: load the script by its path
_spec = importlib.util.spec_from_file_location("infra_package", REPO_ROOT / "infra" / "package.py")
assert _spec is not None and _spec.loader is not None
package = importlib.util.module_from_spec(_spec)
sys.modules["infra_package"] = package
_spec.loader.exec_module(package)


def first_party_imports(path: Path) -> set[str]:
    """Top-level first-party modules a file imports (anywhere in it, lazily or not)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return {n for n in names if (REPO_ROOT / n).is_dir() or (REPO_ROOT / f"{n}.py").is_file()}


def test_the_app_imports_only_what_is_staged() -> None:
    files = [REPO_ROOT / "function_app.py"]
    for name in package.APP_PACKAGES:
        files += sorted((REPO_ROOT / name).rglob("*.py"))
    imported = set().union(*(first_party_imports(f) for f in files))
    assert imported - set(package.APP_PACKAGES) - {"function_app"} == set()


def test_stage_copies_the_app_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "app"
    package.stage(out)
    top = {p.name for p in out.iterdir()}
    assert top == set(package.APP_FILES) | set(package.APP_PACKAGES) | {package.MARKER}
    assert not list(out.rglob("__pycache__"))
    assert (out / "host.json").read_text() == (REPO_ROOT / "host.json").read_text()
    package.stage(out)  # a second run replaces its own earlier stage
    archive = package.make_zip(out, tmp_path / "app.zip")
    names = zipfile.ZipFile(archive).namelist()
    assert "host.json" in names and "function_app.py" in names
    assert package.MARKER not in names
    assert not [n for n in names if n.startswith(("tests/", "sandbox/", ".venv/"))]


def test_stage_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("mine")
    with pytest.raises(SystemExit):
        package.stage(tmp_path)
    assert keep.read_text() == "mine"
