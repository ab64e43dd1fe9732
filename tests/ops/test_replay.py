"""Replay and reconciliation through the ops API, against the sandbox, through the real flows.

One connector for the module (tests run in order and build on each other's state): a first load
of every period; history before the model's first month whose entries are quarantined while the
opening balances are computed, next to entries posted in 2999 (beyond the planning horizon); a
replay that recomputes the opening balances and says what it cannot send; and a load whose BC
figures change between reading the entries and reading BC's trial balance (a slowed request
of the sandbox), which must fail as a reconciliation mismatch, be announced, and be repaired by
its replay. What reached Anaplan is read through the sandbox's inspection endpoints and compared
with BC's own trial balance.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest

from bc_anaplan.bc import streams
from bc_anaplan.bc.cursor import Cursor
from bc_anaplan.periods import Period
from tests.e2e.test_load_flows import assert_reconciled
from tests.ops.conftest import OpsApp

TRIAL_BALANCES = "/v2.0/{tenant}/{environment}/api/v2.0/companies({id})/trialBalances"
GL_ENTRIES = "/v2.0/{tenant}/{environment}/api/v2.0/companies({id})/generalLedgerEntries"
BALANCE_SHEET = ("Assets", "Liabilities", "Equity")


def path(run_id: str) -> str:
    return f"/api/runs/{quote(run_id, safe='')}"


def refused(ops: OpsApp, run_id: str, code: str) -> str:
    """POST replay, expect a 409 with ``code``; nothing may have started. The message."""
    before = ops.instances()
    answer = ops.call("POST", f"{path(run_id)}/replay", json={})
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == code, error
    assert ops.instances() == before
    return str(error["message"])


def test_runs_that_left_nothing_out_are_not_replayed(ops: OpsApp) -> None:
    aligned = ops.run("reference_sync")["run"]
    assert aligned["state"] == "succeeded"
    message = refused(ops, aligned["run_id"], "NothingToReplay")
    assert "left nothing out" in message and "no quarantined or rejected records" in message
    loaded = ops.run("actuals_load", {"mode": "incremental"})["run"]
    assert loaded["state"] == "succeeded" and len(loaded["summary"]["periods"]) == 24
    assert "left nothing out" in refused(ops, loaded["run_id"], "NothingToReplay")


def cost_center_posted_in(ops: OpsApp, first: date, last: date) -> str:
    """The cost center most entries posted in ``first..last`` carry."""
    window = Cursor(posting_from=first, posting_to=last)
    used = Counter(
        e.dimension("COSTCENTER")
        for e in streams.iter_gl_entries(ops.c.rt.bc(), window.open())
        if e.dimension("COSTCENTER")
    )
    assert used, "the posted entries carry cost centers"
    return used.most_common(1)[0][0]


def rename_into_a_taken_name(ops: OpsApp, code: str, new_code: str) -> None:
    """BC renames ``code`` to ``new_code`` while Anaplan already has a member named like it:
    the reference sync cannot add it, so every entry read with it is quarantined."""
    client = ops.c.rt.anaplan()
    action = client.find_import("Import Cost Centers")
    client.upload(
        action,
        [[f"X{new_code[-3:]}", f"{new_code} Night Shift", "false", "false"]],
        header=["Code", "Name", "Blocked", "Deleted in BC"],
    )
    task = client.start_task(action).task_id
    assert client.wait_for_task(action, task, sleep=lambda s: time.sleep(0.2)).succeeded
    ops.c.sandbox.post(
        "bc",
        "/_sandbox/bc/dimension-values",
        {
            "action": "rename",
            "dimension": "COSTCENTER",
            "code": code,
            "newCode": new_code,
            "name": "Night Shift",
        },
    )


def quarantined_by_label(ops: OpsApp, run_id: str) -> Counter[str]:
    return Counter(r.period for r in ops.c.rt.audit.records(run_id, "quarantined"))


def test_opening_balance_quarantines_replay_and_beyond_horizon_ones_are_reported(
    ops: OpsApp,
) -> None:
    ops.c.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 40, "period": "2024-12"})
    code = cost_center_posted_in(ops, date(2024, 12, 1), date(2024, 12, 31))
    rename_into_a_taken_name(ops, code, "CC995")
    ops.c.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 4, "period": "2999-01"})
    shown = ops.run("actuals_load", {"mode": "incremental"})
    run = shown["run"]
    summary = run["summary"]
    assert run["state"] == "partially_succeeded", run
    assert summary["opening_before"] == "2025-01" and summary["beyond_horizon"]
    assert len(summary["periods"]) + len(summary["closing_periods"]) == 24
    labels = quarantined_by_label(ops, run["run_id"])
    assert labels["opening-balance"] and labels["beyond-horizon"] == 4
    months = sorted(set(labels) - {"opening-balance", "beyond-horizon"})  # re-read, if any
    left_out = [r for r in ops.c.rt.audit.records(run["run_id"], "quarantined")]
    assert all(
        r.data["posting_date"].startswith("2999-01")
        for r in left_out
        if r.period == "beyond-horizon"
    )
    # the opening balances lack the quarantined history: BC's balances are not what Anaplan holds
    categories = {a.number: a.category for a in streams.iter_accounts(ops.c.rt.bc())}
    missing: dict[str, Decimal] = {}
    for record in left_out:
        if record.period == "opening-balance":
            account = record.data["account"]
            missing[account] = missing.get(account, Decimal(0)) + Decimal(record.data["amount"])
    assert any(v and categories[a] in BALANCE_SHEET for a, v in missing.items()), missing
    with pytest.raises(AssertionError, match="closing"):
        assert_reconciled(ops.c, [Period(2025, 1)])

    # the cause is fixed in BC; the replay recomputes the opening balances, reports the rest
    ops.c.sandbox.post(
        "bc",
        "/_sandbox/bc/dimension-values",
        {"action": "rename", "dimension": "COSTCENTER", "code": "CC995", "name": "Night Team"},
    )
    replay = ops.ok("POST", f"{path(run['run_id'])}/replay", 202, json={})
    assert replay["replayOf"] == run["run_id"] and "opening balances" in replay["scope"]
    [beyond] = replay["notReplayed"]
    assert beyond["records"] == 4 and "beyond the planning horizon" in beyond["what"]
    assert "2999-01" in beyond["what"] and "reverse" in beyond["action"]
    assert ops.wait(replay["id"]).runtime_status == "Completed"
    replayed = ops.c.rt.audit.get_run(f"{replay['id']}:actuals_load")
    assert replayed is not None and replayed["state"] == "succeeded", replayed
    assert replayed["input"]["opening"] is True and replayed["input"]["periods"] == months
    assert replayed["input"]["not_replayed"] == replay["notReplayed"]  # on the record, too
    assert replayed["summary"]["opening_before"] == "2025-01"
    assert len(replayed["summary"]["periods"] + replayed["summary"]["closing_periods"]) == 24
    assert_reconciled(ops.c, [Period(2025, 1), Period(2025, 7), Period(2026, 12)])

    # a run whose only left-out entries lie beyond the horizon: nothing a replay can send
    ops.c.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 2, "period": "2999-02"})
    later = ops.run("actuals_load", {"mode": "incremental"})["run"]
    assert later["state"] == "partially_succeeded"
    assert set(quarantined_by_label(ops, later["run_id"])) == {"beyond-horizon"}
    message = refused(ops, later["run_id"], "NotReplayable")
    assert "6 G/L entries posted beyond the planning horizon" in message
    assert "reverse each entry" in message and "incremental" in message


def entries_read(ops: OpsApp) -> int:
    return sum(
        r["count"]
        for r in ops.c.sandbox.requests("bc")
        if r["method"] == "GET" and r["route"] == GL_ENTRIES
    )


def test_a_load_that_does_not_reconcile_fails_is_announced_and_its_replay_repairs_it(
    ops: OpsApp,
) -> None:
    # BC answers the trial balance 6 s late; the entries it counts are posted in between
    faults: dict[str, Any] = {"spec": "bc:slow_s=6"}
    ops.c.sandbox.post("bc", "/_sandbox/faults", faults)
    rule = {"service": "bc", "kind": "slow", "method": "GET", "route": TRIAL_BALANCES}
    ops.c.sandbox.post("bc", "/_sandbox/faults", {"rules": [rule]})
    try:
        before = entries_read(ops)
        instance = ops.start("actuals_load", {"mode": "period", "periods": ["2025-06"]})
        deadline = time.monotonic() + 60
        while entries_read(ops) == before:
            assert time.monotonic() < deadline, "the load never read its entries"
            time.sleep(0.05)
        ops.c.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 6, "period": "2025-06"})
        assert ops.wait(instance).runtime_status == "Completed"
    finally:
        ops.c.sandbox.post("bc", "/_sandbox/faults", {"clear": True})
    run = ops.ok("GET", path(instance))["run"]
    assert run["state"] == "failed", run
    assert run["error"].startswith("reconciliation mismatch: 2025-06 (BC's trial balance differs")
    assert run["summary"]["reconciliation_mismatch"]["periods"] == ["2025-06"]
    [announced] = ops.receiver.about(instance)
    assert "actuals_load failed" in announced["title"]
    assert "reconciliation mismatch" in announced["text"]
    listed = ops.ok("GET", "/api/runs", params={"state": "failed", "flow": "actuals_load"})
    assert listed["runs"][0]["run_id"] == instance

    replay = ops.ok("POST", f"{path(instance)}/replay", 202, json={})
    assert "re-reading 2025-06" in replay["scope"] and replay["notReplayed"] == []
    assert ops.wait(replay["id"]).runtime_status == "Completed"
    replayed = ops.c.rt.audit.get_run(f"{replay['id']}:actuals_load")
    assert replayed is not None and replayed["state"] == "succeeded", replayed
    assert replayed["summary"]["periods"] == ["2025-06"]
    [june] = replayed["summary"]["reconciliation"]
    assert june["trial_balance"]["matches"] and june["balanced"]
    assert_reconciled(ops.c, [Period(2025, 6), Period(2026, 12)])
    assert ops.receiver.about(replayed["run_id"]) == []  # succeeded: no message


def test_a_commitments_replay_recomputes_although_no_purchase_order_changed(
    ops: OpsApp,
) -> None:
    client = ops.c.rt.anaplan()
    action = client.find_import("Import Cost Centers")
    client.upload(
        action,
        [["X996", "CC996 Night Shift", "false", "false"]],
        header=["Code", "Name", "Blocked", "Deleted in BC"],
    )
    task = client.start_task(action).task_id
    assert client.wait_for_task(action, task, sleep=lambda s: time.sleep(0.2)).succeeded
    value = {"dimension": "COSTCENTER", "code": "CC996"}
    ops.c.sandbox.post(
        "bc", "/_sandbox/bc/dimension-values", {"action": "create", "name": "Night Shift", **value}
    )
    assert ops.run("reference_sync")["run"]["state"] == "partially_succeeded"  # CC996 refused
    line = {
        "accountNumber": "51010",
        "quantity": 2,
        "directUnitCost": 50,
        "expectedReceiptDate": "2027-03-15",
    }
    order = ops.c.sandbox.post(
        "bc",
        "/_sandbox/bc/purchase-orders",
        {
            "action": "create",
            "status": "Open",
            "department": "PROD",
            "costCenter": "CC996",
            "lines": [line],
        },
    )
    loaded = ops.c.run("commitments_load", {"trigger": "cli"})
    assert loaded["state"] == "partially_succeeded", loaded
    mine = [
        r
        for r in ops.c.rt.audit.records(loaded["run_id"], "quarantined")
        if r.key.startswith(f"po:{order['number']}:")
    ]
    assert [r.reason for r in mine] == ["COSTCENTER value CC996 has no Anaplan member"]
    # the cause is fixed (the member can be added now); no purchase order changes
    ops.c.sandbox.post(
        "bc", "/_sandbox/bc/dimension-values", {"action": "rename", "name": "Night Team", **value}
    )
    assert ops.run("reference_sync")["run"]["state"] == "succeeded"
    replay = ops.ok("POST", f"{path(loaded['run_id'])}/replay", 202, json={})
    assert "poll mark is forgotten" in replay["scope"]
    assert ops.wait(replay["id"]).runtime_status == "Completed"
    replayed = ops.c.rt.audit.get_run(f"{replay['id']}:commitments_load")
    assert replayed is not None and replayed["state"] != "unchanged", replayed
    left = {r.key for r in ops.c.rt.audit.records(replayed["run_id"], "quarantined")}
    assert not any(key.startswith(f"po:{order['number']}:") for key in left)
    cells = ops.c.sandbox.cells("Commitments", **{"GL Accounts": "51010", "Time": "Mar 27"})
    placed = [c for c in cells if c["dimensions"]["Cost Centers"].startswith("CC996")]
    assert sum(Decimal(str(c["value"])) for c in placed) == Decimal(100), cells
