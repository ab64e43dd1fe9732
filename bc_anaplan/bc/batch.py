"""OData JSON ``$batch`` for BC: up to 100 operations per request, each with its own outcome.

``run_batch`` sends ``POST {root}/$batch`` with ``{"requests": [...]}`` and
``Prefer: odata.continue-on-error`` (without it BC stops at the first failing operation and
drops the rest), then maps every operation id to a ``BatchOutcome``: the inner status and body,
or ``status=0`` when BC did not process the operation at all. Inner errors are decoded like any
BC error (``error_from_body``), so a failed journal line reports BC's own code and message.

A ``$batch`` that creates records is not idempotent: it is sent with ``idempotent=False`` and a
lost answer surfaces as ``OutcomeUnknownError`` for the caller to reconcile. Draft-only is
enforced here too: an operation that would call a bound action (``Microsoft.NAV.post``) or
write to the ledger or the chart of accounts is refused before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.errors import BcDecodeError, BcError, error_from_body
from bc_anaplan.http import RETRY_STATUSES

MAX_OPERATIONS = 100
# never written by the connector: the ledger and the chart of accounts are authoritative, and
# journals are posted by people after review
_FORBIDDEN_WRITE = re.compile(r"(Microsoft\.NAV\.|generalLedgerEntries|(^|/)accounts\b)", re.I)
T = TypeVar("T")


@dataclass(frozen=True)
class BatchOperation:
    id: str
    method: str
    url: str  # relative to the API root, e.g. "companies(<id>)/journals(<id>)/journalLines"
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        request: dict[str, Any] = {"id": self.id, "method": self.method, "url": self.url}
        headers = dict(self.headers)
        if self.body is not None:
            headers.setdefault("Content-Type", "application/json")
            request["body"] = self.body
        if headers:
            request["headers"] = headers
        return request


@dataclass(frozen=True)
class BatchOutcome:
    id: str
    status: int  # 0: BC did not process the operation
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        """Not processed, or failed in a way worth retrying (after reconciling)."""
        return self.status == 0 or self.status in RETRY_STATUSES

    def error(self) -> BcError:
        return error_from_body(self.status, self.body)


def check_draft_only(operation: BatchOperation) -> None:
    if operation.method.upper() != "GET" and _FORBIDDEN_WRITE.search(operation.url):
        raise ValueError(
            f"refusing {operation.method} {operation.url}: the connector never posts journals "
            "and never writes G/L entries or accounts"
        )


def run_batch(
    client: BcClient, operations: Sequence[BatchOperation], *, idempotent: bool
) -> dict[str, BatchOutcome]:
    """Send one ``$batch`` (at most 100 operations); outcomes by operation id."""
    if not 1 <= len(operations) <= MAX_OPERATIONS:
        raise ValueError(f"a $batch holds 1..{MAX_OPERATIONS} operations, got {len(operations)}")
    for operation in operations:
        check_draft_only(operation)
    response = client.send(
        "POST",
        client.url("$batch"),
        {"requests": [op.as_json() for op in operations]},
        idempotent=idempotent,
        headers={"Prefer": "odata.continue-on-error", "Accept": "application/json"},
    )
    outcomes = {op.id: BatchOutcome(op.id, 0) for op in operations}
    for item in _responses(response.content):
        op_id = str(item.get("id"))
        if op_id in outcomes:
            outcomes[op_id] = BatchOutcome(op_id, int(item.get("status", 0)), item.get("body"))
    return outcomes


def _responses(content: bytes) -> list[dict[str, Any]]:
    body = orjson.loads(content) if content else {}
    responses = body.get("responses") if isinstance(body, dict) else None
    if not isinstance(responses, list):
        raise BcDecodeError("a $batch answer has no 'responses' array")
    return [item for item in responses if isinstance(item, dict)]


def chunked(items: Sequence[T], size: int = MAX_OPERATIONS) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
