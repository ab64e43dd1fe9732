"""A full cycle under faults on every service and tokens expiring mid-run, in-process.

An actuals load (which first runs a full reference sync as its sub-orchestration, fixing the
sandbox's drift with three list imports) and a plan writeback, with the issue's fault mix on BC,
Entra, Key Vault, Anaplan auth and the Integration API at once, answers lost after the server
acted (``drop`` on two task starts, the export start and two journal ``$batch`` POSTs), and the
sandbox clock moved past both token lifetimes while the load reads BC and again while the
writeback's export runs. The proof comes from the services, not from the connector: Anaplan's
cells equal BC's trial balance to the cent, BC's draft lines equal Anaplan's approved budget to
the cent, no journal key is in BC twice, and the sandbox's task log shows one task per action.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from bc_anaplan.periods import Period
from tests.e2e.test_load_flows import assert_reconciled
from tests.reliability.harness import (
    BC_BATCH,
    EXPORT_APPROVED_BUDGET,
    EXPORT_START,
    FAULTS,
    IMPORT_GL_ACTUALS,
    TASK_START,
    Trigger,
    add_rules,
    advance_clock,
    assert_no_duplicate_lines,
    budget_by_account,
    clear_faults,
    journal_rows,
    lines_by_account,
    set_faults,
    statuses,
    tasks_per_action,
)
from tests.support.connector import ConnectorUnderTest, connector
from tests.support.processes import running_sandbox

VERSION = "Budget FY27"
BUDGET_ROWS = 1_000  # two write chunks of 500 lines


@pytest.fixture(scope="module")
def app(azurite: str) -> Iterator[ConnectorUnderTest]:
    with running_sandbox("--scale", "small", "--fast") as info, connector(info, azurite) as c:
        yield c


def running(c: ConnectorUnderTest, run_id: str) -> bool:
    run = c.rt.audit.get_run(run_id)
    return run is not None and run["state"] == "running"


def drop(service: str, route: str, count: int = 1) -> dict[str, object]:
    return {"service": service, "kind": "drop", "method": "POST", "route": route, "count": count}


def test_full_cycle_under_faults_and_token_expiry_ends_reconciled(
    app: ConnectorUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, audit = app.sandbox, app.rt.audit
    actuals_id = f"actuals-{uuid.uuid4().hex[:6]}"
    writeback_id = f"writeback-{uuid.uuid4().hex[:6]}"
    expired: list[tuple[str, bool]] = []

    def expire_tokens(run_id: str) -> None:
        expired.append((run_id, running(app, run_id)))
        advance_clock(sandbox)

    def periods_read() -> bool:
        steps = audit.steps(actuals_id) if audit.get_run(actuals_id) else []
        return any(s["step_id"].startswith("read:") for s in steps)

    def export_started() -> bool:
        return tasks_per_action(sandbox)[EXPORT_APPROVED_BUDGET] > 0

    set_faults(sandbox, FAULTS)
    try:
        # the answer to the first list import's start is lost; then, once BC is being read,
        # the tokens expire and the answer to the actuals import's start is lost too
        add_rules(sandbox, drop("anaplan_api", TASK_START))

        def midway() -> None:
            expire_tokens(actuals_id)
            add_rules(sandbox, drop("anaplan_api", TASK_START))

        with Trigger("expiry", periods_read, midway) as trigger:
            actuals = app.run("actuals_load", {"trigger": "cli"}, actuals_id, timeout_s=300)
        trigger.check()
        sandbox.post(
            "anaplan_api", "/_sandbox/anaplan/budget", {"version": VERSION, "rows": BUDGET_ROWS}
        )
        sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})
        add_rules(sandbox, drop("anaplan_api", EXPORT_START), drop("bc", BC_BATCH, count=2))
        with Trigger("expiry", export_started, lambda: expire_tokens(writeback_id)) as trigger:
            written = app.run(
                "plan_writeback", {"version": VERSION, "trigger": "cli"}, writeback_id, 300
            )
        trigger.check()
    finally:
        clear_faults(sandbox)

    assert expired == [(actuals_id, True), (writeback_id, True)]
    assert actuals["state"] == "succeeded", actuals
    summary = actuals["summary"]
    assert len(summary["periods"]) == 24
    reference = audit.get_run(f"{actuals_id}:reference")
    assert reference is not None and reference["state"] == "succeeded"
    assert sum(entry["rows_sent"] > 0 for entry in reference["summary"]["lists"]) == 3
    assert written["state"] == "succeeded", written

    # Anaplan holds BC's actuals, to the cent, for every month
    assert_reconciled(app, [Period.parse(p) for p in summary["periods"]])

    # BC holds the approved budget as draft lines, each once, to the cent per account
    lines = journal_rows(app.rt.bc())
    assert_no_duplicate_lines(lines)
    assert len(lines) == written["summary"]["validation"]["valid_lines"] == BUDGET_ROWS
    assert lines_by_account(lines) == budget_by_account(app, VERSION)
    assert written["summary"]["written"]["reconciliation"]["matches"]

    # one task per action, although three task starts lost their answers
    lost = [r.getMessage() for r in caplog.records if "answer lost; adopted task" in r.getMessage()]
    assert any("'Import GL Actuals'" in m for m in lost) and len(lost) == 3, lost
    assert any("re-reading the batch to reconcile" in r.getMessage() for r in caplog.records)
    tasks = tasks_per_action(sandbox)
    assert tasks[IMPORT_GL_ACTUALS] == 1 and tasks[EXPORT_APPROVED_BUDGET] == 1
    assert len(tasks) == 5 and all(n == 1 for n in tasks.values()), tasks

    # the faults and the token expiry really happened, on both sides
    for service in ("bc", "anaplan_api"):
        seen = statuses(sandbox, service)
        assert seen[429] and seen[401] and seen[503] + seen[0], (service, seen)
