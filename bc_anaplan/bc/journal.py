"""Draft journal lines for approved plan figures: idempotent, batched, never posted.

**Idempotency key.** Every plan line has a deterministic key, ``line_key(plan version, row
key)`` = ``"AP1-"`` + 28 upper-case hex digits of SHA-256 (32 characters: BC's
``externalDocumentNumber`` is Code[35] and Code fields are upper-cased, so the raw version and
row key, which can be long and mixed-case, are hashed). It is stored in
``externalDocumentNumber``; ``documentNumber`` (Code[20]) holds ``plan_document_number(plan
version)`` so a reviewer sees one document per plan version, and ``description`` (Text[100])
the human-readable row key. Lines of the batch without an ``AP1-`` key are not ours and are
never touched.

**Write algorithm** (``DraftJournalWriter.write``), per round:

1. read the batch's lines with their dimension set lines (one request per 20,000 lines);
2. ``$batch`` POST the lines whose key is missing, 100 per request;
3. ``$batch`` POST the missing dimension set lines (of the lines just created, and of lines a
   crashed run left without them), 100 per request, using the ids BC returned in step 2.

Lines first, dimensions second, rather than line + its dimensions in one change set: BC's
support for ``$N`` references inside a ``$batch`` is undocumented, and this way every request
is full -- 10,000 lines with 2 dimensions need 100 + 200 ``$batch`` requests plus 2 reads.

**Failures.** A line BC rejects (unknown account, ...) is reported with BC's code and message;
the other lines of the same ``$batch`` still succeed (``odata.continue-on-error``). A line whose
dimension set line BC *rejects* (blocked or unknown dimension value) is deleted again (with its
fresh ETag) and reported, so no line without its dimensions waits in the journal for someone to
post it; once the value is fixed the next run creates it afresh. A line left without its
dimensions by a crash or a lost answer is *repaired* on the next round or run (step 3).

**Unknown outcomes.** Creating POSTs are sent with ``idempotent=False``; on
``OutcomeUnknownError`` (and for operations BC did not process) the writer starts a new round,
whose step 1 re-reads the existing keys, so nothing is created twice. After four rounds in a
row that settle no further line, the rest is reported as unconfirmed (a rerun reconciles it).
The connector never calls ``Microsoft.NAV.post`` and never writes accounts or G/L entries
(``batch.check_draft_only``).

**What finance posted.** Posting a batch turns each line into G/L entries that keep the line's
``documentNumber`` and ``description`` (the external document number is not on the
``generalLedgerEntries`` page), and deletes the line. ``posted_entries`` reads the entries of
given plan documents back, so a writeback can tell a draft that was *posted* from one that was
merely *deleted*.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from bc_anaplan.bc.batch import BatchOperation, BatchOutcome, chunked, run_batch
from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.errors import BcError
from bc_anaplan.bc.paging import Resource, iter_pages
from bc_anaplan.bc.records import GlEntry, JournalLine, decode_gl_entry, dimension_map
from bc_anaplan.bc.streams import GL_ENTRIES, JOURNAL_LINES, find_journal
from bc_anaplan.http import OutcomeUnknownError

log = logging.getLogger("bc_anaplan.bc.journal")

KEY_SCHEME = "AP1-"
EXTERNAL_DOCUMENT_NUMBER_LENGTH = 35  # journalLines.externalDocumentNumber: Code[35]
DOCUMENT_NUMBER_LENGTH = 20  # journalLines.documentNumber: Code[20]
DESCRIPTION_LENGTH = 100  # journalLines.description: Text[100]
_KEY_HEX = 28
DOCUMENTS_PER_FILTER = 15  # "documentNumber eq 'PLAN-...'" x 15 keeps the URL short
# G/L entries of plan documents: no dimensions (the row is known by its description)
POSTED_PLAN_ENTRIES = Resource(
    "generalLedgerEntries", GL_ENTRIES.select, decode_gl_entry, cursor_field=None
)
_ALREADY_EXISTS = "already exists"
Progress = Callable[[str, int], None]


def line_key(plan_version: str, row_key: str) -> str:
    digest = hashlib.sha256(f"{plan_version}\x1f{row_key}".encode()).hexdigest()
    return KEY_SCHEME + digest[:_KEY_HEX].upper()


def plan_document_number(plan_version: str) -> str:
    return "PLAN-" + hashlib.sha256(plan_version.encode()).hexdigest()[:12].upper()


@dataclass(frozen=True)
class PlanLine:
    """One approved plan figure to write as a draft journal line."""

    plan_version: str
    row_key: str  # stable identity of the row in the plan export
    account_number: str
    posting_date: date
    amount: Decimal
    dimensions: tuple[tuple[str, str], ...] = ()  # (dimension code, value code)
    description: str = ""

    @property
    def key(self) -> str:
        return line_key(self.plan_version, self.row_key)

    def body(self) -> dict[str, Any]:
        return {
            "accountNumber": self.account_number,
            "postingDate": self.posting_date,
            "documentNumber": plan_document_number(self.plan_version),
            "externalDocumentNumber": self.key,
            "amount": self.amount,
            "description": (self.description or self.row_key)[:DESCRIPTION_LENGTH],
        }


@dataclass(frozen=True)
class LineFailure:
    key: str
    row_key: str
    stage: str  # "line" (the line was rejected) or "dimensions" (a dimension was rejected)
    status: int
    code: str | None
    message: str  # BC's message
    correlation_id: str | None = None
    removed: bool = True  # False: a half-written line could not be deleted and is still there


@dataclass
class WriteReport:
    journal_id: str
    created: set[str] = field(default_factory=set)
    already_present: set[str] = field(default_factory=set)
    repaired: set[str] = field(default_factory=set)  # found without dimensions, completed
    failures: dict[str, LineFailure] = field(default_factory=dict)
    batch_requests: int = 0
    read_requests: int = 0
    rounds: int = 0

    @property
    def requests(self) -> int:
        return self.batch_requests + self.read_requests

    def fail(self, line: PlanLine, stage: str, error: BcError, removed: bool = True) -> None:
        self.created.discard(line.key)
        self.repaired.discard(line.key)
        self.failures[line.key] = LineFailure(
            line.key,
            line.row_key,
            stage,
            error.status,
            error.code,
            error.message,
            error.correlation_id,
            removed,
        )


@dataclass(frozen=True)
class DimensionTodo:
    line: PlanLine
    line_id: str
    missing: tuple[tuple[str, str], ...]


class DraftJournalWriter:
    """Writes plan lines into one journal batch; see the module docstring for the algorithm."""

    def __init__(
        self,
        client: BcClient,
        journal_code: str,
        *,
        max_stalled_rounds: int = 4,
        progress: Progress | None = None,
        journal_id: str | None = None,
    ) -> None:
        self.client = client
        self.journal_code = journal_code
        self.journal_id = journal_id  # known already: saves the lookup request per write
        self.max_stalled_rounds = max_stalled_rounds
        self._progress = progress

    def write(self, lines: Sequence[PlanLine]) -> WriteReport:
        desired = _by_key(lines)
        if self.journal_id is None:
            journal_id = find_journal(self.client, self.journal_code).id
            report = WriteReport(journal_id, read_requests=1)
        else:
            journal_id = self.journal_id
            report = WriteReport(journal_id)
        attempted: set[str] = set()
        settled, stalled = -1, 0
        while stalled < self.max_stalled_rounds:
            report.rounds += 1
            existing = self._existing(journal_id, report)
            if report.rounds == 1:
                report.already_present = _complete(desired, existing)
            # a POST whose answer was lost may have worked: if its line is there, it was ours
            report.created |= (attempted & existing.keys()) - report.failures.keys()
            now_settled = len(_complete(desired, existing)) + len(report.failures)
            stalled = 0 if now_settled > settled else stalled + 1
            settled = now_settled
            try:
                if not self._round(journal_id, desired, existing, report, attempted):
                    return report
            except OutcomeUnknownError as exc:
                log.warning("journal write: %s; re-reading the batch to reconcile", exc)
        self._give_up(journal_id, desired, report)
        return report

    def _round(
        self,
        journal_id: str,
        desired: dict[str, PlanLine],
        existing: dict[str, JournalLine],
        report: WriteReport,
        attempted: set[str],
    ) -> bool:
        """One pass of steps 2 and 3; True when something must be retried."""
        todo = [
            line
            for key, line in desired.items()
            if key not in existing and key not in report.failures
        ]
        attempted.update(line.key for line in todo)
        created, lines_pending = self._create_lines(journal_id, todo, report)
        report.created.update(created)
        dims = _dimension_todos(desired, existing, created, report)
        rejected, dims_pending = self._add_dimensions(journal_id, dims, report)
        if rejected:
            self._remove_rejected(journal_id, desired, rejected, report)
        # repaired: lines an earlier, interrupted write left without their dimensions
        unfinished = rejected.keys() | dims_pending | report.created
        report.repaired.update(
            d.line.key for d in dims if d.line.key in existing and d.line.key not in unfinished
        )
        return lines_pending or bool(dims_pending)

    def _existing(self, journal_id: str, report: WriteReport) -> dict[str, JournalLine]:
        found, pages = existing_lines(self.client, journal_id)
        report.read_requests += pages
        return found

    def _batch(
        self,
        phase: str,
        operations: Sequence[BatchOperation],
        report: WriteReport,
        *,
        idempotent: bool,
    ) -> dict[str, BatchOutcome]:
        try:
            return run_batch(self.client, operations, idempotent=idempotent)
        finally:  # counted even when the answer was lost: the request was sent
            report.batch_requests += 1
            if self._progress is not None:
                self._progress(phase, report.batch_requests)

    def _create_lines(
        self, journal_id: str, todo: list[PlanLine], report: WriteReport
    ) -> tuple[dict[str, str], bool]:
        """Step 2: POST the missing lines; returns ``{key: new line id}`` and "retry needed"."""
        url = self.client.company_relative(f"journals({journal_id})/journalLines")
        created: dict[str, str] = {}
        pending = False
        for chunk in chunked(todo):
            operations = [
                BatchOperation(f"l{i}", "POST", url, line.body()) for i, line in enumerate(chunk)
            ]
            outcomes = self._batch("lines", operations, report, idempotent=False)
            for op, line in zip(operations, chunk, strict=True):
                outcome = outcomes[op.id]
                if outcome.ok and isinstance(outcome.body, dict):
                    created[line.key] = str(outcome.body["id"])
                elif outcome.transient:
                    pending = True
                else:
                    report.fail(line, "line", outcome.error())
        return created, pending

    def _add_dimensions(
        self, journal_id: str, todos: list[DimensionTodo], report: WriteReport
    ) -> tuple[dict[str, BcError], set[str]]:
        """Step 3: POST missing dimension set lines.

        Returns BC's first rejection per line key, and the keys with an operation to retry.
        """
        operations, owners = self._dimension_operations(journal_id, todos)
        rejected: dict[str, BcError] = {}
        pending: set[str] = set()
        for chunk in chunked(operations):
            outcomes = self._batch("dimensions", chunk, report, idempotent=False)
            for op in chunk:
                outcome = outcomes[op.id]
                if outcome.ok or _already_exists(outcome):
                    continue
                if outcome.transient:
                    pending.add(owners[op.id])
                else:
                    rejected.setdefault(owners[op.id], outcome.error())
        return rejected, pending

    def _dimension_operations(
        self, journal_id: str, todos: list[DimensionTodo]
    ) -> tuple[list[BatchOperation], dict[str, str]]:
        operations: list[BatchOperation] = []
        owners: dict[str, str] = {}
        for todo in todos:
            url = self.client.company_relative(
                f"journals({journal_id})/journalLines({todo.line_id})/dimensionSetLines"
            )
            for code, value in todo.missing:
                op_id = f"d{len(operations)}"
                body = {"code": code, "valueCode": value}
                operations.append(BatchOperation(op_id, "POST", url, body))
                owners[op_id] = todo.line.key
        return operations, owners

    def _remove_rejected(
        self,
        journal_id: str,
        desired: dict[str, PlanLine],
        rejected: dict[str, BcError],
        report: WriteReport,
    ) -> None:
        """Delete lines whose dimensions BC rejected, with their current ETags; report them."""
        current = self._existing(journal_id, report)
        gone = delete_lines(
            self.client, [current[key] for key in rejected if key in current], self._count(report)
        )
        for key, error in rejected.items():
            removed = key not in current or gone.get(current[key].id, False)
            report.fail(desired[key], "dimensions", error, removed)

    def _count(self, report: WriteReport) -> Callable[[], None]:
        def counted() -> None:
            report.batch_requests += 1
            if self._progress is not None:
                self._progress("delete", report.batch_requests)

        return counted

    def _give_up(self, journal_id: str, desired: dict[str, PlanLine], report: WriteReport) -> None:
        """Out of rounds: report every line not confirmed complete (a rerun reconciles them)."""
        existing = self._existing(journal_id, report)
        complete = _complete(desired, existing)
        unconfirmed = BcError(
            0,
            f"not confirmed after {self.max_stalled_rounds} rounds without progress; run the "
            "write again to reconcile",
            code="Connector_Unconfirmed",
        )
        for key, line in desired.items():
            if key not in complete and key not in report.failures:
                report.fail(line, "line", unconfirmed, removed=key not in existing)


def existing_lines(client: BcClient, journal_id: str) -> tuple[dict[str, JournalLine], int]:
    """The connector's lines in a journal batch by key, and the number of pages read."""
    found: dict[str, JournalLine] = {}
    pages = 0
    path = f"journals({journal_id})/journalLines"
    # from the primary, not a replica: this read must see the lines this writer just created
    for page in iter_pages(client, JOURNAL_LINES, path=path, replica=False):
        pages += 1
        for line in page:
            if line.external_document_number.startswith(KEY_SCHEME):
                found[line.external_document_number] = line
    return found, pages


