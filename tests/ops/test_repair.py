"""Repairing runs through the ops API: notifications of failures, re-runs, replays.

The faults are the sandbox's own (an archived Anaplan model, a blocked BC dimension value), the
notifications go to a real HTTP receiver, and what a replay sent is read from BC's request log,
not from the connector's bookkeeping alone.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import quote

from tests.ops.conftest import OpsApp

VERSION = "Budget FY27"


def path(run_id: str) -> str:
    return f"/api/runs/{quote(run_id, safe='')}"


def archived(ops: OpsApp) -> None:
    ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/archive")


def unlocked(ops: OpsApp) -> None:
    ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/unlock")


def test_a_failed_run_is_announced_and_its_rerun_succeeds_once_fixed(ops: OpsApp) -> None:
    archived(ops)
    try:
        failed = ops.start("reference_sync")
        assert ops.wait(failed).runtime_status == "Failed"
        run = ops.ok("GET", path(failed))["run"]
        assert run["state"] == "failed" and "archived" in run["error"].lower()
        messages = ops.receiver.about(failed)
        assert len(messages) == 1
        message = messages[0]
        assert "reference_sync failed" in message["title"]
        report = f"{ops.url}{path(failed)}/report"
        assert report in message["text"] and "function key" in message["text"]
        assert message["potentialAction"][0]["targets"][0]["uri"] == report
        assert "archived" in message["text"].lower()
        too_soon = ops.ok("POST", f"{path(failed)}/rerun", 202, json={})  # still archived
        assert ops.wait(too_soon["id"]).runtime_status == "Failed"
    finally:
        unlocked(ops)
    rerun = ops.ok("POST", f"{path(failed)}/rerun", 202, json={})
    assert rerun["id"] != failed and rerun["rerunOf"] == failed
    assert ops.wait(rerun["id"]).runtime_status == "Completed"
    again = ops.ok("GET", path(rerun["id"]))["run"]
    assert again["state"] == "succeeded" and again["flow"] == "reference_sync"
    assert again["input"] == {"pipeline": "fpa", "trigger": "ops", "rerun_of": failed}
    assert ops.receiver.about(rerun["id"]) == []  # succeeded: not worth a message


def test_a_failed_sub_run_is_announced_through_its_parent_only(ops: OpsApp) -> None:
    archived(ops)
    try:
        failed = ops.start("actuals_load", {"mode": "incremental"})
        assert ops.wait(failed).runtime_status == "Failed"
    finally:
        unlocked(ops)
    child = ops.c.rt.audit.get_run(f"{failed}:reference")
    assert child is not None and child["state"] == "failed" and child["trigger"] == "parent"
    assert len(ops.receiver.about(failed)) == 1
    assert all(f"{failed}:reference" not in m["text"] for m in ops.receiver.messages)
    # one message per failed run, across everything this module ran so far
    announced = Counter(
        r["run_id"]
        for r in ops.c.rt.audit.list_runs(state="failed")
        if r["trigger"] != "parent"
        for _ in ops.receiver.about(r["run_id"])
    )
    top_level = [r for r in ops.c.rt.audit.list_runs(state="failed") if r["trigger"] != "parent"]
    assert len(top_level) == 3 and all(announced[r["run_id"]] == 1 for r in top_level)
    assert len(ops.receiver.messages) == 3


def budget_cost_centers(ops: OpsApp) -> Counter[str]:
    cells = ops.c.sandbox.cells("Budget", Versions=VERSION)
    return Counter(cell["dimensions"]["Cost Centers"].split(" ", 1)[0] for cell in cells)


def journal_line_posts(ops: OpsApp) -> int:
    return sum(
        r["count"]
        for r in ops.c.sandbox.requests("bc")
        if r["method"] == "POST" and r["route"].endswith("/journalLines")
    )


def test_replay_writes_exactly_the_lines_bc_refused(ops: OpsApp) -> None:
    ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/budget", {"version": VERSION, "rows": 300})
    ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})
    used = budget_cost_centers(ops)
    blocked = min((c for c in used if c != "CC990"), key=lambda c: (used[c], c))
    block = {"dimension": "COSTCENTER", "code": blocked}
    ops.c.sandbox.post("bc", "/_sandbox/bc/dimension-values", {"action": "block", **block})
    ops.receiver.status = 503  # the chat service is down while this run ends
    try:
        original = ops.run("plan_writeback", {"version": VERSION, "policy": "continue"})
    finally:
        ops.receiver.status = 200
        ops.c.sandbox.post("bc", "/_sandbox/bc/dimension-values", {"action": "unblock", **block})
    run_id = original["run"]["run_id"]
    assert original["run"]["state"] == "partially_succeeded"  # the failed message changed nothing
    written = original["run"]["summary"]["written"]
    refused = written["bc_rejected"]
    assert refused == used[blocked] and not written["complete"]
    events = {e.key: e.reason for e in ops.c.rt.audit.records(run_id, "event")}
    assert "notification" not in events and "503" in events["notification-failed"]
    assert "s3cr3t" not in events["notification-failed"]  # the webhook's token stays secret
    assert ops.receiver.about(run_id) == []

    ops.c.sandbox.http.delete(ops.c.sandbox.info["bc"] + "/_sandbox/requests")
    replay = ops.ok("POST", f"{path(run_id)}/replay", 202, json={})
    assert replay["replayOf"] == run_id
    assert ops.wait(replay["id"]).runtime_status == "Completed"
    replayed = ops.c.rt.audit.get_run(f"{replay['id']}:plan_writeback")
    assert replayed is not None and replayed["state"] == "succeeded"
    assert replayed["trigger"] == "replay" and replayed["input"]["replay_of"] == run_id
    assert journal_line_posts(ops) == refused  # BC received exactly the lines it had refused
    steps = ops.c.rt.audit.steps(replayed["run_id"])
    created = sum(s["detail"].get("created", 0) for s in steps if s["step_id"].startswith("write:"))
    assert created == refused
    final = replayed["summary"]["written"]
    assert final["complete"] and final["reconciliation"]["matches"]
    assert final["lines_in_bc"] == original["run"]["summary"]["validation"]["valid_lines"]
    assert "only the refused lines are written" in replay["scope"]
    before = ops.instances()
    nothing = ops.call("POST", f"{path(replayed['run_id'])}/replay", json={})
    assert nothing.status_code == 409, nothing.text  # the replay left nothing out
    error = nothing.json()["error"]
    assert error["code"] == "NothingToReplay" and "left nothing out" in error["message"]
    assert ops.instances() == before
    assert journal_line_posts(ops) == refused
