"""Which rows of a plan version finance already posted, found in BC's G/L entries.

Posting a journal line turns it into G/L entries that keep the line's document number (one per
revision of the version, ``plan_document_number``) and description (``plan_description``:
version and row key); the line leaves the batch. So a row whose earlier draft was posted is
known by an entry of one of the version's documents carrying the row's description on the
row's account -- the entry with the same description on another account is the balancing side.
BC is the source of truth; nothing the connector remembers is trusted for this.

Limits, said plainly: a description a reviewer edited before posting (or a document number
changed) no longer names the row; such entries are reported as *unmatched*, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bc_anaplan.audit import AuditRecord
from bc_anaplan.bc.journal import PlanLine, plan_document_number, posted_entries
from bc_anaplan.bc.records import GlEntry
from bc_anaplan.flows.writeback_state import plan_version_key
from bc_anaplan.pipeline import Pipeline
from bc_anaplan.runtime import Runtime

POSTED_COLUMNS = ["row_key", "account", "posted_amount", "plan_amount", "difference", "found"]
LINES_PER_AUDIT_ROW = 150  # keeps a row's JSON well under Table Storage's 32K-character limit


@dataclass
class PostedRow:
    """A plan row with G/L entries posted from a line of some revision of the version."""

    row_key: str
    account: str
    posted: Decimal  # the posted amount on the row's account (debit positive)
    plan: Decimal  # the new plan's amount for the row
    revisions: set[str] = field(default_factory=set)  # revisions whose line of it was posted

    @property
    def difference(self) -> Decimal:
        return self.plan - self.posted


@dataclass
class PostedLookup:
    rows: dict[str, PostedRow]  # row key -> row
    unmatched: list[GlEntry]  # entries of the version's documents that name no row of the plan
    requests: int
    documents: dict[str, str]  # document number -> revision

    def posted_twice(self) -> list[PostedRow]:
        return [row for row in self.rows.values() if len(row.revisions) > 1]

    def revisions(self) -> set[str]:
        """Revisions with at least one posted entry."""
        found = {r for row in self.rows.values() for r in row.revisions}
        return found | {self.documents[e.document_number] for e in self.unmatched}


def find_posted(
    rt: Runtime, pipeline: Pipeline, version: str, revisions: Iterable[str], lines: list[PlanLine]
) -> PostedLookup:
    """The rows of ``lines`` finance posted from a line of one of ``revisions``.

    A posted line leaves G/L entries with its document number (one per revision) and its
    description (``plan_description``: version and row key). The entry on the row's account is
    the row's; an entry with the same description on another account is the balancing side.
    """
    documents = {plan_document_number(plan_version_key(version, r)): r for r in revisions}
    entries, requests = posted_entries(rt.bc(pipeline.name), documents)
    by_description: dict[tuple[str, str], list[PlanLine]] = {}
    for line in lines:
        description = line.body()["description"]
        by_description.setdefault((description, line.account_number), []).append(line)
    descriptions = {d for d, _ in by_description}
    rows: dict[str, PostedRow] = {}
    unmatched: list[GlEntry] = []
    for entry in entries:
        matched = by_description.get((entry.description, entry.account_number))
        if matched is None:
            if entry.description not in descriptions:
                unmatched.append(entry)  # a reviewer changed the description, or the row left
            continue  # otherwise the balancing entry of a posted row
        # two rows sharing a (truncated) description are both treated as posted: the safe side
        for line in matched:
            row = rows.setdefault(
                line.row_key, PostedRow(line.row_key, line.account_number, Decimal(0), line.amount)
            )
            row.posted += entry.amount
            row.revisions.add(documents[entry.document_number])
    return PostedLookup(rows, unmatched, requests, documents)


def posted_blob_rows(rows: Iterable[PostedRow], found: str) -> Iterator[list[str]]:
    for row in sorted(rows, key=lambda r: r.row_key):
        yield [
            row.row_key,
            row.account,
            str(row.posted),
            str(row.plan),
            str(row.difference),
            found,
        ]


def read_posted(rt: Runtime, blob: str) -> dict[str, list[str]]:
    rows = rt.staging.read(blob)
    next(rows)
    return {row[0]: row for row in rows}


def posted_records(
    kind_key: str, rows: list[PostedRow], reason: str, **extra: Any
) -> Iterator[AuditRecord]:
    """One audit row per 150 posted rows: row key, posted amount, new plan amount, difference."""
    ordered = sorted(rows, key=lambda r: r.row_key)
    for start in range(0, len(ordered), LINES_PER_AUDIT_ROW):
        chunk = ordered[start : start + LINES_PER_AUDIT_ROW]
        yield AuditRecord(
            "journal_line",
            f"{kind_key}:{start:06d}",
            f"{len(chunk)} {reason}",
            {
                "columns": ["row_key", "account", "posted_amount", "plan_amount", "difference"],
                "lines": [
                    [r.row_key, r.account, str(r.posted), str(r.plan), str(r.difference)]
                    for r in chunk
                ],
                **extra,
            },
        )


def unmatched_record(key: str, lookup: PostedLookup) -> Iterator[AuditRecord]:
    if not lookup.unmatched:
        return
    yield AuditRecord(
        "event",
        key,
        f"{len(lookup.unmatched)} posted entries of this version's plan documents name no row "
        "of the plan (a description changed before posting, or the row left the plan)",
        {
            "entries": [
                [e.entry_number, e.document_number, e.account_number, e.description, str(e.amount)]
                for e in lookup.unmatched[:200]
            ],
            "amount": str(sum((e.amount for e in lookup.unmatched), Decimal(0))),
        },
    )