def posted_entries(client: BcClient, documents: Iterable[str]) -> tuple[list[GlEntry], int]:
    """The G/L entries posted from journal lines of the given document numbers, and the number
    of requests: one per 15 documents and 20,000 entries. Read from the primary, so a batch
    posted a moment ago is seen."""
    wanted = sorted(set(documents))
    entries: list[GlEntry] = []
    pages = 0
    for start in range(0, len(wanted), DOCUMENTS_PER_FILTER):
        group = wanted[start : start + DOCUMENTS_PER_FILTER]
        if any("'" in document for document in group):
            raise ValueError(f"a document number holds a quote: {group}")
        expression = " or ".join(f"documentNumber eq '{document}'" for document in group)
        for page in iter_pages(
            client, POSTED_PLAN_ENTRIES, filter_expression=expression, replica=False
        ):
            pages += 1
            entries.extend(e for e in page if e.document_number in group)
    return entries, pages


def delete_lines(
    client: BcClient, lines: Sequence[JournalLine], on_request: Callable[[], None] | None = None
) -> dict[str, bool]:
    """DELETE journal lines with ``If-Match``; ``{line id: gone}``. 404 counts as gone; 409
    (a reviewer changed the line since it was read) does not, and the line is kept."""
    gone: dict[str, bool] = {}
    for chunk in chunked(lines):
        operations = [
            BatchOperation(
                line.id,
                "DELETE",
                client.company_relative(f"journalLines({line.id})"),
                headers={"If-Match": line.etag},
            )
            for line in chunk
        ]
        outcomes = run_batch(client, operations, idempotent=True)
        if on_request is not None:
            on_request()
        gone.update({i: o.ok or o.status == 404 for i, o in outcomes.items()})
    return gone


