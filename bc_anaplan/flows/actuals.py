"""The actuals load: G/L entries of the touched periods, aggregated, staged, imported, committed.

Steps (each an activity; the orchestrator ``actuals_load`` sequences them):

1. ``plan`` -- which periods to (re)compute. Incremental: the periods of entries changed since
   the committed cursor (minus its lag); the very first run loads every period from the first
   posting date to the last. Period mode: the named periods. Balance-sheet closing balances of
   every later month change with an earlier one, so later months are re-sent for those cells.
2. ``stage_period`` (one per period, in parallel) -- stream the period's entries from BC, map
   them to Anaplan members, aggregate into cells, quarantine what cannot be mapped, check the
   per-account totals against BC's own trial balance, and stage the cells as a pending snapshot.
3. ``assemble`` -- roll closing balances forward, zero cells that vanished, and write the one
   staged CSV file the import reads (with per-batch proofs in the audit trail).
4. the import runs under the model lock (``orchestrators/anaplan_tasks``);
5. ``commit`` -- only after Anaplan reported success: promote the snapshots and commit the cursor.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from bc_anaplan.actuals import (
    ZERO,
    Aggregator,
    Axis,
    CellKey,
    PeriodAggregate,
    format_amount,
    period_rows,
    roll_forward,
)
from bc_anaplan.audit import AuditRecord, StepRecord, utc_now
from bc_anaplan.bc import streams
from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.cursor import Cursor
from bc_anaplan.bc.encoding import parse_date, parse_datetime
from bc_anaplan.bc.paging import Resource, iter_pages
from bc_anaplan.cursors import CursorConflict
from bc_anaplan.periods import Period, months
from bc_anaplan.pipeline import Pipeline
from bc_anaplan.runtime import Runtime
from bc_anaplan.snapshots import PeriodSnapshot

RESOURCE = "generalLedgerEntries"
MAX_PERIODS = 240


# --- 1. plan -------------------------------------------------------------------------------------


class _Stamp:
    __slots__ = ("id", "last_modified", "posting_date")

    def __init__(self, raw: Any) -> None:
        self.id = raw["id"]
        self.posting_date = parse_date(raw["postingDate"])
        self.last_modified = parse_datetime(raw["lastModifiedDateTime"])


STAMPS = Resource(RESOURCE, ("id", "postingDate", "lastModifiedDateTime"), _Stamp)


def _first(bc: BcClient, field: str, descending: bool) -> Any:
    params = {
        "$select": field,
        "$orderby": f"{field} {'desc' if descending else 'asc'}",
        "$top": "1",
    }
    rows = bc.get(bc.company_url(RESOURCE), params=params).json().get("value") or []
    return rows[0][field] if rows else None


def plan(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    pipeline = rt.settings.pipeline(request["pipeline"])
    bc = rt.bc(pipeline.name)
    first_allowed = _first_allowed(pipeline)
    cursor_out, version, first_load, opening = None, None, False, False
    if request.get("mode") == "period":
        periods = sorted({Period.parse(p) for p in request.get("periods") or []})
        if not periods or len(periods) > MAX_PERIODS:
            raise ValueError(f"period mode needs 1 to {MAX_PERIODS} periods (YYYY-MM)")
        if first_allowed and periods[0] < first_allowed:
            raise ValueError(
                f"period {periods[0]} is before actuals.first_period "
                f"{first_allowed}: the model holds no such month"
            )
    else:
        stored, version = rt.cursors.get(pipeline.name, RESOURCE)
        if stored is None:
            first_load = True
            periods, cursor_out = _everything(bc)
        else:
            periods, cursor_out = _touched(bc, Cursor.from_dict(stored))
        opening = bool(first_allowed and periods and periods[0] < first_allowed)
        periods = [p for p in periods if not first_allowed or p >= first_allowed]
    loaded = [
        p
        for p in rt.snapshots.loaded_periods(pipeline.name)
        if not first_allowed or p >= first_allowed
    ]
    if opening and first_allowed:
        closing = _months_after_opening(first_allowed, periods, loaded)
    else:
        closing = _closing_periods(periods, loaded)
    return {
        "periods": [p.key for p in periods],
        "closing_periods": [p.key for p in closing],
        "opening_before": first_allowed.key if opening and first_allowed else None,
        "cursor": cursor_out,
        "cursor_version": version,
        "first_load": first_load,
    }


def _first_allowed(pipeline: Pipeline) -> Period | None:
    first = pipeline.actuals.first_period
    return Period.parse(first) if first else None


def _everything(bc: BcClient) -> tuple[list[Period], dict[str, Any] | None]:
    first, last = _first(bc, "postingDate", False), _first(bc, "postingDate", True)
    if first is None:
        return [], None
    newest = parse_datetime(_first(bc, "lastModifiedDateTime", True))
    periods = months(Period.of(date.fromisoformat(first)), Period.of(date.fromisoformat(last)))
    return periods, Cursor(start=newest).to_dict()


def _touched(bc: BcClient, cursor: Cursor) -> tuple[list[Period], dict[str, Any]]:
    run = cursor.open()
    periods: set[Period] = set()
    for page in iter_pages(bc, STAMPS, filter_expression=cursor.filter()):
        for stamp in run.admit(page):
            if stamp.posting_date is not None:
                periods.add(Period.of(stamp.posting_date))
    return sorted(periods), run.advanced().to_dict()


def _closing_periods(periods: list[Period], loaded: list[Period]) -> list[Period]:
    """Months after the first touched one whose closing balances must be re-sent."""
    if not periods or not loaded:
        return []
    last = max(max(periods), max(loaded))
    touched = set(periods)
    return [p for p in months(min(periods), last) if p not in touched and p > min(periods)]


def _months_after_opening(
    first: Period, periods: list[Period], loaded: list[Period]
) -> list[Period]:
    """History before the model's first month changed: every loaded month's closing moves."""
    candidates = [*periods, *loaded]
    if not candidates:
        return []
    touched = set(periods)
    return [p for p in months(first, max(candidates)) if p not in touched]


# --- 2. stage one period -------------------------------------------------------------------------


def aggregator_for(rt: Runtime, pipeline: Pipeline) -> Aggregator:
    accounts = rt.mappings.mapped(pipeline.name, pipeline.accounts.anaplan_list)
    if not accounts:
        raise ValueError(
            f"no GL account is mapped for pipeline {pipeline.name}: run reference_sync first"
        )
    axes = [
        Axis(
            code,
            rt.mappings.mapped(pipeline.name, pipeline.dimension(code).anaplan_list),
            pipeline.dimension(code).blank_member,
        )
        for code in pipeline.actuals.dimensions
    ]
    return Aggregator(accounts, axes)


def period_entries(bc: BcClient, period: Period) -> Iterator[Any]:
    window = Cursor(posting_from=period.first_day, posting_to=period.last_day)
    return streams.iter_gl_entries(bc, window.open())


def stage_period(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    period = Period.parse(request["period"])
    bc = rt.bc(pipeline.name)
    by_account: dict[str, Decimal] = {}
    result = aggregator_for(rt, pipeline).aggregate(
        period, _tally(period_entries(bc, period), by_account)
    )
    trial = trial_balance_check(bc, period, by_account)
    rt.audit.record(run_id, _quarantine_records(result))
    rt.snapshots.stage(pipeline.name, run_id, PeriodSnapshot(period, result.cells, {}))
    reconciliation = {**result.reconciliation(), "trial_balance": trial}
    counts = {
        "entries_read": result.entries,
        "cells": len(result.cells),
        "quarantined": len(result.quarantined),
    }
    rt.audit.record_step(
        run_id,
        StepRecord(
            request["step_id"],
            f"read and aggregate {period}",
            started_at,
            int((time.monotonic() - started) * 1000),
            counts,
            {"reconciliation": reconciliation},
        ),
    )
    return {"period": period.key, **counts, "reconciliation": reconciliation}


def _tally(entries: Iterable[Any], by_account: dict[str, Decimal]) -> Iterator[Any]:
    for entry in entries:
        by_account[entry.account_number] = (
            by_account.get(entry.account_number, ZERO) + entry.debit - entry.credit
        )
        yield entry


def _quarantine_records(result: PeriodAggregate) -> Iterator[AuditRecord]:
    for q in result.quarantined:
        yield AuditRecord(
            "quarantined",
            q.entry_id,
            q.reason,
            {
                "entry_number": q.entry_number,
                "posting_date": q.posting_date,
                "account": q.account,
                "amount": str(q.amount),
                "dimensions": dict(q.dimensions),
            },
            result.period.key,
        )


def parse_bc_amount(text: str) -> Decimal:
    """A trial-balance amount, formatted by BC as text (``"72,893.84"``, requested en-US)."""
    cleaned = text.replace(",", "").strip()
    try:
        return Decimal(cleaned) if cleaned else ZERO
    except InvalidOperation:
        raise ValueError(f"trial balance amount {text!r} is not a number") from None


def trial_balance_check(
    bc: BcClient, period: Period, by_account: dict[str, Decimal]
) -> dict[str, Any]:
    """Compare per-account net change with BC's trial balance for the period (independent)."""
    params = {
        "$filter": f"dateFilter ge {period.first_day.isoformat()} and dateFilter le "
        f"{period.last_day.isoformat()}"
    }
    headers = {"Accept-Language": "en-US"}
    rows = bc.get(bc.company_url("trialBalances"), params=params, headers=headers).json()
    mismatches = []
    for row in rows.get("value") or []:
        if row.get("accountType") != "Posting":
            continue
        expected = parse_bc_amount(row["totalDebit"]) - parse_bc_amount(row["totalCredit"])
        seen = by_account.get(row["number"], ZERO)
        if expected != seen:
            mismatches.append(
                {"account": row["number"], "trial_balance": str(expected), "entries": str(seen)}
            )
    return {
        "accounts_checked": len(by_account),
        "mismatches": mismatches[:20],
        "matches": not mismatches,
    }


