"""The command line, as a person or ``make demo`` uses it: real subprocesses, real Azurite.

The kill-and-resume test is here too: a host process is killed with SIGKILL in the middle of an
activity, a new one resumes, and each activity must have run exactly once except the one that
was interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.processes import read_ready_line, stop
from tests.local_host.conftest import unique_hub

REPO = Path(__file__).resolve().parents[2]
APP = "tests.local_host.app:app"


@pytest.fixture
def cli_env(azurite: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AzureWebJobsStorage": azurite,
        "TASK_HUB_NAME": unique_hub(),
        "LOCAL_HOST_TEST_LOG": str(tmp_path / "activities.log"),
        "LOCAL_HOST_TEST_TICK": "0 0 0 1 1 *",
        "LOCAL_HOST_FUNCTION_KEY": "test-key",
        "PYTHONUNBUFFERED": "1",
    }


def cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "local_host", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def test_run_prints_the_final_status_and_exits_0_when_completed(cli_env: dict[str, str]) -> None:
    done = cli("run", "chain", "--app", APP, "--input", '{"city": "Oslo"}',
               "--instance-id", "cli-1", env=cli_env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout.strip().splitlines()[-1])
    assert status["instanceId"] == "cli-1" and status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Oslo", "HELLO OSLO!"]
    assert 'progress: {"done": 1, "total": 2}' in done.stderr  # not a terminal: plain lines

    listed = cli("status", "--app", APP, env=cli_env)
    assert [json.loads(line)["instanceId"] for line in listed.stdout.splitlines()] == ["cli-1"]
    shown = cli("status", "cli-1", "--app", APP, env=cli_env)
    assert json.loads(shown.stdout)["output"] == ["Hello Oslo", "HELLO OSLO!"]


def test_run_exits_1_when_the_orchestration_fails(cli_env: dict[str, str]) -> None:
    done = cli("run", "uncaught_failure", "--app", APP, env=cli_env)
    assert done.returncode == 1
    assert json.loads(done.stdout.strip().splitlines()[-1])["runtimeStatus"] == "Failed"


def test_failing_startup_check_prints_one_line_and_exits_2(cli_env: dict[str, str]) -> None:
    for command in (["run", "chain"], ["start", "--port", "0"]):
        done = cli(*command, "--app", "tests.local_host.broken_app:app", env=cli_env)
        assert done.returncode == 2
        assert done.stderr.strip() == "required setting BC_TENANT_ID is not set (see README)"
        assert done.stdout == ""


@pytest.fixture
def served_process(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    processes: list[subprocess.Popen[str]] = []

    def start() -> tuple[subprocess.Popen[str], str]:
        log = open(tmp_path / f"host-{len(processes)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "local_host", "start", "--port", "0", "--app", APP],
            cwd=REPO, env=cli_env, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
        processes.append(process)
        ready = read_ready_line(process, timeout_s=60)
        assert ready is not None, "the host did not print its ready line"
        assert ready["function_key"] == "test-key"
        return process, ready["url"]

    yield start
    for process in processes:
        stop(process, timeout_s=20)


def test_killed_host_resumes_without_rerunning_completed_activities(
    served_process: Any, cli_env: dict[str, str]
) -> None:
    log_path = Path(cli_env["LOCAL_HOST_TEST_LOG"])
    first, url = served_process()
    webhooks = f"{url}/runtime/webhooks/durabletask"
    settings = {"n": 8, "activity": "logged_step", "sleep": 0.25}
    started = httpx.post(f"{webhooks}/orchestrators/sequence/kill-1", params={"code": "test-key"},
                         json=settings, timeout=30)  # fmt: skip
    assert started.status_code == 202

    deadline = time.monotonic() + 60
    while True:  # kill while the fourth activity is running
        lines = log_path.read_text().splitlines() if log_path.exists() else []
        if "start 3" in lines:
            break
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert "end 3" not in log_path.read_text().splitlines()

    second, url = served_process()
    deadline = time.monotonic() + 60
    while True:
        status = httpx.get(f"{url}/runtime/webhooks/durabletask/instances/kill-1",
                           params={"code": "test-key"}, timeout=30).json()  # fmt: skip
        if status["runtimeStatus"] not in ("Pending", "Running"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == sum(range(8))

    counts = Counter(log_path.read_text().splitlines())
    assert all(counts[f"end {i}"] == 1 for i in range(8)), counts
    assert [i for i in range(8) if counts[f"start {i}"] != 1] == [3], counts


def test_run_with_input_that_is_not_json_prints_one_line_and_exits_2(
    cli_env: dict[str, str],
) -> None:
    done = cli("run", "chain", "--app", APP, "--input", "{city: Oslo}", env=cli_env)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("--input is not valid JSON: "), done.stderr
    listed = cli("status", "--app", APP, env=cli_env)
    assert listed.stdout == ""  # nothing was started
