"""Anaplan to BC end to end: approved plans become draft journal lines, exactly once.

A private sandbox for the module; the tests run in order and build on each other (approve,
stop under all-or-nothing, write under continue, rerun unchanged, replace a changed version).
What BC holds is read straight from the journal; what Anaplan holds is read through the
sandbox's inspection endpoints (the Budget module's cells), never from the connector's files.

The export of the approved version carries, besides valid lines, an account BC does not have
(a planner added it in Anaplan), lines on a cost center gone from BC (CC990), and lines on a
cost center BC has *blocked* (CC120). BC API v2.0 shows no ``blocked`` on dimension values, so
the blocked one can only be found when BC refuses the line: under all-or-nothing the unknown
account stops the run before BC is touched; with only the blocked value left, BC is touched and
everything written is rolled back.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bc_anaplan.bc import streams
from bc_anaplan.bc.journal import delete_lines, plan_document_number
from bc_anaplan.bc.records import JournalLine
from bc_anaplan.flows.writeback import WritebackState, plan_version_key
from bc_anaplan.runtime import environment
from tests.reliability.harness import bc_writes, budget_by_account
from tests.support.connector import (
    ConnectorUnderTest,
    Sandbox,
    connector,
    connector_environment,
)
from tests.support.processes import REPO_ROOT, running_sandbox

VERSION = "Budget FY27"
UNKNOWN_ACCOUNT = ("69990", "69990 Planning Reserve")  # in Anaplan only


# BC allows 6,000 requests per 5 minutes per principal; the connector's conservative default
# (600 a minute) would make these tests wait, not test more.
FAST_BC = {"BC_RATE_LIMIT_PER_MINUTE": "3000"}


def with_env(info: dict[str, Any], extra: dict[str, str]) -> dict[str, Any]:
    return {**info, "connector_env": {**info["connector_env"], **extra}}


@pytest.fixture(scope="module")
def app(azurite: str) -> Iterator[ConnectorUnderTest]:
    with (
        running_sandbox("--scale", "small", "--fast") as info,
        connector(with_env(info, FAST_BC), azurite) as c,
    ):
        c.run("reference_sync")
        yield c


def journal(c: ConnectorUnderTest) -> list[JournalLine]:
    """Every line of the PLAN batch as BC lists it (a duplicate would show twice)."""
    bc = c.rt.bc()
    return list(streams.iter_journal_lines(bc, streams.find_journal(bc, "PLAN").id))


def revision_lines(c: ConnectorUnderTest, version: str) -> list[JournalLine]:
    state = WritebackState(c.rt).get("fpa", version)
    document = plan_document_number(plan_version_key(version, state["CurrentRevision"]))
    return [line for line in journal(c) if line.document_number == document]


def run_writeback(c: ConnectorUnderTest, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = c.run(
        "plan_writeback", {"version": VERSION, "trigger": "cli", **extra}
    )
    return result


def test_a_version_that_is_not_approved_is_a_clear_failure(app: ConnectorUnderTest) -> None:
    iid = app.host.start_new("plan_writeback", {"version": VERSION}, instance_id="unapproved")
    status = app.host.wait_for(iid, timeout_s=120)
    assert status.runtime_status == "Failed"
    run = app.rt.audit.get_run("unapproved")
    assert run is not None and run["state"] == "failed"
    assert "no rows of version 'Budget FY27'" in run["error"] and "approved" in run["error"]


def block_cost_center(c: ConnectorUnderTest, code: str, blocked: bool = True) -> None:
    """Finance blocks (or unblocks) a cost center in BC."""
    c.sandbox.post(
        "bc",
        "/_sandbox/bc/dimension-values",
        {"action": "block" if blocked else "unblock", "dimension": "COSTCENTER", "code": code},
    )


def add_unknown_account(c: ConnectorUnderTest, version: str) -> int:
    """A planner adds an account in Anaplan (through the real list import) that BC has never
    had, and budgets three months on it; returns the number of cells."""
    client = c.rt.anaplan()
    action = client.find_import("Import GL Accounts")
    header = ["Code", "Name", "Category", "Account Group", "Blocked", "Deleted in BC"]
    code, name = UNKNOWN_ACCOUNT
    client.upload(
        action, [[code, name, "Expense", "Administration", "false", "false"]], header=header
    )
    handle = client.start_task(action)
    status = client.wait_for_task(action, handle.task_id, sleep=lambda s: time.sleep(min(s, 0.2)))
    assert status.succeeded, status
    template = c.sandbox.cells("Budget", Versions=version, **{"Cost Centers": "CC240"})[:3]
    cells = [
        {
            "GL Accounts": code,
            "Cost Centers": "CC240",
            "Departments": cell["dimensions"]["Departments"].split(" ")[0],
            "Time": cell["dimensions"]["Time"],
            "amount": "1500.00",
        }
        for cell in template
    ]
    c.sandbox.post(
        "anaplan_api", "/_sandbox/anaplan/budget/cells", {"version": version, "cells": cells}
    )
    return len(cells)


def test_all_or_nothing_stops_before_bc_is_touched(app: ConnectorUnderTest) -> None:
    """Unknown account + blocked dimension value: the account stops the run before BC."""
    assert add_unknown_account(app, VERSION) == 3
    block_cost_center(app, "CC120")
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})
    app.sandbox.http.delete(app.sandbox.info["bc"] + "/_sandbox/requests")
    result = run_writeback(app)
    assert result["state"] == "failed"
    assert "nothing was written to BC" in result["summary"]["stopped"]
    assert bc_writes(app.sandbox) == 0 and journal(app) == []
    rejected = list(app.rt.audit.records(result["run_id"], "rejected"))
    unknown = [r for r in rejected if UNKNOWN_ACCOUNT[0] in r.reason]
    assert len(unknown) == 3 and all("no BC account" in r.reason for r in unknown)
    assert all("CC990" in r.reason or r in unknown for r in rejected)
    # the blocked CC120 is not visible through the API: nothing could reject it before BC
    assert not any("CC120" in r.reason for r in rejected)


def test_continue_writes_the_valid_lines_and_reports_the_rest(app: ConnectorUnderTest) -> None:
    """The same export under continue: partially written, every left-out line audited."""
    result = run_writeback(app, policy="continue")
    assert result["state"] == "partially_succeeded"
    written = result["summary"]["written"]
    assert written["bc_rejected"] > 0 and not written["complete"]
    rejected = list(app.rt.audit.records(result["run_id"], "rejected"))
    before_bc = Counter("CC990" in r.reason or UNKNOWN_ACCOUNT[0] in r.reason for r in rejected)
    assert before_bc[True] == result["summary"]["validation"]["invalid_lines"]
    assert sum(UNKNOWN_ACCOUNT[0] in r.reason for r in rejected) == 3
    assert before_bc[False] == written["bc_rejected"]
    by_bc = [r for r in rejected if "CC990" not in r.reason and UNKNOWN_ACCOUNT[0] not in r.reason]
    assert all("blocked" in r.reason.lower() and "CC120" in r.reason for r in by_bc)
    lines = revision_lines(app, VERSION)
    validation = result["summary"]["validation"]
    assert len(lines) == validation["valid_lines"] - written["bc_rejected"]
    assert not any(
        dict((d.code, d.value_code) for d in line.dimensions).get("COSTCENTER") == "CC120"
        for line in lines
    )


def test_all_or_nothing_rolls_back_what_bc_refuses(app: ConnectorUnderTest) -> None:
    """Only the blocked value left: BC is touched, refuses its lines, and all is taken back."""
    version = "Forecast FY27"
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/budget", {"version": version, "rows": 600})
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": version})
    block_cost_center(app, "CC230")  # on 108 of the 600 lines
    try:
        before = len(journal(app))
        result = app.run("plan_writeback", {"version": version, "trigger": "cli"})
    finally:
        block_cost_center(app, "CC230", blocked=False)
    assert result["state"] == "failed", result
    written = result["summary"]["written"]
    assert result["summary"]["validation"]["invalid_lines"] == 0
    assert written["bc_rejected"] == 108
    assert written["rolled_back"]["deleted"] == 600 - 108 and written["rolled_back"]["kept"] == 0
    state = WritebackState(app.rt).get("fpa", version)
    document = plan_document_number(plan_version_key(version, written_revision(result)))
    assert not any(line.document_number == document for line in journal(app))
    assert len(journal(app)) == before  # BC is as it was
    assert state.get("Pending") == "" and not state.get("CurrentRevision")


def written_revision(result: dict[str, Any]) -> str:
    revision: str = result["summary"]["validation"]["revision"]
    return revision


def test_after_the_fix_a_rerun_completes_then_nothing_changes(app: ConnectorUnderTest) -> None:
    block_cost_center(app, "CC120", blocked=False)
    result = run_writeback(app, policy="continue")
    assert result["summary"]["written"]["complete"]
    assert result["summary"]["written"]["reconciliation"]["matches"]
    lines = revision_lines(app, VERSION)
    assert len(lines) == result["summary"]["validation"]["valid_lines"]
    # BC's draft lines, summed by account, equal Anaplan's Budget cells of the version to the
    # cent, less the lines that can never be written (CC990 is gone from BC, 69990 never was)
    bc_totals: dict[str, Decimal] = {}
    for line in lines:
        bc_totals[line.account_number] = (
            bc_totals.get(line.account_number, Decimal(0)) + line.amount
        )
    never_written = {"Cost Centers": {"CC990"}, "GL Accounts": {UNKNOWN_ACCOUNT[0]}}
    in_anaplan = budget_by_account(app, VERSION, excluding=never_written)
    assert {a: t for a, t in bc_totals.items() if t} == in_anaplan
    again = run_writeback(app, policy="continue")
    assert again["state"] == "unchanged"
    assert len(revision_lines(app, VERSION)) == len(lines)


def test_a_changed_version_replaces_only_the_drafts_still_there(app: ConnectorUnderTest) -> None:
    before = revision_lines(app, VERSION)
    removed_by_finance = before[:3]
    delete_lines(app.rt.bc(), removed_by_finance)
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/budget", {"version": VERSION, "rows": 1200})
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})
    result = run_writeback(app)
    assert result["state"] == "succeeded", result
    retired = result["summary"]["written"]["retired_previous"]
    assert retired["removed"] == 3 and retired["posted_rows"] == 0  # deleted, not posted
    assert retired["deleted"] == len(before) - 3 and retired["kept"] == 0
    old_document = {line.document_number for line in before}
    remaining = journal(app)
    assert not any(line.document_number in old_document for line in remaining)
    assert len(revision_lines(app, VERSION)) == 1200 == len(remaining)


def test_ten_thousand_lines_need_at_most_350_bc_requests(app: ConnectorUnderTest) -> None:
    version = "Forecast FY27"
    app.sandbox.post(
        "anaplan_api", "/_sandbox/anaplan/budget", {"version": version, "rows": 10_000}
    )
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": version})
    app.sandbox.http.delete(app.sandbox.info["bc"] + "/_sandbox/requests")
    result = app.run("plan_writeback", {"version": version, "trigger": "cli"})
    assert result["state"] == "succeeded", result
    requests = sum(r["count"] for r in app.sandbox.requests("bc", wire=True))
    assert requests <= 350, requests
    inner = sum(r["count"] for r in app.sandbox.requests("bc")) - requests
    assert inner == 30_000  # 10,000 lines and 20,000 dimension set lines, inside the batches
    lines = revision_lines(app, version)
    assert len(lines) == 10_000
    assert all(len(line.dimensions) == 2 for line in lines)


def test_a_failed_export_never_reaches_bc(app: ConnectorUnderTest) -> None:
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/budget", {"version": VERSION, "rows": 600})
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/hold", {"enabled": True})
    app.sandbox.http.delete(app.sandbox.info["bc"] + "/_sandbox/requests")
    try:
        iid = app.host.start_new(
            "plan_writeback", {"version": VERSION}, instance_id="cancelled-export"
        )
        client = app.rt.anaplan()
        export = client.find_export("Export Approved Budget")
        deadline = time.monotonic() + 60
        running = None
        while running is None and time.monotonic() < deadline:
            running = next(
                (t for t in client.list_tasks(export) if t.state in ("IN_PROGRESS", "NOT_STARTED")),
                None,
            )
            time.sleep(0.1)
        assert running is not None
        client.cancel_task(export, running.task_id)
    finally:
        app.sandbox.post("anaplan_api", "/_sandbox/anaplan/hold", {"enabled": False})
    status = app.host.wait_for(iid, timeout_s=120)
    assert status.runtime_status == "Failed"
    assert bc_writes(app.sandbox) == 0
    run = app.rt.audit.get_run("cancelled-export")
    assert run is not None and "CANCELLED" in run["error"]


def test_an_export_that_ends_unsuccessful_never_reaches_bc(app: ConnectorUnderTest) -> None:
    """The export task ends COMPLETE with successful: false: its file is never used."""
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})
    app.sandbox.post(
        "anaplan_api",
        "/_sandbox/anaplan/fail-tasks",
        {"action": "Export Approved Budget", "count": 1},
    )
    before = journal(app)
    app.sandbox.http.delete(app.sandbox.info["bc"] + "/_sandbox/requests")
    iid = app.host.start_new("plan_writeback", {"version": VERSION}, instance_id="failed-export")
    status = app.host.wait_for(iid, timeout_s=120)
    assert status.runtime_status == "Failed"
    assert app.sandbox.requests("bc") == []  # not even read: validation never ran
    assert journal(app) == before
    run = app.rt.audit.get_run("failed-export")
    assert run is not None and run["state"] == "failed"
    assert "completed without success" in run["error"] and "not handed on" in run["error"]
    tasks = [t for t in app.sandbox.tasks() if t["taskState"] == "COMPLETE"]
    assert tasks[-1]["result"]["successful"] is False


def test_a_host_killed_mid_writeback_resumes_without_duplicates(azurite: str) -> None:
    with running_sandbox("--scale", "small", "--fast") as info:
        hub = "wbkill" + uuid.uuid4().hex[:8]
        env = connector_environment(with_env(info, FAST_BC), azurite, hub)
        with environment(env) as runtime:
            import function_app
            from local_host import LocalHost, SkippingClock

            with LocalHost(
                function_app.app,
                connection_string=azurite,
                task_hub=hub,
                clock=SkippingClock(),
                env=env,
            ) as host:
                host.start_new("reference_sync", {}, instance_id="ref")
                assert host.wait_for("ref", timeout_s=120).runtime_status == "Completed"
            checker = ConnectorUnderTest(None, runtime, Sandbox(info), env)
            checker.sandbox.post(
                "anaplan_api", "/_sandbox/anaplan/budget", {"version": VERSION, "rows": 4000}
            )
            checker.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})
            instance = "writeback-killed"
            cmd = [
                sys.executable,
                "-m",
                "local_host",
                "run",
                "plan_writeback",
                "--input",
                json.dumps({"version": VERSION}),
                "--instance-id",
                instance,
                "--timeout",
                "300",
            ]
            process = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    steps = runtime.audit.steps(instance) if runtime.audit.get_run(instance) else []
                    if sum(s["step_id"].startswith("write:") for s in steps) >= 3:
                        break
                    time.sleep(0.05)
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
            written_before = sum(
                s["step_id"].startswith("write:") for s in runtime.audit.steps(instance)
            )
            assert 3 <= written_before < 8
            with LocalHost(
                function_app.app,
                connection_string=azurite,
                task_hub=hub,
                clock=SkippingClock(),
                env=env,
            ) as resumed:
                status = resumed.wait_for(instance, timeout_s=300)
            assert status.runtime_status == "Completed" and status.output["state"] == "succeeded"
            lines = journal(checker)
            assert len(lines) == 4000
            assert len({line.external_document_number for line in lines}) == 4000


def test_the_ops_endpoint_starts_a_writeback(app: ConnectorUnderTest) -> None:
    door = app.host.serve(port=0)
    url = f"{door.url}/api/writeback"
    with httpx.Client(timeout=60) as http:
        assert http.post(url, json={"version": "Forecast FY27"}).status_code == 401
        bad = http.post(url, json={"version": ""}, headers={"x-functions-key": door.function_key})
        assert bad.status_code == 400 and "version" in bad.json()["error"]["message"]
        odd = http.post(
            url, json={"version": "X", "policy": "yolo"}, params={"code": door.function_key}
        )
        assert odd.status_code == 400 and "policy" in odd.json()["error"]["message"]
        started = http.post(
            url, json={"version": "Forecast FY27"}, headers={"x-functions-key": door.function_key}
        )
        assert started.status_code == 202, started.text
        instance = started.json()["id"]
        assert instance.startswith("writeback:")
        again = http.post(
            url, json={"version": "Forecast FY27"}, headers={"x-functions-key": door.function_key}
        )
        assert again.status_code in (202, 409)
        if again.status_code == 409:
            assert again.json()["error"]["instanceId"] == instance
        status = app.host.wait_for(instance, timeout_s=120)
    assert status.runtime_status == "Completed"
    assert status.output["state"] == "unchanged"  # written by the 10,000-line test already
    run = app.rt.audit.get_run(instance)
    assert run is not None and run["trigger"] == "ops"


def test_the_approval_watch_writes_back_what_was_approved_since(app: ConnectorUnderTest) -> None:
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})
    result = app.run("approval_watch", {"trigger": "timer"})
    assert [entry["version"] for entry in result["written_back"]] == [VERSION]
    assert result["written_back"][0]["state"] in ("succeeded", "unchanged")
    quiet = app.run("approval_watch", {"trigger": "timer"})
    assert quiet["written_back"] == [] and quiet["state"] == "unchanged"
