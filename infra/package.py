"""Stage the Function App for publishing: exactly what the app runs, nothing else.

The repository root holds much that must never reach Azure (``.venv``, ``node_modules``, the
sandbox, tests, demo state, a developer's ``local.settings.json``). This script copies the app's
files into a clean folder, optionally installs the runtime dependencies into
``.python_packages/lib/site-packages`` (what the Python worker adds to its path), and optionally
zips the folder::

    python infra/package.py                 # infra/dist/app, to publish with Core Tools
    python infra/package.py --with-dependencies --zip infra/dist/bc-anaplan.zip  # runnable zip

Flex Consumption: ``cd infra/dist/app && func azure functionapp publish <app>`` (remote build), or
``az functionapp deployment source config-zip --src <zip> --build-remote true``.
Elastic Premium (run from package): build the zip ``--with-dependencies`` and upload it to the
package blob; see infra/README.md.

Dependencies are downloaded as wheels for the Functions host (Linux x86_64, CPython 3.11)
whatever machine runs this script.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# What the Functions host needs at the app root. tests/infra checks that every first-party module
# function_app.py imports (transitively) lies in APP_PACKAGES.
APP_FILES = ("function_app.py", "host.json", "connector.toml", "requirements.txt")
APP_PACKAGES = ("bc_anaplan", "activities", "orchestrators", "entities", "triggers")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".ruff_cache")
SITE_PACKAGES = Path(".python_packages") / "lib" / "site-packages"
MARKER = ".staged-by-infra-package"  # stage() only ever empties a folder that carries it

# The Functions host: Linux x86_64, CPython 3.11 (main.bicep's runtime version).
TARGET_PIP_ARGS = (
    "--platform",
    "manylinux2014_x86_64",
    "--implementation",
    "cp",
    "--python-version",
    "3.11",
    "--only-binary=:all:",
)


def stage(out: Path, root: Path = REPO_ROOT) -> list[Path]:
    """Copy the app into ``out`` (emptied first). Returns the staged top-level paths.

    ``out`` must be new, empty, or an earlier stage: nothing else is ever deleted.
    """
    if out.exists():
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise SystemExit(
                f"{out} is not empty and was not staged by this script; not touching it"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("staged by infra/package.py; deleted and rewritten on every run\n")
    staged = []
    for name in APP_FILES:
        shutil.copy2(root / name, out / name)
        staged.append(out / name)
    for package in APP_PACKAGES:
        shutil.copytree(root / package, out / package, ignore=SKIP)
        staged.append(out / package)
    return staged


def install_dependencies(out: Path, root: Path = REPO_ROOT) -> None:
    """pip-install requirements.txt (pinned by constraints.txt) into the staged app."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(out / SITE_PACKAGES),
        *TARGET_PIP_ARGS,
        "-r",
        str(root / "requirements.txt"),
    ]
    constraints = root / "constraints.txt"
    if constraints.is_file():
        command += ["-c", str(constraints)]
    subprocess.run(command, check=True)


def make_zip(folder: Path, target: Path) -> Path:
    """Zip ``folder``'s content (paths relative to it, host.json at the root)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != MARKER:
                archive.write(path, path.relative_to(folder).as_posix())
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python infra/package.py", description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "infra" / "dist" / "app")
    parser.add_argument("--zip", type=Path, help="also write the staged app as this zip file")
    parser.add_argument(
        "--with-dependencies",
        action="store_true",
        help="install requirements.txt into .python_packages (needed to run from a package "
        "without a remote build, i.e. on Elastic Premium)",
    )
    args = parser.parse_args(argv)
    stage(args.out)
    if args.with_dependencies:
        install_dependencies(args.out)
    sys.stdout.write(f"staged {args.out}\n")
    if args.zip:
        sys.stdout.write(f"wrote {make_zip(args.out, args.zip)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
