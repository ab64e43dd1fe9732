"""The load flows under concurrency, a killed host, and faults on both sides."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bc_anaplan.periods import Period
from bc_anaplan.runtime import environment
from tests.e2e.test_load_flows import assert_reconciled
from tests.reliability.harness import tasks_per_action
from tests.support.connector import (
    ConnectorUnderTest,
    Sandbox,
    connector,
    connector_environment,
)
from tests.support.processes import REPO_ROOT, running_sandbox

# the sandbox's action ids (sandbox/README.md, "Actions"): the lists the seeded drift touches
# (Cost Centers, Product Lines, GL Accounts) and the actuals
LIST_IMPORTS = ("112000000001", "112000000003", "112000000004")
IMPORT_GL_ACTUALS = "112000000006"


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


SYNCED_LISTS = ("Departments", "Cost Centers", "Product Lines", "GL Accounts")


def anaplan_figures(sandbox: Sandbox) -> tuple[list[Any], dict[str, list[Any]]]:
    """Every GL Actuals cell (both line items, exact values) and every member of the lists the
    load aligns, as Anaplan holds them: what two loads of the same data must agree on."""
    cells = sorted(
        (tuple(sorted(c["dimensions"].items())), c["lineItem"], Decimal(str(c["value"])))
        for c in sandbox.cells("GL Actuals")
    )
    lists = {
        name: sorted(json.dumps(m, sort_keys=True) for m in sandbox.members(name))
        for name in SYNCED_LISTS
    }
    return cells, lists


def test_a_host_killed_mid_load_resumes_with_the_cells_of_an_uninterrupted_load(
    azurite: str,
) -> None:
    """A first load (reference alignment with the seeded drift, then every period) run by
    ``python -m local_host run`` is SIGKILLed once some periods were read, and resumed by another
    host on the same task hub. Then the sandbox's model is reset to its seed and the same load
    runs uninterrupted on a fresh task hub: the two leave exactly the same cells and list
    members in Anaplan, and each ran every import action (list and module) exactly once."""
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
        sandbox = Sandbox(info)
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
            assert 6 <= sum(s.startswith("read:") for s in steps_before) < 24, steps_before
            killed_tasks = tasks_per_action(sandbox)
            assert killed_tasks[IMPORT_GL_ACTUALS] == 0  # killed before the import started

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
            resumed_tasks = tasks_per_action(sandbox)
            resumed_figures = anaplan_figures(sandbox)
            checker = ConnectorUnderTest(None, runtime, sandbox, env)
            assert_reconciled(checker, [Period(2025, 1), Period(2025, 12), Period(2026, 12)])

        # the same load, uninterrupted, from the same BC data onto the seeded model
        sandbox.post("anaplan_api", "/_sandbox/anaplan/reset")
        assert not sandbox.cells("GL Actuals")
        with connector(info, azurite) as clean:
            result = clean.run("actuals_load", {"mode": "incremental", "trigger": "cli"})
            assert result["state"] == "succeeded", result
        clean_tasks = tasks_per_action(sandbox)
        # every action -- the list imports of the reference alignment and the actuals
        # import -- ran exactly once in each run, and the same actions ran
        assert set(clean_tasks.values()) == {1}, clean_tasks
        assert resumed_tasks == clean_tasks
        assert {IMPORT_GL_ACTUALS, *LIST_IMPORTS} <= set(clean_tasks)
        cells, lists = anaplan_figures(sandbox)
        assert len(cells) > 1000
        assert resumed_figures[1] == lists
        assert resumed_figures[0] == cells  # every cell, to the exact value


def test_faults_on_both_sides_still_end_reconciled(azurite: str) -> None:
    faults = "bc:429=0.08,503=0.03,reset=0.02;anaplan_api:429=0.08,503=0.02,reset=0.01"
    sandbox = running_sandbox("--scale", "small", "--fast", "--faults", faults)
    with sandbox as info, connector(info, azurite) as c:
        result: dict[str, Any] = c.run("actuals_load", {"trigger": "cli"}, timeout_s=600)
        assert result["state"] == "succeeded", result
        assert_reconciled(c, [Period(2025, 1), Period(2025, 7), Period(2026, 12)])
        hits = [r for r in c.sandbox.requests("bc") if r["status"] in (429, 503, 0)]
        assert hits, "the fault injector never fired"
