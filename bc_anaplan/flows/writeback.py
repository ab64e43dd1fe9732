"""Plan writeback: an approved plan version into BC as draft journal lines, exactly once.

Steps (the orchestrator ``plan_writeback`` sequences them; the export itself ran under the
model lock and is staged in Blob Storage):

1. ``validate`` -- judge every exported line of the version (``bc_anaplan.plans``) before BC is
   touched; invalid lines go to the audit trail with their reasons. Under ``all-or-nothing`` any
   invalid line stops the run here. The plan's *revision* (a hash of its valid lines) decides
   whether there is anything to do: the revision already fully written is ``unchanged``.
2. ``begin`` -- claim the version for this run (a second run of the same version while one runs
   is refused: two runs interleaving their writes and retirements could leave both revisions in
   the batch), record the revision in the version's list of revisions, then ask BC which rows
   finance already *posted* from a line of any revision of the version (``posted_entries``: the
   G/L entries keep the line's document number and description). Those rows are never written
   again -- the next posting would count them twice -- and are recorded with the posted amount,
   the new plan amount and the difference. The other rows are staged as the lines to write.
3. ``write_chunk`` -- one activity per bounded chunk of those lines (``lines_per_activity``),
   each an idempotent ``DraftJournalWriter`` run: keys are derived from version, revision and
   row, so a retried or resumed chunk finds its lines and writes none twice.
4. ``roll_back`` (``all-or-nothing`` only, if BC refused a line) -- delete this revision's lines.
5. ``retire`` -- delete the drafts of the version's earlier revisions still in the batch (never
   a posted line: posting removed it from the batch), *then* ask BC again what was posted. A
   row whose earlier line finance posted while this run was writing now has a new draft too;
   that new draft is withdrawn (deleted) and the row reported, so no row ends with a posted
   line and a draft waiting to be posted. Deleting first closes the window: once the old drafts
   are gone, none of them can be posted any more.
6. ``commit`` -- read the written lines back, reconcile them per account with the lines that
   were meant to be written (plan total = drafts written + rows posted earlier, to the cent),
   record one audit row per line (row key -> BC journal line id) and make the revision current.

The connector never posts the journal; G/L accounts and entries are only ever read.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bc_anaplan import workkeys
from bc_anaplan.audit import AuditRecord, StepRecord, utc_now
from bc_anaplan.bc import streams
from bc_anaplan.bc.journal import (
    KEY_SCHEME,
    DraftJournalWriter,
    PlanLine,
    delete_lines,
    line_key,
    plan_document_number,
)
from bc_anaplan.bc.paging import iter_pages
from bc_anaplan.bc.records import JournalLine
from bc_anaplan.flows.writeback_posted import (
    LINES_PER_AUDIT_ROW,
    POSTED_COLUMNS,
    PostedRow,
    find_posted,
    posted_blob_rows,
    posted_records,
    read_posted,
    unmatched_record,
)
from bc_anaplan.flows.writeback_state import (  # callers import the state from here too
    WritebackState,
    plan_description,
    plan_version_key,
    revisions_of,
    run_is_running,
)
from bc_anaplan.pipeline import Pipeline, WritebackConfig
from bc_anaplan.plans import (
    AccountFacts,
    Columns,
    Dictionary,
    PlanValidator,
    ValidLine,
    totals_by_account,
)
from bc_anaplan.runtime import Runtime

POLICIES = ("all-or-nothing", "continue")
LINE_COLUMNS = ["row_key", "account", "posting_date", "amount", "dimensions", "exported"]


def _config(pipeline: Pipeline) -> WritebackConfig:
    if pipeline.writeback is None:
        raise ValueError(f"pipeline {pipeline.name} has no [pipeline.writeback] section")
    return pipeline.writeback


def _blob(pipeline: Pipeline, run_id: str, name: str) -> str:
    return f"{pipeline.name}/{run_id}/{name}"


# --- 1. validate ---------------------------------------------------------------------------------


def dictionary(rt: Runtime, pipeline: Pipeline) -> Dictionary:
    bc = rt.bc(pipeline.name)
    accounts = {
        a.number: AccountFacts(a.number, a.account_type, a.blocked, a.direct_posting)
        for a in streams.iter_accounts(bc)
    }
    members = rt.mappings.load(pipeline.name, pipeline.accounts.anaplan_list)
    account_members = _lookup(members)
    dimension_members, dimension_values = {}, {}
    known = {d.code: d.id for d in streams.iter_dimensions(bc)}
    for mapping in pipeline.dimensions:
        dimension_members[mapping.bc_dimension] = _lookup(
            rt.mappings.load(pipeline.name, mapping.anaplan_list)
        )
        dimension_id = known.get(mapping.bc_dimension)
        values = streams.iter_dimension_values(bc, dimension_id) if dimension_id else iter(())
        dimension_values[mapping.bc_dimension] = frozenset(v.code for v in values)
    return Dictionary(accounts, account_members, dimension_members, dimension_values)


def _lookup(mappings: dict[str, Any]) -> dict[str, str]:
    """Anaplan member code and name -> BC code, for members that exist on both sides."""
    lookup: dict[str, str] = {}
    for bc_code, m in mappings.items():
        if m.status == "mapped":
            lookup[m.anaplan_code] = bc_code
            if m.anaplan_name:
                lookup[m.anaplan_name] = bc_code
    return lookup


def columns(pipeline: Pipeline, header: list[str]) -> Columns:
    config = _config(pipeline)
    return Columns(
        account=pipeline.accounts.column,
        dimensions={d.bc_dimension: d.column for d in pipeline.dimensions if d.column in header},
        period=pipeline.actuals.period_column,
        version=config.version_column,
        amount=config.amount_column,
    )


def validate(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    config, version = _config(pipeline), str(request["version"])
    policy = request.get("policy") or config.policy
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    rows = rt.staging.read(request["staged_blob"])
    header = next(rows, [])
    validator = PlanValidator(
        dictionary(rt, pipeline),
        columns(pipeline, header),
        pipeline.periods,
        config.posting_date,
        config.allow_zero_amounts,
    )
    judgement = validator.judge(version, header, rows)
    if judgement.rows_exported == 0:
        raise ValueError(
            f"the export {config.export_action!r} has no rows of version "
            f"{version!r}: is that version approved in Anaplan?"
        )
    rt.audit.record(
        run_id,
        (
            AuditRecord("rejected", f"plan:{i.row_key}", i.reason, {"line": i.line, **i.values})
            for i in judgement.invalid
        ),
    )
    revision = judgement.revision[:16]
    state = WritebackState(rt).get(pipeline.name, version)
    unchanged = (
        state.get("CurrentRevision") == revision
        and state.get("Complete") is True
        and not state.get("Pending")
    )
    stop = policy == "all-or-nothing" and bool(judgement.invalid)
    blob = f"{pipeline.name}/{run_id}/plan-lines.csv.gz"
    if not (stop or unchanged):
        rt.staging.write(
            blob, LINE_COLUMNS, _line_rows(judgement.valid), key_columns=1, amount_column=3
        )
    exported_total = sum((line.exported or line.amount for line in judgement.valid), Decimal(0))
    counts = {
        "lines_exported": judgement.rows_exported,
        "valid_lines": len(judgement.valid),
        "invalid_lines": len(judgement.invalid),
    }
    totals = {a: str(t) for a, t in sorted(totals_by_account(judgement.valid).items())}
    rt.audit.record_step(
        run_id,
        StepRecord(
            request["step_id"],
            f"validate plan {version}",
            started_at,
            int((time.monotonic() - started) * 1000),
            counts,
            {
                "revision": revision,
                "policy": policy,
                "totals_by_account": totals,
                "exported_total": str(exported_total),
            },
        ),
    )
    per_chunk = config.lines_per_activity
    return {
        **counts,
        "revision": revision,
        "policy": policy,
        "stop": stop,
        "unchanged": unchanged,
        "lines_blob": blob,
        "chunks": math.ceil(len(judgement.valid) / per_chunk) if not stop else 0,
        "invalid_reasons": _reason_summary(judgement.invalid),
    }


def _reason_summary(invalid: list[Any]) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    for line in invalid:
        counts[line.reason] = counts.get(line.reason, 0) + 1
    return [{"reason": r, "lines": n} for r, n in sorted(counts.items())][:20]


def _line_rows(lines: list[ValidLine]) -> Iterator[list[str]]:
    for line in sorted(lines, key=lambda v: v.row_key):
        yield [
            line.row_key,
            line.account_number,
            line.posting_date.isoformat(),
            str(line.amount),
            json.dumps(line.dimensions),
            str(line.exported if line.exported is not None else ""),
        ]


def read_lines(
    rt: Runtime, blob: str, version: str, revision: str, start: int = 0, count: int | None = None
) -> list[PlanLine]:
    rows = rt.staging.read(blob)
    next(rows)
    plan_version = plan_version_key(version, revision)
    lines = []
    for index, row in enumerate(rows):
        if index < start:
            continue
        if count is not None and index >= start + count:
            break
        key, account, posting, amount, dims = row[:5]
        lines.append(
            PlanLine(
                plan_version,
                key,
                account,
                date.fromisoformat(posting),
                Decimal(amount),
                tuple(tuple(d) for d in json.loads(dims)),
                plan_description(version, key),
            )
        )
    return lines


# --- 2.-4. begin, write, roll back ---------------------------------------------------------------


def begin(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    version, revision = request["version"], request["revision"]
    claim = WritebackState(rt).claim(
        pipeline.name, version, run_id, revision, lambda run: run_is_running(rt, run)
    )
    if claim.busy_run is not None:
        return {"busy": claim.busy_run}
    journal = streams.find_journal(rt.bc(pipeline.name), _config(pipeline).journal)
    lines = read_lines(rt, request["lines_blob"], version, revision)
    posted = find_posted(rt, pipeline, version, claim.revisions, lines)
    to_write = _blob(pipeline, run_id, "plan-lines-to-write.csv.gz")
    rows = rt.staging.read(request["lines_blob"])
    next(rows)
    written = rt.staging.write(
        to_write,
        LINE_COLUMNS,
        (row for row in rows if row[0] not in posted.rows),
        key_columns=1,
        amount_column=3,
    )
    rt.staging.write(
        _blob(pipeline, run_id, "plan-posted.csv.gz"),
        POSTED_COLUMNS,
        posted_blob_rows(posted.rows.values(), "before"),
    )
    rt.audit.record(
        run_id,
        posted_records(
            "posted",
            list(posted.rows.values()),
            "rows posted by finance from an earlier line of this version: not rewritten",
        ),
    )
    rt.audit.record(run_id, unmatched_record("posted-unmatched", posted))
    # a draft of this revision for a row found posted (left by an earlier attempt whose
    # withdrawal did not go through) must not wait in the batch to be posted a second time
    withdrawn = _withdraw(rt, pipeline, version, revision, list(posted.rows.values()))[0]
    twice = posted.posted_twice()
    counts = {
        "posted_earlier": len(posted.rows),
        "lines_to_write": written.rows,
        "bc_requests": posted.requests + 1,
    }
    rt.audit.record_step(
        run_id,
        StepRecord(
            "begin",
            "find the rows finance posted",
            started_at,
            int((time.monotonic() - started) * 1000),
            counts,
            {
                "revisions": claim.revisions,
                "posted_earlier_plan_total": str(
                    sum((r.plan for r in posted.rows.values()), Decimal(0))
                ),
                "posted_earlier_bc_total": str(
                    sum((r.posted for r in posted.rows.values()), Decimal(0))
                ),
                "posted_twice": [r.row_key for r in twice][:50],
                "unmatched_posted_entries": len(posted.unmatched),
                "drafts_of_posted_rows_withdrawn": withdrawn,
            },
        ),
    )
    size = _config(pipeline).lines_per_activity
    return {
        "journal_id": journal.id,
        "previous": claim.previous,
        "earlier": [r for r in claim.revisions if r != revision],
        "posted_earlier": len(posted.rows),
        "posted_twice": len(twice),
        "unmatched_posted_entries": len(posted.unmatched),
        "lines_to_write": written.rows,
        "lines_blob": to_write,
        "chunks": math.ceil(written.rows / size),
    }


def write_chunk(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    size = _config(pipeline).lines_per_activity
    lines = read_lines(
        rt,
        request["lines_blob"],
        request["version"],
        request["revision"],
        request["chunk"] * size,
        size,
    )
    writer = DraftJournalWriter(
        rt.bc(pipeline.name), _config(pipeline).journal, journal_id=request.get("journal_id")
    )
    report = writer.write(lines)
    by_key = {line.key: line for line in lines}
    rt.audit.record(
        run_id,
        (
            AuditRecord(
                "rejected",
                f"plan:{f.row_key}",
                f"BC {f.code or f.status}: {f.message}",
                {
                    "stage": f.stage,
                    "status": f.status,
                    "removed": f.removed,
                    "account": by_key[k].account_number,
                    "amount": str(by_key[k].amount),
                },
            )
            for k, f in report.failures.items()
        ),
    )
    written = len(report.created) + len(report.already_present) + len(report.repaired)
    counts = {
        "lines_written": written,
        "bc_rejected": len(report.failures),
        "bc_requests": report.requests,
    }
    rt.audit.record_step(
        run_id,
        StepRecord(
            f"write:{request['chunk']:04d}",
            f"write lines, chunk {request['chunk'] + 1}",
            started_at,
            int((time.monotonic() - started) * 1000),
            counts,
            {
                "created": len(report.created),
                "already_present": len(report.already_present),
                "repaired": len(report.repaired),
            },
        ),
    )
    return counts


def _revision_lines(
    rt: Runtime, pipeline: Pipeline, version: str, revisions: Iterable[str]
) -> tuple[str, list[JournalLine]]:
    """Every line of the revisions in the batch -- copies included, so none survives retirement.

    Read from the primary (not a replica): it must see lines written a moment ago.
    """
    bc = rt.bc(pipeline.name)
    journal = streams.find_journal(bc, _config(pipeline).journal)
    lines: list[JournalLine] = []
    for revision in revisions:
        document = plan_document_number(plan_version_key(version, revision))
        lines += [
            line
            for page in iter_pages(
                bc,
                streams.JOURNAL_LINES,
                path=f"journals({journal.id})/journalLines",
                filter_expression=f"documentNumber eq '{document}'",
                replica=False,
            )
            for line in page
            if line.document_number == document
        ]
    return journal.id, lines


def roll_back(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """``all-or-nothing``: BC refused some lines, so none of this revision may stay."""
    pipeline, version = rt.settings.pipeline(request["pipeline"]), request["version"]
    _, lines = _revision_lines(rt, pipeline, version, [request["revision"]])
    gone = delete_lines(rt.bc(pipeline.name), lines)
    store = WritebackState(rt)
    if store.get(pipeline.name, version).get("PendingRun") == request["run_id"]:
        store.update(pipeline.name, version, Pending="", PendingRun="")
    return {"deleted": sum(gone.values()), "kept": sum(not g for g in gone.values())}


# --- 5. retire the earlier revisions -------------------------------------------------------------


def retire(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Delete the earlier revisions' drafts, then withdraw new drafts of rows posted meanwhile.

    Order matters: after the old drafts are deleted none of them can be posted any more, so the
    posted entries read *afterwards* are final for the earlier revisions. A row found posted now
    but not when this run began was posted while it wrote; its new draft is deleted again (a
    finance team expects the figure it posted to stand, and the difference to be reported, not
    a second line for the same row waiting to be posted).
    """
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    version, revision = request["version"], request["revision"]
    earlier = [r for r in request["earlier"] if r != revision]
    previous = request.get("previous") or {}
    bc = rt.bc(pipeline.name)
    store = WritebackState(rt)
    record = store.get(pipeline.name, version).get("Retire") or {}
    _, drafts = _revision_lines(rt, pipeline, version, earlier)
    if record.get("run") != run_id:  # the first look (a retried retire keeps it)
        record = {"run": run_id, "revisions": earlier, "drafts_found": len(drafts), "deleted": 0}
    gone = delete_lines(bc, drafts)
    kept = [line for line in drafts if not gone.get(line.id)]
    record["deleted"] = int(record.get("deleted", 0)) + sum(gone.values())
    record["kept"] = len(kept)  # a reviewer changed them since they were read: left alone

    lines = read_lines(rt, request["lines_blob"], version, revision)
    posted = find_posted(rt, pipeline, version, [*earlier, revision], lines)
    posted_blob = _blob(pipeline, run_id, "plan-posted.csv.gz")
    before = read_posted(rt, posted_blob)
    late = [
        row for key, row in posted.rows.items() if key not in before and row.revisions - {revision}
    ]
    withdrawn, not_withdrawn = _withdraw(rt, pipeline, version, revision, late)
    if late:
        rows = [*before.values(), *(next(posted_blob_rows([r], "during")) for r in late)]
        rt.staging.write(posted_blob, POSTED_COLUMNS, sorted(rows))
        rt.audit.record(
            run_id,
            posted_records(
                "posted-during-run",
                late,
                "rows posted by finance from an earlier line while this run wrote: their new "
                "draft was withdrawn",
                not_withdrawn=not_withdrawn,
            ),
        )
    rt.audit.record(run_id, unmatched_record("posted-unmatched-at-retire", posted))
    twice = posted.posted_twice()
    of_previous = sum(1 for r in posted.rows.values() if previous.get("revision") in r.revisions)
    record.update(
        expected=int(previous.get("lines") or 0),
        posted_rows=sum(1 for r in posted.rows.values() if r.revisions - {revision}),
        removed=max(0, int(previous.get("lines") or 0) - int(record["drafts_found"]) - of_previous)
        if previous
        else 0,
        # with the rows a retried retire recorded already
        posted_during_run=len(late) + sum(1 for row in before.values() if row[5] == "during"),
        withdrawn=withdrawn,
        not_withdrawn=not_withdrawn,
        posted_twice=len(twice),
        unmatched_posted_entries=len(posted.unmatched),
    )
    # a revision with no line left in the batch and none posted can never be posted: forget it
    keep = posted.revisions() | {posted.documents[line.document_number] for line in kept}
    revisions = [
        r
        for r in revisions_of(store.get(pipeline.name, version))
        if r == revision or r in keep or r not in earlier
    ]
    store.update(pipeline.name, version, Retire=record, Revisions=revisions)
    rt.audit.record_step(
        run_id,
        StepRecord(
            "retire",
            "retire the earlier revisions",
            started_at,
            int((time.monotonic() - started) * 1000),
            {"posted_during_run": record["posted_during_run"], "bc_requests": posted.requests},
            {**record, "posted_twice_rows": [r.row_key for r in twice][:50]},
        ),
    )
    return record


