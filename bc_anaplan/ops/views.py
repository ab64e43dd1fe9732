"""A run as operators see it: record, steps, counts, reconciliation and what was left out.

Everything comes from the audit trail (``bc_anaplan.audit``); the Durable runtime status is added
by the caller, which holds the durable client. Per-record rows can be many (every quarantined
entry of a bad night), so they are never returned whole: a view carries their totals per kind,
totals per reason, and the first few rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from bc_anaplan.audit import AuditRecord
from bc_anaplan.config import ConfigError
from bc_anaplan.ops.requests import RunFilters
from bc_anaplan.runtime import Runtime
from bc_anaplan.storage import safe_key, unsafe_key

SAMPLE_ROWS = 200  # per kind, in the run view and the report
_ERROR_IN_LIST = 300


def list_page(rt: Runtime, filters: RunFilters) -> dict[str, Any]:
    """Newest runs first, at most ``filters.limit`` of them, each without its bulky summary.

    Reads ``limit + 1`` index rows (newest first, ``AuditTrail.list_runs``), never the whole
    run table: the one extra row says whether more runs match (``truncated``).
    """
    runs = rt.audit.list_runs(filters.flow, filters.state, filters.since, filters.limit + 1)
    page = runs[: filters.limit]
    return {
        "runs": [_run_line(r) for r in page],
        "count": len(page),
        "truncated": len(runs) > len(page),
        "filters": {
            "flow": filters.flow,
            "state": filters.state,
            "since": filters.since,
            "limit": filters.limit,
        },
    }


def _run_line(run: dict[str, Any]) -> dict[str, Any]:
    error = run["error"]
    return {
        "run_id": run["run_id"],
        "flow": run["flow"],
        "trigger": run["trigger"],
        "pipeline": run["pipeline"],
        "state": run["state"],
        "started_at": run["started_at"],
        "ended_at": run["ended_at"],
        "counts": run["summary"].get("counts", {}),
        "error": error if len(error) <= _ERROR_IN_LIST else error[:_ERROR_IN_LIST] + "…",
    }


def record_totals(rt: Runtime, run_id: str) -> dict[str, int]:
    """How many per-record rows of each kind the run has (keys only are read)."""
    rows = rt.audit.rows.query_entities(
        "PartitionKey eq @pk", parameters={"pk": safe_key(run_id)}, select=["RowKey"]
    )
    totals: dict[str, int] = {}
    for row in rows:
        kind = unsafe_key(row["RowKey"]).split(":", 1)[0]
        if kind != "step":
            totals[kind] = totals.get(kind, 0) + 1
    return totals


@dataclass
class RecordSample:
    """The first rows of one kind, with totals over all of them."""

    kind: str
    total: int = 0
    rows: list[AuditRecord] = field(default_factory=list)
    by_reason: dict[str, list[Any]] = field(default_factory=dict)  # reason -> [count, amount]
    # period -> net amount of the records (debit - credit, BC's sign)
    by_period: dict[str, Decimal] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "total": self.total,
            "shown": len(self.rows),
            "by_reason": [
                {"reason": reason, "records": count, "amount": str(amount)}
                for reason, (count, amount) in self.reasons()
            ],
            "rows": [
                {"key": r.key, "reason": r.reason, "period": r.period, "data": r.data}
                for r in self.rows
            ],
        }

    def reasons(self) -> list[tuple[str, tuple[int, Decimal]]]:
        ordered = sorted(self.by_reason.items(), key=lambda item: -item[1][0])
        return [(reason, (int(v[0]), v[1])) for reason, v in ordered]


def sample(
    rt: Runtime,
    run_id: str,
    kind: str,
    limit: int = SAMPLE_ROWS,
    period_of: Callable[[AuditRecord], str] | None = None,
) -> RecordSample:
    """The first ``limit`` records of a kind, with totals per reason and per period over all.

    ``period_of`` finds a record's period where its row has none (an Anaplan dump row names
    the month the way the model does, in its values).
    """
    result = RecordSample(kind)
    for record in rt.audit.records(run_id, kind):
        result.total += 1
        if len(result.rows) < limit:
            result.rows.append(record)
        amount = _amount(record.data)
        entry = result.by_reason.setdefault(record.reason, [0, Decimal(0)])
        entry[0] += 1
        entry[1] += amount
        period = record.period or (period_of(record) if period_of else "")
        if period:
            result.by_period[period] = result.by_period.get(period, Decimal(0)) + amount
    return result


def dump_row_period(rt: Runtime, pipeline_name: str) -> Callable[[AuditRecord], str]:
    """The period (``YYYY-MM``) of an actuals row Anaplan rejected, from its time column."""
    try:
        pipeline = rt.settings.pipeline(pipeline_name or None)
    except ConfigError:  # a pipeline since removed from connector.toml
        return lambda record: ""
    column = pipeline.actuals.period_column

    def period_of(record: AuditRecord) -> str:
        name = (record.data.get("values") or {}).get(column)
        try:
            return pipeline.periods.parse(name).key if isinstance(name, str) else ""
        except ValueError:
            return ""

    return period_of


def _amount(data: dict[str, Any]) -> Decimal:
    value = data.get("amount")
    if value is None:
        value = (data.get("values") or {}).get("Amount")
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def reconciliation_of(run: dict[str, Any]) -> Any:
    """Per-period reconciliation of a load, or the per-account one of a writeback."""
    summary = run.get("summary") or {}
    if "reconciliation" in summary:
        return summary["reconciliation"]
    written = summary.get("written")
    if isinstance(written, dict) and "reconciliation" in written:
        return written["reconciliation"]
    return None


def run_detail(rt: Runtime, run_id: str) -> dict[str, Any] | None:
    """The run record with steps, counts, reconciliation and record totals; None if unknown."""
    run = rt.audit.get_run(run_id)
    if run is None:
        return None
    steps = rt.audit.steps(run_id)
    return {
        "run": run,
        "steps": steps,
        "counts": run["summary"].get("counts") or rt.audit.step_totals(run_id),
        "reconciliation": reconciliation_of(run),
        "records": record_totals(rt, run_id),
        "quarantined": sample(rt, run_id, "quarantined", 20).to_dict(),
        "rejected": sample(rt, run_id, "rejected", 20).to_dict(),
    }


# --- what the report needs -----------------------------------------------------------------------


@dataclass
class ReportData:
    run: dict[str, Any]
    steps: list[dict[str, Any]]
    runtime: dict[str, Any] | None
    quarantined: RecordSample
    rejected: RecordSample
    member_changes: RecordSample
    events: RecordSample
    drift: list[dict[str, Any]]
    plan_accounts: list[dict[str, str]] | None
    writeback: dict[str, Any] | None
    public_base_url: str | None = None


def report_data(
    rt: Runtime, run_id: str, runtime: dict[str, Any] | None = None
) -> ReportData | None:
    run = rt.audit.get_run(run_id)
    if run is None:
        return None
    summary = run["summary"]
    drift_run = run_id
    lists = summary.get("lists")
    reference = summary.get("reference_sync")
    if lists is None and isinstance(reference, dict) and reference.get("run_id"):
        drift_run = reference["run_id"]
        child = rt.audit.get_run(drift_run)
        lists = (child or {}).get("summary", {}).get("lists")
    if lists is None and isinstance(summary.get("employees"), dict):
        lists = [summary["employees"]]
    steps = rt.audit.steps(run_id)
    return ReportData(
        run=run,
        steps=steps,
        runtime=runtime,
        quarantined=sample(rt, run_id, "quarantined"),
        rejected=sample(
            rt,
            run_id,
            "rejected",
            period_of=dump_row_period(rt, run["pipeline"])
            if run["flow"] == "actuals_load"
            else None,
        ),
        member_changes=sample(rt, drift_run, "member_change"),
        events=sample(rt, run_id, "event", 50),
        drift=[_drift_line(entry) for entry in lists or []],
        plan_accounts=plan_vs_bc(steps, summary),
        writeback=_writeback_facts(summary) if run["flow"] == "plan_writeback" else None,
        public_base_url=rt.settings.public_base_url,
    )


def _drift_line(entry: dict[str, Any]) -> dict[str, Any]:
    drift = entry.get("drift") or {}
    mapping = entry.get("mapping") or {}
    return {
        "list": entry.get("list", ""),
        "drift": drift,
        "rows_sent": entry.get("rows_sent", 0),
        "missing_after": mapping.get("missing", 0),
    }


def _writeback_facts(summary: dict[str, Any]) -> dict[str, Any]:
    validation = summary.get("validation") or {}
    written = summary.get("written") or {}
    return {
        "version": summary.get("version"),
        "policy": validation.get("policy"),
        "revision": validation.get("revision"),
        "lines_exported": validation.get("lines_exported"),
        "valid_lines": validation.get("valid_lines"),
        "invalid_lines": validation.get("invalid_lines"),
        "unchanged": validation.get("unchanged"),
        "stopped": summary.get("stopped"),
        "lines_in_bc": written.get("lines_in_bc"),
        "bc_rejected": written.get("bc_rejected"),
        "complete": written.get("complete"),
        "retired_previous": written.get("retired_previous"),
    }


def plan_vs_bc(steps: list[dict[str, Any]], summary: dict[str, Any]) -> list[dict[str, str]] | None:
    """Plan totals per account (the validate step) next to what BC's draft lines add up to.

    The writeback's reconciliation lists the accounts whose BC total differs from the plan (at
    most 20); every other account of a written revision matches the plan to the cent -- less
    the rows finance had already posted from an earlier revision, which are never written again
    (``posted_earlier_by_account``). When nothing was written (stopped, unchanged) the BC column
    says so instead of a number.
    """
    validate = next((s for s in steps if s["step_id"] == "validate"), None)
    if validate is None:
        return None
    plan: dict[str, str] = validate["detail"].get("totals_by_account") or {}
    written = summary.get("written") or {}
    reconciliation = written.get("reconciliation")
    if not isinstance(reconciliation, dict):
        if (summary.get("validation") or {}).get("unchanged"):
            status = "unchanged: written by an earlier run"
        elif written.get("rolled_back"):
            status = "rolled back"
        else:
            status = "not written"
        return [{"account": a, "plan": v, "bc": "", "status": status} for a, v in plan.items()]
    mismatched = {m["account"]: m for m in reconciliation.get("mismatches") or []}
    posted: dict[str, str] = reconciliation.get("posted_earlier_by_account") or {}
    capped = len(mismatched) >= 20 and not reconciliation.get("matches")
    rows = []
    for account in sorted(set(plan) | set(mismatched)):
        if account in mismatched:
            bc, status = mismatched[account]["bc"], "differs"
        elif capped:
            bc, status = "", "not known (more than 20 accounts differ)"
        elif account in posted:
            bc = str(Decimal(plan[account]) - Decimal(posted[account]))
            status = f"matches; {posted[account]} posted earlier, not rewritten"
        else:
            bc, status = plan[account], "matches"
        plan_total = plan.get(account, "0")
        rows.append({"account": account, "plan": plan_total, "bc": bc, "status": status})
    return rows
