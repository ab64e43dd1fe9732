"""Retention: old history goes, in batches; the connector's memory and running work stay.

Two clocks make records old, honestly. The Durable history is aged by the host: this module's
local host runs 100 days behind the wall clock, so every instance it creates is 100 days old to
the retention trigger, which reads the wall clock like Azure's does. Audit records are aged by
writing runs that started 100 days ago (with steps, records, staged files and pending
snapshots), as a connector in its fourth month would have them. ``RETENTION_DAYS`` stays at its
default of 90.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from bc_anaplan.audit import AuditRecord, StepRecord, utc_now
from bc_anaplan.flows.writeback import WritebackState
from bc_anaplan.ops.retention import instant
from bc_anaplan.storage import safe_key
from tests.ops.conftest import OpsApp, ops_connector
from tests.ops.test_api import lock_key
from tests.support.processes import REPO_ROOT

AGED_RUNS = 60  # more than one batch of 50


@pytest.fixture(scope="module")
def ops(azurite: str) -> Iterator[OpsApp]:
    from local_host import SkippingClock

    clock = SkippingClock(start=datetime.now(UTC) - timedelta(days=100))
    with ops_connector(azurite, clock=clock) as app:
        yield app


def age(ops: OpsApp, run_id: str, days: float, state: str = "failed", records: int = 1) -> None:
    """A run as it was written ``days`` ago: record, steps, records, files, a pending snapshot."""
    rt = ops.c.rt
    started = instant(datetime.now(UTC) - timedelta(days=days))
    rt.audit.runs.upsert_entity(
        {
            "PartitionKey": "runs",
            "RowKey": safe_key(run_id),
            "Flow": "actuals_load",
            "Trigger": "timer",
            "Pipeline": "fpa",
            "Input": "{}",
            "State": state,
            "StartedAt": started,
            "EndedAt": "" if state == "running" else started,
            "Summary": "{}",
            "Error": "",
        }
    )
    rt.audit.record_step(run_id, StepRecord("read:2025-03", "read", started, 5, {"cells": 1}))
    rt.audit.record(
        run_id,
        [AuditRecord("quarantined", f"e{i}", "no member", {}, "2025-03") for i in range(records)],
    )
    rt.staging.write(f"fpa/{run_id}/actuals.csv.gz", ["a"], [["1"]])
    name = f"fpa/actuals/2025-03/pending/{run_id}.json.gz"
    rt.snapshots.container.upload_blob(name, b"{}", overwrite=True)


def leftovers(ops: OpsApp, run_id: str) -> dict[str, Any]:
    rt = ops.c.rt
    rows = list(rt.audit.rows.query_entities("PartitionKey eq @pk", parameters={"pk": run_id}))
    staged = list(rt.staging.container.list_blobs(name_starts_with=f"fpa/{run_id}/"))
    pending = [
        b.name
        for b in rt.snapshots.container.list_blobs(name_starts_with="fpa/actuals/")
        if b.name.endswith(f"/pending/{run_id}.json.gz")
    ]
    return {"run": rt.audit.get_run(run_id), "rows": rows, "staged": staged, "pending": pending}


def memory(ops: OpsApp) -> dict[str, Any]:
    """What the connector must never forget: snapshots, cursors, mappings, writeback state."""
    rt = ops.c.rt
    return {
        "snapshots": sorted(
            (b.name, b.etag)
            for b in rt.snapshots.container.list_blobs()
            if b.name.endswith("current.json.gz") or "/cursors/" in b.name
        ),
        "cursors": sorted(json.dumps(e, default=str) for e in rt.cursors.table.list_entities()),
        "mappings": {(e["PartitionKey"], e["RowKey"]) for e in rt.mappings.table.list_entities()},
        "writebacks": WritebackState(rt).versions("fpa"),
    }


def test_retention_purges_old_history_in_batches_and_keeps_what_is_needed(ops: OpsApp) -> None:
    loaded = ops.run("actuals_load", {"mode": "incremental"})  # snapshots, cursor, mappings
    assert loaded["run"]["state"] == "succeeded"
    WritebackState(ops.c.rt).update("fpa", "Budget FY27", CurrentRevision="abc", Complete=True)
    recent = loaded["run"]["run_id"]
    aged = [f"actuals:old:{i:03d}@20250801T000000000000Z" for i in range(AGED_RUNS)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda run_id: age(ops, run_id, 100), aged[1:]))
    age(ops, aged[0], 100, records=250)  # more audit rows than one transaction takes
    age(ops, "actuals:stuck@20250801T000000000000Z", 100, state="running")  # never closed
    age(ops, "actuals:young@20261101T000000000000Z", 10)  # younger than 90 days
    old_event = f"{instant(datetime.now(UTC) - timedelta(days=100))}:lock-release"
    ops.c.rt.audit.record("ops", [AuditRecord("event", old_event, "released long ago")])
    ops.c.rt.audit.record("ops", [AuditRecord("event", f"{utc_now()}:lock-release", "today")])
    kept = memory(ops)
    assert kept["snapshots"] and kept["cursors"] and kept["mappings"] and kept["writebacks"]

    # a load that is running (held in Anaplan) while retention runs; time runs at normal speed
    # meanwhile, or the host would skip through the import's polls to its deadline
    ops.c.host.clock.skips_time = False
    ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/hold", {"enabled": True})
    try:
        running = ops.start("employees_load")
        deadline = time.monotonic() + 60
        while ops.c.host.read_entity_state("ModelLock", lock_key(ops))[1]["holder"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        statuses = ops.c.host.list_instances()
        finished = {s.instance_id for s in statuses if s.runtime_status == "Completed"}
        assert recent in finished and running not in finished

        started = ops.ok("POST", "/api/retention", 202, json={})
        assert started["olderThanDays"] == 90
        assert ops.wait(started["id"]).runtime_status == "Completed"
        remaining = {s.instance_id: s.runtime_status for s in ops.c.host.list_instances()}
        assert remaining[running] == "Running" and started["id"] in remaining
        assert not finished & set(remaining), "every finished instance is 100 days old"
        assert ops.c.rt.audit.get_run(running)["state"] == "running"
        now = memory(ops)  # the running load may add mappings, nothing may go
        assert now["mappings"] >= kept.pop("mappings") and now.pop("mappings")
        assert now == kept
    finally:
        ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/hold", {"enabled": False})
        ops.c.host.clock.skips_time = True
    assert ops.wait(running).runtime_status == "Completed"

    retention = ops.c.rt.audit.get_run(started["id"])
    assert retention is not None and retention["state"] == "succeeded"
    counts = retention["summary"]["counts"]
    assert counts["instances_purged"] == len(finished)
    assert counts["runs_purged"] == AGED_RUNS + 1
    assert counts["audit_rows_deleted"] == (AGED_RUNS + 1) * 2 + 249 + 1
    assert counts["staged_files_deleted"] == AGED_RUNS + 1
    assert counts["snapshots_deleted"] == AGED_RUNS + 1
    steps = [s["step_id"] for s in ops.c.rt.audit.steps(started["id"])]
    assert steps.count("runs:0000") == 1 and "runs:0001" in steps  # two batches

    for run_id in [*aged, "actuals:stuck@20250801T000000000000Z"]:
        assert leftovers(ops, run_id) == {"run": None, "rows": [], "staged": [], "pending": []}
    young = leftovers(ops, "actuals:young@20261101T000000000000Z")
    assert young["run"] and len(young["rows"]) == 2 and young["staged"] and young["pending"]
    assert ops.c.rt.audit.get_run(recent)["state"] == "succeeded"  # 100 days old only in Durable
    events = [e.reason for e in ops.c.rt.audit.records("ops", "event")]
    assert "released long ago" not in events and "today" in events

    shown = ops.ok("GET", f"/api/runs/{quote(recent, safe='')}")
    assert shown["runtime"] is None and shown["run"]["state"] == "succeeded"
    report = ops.call("GET", f"/api/runs/{quote(recent, safe='')}/report")
    assert report.status_code == 200 and "not known (history purged?)" in report.text
    listed = ops.ok("GET", "/api/runs", params={"flow": "retention"})
    assert listed["runs"][0]["run_id"] == started["id"]


def test_retention_runs_on_its_timer() -> None:
    """What the Functions host indexes: a timer on the RETENTION_SCHEDULE app setting."""
    script = (
        "import json, function_app\n"
        "for f in function_app.app.get_functions():\n"
        "    if f.get_function_name() == 'retention_timer':\n"
        "        print(json.dumps(json.loads(f.get_function_json())['bindings']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    bindings = {b["type"]: b for b in json.loads(result.stdout)}
    assert bindings["timerTrigger"]["schedule"] == "%RETENTION_SCHEDULE%"
    assert "durableClient" in bindings
