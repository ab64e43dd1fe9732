"""The audit trail: what every run did, step by step and record by record, in Table Storage.

Three kinds of rows, all written idempotently (activities run at least once, so a retried step
overwrites its own rows instead of adding to them):

* a **run record** per orchestration (table ``<hub>Runs``, partition ``runs``, row key = instance
  id): flow, trigger source, pipeline, input, state, start and end, and the summary computed
  when the run finishes (counts, reconciliation, drift); and a small **index row** per run
  (same table, partition ``by-start``, row key = inverted start time + instance id: flow,
  trigger, state, times, counts, the error's first words), so the newest runs are the first rows
  of a partition and listing them reads as many rows as it shows, not every run ever recorded;
* **step rows** (table ``<hub>Audit``, partition = run id, row key ``step:<step id>``): one per
  step with its timing and counts. The run's totals are the sum of its steps, computed at the
  end, so a retried step is never counted twice;
* **record rows** (same partition, row key ``<kind>:<stable key>``): every quarantined entry,
  every row Anaplan rejected, every list member change, every journal line written, and one row
  per batch of bulk cells (key range, count, amount sum, content hash) so that a period can be
  proven and replayed without a row per cell.

Secrets never reach these rows: callers pass business records only (codes, amounts, reasons).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from bc_anaplan.storage import Storage, query_partition, safe_key, unsafe_key, upsert_batched

RUNS_PARTITION = "runs"
INDEX_PARTITION = "by-start"  # the run list, newest first (see ``index_key``)
_NEVER_MS = 10**13 - 1  # inverted start times are 13 digits until the year 2286
_INDEX_ERROR_CHARS = 300
FINAL_STATES = ("succeeded", "partially_succeeded", "failed", "unchanged", "terminated")
RECORD_KINDS = (
    "quarantined",  # a BC record that could not be mapped: excluded, with the reason
    "rejected",  # a row Anaplan or BC refused
    "member_change",  # a list member added, changed or flagged in Anaplan
    "batch",  # a batch of bulk cells sent: key range, count, sum, hash
    "journal_line",  # a draft journal line written to BC
    "event",  # anything else worth a row (lock released by an admin, subscription renewed)
)
_MAX_PROPERTY_CHARS = 30_000  # Table Storage caps string properties at 32K UTF-16 chars


def instant(moment: datetime) -> str:
    """``moment`` as the audit trail writes instants (UTC, milliseconds, ``Z``): text that sorts
    and compares like the time it names."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> str:
    return instant(datetime.now(UTC))


def _json(value: Any) -> str:
    text = json.dumps(value, default=_default, separators=(",", ":"), sort_keys=True)
    if len(text) > _MAX_PROPERTY_CHARS:
        text = json.dumps({"truncated": True, "head": text[: _MAX_PROPERTY_CHARS - 100]})
    return text


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__} into an audit row")


@dataclass(frozen=True)
class AuditRecord:
    """One per-record audit row."""

    kind: str
    key: str  # stable within the run: the same record always gets the same key
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    period: str = ""

    def __post_init__(self) -> None:
        if self.kind not in RECORD_KINDS:
            raise ValueError(f"unknown audit record kind {self.kind!r}")


@dataclass(frozen=True)
class StepRecord:
    step_id: str  # deterministic, chosen by the orchestrator (e.g. "load:2025-03")
    name: str
    started_at: str
    duration_ms: int
    counts: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