def _withdraw(
    rt: Runtime, pipeline: Pipeline, version: str, revision: str, rows: list[PostedRow]
) -> tuple[int, int]:
    """Delete this revision's drafts of the posted ``rows``: (withdrawn, found but kept)."""
    if not rows:
        return 0, 0
    plan_version = plan_version_key(version, revision)
    keys = {line_key(plan_version, row.row_key) for row in rows}
    _, current = _revision_lines(rt, pipeline, version, [revision])
    targets = [line for line in current if line.external_document_number in keys]
    gone = delete_lines(rt.bc(pipeline.name), targets)
    withdrawn = sum(gone.values())
    return withdrawn, len(targets) - withdrawn


# --- 6. commit -----------------------------------------------------------------------------------


def commit(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    version, revision = request["version"], request["revision"]
    plan = read_lines(rt, request["lines_blob"], version, revision)
    posted = read_posted(rt, _blob(pipeline, run_id, "plan-posted.csv.gz"))
    wanted = [line for line in plan if line.row_key not in posted]
    journal_id, written = _revision_lines(rt, pipeline, version, [revision])
    by_key = {line.external_document_number: line for line in written}
    rt.audit.record(run_id, _line_records(wanted, by_key))
    reconciliation = _reconcile(plan, posted, written)
    copies = len(written) - len(by_key)
    reconciliation["duplicate_lines"] = copies  # someone copied a draft: visible, and retired
    wanted_keys = {line.key for line in wanted}
    present = sum(1 for key in by_key if key in wanted_keys)
    # a draft of a row finance posted (its withdrawal failed): never silently kept
    reconciliation["drafts_of_posted_rows"] = len(by_key) - present
    complete = present == len(wanted) and copies == 0 and present == len(by_key)
    WritebackState(rt).update(
        pipeline.name,
        version,
        CurrentRevision=revision,
        CurrentLines=len(by_key),
        CurrentRun=run_id,
        WrittenAt=utc_now(),
        Complete=complete,
        Pending="",
        PendingRun="",
        JournalId=journal_id,
    )
    rt.audit.record_step(
        run_id,
        StepRecord(
            "commit",
            "read back and reconcile",
            started_at,
            int((time.monotonic() - started) * 1000),
            {"lines_in_bc": len(by_key)},
            {"reconciliation": reconciliation},
        ),
    )
    return {
        "lines_in_bc": len(by_key),
        "lines_meant": len(wanted),
        "posted_left_out": len(posted),  # found when the run began, and while it wrote
        "complete": complete,
        "reconciliation": reconciliation,
    }


def _line_records(wanted: list[PlanLine], by_key: dict[str, JournalLine]) -> Iterator[AuditRecord]:
    """One audit row per 150 lines: ``[row key, BC journal line id or null, status]`` each.

    A row per line would cost a table transaction per 100 lines -- seconds for a 10,000-line
    plan -- for no more information.
    """
    for start in range(0, len(wanted), LINES_PER_AUDIT_ROW):
        chunk = wanted[start : start + LINES_PER_AUDIT_ROW]
        lines = [
            [
                p.row_key,
                by_key[p.key].id if p.key in by_key else None,
                "written" if p.key in by_key else "missing",
            ]
            for p in chunk
        ]
        missing = sum(1 for line in lines if line[1] is None)
        yield AuditRecord(
            "journal_line",
            f"plan:{start:06d}",
            f"{len(lines) - missing} written" + (f", {missing} missing" if missing else ""),
            {"columns": ["row_key", "bc_line_id", "status"], "lines": lines},
        )


def _reconcile(
    plan: list[PlanLine], posted: dict[str, list[str]], written: list[JournalLine]
) -> dict[str, Any]:
    """Per account: plan total = BC drafts of this revision + plan amounts of rows posted
    earlier (excluded from the write), to the cent."""
    totals = totals_by_account(
        ValidLine(p.row_key, p.account_number, p.posting_date, p.amount, p.dimensions) for p in plan
    )
    excluded: dict[str, Decimal] = {}
    posted_bc = Decimal(0)
    for line in plan:
        if line.row_key in posted:
            account = line.account_number
            excluded[account] = excluded.get(account, Decimal(0)) + line.amount
            posted_bc += Decimal(posted[line.row_key][2])
    bc: dict[str, Decimal] = {}
    for draft in written:  # every line of the revision, a copy of one counted twice
        if draft.external_document_number.startswith(KEY_SCHEME):
            bc[draft.account_number] = bc.get(draft.account_number, Decimal(0)) + draft.amount
    accounts = sorted(set(totals) | set(bc))
    zero = Decimal(0)
    mismatches = [
        {
            "account": a,
            "plan": str(totals.get(a, zero)),
            "bc": str(bc.get(a, zero)),
            "posted_earlier": str(excluded.get(a, zero)),
        }
        for a in accounts
        if totals.get(a, zero) - excluded.get(a, zero) != bc.get(a, zero)
    ]
    return {
        "accounts": len(accounts),
        "plan_total": str(sum(totals.values(), zero)),
        "bc_total": str(sum(bc.values(), zero)),
        "posted_earlier_total": str(sum(excluded.values(), zero)),
        "posted_earlier_bc_total": str(posted_bc),
        "posted_earlier_by_account": {a: str(v) for a, v in sorted(excluded.items())},
        "matches": not mismatches,
        "mismatches": mismatches[:20],
    }


# --- the approval watch --------------------------------------------------------------------------


def newly_approved(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Versions the status export shows approved after their last writeback (or never written).

    With each, its work key: the watch starts the writeback under the same instance id family
    as ``POST /api/writeback`` so the API sees it running. A version a running writeback owns
    right now is left for the next tick (``being_written``).
    """
    pipeline = rt.settings.pipeline(request["pipeline"])
    config = _config(pipeline)
    rows = rt.staging.read(request["staged_blob"])
    header = next(rows, [])
    wanted = (
        config.status_version_column,
        config.status_approved_column,
        config.status_approved_at_column,
    )
    missing = [c for c in wanted if c not in header]
    if missing:
        raise ValueError(
            f"the status export has no column {', '.join(missing)}; its columns "
            f"are {', '.join(header)}"
        )
    at = [header.index(c) for c in wanted]
    store = WritebackState(rt)
    due: list[str] = []
    busy: list[str] = []
    for row in rows:
        version, approved, approved_at = (row[i] if i < len(row) else "" for i in at)
        if approved.strip().lower() not in ("true", "yes", "1") or version in due:
            continue
        state = store.get(pipeline.name, version)
        written_at = str(state.get("WrittenAt") or "")
        if written_at and not (approved_at and _instant(approved_at) > _instant(written_at)):
            continue
        owner = str(state.get("PendingRun") or "")
        if state.get("Pending") and owner and run_is_running(rt, owner):
            busy.append(version)
        else:
            due.append(version)
    return {
        "versions": due,
        "work_keys": {v: workkeys.plan_writeback(pipeline, v) for v in due},
        "being_written": busy,
    }


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
