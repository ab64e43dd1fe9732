"""Plan lines: locale-safe amounts and validation against BC before anything is written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bc_anaplan.periods import PeriodNaming
from bc_anaplan.plans import (
    AccountFacts,
    AmountError,
    Columns,
    Dictionary,
    PlanValidator,
    parse_amount,
    plan_revision,
    to_cents,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1234.56", "1234.56"),
        ("-1234.56", "-1234.56"),
        ("1,234.56", "1234.56"),
        ("12,345,678", "12345678"),
        (" 0.1 ", "0.1"),
        ("7", "7"),
    ],
)
def test_unambiguous_amounts_parse_exactly(text: str, value: str) -> None:
    assert parse_amount(text) == Decimal(value)


@pytest.mark.parametrize(
    "text",
    ["1.234,56", "1,23", "12e3", "NaN", "", "1 234", "$5", "--1", "1,2345.00", "0x10", "1e999"],
)
def test_ambiguous_or_broken_amounts_are_refused(text: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(text)


def test_cents_round_half_away_from_zero() -> None:
    assert to_cents(Decimal("0.005")) == Decimal("0.01")
    assert to_cents(Decimal("-0.005")) == Decimal("-0.01")
    assert to_cents(Decimal("2.344")) == Decimal("2.34")


DICTIONARY = Dictionary(
    accounts={
        "61010": AccountFacts("61010", "Posting", False, True),
        "61000": AccountFacts("61000", "Begin-Total", False, False),
        "41080": AccountFacts("41080", "Posting", True, True),
        "12010": AccountFacts("12010", "Posting", False, False),
    },
    account_members={
        "61010": "61010",
        "61010 Salaries": "61010",
        "61000": "61000",
        "41080": "41080",
        "12010": "12010",
    },
    dimension_members={
        "COSTCENTER": {"CC100": "CC100", "CC990": "CC990"},
        "DEPARTMENT": {"ADMIN": "ADMIN"},
    },
    dimension_values={"COSTCENTER": frozenset({"CC100"}), "DEPARTMENT": frozenset({"ADMIN"})},
)
COLUMNS = Columns(
    "GL Accounts",
    {"COSTCENTER": "Cost Centers", "DEPARTMENT": "Departments"},
    "Time",
    "Versions",
    "Amount",
)
HEADER = ["GL Accounts", "Cost Centers", "Departments", "Time", "Versions", "Amount"]


def judge(rows: list[list[str]], allow_zero: bool = False) -> object:
    validator = PlanValidator(DICTIONARY, COLUMNS, PeriodNaming("MMM YY"), "last-day", allow_zero)
    return validator.judge("Budget FY27", HEADER, rows)


def test_each_line_is_judged_with_a_reason() -> None:
    v = "Budget FY27"
    result = judge(
        [
            ["61010", "CC100", "ADMIN", "Mar 27", v, "1,200.50"],
            ["61010 Salaries", "CC100", "ADMIN", "Apr 27", v, "10"],
            ["61000", "CC100", "ADMIN", "Mar 27", v, "1"],
            ["41080", "CC100", "ADMIN", "Mar 27", v, "1"],
            ["12010", "CC100", "ADMIN", "Mar 27", v, "1"],
            ["99999", "CC100", "ADMIN", "Mar 27", v, "1"],
            ["61010", "CC990", "ADMIN", "May 27", v, "1"],
            ["61010", "CC100", "ADMIN", "Month 13", v, "1"],
            ["61010", "CC100", "ADMIN", "Jun 27", v, "1.234,5"],
            ["61010", "CC100", "ADMIN", "Jul 27", v, "0"],
            ["61010", "CC100", "ADMIN", "Mar 27", v, "3"],
            ["61010", "CC100", "ADMIN", "Mar 27", "Forecast FY27", "5"],
        ]
    )
    assert result.rows_exported == 11  # the other version is not this writeback's business
    assert [(line.account_number, line.posting_date, line.amount) for line in result.valid] == [
        ("61010", date(2027, 3, 31), Decimal("1200.50")),
        ("61010", date(2027, 4, 30), Decimal("10.00")),
    ]
    reasons = [i.reason for i in result.invalid]
    assert reasons == [
        "account 61000 is a Begin-Total account, not Posting",
        "account 41080 is blocked in BC",
        "account 12010 does not allow direct posting",
        "account '99999' has no BC account (not in the mapping table)",
        "COSTCENTER value CC990 does not exist in BC",
        "period 'Month 13' does not match the Anaplan format 'MMM YY'",
        "amount '1.234,5' is not a plain decimal number",
        "amount is zero (writeback.allow_zero_amounts is false)",
        "duplicate of export row 2 (same account, dimensions and period)",
    ]


def test_revision_ignores_row_order_but_not_amounts() -> None:
    rows = [
        ["61010", "CC100", "ADMIN", "Mar 27", "Budget FY27", "1"],
        ["61010", "CC100", "ADMIN", "Apr 27", "Budget FY27", "2"],
    ]
    first = judge(rows)
    assert first.revision == judge(list(reversed(rows))).revision
    rows[1][5] = "2.01"
    assert first.revision != judge(rows).revision
    assert plan_revision([]) == plan_revision([])


def test_missing_columns_are_named() -> None:
    validator = PlanValidator(DICTIONARY, COLUMNS, PeriodNaming("MMM YY"), "last-day", False)
    with pytest.raises(ValueError, match="no column Amount"):
        validator.judge("Budget FY27", HEADER[:-1], [])
