"""What Anaplan can say back: rows rejected, or a model archived (422) in the middle of things.

One sandbox for the module, in order: the model is archived while the first load reads BC (the
run stops before anything is committed, and loads once the model is back); an import with bad
rows ends ``partially_succeeded`` with every row Anaplan rejected in the audit trail, each one
matching the row that was uploaded; a writeback against an archived model stops before BC is
touched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bc_anaplan.periods import Period
from tests.e2e.test_load_flows import assert_reconciled
from tests.reliability.harness import IMPORT_GL_ACTUALS, Trigger, run_to_end, tasks_per_action
from tests.support.connector import ConnectorUnderTest, connector
from tests.support.processes import running_sandbox

ARCHIVED = "Model archived"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@pytest.fixture(scope="module")
def app(azurite: str) -> Iterator[ConnectorUnderTest]:
    with running_sandbox("--scale", "small", "--fast") as info, connector(info, azurite) as c:
        yield c


def assert_lock_released(c: ConnectorUnderTest) -> None:
    key = f"{c.env['ANAPLAN_WORKSPACE_ID']}:{c.env['ANAPLAN_MODEL_ID']}"
    deadline = time.monotonic() + 30
    state: Any = None
    while time.monotonic() < deadline:
        _, state = c.host.read_entity_state("ModelLock", key)
        if not state or state.get("holder") is None:
            return
        time.sleep(0.1)
    raise AssertionError(f"the model lock is still held: {state}")


def set_model_state(c: ConnectorUnderTest, state: str) -> None:
    c.sandbox.post("anaplan_api", f"/_sandbox/anaplan/{state}")


def test_a_model_archived_while_bc_is_read_stops_the_load_before_anything_commits(
    app: ConnectorUnderTest,
) -> None:
    iid = "archived-load"

    def reading() -> bool:
        steps = app.rt.audit.steps(iid) if app.rt.audit.get_run(iid) else []
        return any(s["step_id"].startswith("read:") for s in steps)

    with Trigger("archive", reading, lambda: set_model_state(app, "archive")) as trigger:
        app.host.start_new("actuals_load", {"trigger": "cli"}, instance_id=iid)
        status = app.host.wait_for(iid, timeout_s=180)
    trigger.check()
    try:
        run = app.rt.audit.get_run(iid)
        assert status.runtime_status == "Failed" and run is not None and run["state"] == "failed"
        assert ARCHIVED in run["error"] and "422" in run["error"], run["error"][:400]
        assert tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS] == 0
        assert app.rt.cursors.get("fpa", "generalLedgerEntries")[0] is None
        assert app.rt.snapshots.loaded_periods("fpa") == []
        assert_lock_released(app)
    finally:
        set_model_state(app, "unlock")
    again = run_to_end(app, "actuals_load", {"trigger": "cli"})
    assert again["state"] == "succeeded", again
    assert_reconciled(app, [Period(2025, 1), Period(2025, 12), Period(2026, 12)])


def test_an_import_with_bad_rows_ends_partially_succeeded_with_every_row_audited(
    app: ConnectorUnderTest,
) -> None:
    # months the model does not have: every row of them is refused, the rest is imported
    for period, count in (("2028-01", 40), ("2028-03", 24), ("2026-12", 10)):
        app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": count, "period": period})
    run = run_to_end(app, "actuals_load", {"mode": "incremental", "trigger": "cli"})
    assert run["state"] == "partially_succeeded", run
    summary = run["output"]["summary"]
    assert summary["committed"] is None  # the cursor waits until Anaplan accepts every row

    rows = app.rt.staging.read(f"fpa/{run['run_id']}/actuals.csv.gz")
    header = next(rows)
    sent = {line: dict(zip(header, row, strict=True)) for line, row in enumerate(rows, start=2)}
    model_months = {f"{m} {y}" for y in (25, 26, 27) for m in MONTHS}  # the sandbox's Time
    refused = {line: row for line, row in sent.items() if row["Time"] not in model_months}
    assert len(refused) > 50 and {r["Time"] for r in refused.values()} >= {"Jan 28", "Mar 28"}

    audited = {int(r.data["line"]): r for r in app.rt.audit.records(run["run_id"], "rejected")}
    assert set(audited) == set(refused), sorted(set(audited) ^ set(refused))[:10]
    for line, record in audited.items():
        assert record.data["values"] == refused[line], line
        assert refused[line]["Time"] in record.reason, record.reason
    assert summary["import"]["rejected"] == len(refused)
    assert summary["import"]["counts"]["failed"] == len(refused)
    assert not any(s["detail"].get("rejected_truncated") for s in app.rt.audit.steps(run["run_id"]))
    assert_reconciled(app, [Period(2026, 12)])  # the rows Anaplan accepted are in


def test_a_writeback_against_an_archived_model_stops_before_bc_is_touched(
    app: ConnectorUnderTest,
) -> None:
    version = "Budget FY27"
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/budget", {"version": version, "rows": 300})
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": version})
    app.sandbox.http.delete(app.sandbox.info["bc"] + "/_sandbox/requests")
    set_model_state(app, "archive")
    try:
        run = run_to_end(app, "plan_writeback", {"version": version, "trigger": "cli"})
        assert run["runtime_status"] == "Failed" and run["state"] == "failed"
        assert ARCHIVED in run["error"], run["error"][:400]
        writes = [r for r in app.sandbox.requests("bc") if r["method"] != "GET"]
        assert writes == [], writes
        assert_lock_released(app)
    finally:
        set_model_state(app, "unlock")
    # once the model is back, the same version is written, once
    written = run_to_end(app, "plan_writeback", {"version": version, "trigger": "cli"})
    assert written["state"] == "succeeded", written
    assert written["output"]["summary"]["written"]["lines_in_bc"] == 300