class AuditTrail:
    def __init__(self, storage: Storage) -> None:
        self.runs = storage.table("Runs")
        self.rows = storage.table("Audit")
        self._indexed = False

    # --- run records -------------------------------------------------------------------------

    def start_run(
        self, run_id: str, flow: str, trigger: str, pipeline: str, run_input: dict[str, Any]
    ) -> None:
        """Create the run record; a retried start keeps the original start time."""
        existing = self.get_run(run_id)
        if existing is not None and existing["state"] == "running":
            self._index(existing)  # a start that stopped between the two writes completes
            return
        entity = {
            "PartitionKey": RUNS_PARTITION,
            "RowKey": safe_key(run_id),
            "Flow": flow,
            "Trigger": trigger,
            "Pipeline": pipeline,
            "Input": _json(run_input),
            "State": "running",
            "StartedAt": utc_now(),
            "EndedAt": "",
            "Summary": "{}",
            "Error": "",
        }
        self.runs.upsert_entity(entity, mode=UpdateMode.REPLACE)
        if existing is not None and existing["started_at"]:
            self._unindex(run_id, existing["started_at"])
        self._index(_run_view(entity))

    def finish_run(
        self, run_id: str, state: str, summary: dict[str, Any], error: str = ""
    ) -> dict[str, Any]:
        if state not in FINAL_STATES:
            raise ValueError(f"{state!r} is not a final run state")
        totals = self.step_totals(run_id)
        full_summary = {"counts": totals, **summary}
        entity = {
            "PartitionKey": RUNS_PARTITION,
            "RowKey": safe_key(run_id),
            "State": state,
            "EndedAt": utc_now(),
            "Summary": _json(full_summary),
            "Error": error[:4000],
        }
        self.runs.upsert_entity(entity, mode=UpdateMode.MERGE)
        run = self.get_run(run_id)
        if run is not None:
            self._index(run)
        return full_summary

    # --- the run list ------------------------------------------------------------------------

    def _index(self, run: dict[str, Any]) -> None:
        """Write (or rewrite) the run's index row from its record."""
        self.runs.upsert_entity(_index_entity(run), mode=UpdateMode.REPLACE)

    def _unindex(self, run_id: str, started_at: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.runs.delete_entity(INDEX_PARTITION, index_key(run_id, started_at))

    def forget_run(self, run_id: str, started_at: str) -> None:
        """Delete a run record and its index row (retention); its audit rows are the caller's."""
        if started_at:
            self._unindex(run_id, started_at)
        with contextlib.suppress(ResourceNotFoundError):
            self.runs.delete_entity(RUNS_PARTITION, safe_key(run_id))

    def rebuild_index(self) -> int:
        """Index every run record (once, for records written before the index existed)."""
        entities = self.runs.query_entities(
            "PartitionKey eq @pk", parameters={"pk": RUNS_PARTITION}
        )
        return upsert_batched(self.runs, (_index_entity(_run_view(e)) for e in entities))

    def _index_ready(self) -> None:
        """Build the index if run records exist but no index row does (an upgrade)."""
        if self._indexed:
            return
        probe = "PartitionKey eq @pk"
        if not _first(self.runs, probe, {"pk": INDEX_PARTITION}) and _first(
            self.runs, probe, {"pk": RUNS_PARTITION}
        ):
            self.rebuild_index()
        self._indexed = True

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        try:
            entity = self.runs.get_entity(RUNS_PARTITION, safe_key(run_id))
        except ResourceNotFoundError:
            return None
        return _run_view(entity)

    def list_runs(
        self,
        flow: str | None = None,
        state: str | None = None,
        since: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Runs, newest first, filtered by flow, state and start time (ISO 8601).

        Read from the index partition, whose row keys sort newest first: at most ``limit`` rows
        are read (the service filters flow and state). Each run comes without its input, and
        with only the counts of its summary and the first 300 characters of its error
        (``get_run`` has the record).
        """
        self._index_ready()
        clauses, params = ["PartitionKey eq @pk"], {"pk": INDEX_PARTITION}
        if flow:
            clauses.append("Flow eq @flow")
            params["flow"] = flow
        if state:
            clauses.append("State eq @state")
            params["state"] = state
        if since:
            clauses.append("RowKey lt @before")  # started at or after ``since``
            params["before"] = f"{_NEVER_MS - _epoch_ms(since) + 1:013d}"
        pages = self.runs.query_entities(
            " and ".join(clauses),
            parameters=params,
            results_per_page=min(limit or 1000, 1000),
        )
        runs = []
        for entity in pages:
            runs.append(_index_view(entity))
            if limit is not None and len(runs) >= limit:
                break
        return runs

    # --- steps and records -------------------------------------------------------------------

    def record_step(self, run_id: str, step: StepRecord) -> None:
        self.rows.upsert_entity(
            {
                "PartitionKey": safe_key(run_id),
                "RowKey": safe_key(f"step:{step.step_id}"),
                "Name": step.name,
                "StartedAt": step.started_at,
                "DurationMs": step.duration_ms,
                "Counts": _json(step.counts),
                "Detail": _json(step.detail),
            },
            mode=UpdateMode.REPLACE,
        )

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        rows = query_partition(self.rows, safe_key(run_id), "step:")
        steps = [
            {
                "step_id": unsafe_key(r["RowKey"])[5:],
                "name": r["Name"],
                "started_at": r["StartedAt"],
                "duration_ms": r["DurationMs"],
                "counts": json.loads(r["Counts"]),
                "detail": json.loads(r["Detail"]),
            }
            for r in rows
        ]
        return sorted(steps, key=lambda s: (s["started_at"], s["step_id"]))

    def step_totals(self, run_id: str) -> dict[str, int]:
        totals: dict[str, int] = {}
        for step in self.steps(run_id):
            for name, value in step["counts"].items():
                totals[name] = totals.get(name, 0) + int(value)
        return totals

    def record(self, run_id: str, records: Iterable[AuditRecord]) -> int:
        """Write per-record rows in transactions of up to 100 (one partition per run)."""
        partition = safe_key(run_id)
        entities = (
            {
                "PartitionKey": partition,
                "RowKey": safe_key(f"{r.kind}:{r.key}"),
                "Kind": r.kind,
                "Reason": r.reason[:4000],
                "Period": r.period,
                "Data": _json(r.data),
            }
            for r in records
        )
        return upsert_batched(self.rows, entities)

    def records(self, run_id: str, kind: str | None = None) -> Iterator[AuditRecord]:
        prefix = f"{kind}:" if kind else None
        for row in query_partition(self.rows, safe_key(run_id), prefix):
            if row["RowKey"].startswith("step:"):
                continue
            key = unsafe_key(row["RowKey"]).split(":", 1)[1]
            yield AuditRecord(
                row["Kind"], key, row["Reason"], json.loads(row["Data"]), row.get("Period", "")
            )


def _epoch_ms(instant: str) -> int:
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _index_entity(run: dict[str, Any]) -> dict[str, Any]:
    error = run["error"]
    return {
        "PartitionKey": INDEX_PARTITION,
        "RowKey": index_key(run["run_id"], run["started_at"]),
        "RunId": run["run_id"],
        "Flow": run["flow"],
        "Trigger": run["trigger"],
        "Pipeline": run["pipeline"],
        "State": run["state"],
        "StartedAt": run["started_at"],
        "EndedAt": run["ended_at"],
        "Counts": _json((run["summary"] or {}).get("counts") or {}),
        "Error": error[:_INDEX_ERROR_CHARS],
        "ErrorChars": len(error),
    }


def index_key(run_id: str, started_at: str) -> str:
    """``<inverted start ms, 13 digits>~<run id>``: ascending row keys are newest runs first."""
    return f"{_NEVER_MS - _epoch_ms(started_at):013d}~{safe_key(run_id)}"


def _first(table: Any, query: str, parameters: dict[str, Any]) -> bool:
    rows = table.query_entities(query, parameters=parameters, results_per_page=1, select=["RowKey"])
    return next(iter(rows), None) is not None


def _index_view(entity: dict[str, Any]) -> dict[str, Any]:
    error = entity.get("Error", "")
    if int(entity.get("ErrorChars") or 0) > len(error):
        error += "…"
    return {
        "run_id": entity.get("RunId", ""),
        "flow": entity.get("Flow", ""),
        "trigger": entity.get("Trigger", ""),
        "pipeline": entity.get("Pipeline", ""),
        "input": {},
        "state": entity.get("State", ""),
        "started_at": entity.get("StartedAt", ""),
        "ended_at": entity.get("EndedAt", ""),
        "summary": {"counts": json.loads(entity.get("Counts") or "{}")},
        "error": error,
    }


def _run_view(entity: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": unsafe_key(entity["RowKey"]),
        "flow": entity.get("Flow", ""),
        "trigger": entity.get("Trigger", ""),
        "pipeline": entity.get("Pipeline", ""),
        "input": json.loads(entity.get("Input") or "{}"),
        "state": entity.get("State", ""),
        "started_at": entity.get("StartedAt", ""),
        "ended_at": entity.get("EndedAt", ""),
        "summary": json.loads(entity.get("Summary") or "{}"),
        "error": entity.get("Error", ""),
    }