@dataclass
class DeleteReport:
    deleted: set[str] = field(default_factory=set)
    not_found: set[str] = field(default_factory=set)
    kept: set[str] = field(default_factory=set)  # changed since read (409) or other refusal


def delete_draft_lines(client: BcClient, journal_code: str, keys: Iterable[str]) -> DeleteReport:
    """Delete the connector's draft lines with the given keys (e.g. a superseded plan)."""
    journal = find_journal(client, journal_code)
    existing, _ = existing_lines(client, journal.id)
    report = DeleteReport()
    targets = []
    for key in dict.fromkeys(keys):
        if key in existing:
            targets.append(existing[key])
        else:
            report.not_found.add(key)
    gone = delete_lines(client, targets)
    for line in targets:
        (report.deleted if gone.get(line.id) else report.kept).add(line.external_document_number)
    return report


def _by_key(lines: Iterable[PlanLine]) -> dict[str, PlanLine]:
    desired: dict[str, PlanLine] = {}
    for line in lines:
        previous = desired.setdefault(line.key, line)
        if previous != line:
            raise ValueError(
                f"plan version {line.plan_version!r} has two different lines for row "
                f"{line.row_key!r}"
            )
    return desired


def _complete(desired: dict[str, PlanLine], existing: dict[str, JournalLine]) -> set[str]:
    """Keys present in the batch with every dimension code the plan line asks for."""
    return {
        key
        for key, line in desired.items()
        if key in existing
        and all(code in dimension_map(existing[key].dimensions) for code, _ in line.dimensions)
    }


def _dimension_todos(
    desired: dict[str, PlanLine],
    existing: dict[str, JournalLine],
    created: dict[str, str],
    report: WriteReport,
) -> list[DimensionTodo]:
    """Dimension set lines still missing, on new lines and on lines a crash left incomplete.

    Only missing codes are added; a value a reviewer changed on a draft is left alone.
    """
    todos = []
    for key, line in desired.items():
        if key in report.failures:
            continue
        if key in created:
            line_id, have = created[key], {}
        elif key in existing:
            line_id, have = existing[key].id, dimension_map(existing[key].dimensions)
        else:
            continue
        missing = tuple((c, v) for c, v in line.dimensions if c not in have)
        if missing:
            todos.append(DimensionTodo(line, line_id, missing))
    return todos


def _already_exists(outcome: BatchOutcome) -> bool:
    """A dimension set line POSTed twice (after a lost answer) is already there: fine."""
    return outcome.status in (400, 409) and _ALREADY_EXISTS in outcome.error().message
