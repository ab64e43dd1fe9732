"""Snapshots and staged files in real Blob Storage (Azurite)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from bc_anaplan.config import StorageSettings
from bc_anaplan.periods import Period
from bc_anaplan.snapshots import PeriodSnapshot, SnapshotStore
from bc_anaplan.staging import BATCH_ROWS, StagingArea
from bc_anaplan.storage import Storage


@pytest.fixture
def storage(azurite: str) -> Storage:
    hub = "t" + uuid.uuid4().hex[:12]
    return Storage(StorageSettings(connection_string=azurite, account_name=None, task_hub=hub))


def test_snapshots_become_current_only_when_promoted(storage: Storage) -> None:
    store = SnapshotStore(storage)
    march = Period(2025, 3)
    snap = PeriodSnapshot(
        march, {("61010", "CC100"): Decimal("12.34")}, {("11020", "CC100"): Decimal("-0.01")}
    )
    store.stage("fpa", "run-1", snap)
    assert store.current("fpa", march) is None
    assert store.staged("fpa", "run-1", march) == snap
    assert store.promote("fpa", "run-1", [march]) == 1
    assert store.promote("fpa", "run-1", [march]) == 0  # a retried promote is harmless
    assert store.current("fpa", march) == snap
    assert store.loaded_periods("fpa") == [march]
    assert snap.content_hash == PeriodSnapshot.from_bytes(snap.to_bytes()).content_hash


def test_staged_csv_streams_round_trip_with_batch_proofs(storage: Storage) -> None:
    staging = StagingArea(storage)
    rows = ([f"A{i:06d}", "CC100", "Mar 25", f"{i}.01"] for i in range(12_001))
    header = ["GL Accounts", "Cost Centers", "Time", "Amount"]
    summary = staging.write(
        "fpa/run-1/actuals.csv.gz", header, rows, key_columns=3, amount_column=3
    )
    assert summary.rows == 12_001
    assert [b.rows for b in summary.batches] == [BATCH_ROWS, BATCH_ROWS, 2_001]
    expected_sum = sum(Decimal(f"{i}.01") for i in range(12_001))
    assert summary.amount_sum == expected_sum
    assert summary.batches[1].first_key == "A005000|CC100|Mar 25"
    back = list(staging.read("fpa/run-1/actuals.csv.gz"))
    assert back[0] == header and len(back) == 12_002 and back[-1][0] == "A012000"
    assert staging.delete_prefix("fpa/run-1/") == 1
