"""Plan writeback: an approved plan version into BC as draft journal lines, exactly once.

Steps (the orchestrator ``plan_writeback`` sequences them; the export itself ran under the
model lock and is staged in Blob Storage):

1. ``validate`` -- judge every exported line of the version (``bc_anaplan.plans``) before BC is
   touched; invalid lines go to the audit trail with their reasons. Under ``all-or-nothing`` any
   invalid line stops the run here. The plan's *revision* (a hash of its valid lines) decides
   whether there is anything to do: the revision already fully written is ``unchanged``.
2. ``begin`` -- record the revision as pending for the version (a crash resumes it).
3. ``write_chunk`` -- one activity per bounded chunk of lines (``lines_per_activity``), each an
   idempotent ``DraftJournalWriter`` run: keys are derived from version, revision and row, so a
   retried or resumed chunk finds its lines and writes none twice.
4. ``roll_back`` (``all-or-nothing`` only, if BC refused a line) -- delete this revision's lines.
5. ``retire`` -- delete the drafts of the version's previous revision that are still in the
   batch; lines no longer there were posted (or removed) by finance and are never touched; the
   run says how many.
6. ``commit`` -- read the written lines back, reconcile them per account with the export to the
   cent, record one audit row per line (row key -> BC journal line id) and make the revision
   current.

The connector never posts the journal; G/L accounts and entries are only ever read.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from bc_anaplan.audit import AuditRecord, StepRecord, utc_now
from bc_anaplan.bc import streams
from bc_anaplan.bc.journal import (
    KEY_SCHEME,
    DraftJournalWriter,
    PlanLine,
    delete_lines,
    plan_document_number,
)
from bc_anaplan.bc.paging import iter_pages
from bc_anaplan.bc.records import JournalLine
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
from bc_anaplan.storage import safe_key

POLICIES = ("all-or-nothing", "continue")
LINE_COLUMNS = ["row_key", "account", "posting_date", "amount", "dimensions", "exported"]


# --- state per plan version ----------------------------------------------------------------------


class WritebackState:
    """What was written for each plan version: the current and the pending revision."""

    def __init__(self, rt: Runtime) -> None:
        self.table = rt.storage.table("Writebacks")

    def get(self, pipeline: str, version: str) -> dict[str, Any]:
        try:
            entity = self.table.get_entity(safe_key(pipeline), safe_key(version))
        except ResourceNotFoundError:
            return {}
        return {
            k: (json.loads(v) if k in ("Retire", "Previous") and v else v)
            for k, v in entity.items()
        }

    def update(self, pipeline: str, version: str, **fields: Any) -> None:
        entity = {"PartitionKey": safe_key(pipeline), "RowKey": safe_key(version)}
        for key, value in fields.items():
            entity[key] = json.dumps(value) if isinstance(value, dict) else value
        self.table.upsert_entity(entity, mode=UpdateMode.MERGE)

    def versions(self, pipeline: str) -> list[dict[str, Any]]:
        rows = self.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": safe_key(pipeline)}
        )
        return [dict(r) for r in rows]


def _config(pipeline: Pipeline) -> WritebackConfig:
    if pipeline.writeback is None:
        raise ValueError(f"pipeline {pipeline.name} has no [pipeline.writeback] section")
    return pipeline.writeback


def plan_version_key(version: str, revision: str) -> str:
    """The plan version as the journal sees it: one per revision of the approved figures."""
    return f"{version}#{revision}"


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
                f"{version} {key}",
            )
        )
    return lines


# --- 2.-4. begin, write, roll back ---------------------------------------------------------------


def begin(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    pipeline, version = rt.settings.pipeline(request["pipeline"]), request["version"]
    store = WritebackState(rt)
    state = store.get(pipeline.name, version)
    previous = None
    current = state.get("CurrentRevision")
    if current and current != request["revision"]:
        previous = {"revision": current, "lines": int(state.get("CurrentLines") or 0)}
    journal = streams.find_journal(rt.bc(pipeline.name), _config(pipeline).journal)
    if state.get("Pending") != request["revision"]:
        store.update(
            pipeline.name,
            version,
            Pending=request["revision"],
            PendingRun=request["run_id"],
            Previous=previous or {},
        )
    elif state.get("Previous"):
        previous = state["Previous"]
    return {"previous": previous, "journal_id": journal.id}


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
    rt: Runtime, pipeline: Pipeline, version: str, revision: str
) -> tuple[str, list[JournalLine]]:
    """Every line of the revision in the batch -- copies included, so none survives retirement.

    Read from the primary (not a replica): it must see lines written a moment ago.
    """
    bc = rt.bc(pipeline.name)
    journal = streams.find_journal(bc, _config(pipeline).journal)
    document = plan_document_number(plan_version_key(version, revision))
    lines = [
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
    _, lines = _revision_lines(rt, pipeline, version, request["revision"])
    gone = delete_lines(rt.bc(pipeline.name), lines)
    WritebackState(rt).update(pipeline.name, version, Pending="", PendingRun="")
    return {"deleted": sum(gone.values()), "kept": sum(not g for g in gone.values())}


# --- 5. retire the previous revision -------------------------------------------------------------


def retire(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    pipeline, version = rt.settings.pipeline(request["pipeline"]), request["version"]
    previous = request["previous"]
    store = WritebackState(rt)
    record = store.get(pipeline.name, version).get("Retire") or {}
    _, drafts = _revision_lines(rt, pipeline, version, previous["revision"])
    if record.get("revision") != previous["revision"]:
        # first look at the old revision: what is not in the batch any more was posted or
        # removed by someone else, and is never touched
        record = {
            "revision": previous["revision"],
            "expected": previous["lines"],
            "drafts_found": len(drafts),
            "posted_or_removed": max(0, previous["lines"] - len(drafts)),
            "deleted": 0,
        }
    gone = delete_lines(rt.bc(pipeline.name), drafts)
    record["deleted"] = int(record.get("deleted", 0)) + sum(gone.values())
    record["kept"] = sum(not g for g in gone.values())
    store.update(pipeline.name, version, Retire=record)
    return record


# --- 6. commit -----------------------------------------------------------------------------------


def commit(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    version, revision = request["version"], request["revision"]
    wanted = read_lines(rt, request["lines_blob"], version, revision)
    journal_id, written = _revision_lines(rt, pipeline, version, revision)
    by_key = {line.external_document_number: line for line in written}
    rt.audit.record(run_id, _line_records(wanted, by_key))
    reconciliation = _reconcile(wanted, written)
    copies = len(written) - len(by_key)
    reconciliation["duplicate_lines"] = copies  # someone copied a draft: visible, and retired
    complete = len(by_key) == len(wanted) and copies == 0
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
    return {"lines_in_bc": len(by_key), "complete": complete, "reconciliation": reconciliation}


LINES_PER_AUDIT_ROW = 150  # keeps a row's JSON well under Table Storage's 32K-character limit


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


def _reconcile(wanted: list[PlanLine], written: list[JournalLine]) -> dict[str, Any]:
    plan = totals_by_account(
        ValidLine(p.row_key, p.account_number, p.posting_date, p.amount, p.dimensions)
        for p in wanted
    )
    bc: dict[str, Decimal] = {}
    for line in written:  # every line of the revision, a copy of one counted twice
        if line.external_document_number.startswith(KEY_SCHEME):
            bc[line.account_number] = bc.get(line.account_number, Decimal(0)) + line.amount
    accounts = sorted(set(plan) | set(bc))
    mismatches = [
        {"account": a, "plan": str(plan.get(a, Decimal(0))), "bc": str(bc.get(a, Decimal(0)))}
        for a in accounts
        if plan.get(a, Decimal(0)) != bc.get(a, Decimal(0))
    ]
    return {
        "accounts": len(accounts),
        "plan_total": str(sum(plan.values(), Decimal(0))),
        "bc_total": str(sum(bc.values(), Decimal(0))),
        "matches": not mismatches,
        "mismatches": mismatches[:20],
    }


# --- the approval watch --------------------------------------------------------------------------


def newly_approved(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Versions the status export shows approved after their last writeback (or never written)."""
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
    due = []
    for row in rows:
        version, approved, approved_at = (row[i] if i < len(row) else "" for i in at)
        if approved.strip().lower() not in ("true", "yes", "1"):
            continue
        written_at = str(store.get(pipeline.name, version).get("WrittenAt") or "")
        if not written_at or (approved_at and _instant(approved_at) > _instant(written_at)):
            due.append(version)
    return {"versions": due}


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
