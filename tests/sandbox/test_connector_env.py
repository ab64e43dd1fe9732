"""``connector_env`` is complete: with it and Azurite's connection string, and nothing else, every
connector command starts. The README's recipe is run here as written.

This is the one sandbox test that imports the app's configuration (to hold the sandbox's
restated timer schedules equal to the connector's declared standard values); the sandbox itself
never imports the app.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bc_anaplan.config import SCHEDULE_SETTINGS, load_settings
from devtools.processes import read_ready_line
from tests.support.processes import REPO_ROOT


def test_connector_env_carries_the_standard_timer_schedules(sandbox: dict[str, Any]) -> None:
    env = sandbox["connector_env"]
    assert SCHEDULE_SETTINGS, "the connector declares its timer schedules"
    assert {s.name: env.get(s.name) for s in SCHEDULE_SETTINGS} == {
        s.name: s.default for s in SCHEDULE_SETTINGS
    }


def test_connector_env_and_storage_alone_validate(sandbox: dict[str, Any]) -> None:
    settings = load_settings(
        {**sandbox["connector_env"], "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    )
    assert settings.bc.api_base_url == sandbox["bc"]
    assert settings.secrets.key_vault_url == sandbox["keyvault"]
    assert settings.secrets.azure_client_secret == sandbox["client_secret"]
    assert sandbox["client_secret"] not in repr(settings)


def readme_recipe() -> str:
    """The shell block of README's "Local development" that uses ``connector_env``."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Local development", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", section, re.S) if "connector_env" in b]
    assert len(blocks) == 1, "README's Local development has one connector_env recipe"
    return "\n".join(line.strip() for line in blocks[0].splitlines())


def test_readme_recipe_starts_the_local_host_with_nothing_else_set(tmp_path: Path) -> None:
    recipe = readme_recipe()
    assert recipe.rstrip().endswith("python -m local_host start")
    script = recipe.rstrip() + " --port 0\n"  # a free port instead of 7071
    bin_dir = str(Path(sys.executable).parent)
    bare = {  # no connector setting at all: the recipe must supply every one
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=bare,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the sandbox, Azurite and the host: one group to stop
    )
    try:
        ready = read_ready_line(process, timeout_s=120)
        assert ready is not None, f"the local host did not start:\n{_stderr(process)}"
        health = httpx.get(
            f"{ready['url']}/api/health", params={"code": ready["function_key"]}, timeout=30
        )
        assert health.status_code == 200, health.text
        assert health.json() == {"status": "ok", "pipelines": ["fpa"]}
    finally:
        _stop_group(process)
    assert _group_gone(process.pid), "the recipe left a process behind"


def _stderr(process: subprocess.Popen[str]) -> str:
    _stop_group(process)
    return process.stderr.read() if process.stderr else ""


def _group_gone(pgid: int, timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    os.killpg(pgid, signal.SIGKILL)
    return False


def _stop_group(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass
