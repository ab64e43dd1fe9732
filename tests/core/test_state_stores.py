"""Audit trail, cursors and the member mapping against real Table Storage (Azurite)."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest

from bc_anaplan.audit import AuditRecord, AuditTrail, StepRecord
from bc_anaplan.config import StorageSettings
from bc_anaplan.cursors import CursorConflict, CursorStore
from bc_anaplan.mapping import GONE, MAPPED, MISSING, MappingStore, MemberMapping
from bc_anaplan.storage import Storage, safe_key, unsafe_key


@pytest.fixture
def storage(azurite: str) -> Storage:
    hub = "t" + uuid.uuid4().hex[:12]
    return Storage(StorageSettings(connection_string=azurite, account_name=None, task_hub=hub))


def test_keys_with_forbidden_characters_round_trip() -> None:
    for value in ["CC/100", "a\\b", "x#y?z", "50%", "plain"]:
        key = safe_key(value)
        assert not any(c in key for c in "/\\#?")
        assert unsafe_key(key) == value


def test_run_totals_are_the_sum_of_steps_and_retries_do_not_double(storage: Storage) -> None:
    audit = AuditTrail(storage)
    audit.start_run("actuals:fpa:2025-03", "actuals_load", "timer", "fpa", {"mode": "period"})
    step = StepRecord("load:2025-03", "load period", "2026-01-01T00:00:00Z", 120, {"sent": 10})
    audit.record_step("actuals:fpa:2025-03", step)
    audit.record_step("actuals:fpa:2025-03", step)  # the activity ran twice
    audit.record_step(
        "actuals:fpa:2025-03",
        StepRecord("load:2025-04", "load period", "2026-01-01T00:00:01Z", 80, {"sent": 5}),
    )
    summary = audit.finish_run(
        "actuals:fpa:2025-03", "succeeded", {"reconciliation": {"2025-03": Decimal("1.10")}}
    )
    assert summary["counts"] == {"sent": 15}
    run = audit.get_run("actuals:fpa:2025-03")
    assert run is not None and run["state"] == "succeeded" and run["ended_at"]
    assert run["summary"]["reconciliation"] == {"2025-03": "1.10"}
    assert [s["step_id"] for s in audit.steps("actuals:fpa:2025-03")] == [
        "load:2025-03",
        "load:2025-04",
    ]


def test_records_are_batched_and_idempotent(storage: Storage) -> None:
    audit = AuditTrail(storage)
    records = [
        AuditRecord("quarantined", f"entry-{i}", "no Anaplan member for CC999", {"i": i}, "2025-03")
        for i in range(250)
    ]
    assert audit.record("run-1", records) == 250
    audit.record("run-1", records[:50])  # a retry rewrites, never duplicates
    audit.record("run-1", [AuditRecord("rejected", "row-7", "unknown member", {})])
    assert len(list(audit.records("run-1", "quarantined"))) == 250
    assert [r.key for r in audit.records("run-1", "rejected")] == ["row-7"]


def test_list_runs_filters_and_orders_newest_first(storage: Storage) -> None:
    audit = AuditTrail(storage)
    audit.start_run("a", "actuals_load", "timer", "fpa", {})
    time.sleep(0.01)
    audit.start_run("b", "reference_sync", "ops", "fpa", {})
    time.sleep(0.01)
    audit.start_run("c", "actuals_load", "cli", "fpa", {})
    audit.finish_run("c", "failed", {}, error="boom")
    assert [r["run_id"] for r in audit.list_runs()] == ["c", "b", "a"]
    assert [r["run_id"] for r in audit.list_runs(flow="actuals_load")] == ["c", "a"]
    assert [r["run_id"] for r in audit.list_runs(state="failed")] == ["c"]


def test_unknown_kind_and_state_are_refused(storage: Storage) -> None:
    with pytest.raises(ValueError):
        AuditRecord("whatever", "k")
    with pytest.raises(ValueError):
        AuditTrail(storage).finish_run("x", "done", {})


def test_cursor_commits_are_optimistic(storage: Storage) -> None:
    cursors = CursorStore(storage)
    assert cursors.get("fpa", "generalLedgerEntries") == (None, None)
    cursors.commit("fpa", "generalLedgerEntries", {"start": "2025-01-01T00:00:00Z"}, "r1", None)
    value, version = cursors.get("fpa", "generalLedgerEntries")
    assert value == {"start": "2025-01-01T00:00:00Z"}
    with pytest.raises(CursorConflict):
        cursors.commit("fpa", "generalLedgerEntries", {"start": "x"}, "r2", None)
    cursors.commit("fpa", "generalLedgerEntries", {"start": "2025-02-01T00:00:00Z"}, "r2", version)
    with pytest.raises(CursorConflict):  # r3 read the old version: it must not win
        cursors.commit("fpa", "generalLedgerEntries", {"start": "old"}, "r3", version)
    assert cursors.get("fpa", "generalLedgerEntries")[0] == {"start": "2025-02-01T00:00:00Z"}


def test_mapping_forward_and_reverse(storage: Storage) -> None:
    store = MappingStore(storage)
    store.save(
        "fpa",
        "Cost Centers",
        [
            MemberMapping("CC100", "CC100", "CC100 Executive Office", MAPPED),
            MemberMapping("CC/200", "CC200", "CC200 Legal", MAPPED),
            MemberMapping("CC300", "", "", MISSING),
            MemberMapping("CC990", "CC990", "CC990 Old Warehouse", GONE),
        ],
        "run-1",
    )
    assert store.mapped("fpa", "Cost Centers") == {"CC100": "CC100", "CC/200": "CC200"}
    assert store.reverse("fpa", "Cost Centers") == {"CC100": "CC100", "CC200": "CC/200"}
    assert store.load("fpa", "Cost Centers")["CC300"].status == MISSING
    assert store.load("fpa", "Departments") == {}


def test_cursor_with_a_burst_of_ids_fits(storage: Storage) -> None:
    cursors = CursorStore(storage)
    seen = [str(uuid.uuid4()) for _ in range(20_000)]  # ~ 760 KB: far beyond a table property
    cursors.commit("fpa", "generalLedgerEntries", {"start": "s", "seen": seen}, "r1", None)
    value, version = cursors.get("fpa", "generalLedgerEntries")
    assert value is not None and value["seen"] == seen
    cursors.commit("fpa", "generalLedgerEntries", {"start": "t", "seen": []}, "r2", version)
    blobs = list(storage.container("state").list_blobs(name_starts_with="fpa/cursors/"))
    assert len(blobs) == 1  # the superseded cursor blob was removed
