"""The actuals load: G/L entries of the touched periods, aggregated, staged, imported, committed.

Steps (each an activity; the orchestrator ``actuals_load`` sequences them):

1. ``plan`` -- which periods to (re)compute. Incremental: the periods of entries changed since
   the committed cursor (minus its lag); the very first run loads every period from the first
   posting date to the last. Period mode: the named periods. Balance-sheet closing balances of
   every later month change with an earlier one, so later months are re-sent for those cells.
2. ``stage_periods`` (one per run of contiguous months, in parallel) -- stream the months'
   entries from BC in one window of full pages (lean fields, next page fetched ahead), map
   them to Anaplan members, aggregate into cells, quarantine what cannot be mapped, check the
   per-account totals against BC's own trial balance, and stage the cells as a pending snapshot.
3. ``assemble`` -- roll closing balances forward, zero cells that vanished, and write the one
   staged CSV file the import reads (with per-batch proofs in the audit trail).
4. the import runs under the model lock (``orchestrators/anaplan_tasks``);
5. ``commit`` -- only after Anaplan reported success: promote the snapshots and commit the cursor.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
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
from bc_anaplan.bc.amounts import iter_gl_amounts
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
# The period label of quarantined entries that belong to no month of the model. Replay reads
# them (``flows/replay``): opening-balance entries are replayed by recomputing the opening
# balances; entries beyond the horizon cannot be replayed at all, only corrected in BC.
OPENING_BALANCE = "opening-balance"
BEYOND_HORIZON = "beyond-horizon"


# --- 1. plan -------------------------------------------------------------------------------------


class _Stamp:
    __slots__ = ("id", "last_modified", "posting_date")

    def __init__(self, raw: Any) -> None:
        self.id = raw["id"]
        self.posting_date = parse_date(raw["postingDate"])
        self.last_modified = parse_datetime(raw["lastModifiedDateTime"])


STAMPS = Resource(RESOURCE, ("id", "postingDate", "lastModifiedDateTime"), _Stamp)


def _any(bc: BcClient, where: str) -> bool:
    params = {"$select": "id", "$filter": where, "$top": "1"}
    return bool(bc.get(bc.company_url(RESOURCE), params=params).json().get("value"))


def _first(bc: BcClient, field: str, descending: bool, where: str | None = None) -> Any:
    """The first value of ``field`` in that order (``None`` for an empty set): one cheap probe."""
    params = {
        "$select": field,
        "$orderby": f"{field} {'desc' if descending else 'asc'}",
        "$top": "1",
    }
    if where:
        params["$filter"] = where
    rows = bc.get(bc.company_url(RESOURCE), params=params).json().get("value") or []
    return rows[0][field] if rows else None


HORIZON_MONTHS = 36  # postings further ahead than this are typos, not plans


def plan(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    pipeline = rt.settings.pipeline(request["pipeline"])
    bc = rt.bc(pipeline.name)
    first_allowed = first_allowed_period(pipeline)
    # the cursor never moves past the moment the read began: a modification stamped in the
    # future (a server clock gone wrong) must not hide every later change
    read_started = datetime.now(UTC)
    horizon = horizon_period(read_started)
    cursor_out, version, first_load, opening, beyond = None, None, False, False, False
    if request.get("mode") == "period":
        periods = sorted({Period.parse(p) for p in request.get("periods") or []})
        # "opening": recompute the opening balances from the history before the model's first
        # month (a replay of entries quarantined there): every loaded month's closing moves
        opening = bool(request.get("opening"))
        if opening and not first_allowed:
            raise ValueError(
                "opening balances are only computed for a pipeline with actuals.first_period"
            )
        if not (periods or opening) or len(periods) > MAX_PERIODS:
            raise ValueError(f"period mode needs 1 to {MAX_PERIODS} periods (YYYY-MM)")
        if first_allowed and periods and periods[0] < first_allowed:
            raise ValueError(
                f"period {periods[0]} is before actuals.first_period "
                f"{first_allowed}: the model holds no such month (its entries only feed the "
                'opening balances: ask for "opening": true)'
            )
    else:
        stored, version = rt.cursors.get(pipeline.name, RESOURCE)
        if stored is None:
            first_load = True
            periods, cursor_out, beyond = _everything(bc, read_started, horizon)
        else:
            periods, cursor_out = _touched(bc, Cursor.from_dict(stored), read_started)
            beyond = any(p > horizon for p in periods)
        opening = bool(first_allowed and periods and periods[0] < first_allowed)
        periods = [p for p in periods if (not first_allowed or p >= first_allowed) and p <= horizon]
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
        "runs": [[p.key for p in run] for run in runs_of(periods)],
        "closing_periods": [p.key for p in closing],
        "opening_before": first_allowed.key if opening and first_allowed else None,
        "beyond_horizon": horizon.key if beyond else None,
        "cursor": cursor_out,
        "cursor_version": version,
        "first_load": first_load,
    }


def horizon_period(now: datetime) -> Period:
    """The last month the connector places figures in: ``HORIZON_MONTHS`` ahead of ``now``."""
    period = Period.of(now.date())
    for _ in range(HORIZON_MONTHS):
        period = period.next()
    return period


def first_allowed_period(pipeline: Pipeline) -> Period | None:
    """The model's first month (``actuals.first_period``), if the pipeline names one."""
    first = pipeline.actuals.first_period
    return Period.parse(first) if first else None