def stage_opening(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Balance-sheet balances of all history before the model's first month, computed once.

    They are never sent as cells (the model has no such months); they are the opening balance
    the first month's closing balances roll forward from.
    """
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    opening = Period.parse(request["before"]).previous()
    bc = rt.bc(pipeline.name)
    is_bs = balance_sheet_accounts(bc, pipeline)
    window = Cursor(posting_to=opening.last_day)
    entries = (e for e in streams.iter_gl_entries(bc, window.open()) if is_bs.get(e.account_number))
    result = aggregator_for(rt, pipeline).aggregate(opening, entries, history=True)
    rt.audit.record(run_id, _quarantine_records(result))
    rt.snapshots.stage(pipeline.name, run_id, PeriodSnapshot(opening, {}, dict(result.cells)))
    counts = {"history_entries_read": result.entries, "quarantined": len(result.quarantined)}
    rt.audit.record_step(
        run_id,
        StepRecord(
            request["step_id"],
            f"opening balances before {request['before']}",
            started_at,
            int((time.monotonic() - started) * 1000),
            counts,
            {"balances": len(result.cells)},
        ),
    )
    return {"opening": opening.key, **counts, "balances": len(result.cells)}


# --- 3. assemble the import file -----------------------------------------------------------------


def balance_sheet_accounts(bc: BcClient, pipeline: Pipeline) -> dict[str, bool]:
    categories = pipeline.accounts.balance_sheet_categories
    return {a.number: a.category.strip() in categories for a in streams.iter_accounts(bc)}


def header(pipeline: Pipeline) -> list[str]:
    columns = [pipeline.accounts.column]
    columns += [pipeline.dimension(code).column for code in pipeline.actuals.dimensions]
    columns += [pipeline.actuals.period_column, pipeline.actuals.amount_column]
    if pipeline.actuals.closing_balance_column:
        columns.append(pipeline.actuals.closing_balance_column)
    return columns


def assemble(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    touched = {Period.parse(p) for p in request["periods"]}
    everything = sorted(touched | {Period.parse(p) for p in request["closing_periods"]})
    is_bs = balance_sheet_accounts(rt.bc(pipeline.name), pipeline)
    with_closing = pipeline.actuals.closing_balance_column is not None
    rows = _assembled_rows(rt, pipeline, run_id, everything, touched, is_bs, with_closing)
    blob = f"{pipeline.name}/{run_id}/actuals.csv.gz"
    key_columns = 1 + len(pipeline.actuals.dimensions) + 1
    staged = rt.staging.write(
        blob, header(pipeline), rows, key_columns=key_columns, amount_column=key_columns
    )
    rt.audit.record(
        run_id,
        (
            AuditRecord("batch", f"actuals:{b.index:05d}", "cells sent to Anaplan", b.as_dict())
            for b in staged.batches
        ),
    )
    counts = {"cells_sent": staged.rows}
    rt.audit.record_step(
        run_id,
        StepRecord(
            request["step_id"],
            "assemble import file",
            started_at,
            int((time.monotonic() - started) * 1000),
            counts,
            {
                "blob": blob,
                "sha256": staged.sha256,
                "amount_sum": str(staged.amount_sum),
                "periods": [p.key for p in everything],
            },
        ),
    )
    return {
        "staged_blob": blob,
        "rows": staged.rows,
        "sha256": staged.sha256,
        "amount_sum": str(staged.amount_sum),
    }


def _previous_closing(
    rt: Runtime, pipeline: str, run_id: str, first: Period
) -> dict[CellKey, Decimal]:
    """Closing balances of the month before ``first``: this run's opening, or the last load's."""
    opening = rt.snapshots.staged(pipeline, run_id, first.previous())
    if opening is not None:
        return dict(opening.closing)
    earlier = [p for p in rt.snapshots.loaded_periods(pipeline) if p < first]
    if not earlier:
        return {}
    snapshot = rt.snapshots.current(pipeline, earlier[-1])
    return dict(snapshot.closing) if snapshot else {}


def _period_cells(
    rt: Runtime, pipeline: str, run_id: str, period: Period, touched: bool
) -> tuple[dict[CellKey, Decimal], PeriodSnapshot | None]:
    """The period's net-change cells for this run, and its current (last successful) snapshot."""
    current = rt.snapshots.current(pipeline, period)
    if not touched:
        return (dict(current.cells) if current else {}), current
    staged = rt.snapshots.staged(pipeline, run_id, period)
    if staged is None:
        raise ValueError(f"period {period} was not staged by run {run_id}")
    return dict(staged.cells), current


def _assembled_rows(
    rt: Runtime,
    pipeline: Pipeline,
    run_id: str,
    periods: list[Period],
    touched: set[Period],
    is_bs: dict[str, bool],
    with_closing: bool,
) -> Iterator[list[str]]:
    previous_closing = _previous_closing(rt, pipeline.name, run_id, periods[0]) if periods else {}
    for period in periods:
        cells, current = _period_cells(rt, pipeline.name, run_id, period, period in touched)
        if period in touched:
            net, old_cells = cells, list(current.cells) if current else []
        else:  # a later month: only its balance-sheet closing balances change
            net, old_cells = {k: v for k, v in cells.items() if is_bs.get(k[0])}, []
        closing = roll_forward(previous_closing, cells, is_bs) if with_closing else {}
        old_closing = list(current.closing) if current and with_closing else []
        rt.snapshots.stage(pipeline.name, run_id, PeriodSnapshot(period, cells, closing))
        name = pipeline.periods.name(period)
        for row in period_rows(period, net, old_cells, closing, old_closing):
            values = [*row.key, name, format_amount(row.amount) if row.amount is not None else ""]
            if with_closing:
                values.append(format_amount(row.closing) if row.closing is not None else "")
            yield values
        previous_closing = closing


# --- 5. commit -----------------------------------------------------------------------------------


def commit(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Make the run's snapshots current and commit its cursor (after Anaplan's success)."""
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    periods = [Period.parse(p) for p in [*request["periods"], *request["closing_periods"]]]
    if request.get("opening_before"):
        periods.append(Period.parse(request["opening_before"]).previous())
    promoted = rt.snapshots.promote(pipeline.name, run_id, periods)
    conflict = None
    if request.get("cursor"):
        try:
            rt.cursors.commit(
                pipeline.name, RESOURCE, request["cursor"], run_id, request.get("cursor_version")
            )
        except CursorConflict as exc:
            conflict = str(exc)
            rt.audit.record(run_id, [AuditRecord("event", "cursor-conflict", conflict)])
    return {
        "promoted": promoted,
        "cursor_committed": bool(request.get("cursor")) and not conflict,
        "cursor_conflict": conflict,
    }
