"""Typed records decoded from BC's JSON (shapes from the reference and the APIV2 pages)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from bc_anaplan.bc.amounts import decode_gl_amount
from bc_anaplan.bc.errors import BcDecodeError, PagingLoopError
from bc_anaplan.bc.paging import next_url, parse_page
from bc_anaplan.bc.records import (
    DimensionSetLine,
    decode_account,
    decode_gl_entry,
    decode_journal_line,
    decode_purchase_order,
    dimension_map,
    employee_decoder,
)

GL_ENTRY = {
    "@odata.etag": 'W/"JzE5OzEyMzQ1Njc4OTAxMjM0NTY3ODkxOzAwOyc="',
    "id": "3c5e7a90-1f2b-ee11-8f6e-000d3a1b2c3d",
    "entryNumber": 1201,
    "postingDate": "2024-03-28",
    "documentNumber": "G00123",
    "documentType": "Credit_x0020_Memo",
    "accountId": "9b8a7c6d-1f2b-ee11-8f6e-000d3a1b2c3d",
    "accountNumber": "60100",
    "description": "Office supplies",
    "debitAmount": 0,
    "creditAmount": 125.5,
    "lastModifiedDateTime": "2024-03-28T10:15:42.53Z",
    "dimensionSetLines": [
        {"@odata.etag": 'W/"x"', "id": "d1e2f3a4-1f2b-ee11-8f6e-000d3a1b2c3d",
         "code": "COSTCENTER", "parentType": "General_x0020_Ledger_x0020_Entry",
         "valueId": "a4b3c2d1-1f2b-ee11-8f6e-000d3a1b2c3d", "valueCode": "CC100"},
        {"id": "d1e2f3a4-1f2b-ee11-8f6e-000d3a1b2c3e", "code": "DEPARTMENT",
         "valueId": "a4b3c2d1-1f2b-ee11-8f6e-000d3a1b2c3e", "valueCode": "SALES"},
    ],
}  # fmt: skip


def test_gl_entry_is_decoded_once_into_plain_values() -> None:
    entry = decode_gl_entry(orjson.loads(orjson.dumps(GL_ENTRY)))
    assert entry.posting_date == date(2024, 3, 28)
    assert entry.document_type == "Credit Memo"
    assert entry.debit == Decimal(0) and entry.credit == Decimal("125.5")
    assert entry.amount == Decimal("-125.5")
    assert entry.last_modified == datetime(2024, 3, 28, 10, 15, 42, 530_000, tzinfo=UTC)
    assert entry.dimension("COSTCENTER") == "CC100"
    assert entry.dimension("PRODUCTLINE") is None
    assert dimension_map(entry.dimensions) == {"COSTCENTER": "CC100", "DEPARTMENT": "SALES"}
    assert entry.dimensions[0] == DimensionSetLine(
        "COSTCENTER",
        "CC100",
        "d1e2f3a4-1f2b-ee11-8f6e-000d3a1b2c3d",
        "a4b3c2d1-1f2b-ee11-8f6e-000d3a1b2c3d",
    )


def test_a_missing_field_names_itself() -> None:
    raw = {k: v for k, v in GL_ENTRY.items() if k != "debitAmount"}
    with pytest.raises(BcDecodeError, match="debitAmount"):
        decode_gl_entry(raw)


@pytest.mark.parametrize("decode", [decode_gl_entry, decode_gl_amount])
@pytest.mark.parametrize("field", ["debitAmount", "creditAmount"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1e300, 1e16])
def test_both_gl_decoders_refuse_an_amount_beyond_bc_range_naming_the_field(
    decode: Callable[[Any], Any], field: str, value: float
) -> None:
    # NaN arrives only through the exact re-parse (json takes the literal); it is not compared
    with pytest.raises(BcDecodeError, match=f"field '{field}' of G/L entry 1201 is not valid"):
        decode({**GL_ENTRY, field: value})


@pytest.mark.parametrize("decode", [decode_gl_entry, decode_gl_amount])
def test_both_gl_decoders_name_a_missing_field_and_agree_on_the_shared_fields(
    decode: Callable[[Any], Any],
) -> None:
    with pytest.raises(BcDecodeError, match="field 'entryNumber' is missing from G/L entry"):
        decode({k: v for k, v in GL_ENTRY.items() if k != "entryNumber"})
    with pytest.raises(BcDecodeError, match="field 'entryNumber' of G/L entry"):
        decode({**GL_ENTRY, "entryNumber": True})
    record = decode(GL_ENTRY)
    assert (record.entry_number, record.posting_date) == (1201, date(2024, 3, 28))
    assert (record.debit, record.credit) == (Decimal(0), Decimal("125.5"))
    assert record.dimension("DEPARTMENT") == "SALES"
    assert record.dimensions is decode_gl_entry(GL_ENTRY).dimensions  # one shared set


def test_blank_posting_date_on_a_gl_entry_is_refused() -> None:
    with pytest.raises(BcDecodeError, match="blank posting date"):
        decode_gl_entry({**GL_ENTRY, "postingDate": "0001-01-01"})


def test_page_with_long_numbers_is_reparsed_exactly() -> None:
    page = {
        "value": [
            {**GL_ENTRY, "debitAmount": 0.1},
            {**GL_ENTRY, "creditAmount": "LONG"},
        ],
        "@odata.nextLink": "https://bc.example/next",
    }
    # 17 significant digits (a float cannot carry them), within BC's +/-999,999,999,999,999.99
    content = orjson.dumps(page).replace(b'"LONG"', b"123456789012345.67")
    records, next_link = parse_page(content, decode_gl_entry)
    assert records[0].debit == Decimal("0.1")
    assert records[1].credit == Decimal("123456789012345.67")
    assert next_link == "https://bc.example/next"


def test_account_enums_and_flags() -> None:
    account = decode_account(
        {"id": "a", "number": "10000", "displayName": "BALANCE SHEET", "category": "_x0020_",
         "subCategory": "", "accountType": "Begin_x002D_Total", "blocked": False,
         "directPosting": False, "lastModifiedDateTime": "0001-01-01T00:00:00Z"}
    )  # fmt: skip
    assert (account.category, account.account_type) == (" ", "Begin-Total")
    assert account.last_modified is None


EMPLOYEE = {
    "id": "e",
    "number": "E0001",
    "displayName": "Maya Yilmaz",
    "jobTitle": "Technician",
    "status": "Active",
    "employmentDate": "2024-03-18",
    "terminationDate": "0001-01-01",
    "birthDate": "1990-05-01",
    "lastModifiedDateTime": "2024-03-18T09:00:00Z",
    "defaultDimensions": [{"dimensionCode": "DEPARTMENT", "dimensionValueCode": "PROD"}],
}


def test_employee_carries_no_personal_data_unless_asked() -> None:
    plain = employee_decoder()(EMPLOYEE)
    assert plain.personal == {}
    assert plain.termination_date is None
    assert plain.dimension("DEPARTMENT") == "PROD"
    assert "1990" not in repr(plain)
    asked = employee_decoder(("birthDate",))(EMPLOYEE)
    assert asked.personal == {"birthDate": date(1990, 5, 1)}


def test_purchase_order_with_lines_and_dimensions() -> None:
    order = decode_purchase_order(
        {"id": "p", "number": "106001", "orderDate": "2026-09-11", "vendorNumber": "V1",
         "vendorName": "Summit", "currencyCode": "", "status": "In_x0020_Review",
         "totalAmountExcludingTax": 2742.72, "fullyReceived": False,
         "lastModifiedDateTime": "2026-09-11T10:00:00Z",
         "purchaseOrderLines": [
             {"id": "l", "documentId": "p", "sequence": 10000, "lineType": "Account",
              "lineObjectNumber": "66030", "description": "Printing", "quantity": 6,
              "directUnitCost": 457.12, "amountExcludingTax": 2742.72, "receivedQuantity": 0,
              "invoicedQuantity": 0, "expectedReceiptDate": "0001-01-01"}],
         "dimensionSetLines": [{"code": "DEPARTMENT", "valueCode": "RND"}]}
    )  # fmt: skip
    assert order.status == "In Review"
    assert order.lines[0].amount_excluding_tax == Decimal("2742.72")
    assert order.lines[0].expected_receipt_date is None
    assert order.dimensions == (DimensionSetLine("DEPARTMENT", "RND"),)


def test_journal_line_keeps_its_etag() -> None:
    line = decode_journal_line(
        {"@odata.etag": 'W/"abc"', "id": "j", "journalId": "b", "lineNumber": 10000,
         "accountType": "G_x002F_L_x0020_Account", "accountNumber": "61010",
         "postingDate": "2027-01-01", "documentNumber": "PLAN-1",
         "externalDocumentNumber": "AP1-X", "amount": -100.1, "description": "row",
         "lastModifiedDateTime": "2026-11-26T01:58:22.15Z"}
    )  # fmt: skip
    assert line.account_type == "G/L Account"
    assert line.amount == Decimal("-100.1")
    assert line.etag == 'W/"abc"'
    assert line.dimensions == ()


def test_pager_refuses_a_next_link_it_already_followed() -> None:
    followed: set[str] = set()
    first = "https://bc.example/v2.0/t/Production/api/v2.0/companies(c)/x?$skiptoken=a"
    assert next_url(first, followed, "x") == first
    assert next_url(None, followed, "x") is None
    with pytest.raises(PagingLoopError, match="second time"):
        next_url(first, followed, "x")
