"""What a $batch may contain, and the journal-line key scheme (no server needed)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from bc_anaplan.bc.batch import BatchOperation, BatchOutcome, check_draft_only, chunked
from bc_anaplan.bc.journal import (
    DESCRIPTION_LENGTH,
    DOCUMENT_NUMBER_LENGTH,
    EXTERNAL_DOCUMENT_NUMBER_LENGTH,
    PlanLine,
    _by_key,
    line_key,
    plan_document_number,
)


@pytest.mark.parametrize(
    "url",
    [
        "companies(c)/journals(j)/Microsoft.NAV.post",
        "companies(c)/generalLedgerEntries",
        "companies(c)/accounts(a)",
        "companies(c)/generalLedgerEntries(e)/dimensionSetLines",
    ],
)
def test_posting_and_ledger_writes_are_refused_before_sending(url: str) -> None:
    with pytest.raises(ValueError, match="never posts"):
        check_draft_only(BatchOperation("1", "POST", url, {}))


def test_draft_writes_and_reads_are_allowed() -> None:
    check_draft_only(BatchOperation("1", "POST", "companies(c)/journals(j)/journalLines", {}))
    check_draft_only(BatchOperation("2", "GET", "companies(c)/accounts"))


def test_operation_json_shape() -> None:
    op = BatchOperation("l0", "POST", "companies(c)/journals(j)/journalLines", {"amount": 1})
    assert op.as_json() == {
        "id": "l0",
        "method": "POST",
        "url": "companies(c)/journals(j)/journalLines",
        "headers": {"Content-Type": "application/json"},
        "body": {"amount": 1},
    }
    delete = BatchOperation("x", "DELETE", "companies(c)/journalLines(x)", None, {"If-Match": "*"})
    assert delete.as_json()["headers"] == {"If-Match": "*"}


def test_outcome_classes() -> None:
    assert BatchOutcome("1", 201).ok
    assert BatchOutcome("1", 0).transient and BatchOutcome("1", 503).transient
    failed = BatchOutcome(
        "1",
        400,
        {
            "error": {
                "code": "BadRequest",
                "message": "Bad.  CorrelationId:  c32f628c-2b96-48c1-8b4b-7440366a21ef.",
            }
        },
    )
    assert not failed.ok and not failed.transient
    assert (failed.error().code, failed.error().message) == ("BadRequest", "Bad.")


@pytest.mark.parametrize("status", [0, 408, 429, 500, 502, 503, 504])
def test_unprocessed_and_retriable_operations_are_transient(status: int) -> None:
    assert BatchOutcome("1", status).transient


@pytest.mark.parametrize("status", [200, 201, 204, 400, 401, 403, 404, 409, 412, 501])
def test_other_outcomes_are_not_transient(status: int) -> None:
    assert not BatchOutcome("1", status).transient


def test_chunks_of_one_hundred() -> None:
    assert [len(c) for c in chunked(list(range(250)))] == [100, 100, 50]


def test_line_keys_fit_bc_code_fields_and_are_deterministic() -> None:
    key = line_key("FY27 Budget v3 — approved 2026-11-20", "61010|SALES|CC110|Jan 27")
    assert key == line_key("FY27 Budget v3 — approved 2026-11-20", "61010|SALES|CC110|Jan 27")
    assert re.fullmatch(r"AP1-[0-9A-F]{28}", key)  # Code fields are upper-cased by BC
    assert len(key) <= EXTERNAL_DOCUMENT_NUMBER_LENGTH
    assert key != line_key("FY27 Budget v4", "61010|SALES|CC110|Jan 27")
    assert key != line_key("FY27 Budget v3 — approved 2026-11-20", "61010|SALES|CC110|Feb 27")
    assert line_key("a|b", "c") != line_key("a", "b|c")
    assert len(plan_document_number("x" * 500)) <= DOCUMENT_NUMBER_LENGTH


def test_plan_line_body_is_draft_only_and_truncates_the_description() -> None:
    line = PlanLine("v1", "r" * 300, "61010", date(2027, 1, 1), Decimal("-12.30"))
    body = line.body()
    assert body["externalDocumentNumber"] == line.key
    assert len(body["description"]) == DESCRIPTION_LENGTH
    assert set(body) == {
        "accountNumber",
        "postingDate",
        "documentNumber",
        "externalDocumentNumber",
        "amount",
        "description",
    }


def test_two_different_lines_for_one_row_are_a_plan_error() -> None:
    a = PlanLine("v1", "row", "61010", date(2027, 1, 1), Decimal(1))
    assert _by_key([a, a]) == {a.key: a}
    with pytest.raises(ValueError, match="two different lines"):
        _by_key([a, PlanLine("v1", "row", "61010", date(2027, 1, 1), Decimal(2))])
