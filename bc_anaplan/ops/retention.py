"""Retention: forget what is older than ``RETENTION_DAYS``, never what the connector still needs.

What goes, in batches (the ``retention`` orchestration calls these steps until nothing is left;
the Durable instance history is purged by the trigger, which holds the durable client):

* run records that started before the cutoff and are finished, with every audit row of the run
  (steps and records, deleted in transactions of 100), its staged files (``<pipeline>/<run>/``)
  and its never-promoted period snapshots (``.../pending/<run>.json.gz``). The run record goes
  last, so a batch that stops half-way is finished by the next one. A record still marked
  ``running`` goes only once it is older than the cutoff *and* a month: no run lasts that long,
  but one terminated from the portal never closes its record;
* operator events older than the cutoff (the ``ops`` audit partition: forced lock releases);
* staged files and pending snapshots older than the cutoff whatever wrote them, unless their run
  is still running.

What stays, whatever its age: current period snapshots, cursors and their blobs, the member
mapping table and the writeback state per plan version. Those are the connector's memory, not
its history.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from bc_anaplan.audit import RUNS_PARTITION, StepRecord, instant, utc_now
from bc_anaplan.runtime import Runtime
from bc_anaplan.storage import MAX_BATCH, safe_key, unsafe_key

RUNS_PER_BATCH = 50
PARALLEL_RUNS = 8  # runs of a batch purged at once (storage calls wait on the network)
OPS_PARTITION = "ops"  # audit rows about no single run (forced lock releases)
STALE_RUNNING = timedelta(days=30)


def cutoff_for(days: int, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=days)


@dataclass
class Purged:
    runs: int = 0
    audit_rows: int = 0
    staged_files: int = 0
    snapshots: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "runs_purged": self.runs,
            "audit_rows_deleted": self.audit_rows,
            "staged_files_deleted": self.staged_files,
            "snapshots_deleted": self.snapshots,
        }


def purge_expired_runs(rt: Runtime, cutoff: str, limit: int = RUNS_PER_BATCH) -> dict[str, Any]:
    """Delete up to ``limit`` expired runs with everything they left; ``more`` if some remain."""
    stale = instant(min(datetime.fromisoformat(cutoff), datetime.now(UTC) - STALE_RUNNING))
    expired = rt.audit.runs.query_entities(
        "PartitionKey eq @pk and StartedAt lt @cutoff",
        parameters={"pk": RUNS_PARTITION, "cutoff": cutoff},
        select=["RowKey", "State", "Pipeline", "StartedAt"],
    )
    batch: list[tuple[str, str, str]] = []
    more = False
    for entity in expired:
        if entity.get("State") == "running" and entity.get("StartedAt", "") >= stale:
            continue
        if len(batch) == limit:
            more = True
            break
        batch.append(
            (unsafe_key(entity["RowKey"]), entity.get("Pipeline", ""), entity.get("StartedAt", ""))
        )
    pending = _pending_snapshots(rt, {pipeline for _, pipeline, _ in batch if pipeline})
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        done = list(pool.map(lambda run: _purge_run(rt, run[0], run[1], run[2], pending), batch))
    purged = Purged(
        runs=len(done),
        audit_rows=sum(d.audit_rows for d in done) + _delete_old_ops_events(rt, cutoff),
        staged_files=sum(d.staged_files for d in done),
        snapshots=sum(d.snapshots for d in done),
    )
    return {**purged.counts(), "more": more}


def _purge_run(
    rt: Runtime, run_id: str, pipeline: str, started_at: str, pending: dict[str, list[str]]
) -> Purged:
    """Everything one run left, its record (and index row) last (a purge that stops half-way
    is redone)."""
    purged = Purged(runs=1, audit_rows=delete_partition(rt, safe_key(run_id)))
    if pipeline:
        purged.staged_files = rt.staging.delete_prefix(f"{pipeline}/{run_id}/")
    purged.snapshots = _delete_blobs(rt, "state", pending.get(_snapshot_name(run_id), []))
    rt.audit.forget_run(run_id, started_at)
    return purged


def delete_partition(rt: Runtime, partition: str) -> int:
    """Every audit row of one partition, in transactions of at most 100."""
    rows = rt.audit.rows.query_entities(
        "PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey"]
    )
    return _delete_rows(rt, partition, (r["RowKey"] for r in rows))


def _delete_rows(rt: Runtime, partition: str, row_keys: Iterable[str]) -> int:
    deleted, group = 0, []
    for key in list(row_keys):
        group.append(("delete", {"PartitionKey": partition, "RowKey": key}))
        if len(group) == MAX_BATCH:
            rt.audit.rows.submit_transaction(group)
            deleted, group = deleted + len(group), []
    if group:
        rt.audit.rows.submit_transaction(group)
        deleted += len(group)
    return deleted


def _delete_old_ops_events(rt: Runtime, cutoff: str) -> int:
    rows = rt.audit.rows.query_entities(
        "PartitionKey eq @pk and RowKey lt @before",
        parameters={"pk": OPS_PARTITION, "before": f"event:{cutoff}"},
        select=["RowKey"],
    )
    return _delete_rows(rt, OPS_PARTITION, (r["RowKey"] for r in rows))


def _snapshot_name(run_id: str) -> str:
    return run_id.replace("/", "_") + ".json.gz"


def _pending_snapshots(rt: Runtime, pipelines: set[str]) -> dict[str, list[str]]:
    """Pending snapshot blobs of the given pipelines, by file name (= run id)."""
    found: dict[str, list[str]] = {}
    container = rt.snapshots.container
    for pipeline in pipelines:
        for blob in container.list_blobs(name_starts_with=f"{pipeline}/actuals/"):
            parts = blob.name.split("/")
            if len(parts) == 5 and parts[3] == "pending":
                found.setdefault(parts[4], []).append(blob.name)
    return found


def _delete_blobs(rt: Runtime, container_suffix: str, names: list[str]) -> int:
    container = rt.storage.container(container_suffix)
    deleted = 0
    for name in names:
        with contextlib.suppress(ResourceNotFoundError):
            container.delete_blob(name)
            deleted += 1
    return deleted


def sweep_expired_files(rt: Runtime, cutoff: str) -> dict[str, int]:
    """Staged files and pending snapshots older than ``cutoff`` whose run is not running.

    Catches what has no run record any more (a run purged earlier, files of a crashed attempt).
    Current snapshots (``current.json.gz``) and cursor blobs are never candidates.
    """
    limit = datetime.fromisoformat(cutoff)
    running = _running_runs(rt)
    staged, snapshots = [], []
    for blob in rt.staging.container.list_blobs():
        parts = blob.name.split("/")
        if blob.last_modified < limit and not (len(parts) > 2 and parts[1] in running):
            staged.append(blob.name)
    for blob in rt.snapshots.container.list_blobs():
        parts = blob.name.split("/")
        is_pending = len(parts) == 5 and parts[1] == "actuals" and parts[3] == "pending"
        if is_pending and blob.last_modified < limit and parts[4] not in running:
            snapshots.append(blob.name)
    return {
        "staged_files_deleted": _delete_blobs(rt, "staging", staged),
        "snapshots_deleted": _delete_blobs(rt, "state", snapshots),
    }


def _running_runs(rt: Runtime) -> set[str]:
    """Ids (and snapshot file names) of runs whose record says they are running."""
    rows = rt.audit.runs.query_entities(
        "PartitionKey eq @pk and State eq @state",
        parameters={"pk": RUNS_PARTITION, "state": "running"},
        select=["RowKey"],
    )
    ids = {unsafe_key(r["RowKey"]) for r in rows}
    return ids | {_snapshot_name(i) for i in ids}


# --- steps of the retention orchestration (each records itself in the run's audit trail) --------


def begin(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Open the retention run's record; the Durable purge the trigger did is its first step."""
    run_id = request["run_id"]
    rt.audit.start_run(run_id, "retention", request.get("trigger") or "timer", "", request)
    purged = int(request.get("instances_purged") or 0)
    rt.audit.record_step(
        run_id,
        StepRecord(
            "durable",
            "purge Durable instance history",
            request.get("purged_at") or utc_now(),
            int(request.get("purge_ms") or 0),
            {"instances_purged": purged},
            {"cutoff": request["cutoff"]},
        ),
    )
    return {"cutoff": request["cutoff"]}


def purge_step(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    result = purge_expired_runs(rt, request["cutoff"])
    _record(rt, request, "purge expired runs", started, started_at, result)
    return result


def sweep_step(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    result: dict[str, Any] = dict(sweep_expired_files(rt, request["cutoff"]))
    _record(rt, request, "sweep expired files", started, started_at, result)
    return result


def _record(
    rt: Runtime,
    request: dict[str, Any],
    name: str,
    started: float,
    started_at: str,
    result: dict[str, Any],
) -> None:
    counts = {k: int(v) for k, v in result.items() if k != "more"}
    duration = int((time.monotonic() - started) * 1000)
    rt.audit.record_step(
        request["run_id"], StepRecord(request["step_id"], name, started_at, duration, counts)
    )