def _everything(
    bc: BcClient, read_started: datetime, horizon: Period
) -> tuple[list[Period], dict[str, Any] | None, bool]:
    """Every month with postings, up to the horizon; whether anything lies beyond it."""
    within = f"postingDate le {horizon.last_day.isoformat()}"
    first = _first(bc, "postingDate", False)
    last = _first(bc, "postingDate", True, within)
    beyond = _any(bc, f"postingDate gt {horizon.last_day.isoformat()}")
    if first is None:
        return [], None, False
    newest = parse_datetime(_first(bc, "lastModifiedDateTime", True))
    start = min(newest, read_started) if newest else read_started
    periods = (
        months(Period.of(date.fromisoformat(first)), Period.of(date.fromisoformat(last)))
        if last
        else []
    )
    return periods, Cursor(start=start).to_dict(), beyond


def _touched(
    bc: BcClient, cursor: Cursor, read_started: datetime
) -> tuple[list[Period], dict[str, Any]]:
    run = cursor.open()
    periods: set[Period] = set()
    for page in iter_pages(bc, STAMPS, filter_expression=cursor.filter()):
        for stamp in run.admit(page):
            if stamp.posting_date is not None:
                periods.add(Period.of(stamp.posting_date))
    advanced = run.advanced()
    if advanced.start is not None and advanced.start > read_started:
        advanced = replace(advanced, start=read_started)
    return sorted(periods), advanced.to_dict()


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


def runs_of(periods: list[Period]) -> list[list[Period]]:
    """Contiguous months, grouped: each group is read from BC as one stream of full pages."""
    runs: list[list[Period]] = []
    for period in sorted(periods):
        if runs and runs[-1][-1].next() == period:
            runs[-1].append(period)
        else:
            runs.append([period])
    return runs


