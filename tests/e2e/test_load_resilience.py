"""The load flows under concurrency, a killed host, and faults on both sides."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bc_anaplan.periods import Period
from bc_anaplan.runtime import environment
from tests.e2e.test_load_flows import assert_reconciled
from tests.support.connector import (
    ConnectorUnderTest,
    Sandbox,
    connector,
    connector_environment,
)
from tests.support.processes import REPO_ROOT, running_sandbox


@pytest.fixture(scope="module")
def app(azurite: str) -> Iterator[ConnectorUnderTest]:
    with running_sandbox("--scale", "small", "--fast") as info, connector(info, azurite) as c:
        yield c


def test_concurrent_loads_on_one_model_never_overlap_their_tasks(app: ConnectorUnderTest) -> None:
    app.run("reference_sync")
    first = app.host.start_new(
        "actuals_load", {"mode": "period", "periods": ["2025-05"]}, instance_id="concurrent-a"
    )
    second = app.host.start_new(
        "actuals_load", {"mode": "period", "periods": ["2025-06"]}, instance_id="concurrent-b"
    )
    for iid in (first, second):
        assert app.host.wait_for(iid, timeout_s=180).runtime_status == "Completed"
    client = app.rt.anaplan()
    action = client.find_import("Import GL Actuals")
    created = sorted(t.creation_time_ms for t in client.list_tasks(action) if t.creation_time_ms)
    finished = {t["taskId"]: t["finishedMs"] for t in app.sandbox.tasks()}
    tasks = sorted((t.creation_time_ms, finished[t.task_id]) for t in client.list_tasks(action))
    assert len(created) == 2
    # the second task was only created after the first had finished: the model lock held
    assert tasks[1][0] >= tasks[0][1]


def test_a_host_killed_mid_load_resumes_without_running_a_task_twice(azurite: str) -> None:
    with running_sandbox("--scale", "20000", "--fast") as info:
        hub = "kill" + uuid.uuid4().hex[:10]
        env = connector_environment(info, azurite, hub)
        instance = "actuals-killed"
        cmd = [
            sys.executable,
            "-m",
            "local_host",
            "run",
            "actuals_load",
            "--input",
            json.dumps({"mode": "incremental", "trigger": "cli"}),
            "--instance-id",
            instance,
            "--timeout",
            "300",
        ]
        with environment(env) as runtime:
            host = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:  # kill once some periods were read
                    steps = runtime.audit.steps(instance) if runtime.audit.get_run(instance) else []
                    if sum(s["step_id"].startswith("read:") for s in steps) >= 6:
                        break
                    time.sleep(0.05)
                host.send_signal(signal.SIGKILL)
                host.wait(timeout=30)
            finally:
                if host.poll() is None:
                    host.kill()
            steps_before = {s["step_id"] for s in runtime.audit.steps(instance)}
            assert (
                6 <= sum(s.startswith("read:") for s in steps_before) < 24
                or "assemble" in steps_before
            )

            import function_app
            from local_host import LocalHost, SkippingClock

            with LocalHost(
                function_app.app,
                connection_string=azurite,
                task_hub=hub,
                clock=SkippingClock(),
                env=env,
            ) as resumed:
                status = resumed.wait_for(instance, timeout_s=300)
            assert status.runtime_status == "Completed", status.output
            assert status.output["state"] == "succeeded"
            client = runtime.anaplan()
            imports = client.list_tasks(client.find_import("Import GL Actuals"))
            assert len(imports) == 1  # the import ran exactly once
            checker = ConnectorUnderTest(None, runtime, Sandbox(info), env)
            assert_reconciled(checker, [Period(2025, 1), Period(2025, 12), Period(2026, 12)])


def test_faults_on_both_sides_still_end_reconciled(azurite: str) -> None:
    faults = "bc:429=0.08,503=0.03,reset=0.02;anaplan_api:429=0.08,503=0.02,reset=0.01"
    sandbox = running_sandbox("--scale", "small", "--fast", "--faults", faults)
    with sandbox as info, connector(info, azurite) as c:
        result: dict[str, Any] = c.run("actuals_load", {"trigger": "cli"}, timeout_s=600)
        assert result["state"] == "succeeded", result
        assert_reconciled(c, [Period(2025, 1), Period(2025, 7), Period(2026, 12)])
        hits = [r for r in c.sandbox.requests("bc") if r["status"] in (429, 503, 0)]
        assert hits, "the fault injector never fired"