def stage_periods(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Read a run of contiguous months in one stream and aggregate each month's cells.

    One posting-date window for the whole run keeps BC's pages full (a first load of a million
    entries is about fifty 20,000-entry pages, not three per month); entries are routed to their
    month as they stream by.
    """
    started = time.monotonic()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    periods = [Period.parse(p) for p in request["periods"]]
    bc = rt.bc(pipeline.name)
    aggregator = aggregator_for(rt, pipeline)
    results = {(p.year, p.month): PeriodAggregate(p) for p in periods}
    tallies: dict[tuple[int, int], dict[str, Decimal]] = {k: {} for k in results}
    started_at = utc_now()
    for entry in iter_gl_amounts(bc, periods[0].first_day, periods[-1].last_day):
        month = (entry.posting_date.year, entry.posting_date.month)
        result = results.get(month)
        if result is None:
            raise ValueError(
                f"G/L entry {entry.entry_number} posted {entry.posting_date} is outside "
                f"the months {periods[0]}..{periods[-1]} read; BC's filter and ours disagree"
            )
        aggregator.add(result, entry)
        by_account = tallies[month]
        by_account[entry.account_number] = (
            by_account.get(entry.account_number, ZERO) + entry.debit - entry.credit
        )
    share_ms = int((time.monotonic() - started) * 1000) // len(results)
    out = [
        _finish_period(rt, bc, run_id, pipeline, results[k], tallies[k], started_at, share_ms)
        for k in sorted(results)
    ]
    return {
        "periods": [p.key for p in periods],
        "reconciliation": out,
        "entries_read": sum(r.entries for r in results.values()),
    }


def _finish_period(
    rt: Runtime,
    bc: BcClient,
    run_id: str,
    pipeline: Pipeline,
    result: PeriodAggregate,
    by_account: dict[str, Decimal],
    started_at: str,
    share_ms: int,
) -> dict[str, Any]:
    """Check one month against BC's trial balance, audit it and stage its snapshot."""
    period = result.period
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
            f"read:{period}",
            f"read and aggregate {period}",
            started_at,
            share_ms,
            counts,
            {"reconciliation": reconciliation},
        ),
    )
    return reconciliation


def _quarantine_records(result: PeriodAggregate, label: str | None = None) -> Iterator[AuditRecord]:
    """One row per quarantined entry, labelled with its month (or ``label``, for entries that
    belong to no month of the model)."""
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
            label or result.period.key,
        )


def trial_balance_check(
    bc: BcClient, period: Period, by_account: dict[str, Decimal]
) -> dict[str, Any]:
    """Compare per-account net change with BC's trial balance for the period (independent).

    The rows are decoded strictly (``streams.iter_trial_balance``): a malformed row fails the
    run naming the account and the field, instead of being compared as if it were a figure.
    """
    mismatches = []
    for row in streams.iter_trial_balance(bc, period.first_day, period.last_day):
        if row.account_type != "Posting":
            continue
        expected = row.total_debit - row.total_credit
        seen = by_account.get(row.number, ZERO)
        if expected != seen:
            mismatches.append(
                {"account": row.number, "trial_balance": str(expected), "entries": str(seen)}
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
    # labelled as what they feed, not as the month before the model: they were posted any time
    rt.audit.record(run_id, _quarantine_records(result, OPENING_BALANCE))
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


def stage_beyond_horizon(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Quarantine entries posted beyond the planning horizon: a typo BC accepted (year 2999)
    must neither plan a thousand years of months nor disappear without a word."""
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    horizon = Period.parse(request["after"])
    window = Cursor(posting_from=horizon.next().first_day)
    records = (
        AuditRecord(
            "quarantined",
            entry.id,
            f"posted {entry.posting_date}, more than {HORIZON_MONTHS} months ahead "
            f"(after {horizon}): check the posting date in BC",
            {
                "entry_number": entry.entry_number,
                "posting_date": entry.posting_date.isoformat(),
                "account": entry.account_number,
                "amount": str(entry.debit - entry.credit),
            },
            BEYOND_HORIZON,
        )
        for entry in streams.iter_gl_entries(rt.bc(pipeline.name), window.open())
    )
    written = rt.audit.record(run_id, records)
    rt.audit.record_step(
        run_id,
        StepRecord(
            request["step_id"],
            "entries beyond the planning horizon",
            started_at,
            int((time.monotonic() - started) * 1000),
            {"quarantined": written},
            {"after": str(horizon)},
        ),
    )
    return {"quarantined": written}


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
