"""Aggregation of G/L entries into cells: exact, reconciled, nothing dropped silently."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest

from bc_anaplan.actuals import (
    Aggregator,
    Axis,
    format_amount,
    period_rows,
    roll_forward,
)
from bc_anaplan.periods import Period

MARCH = Period(2025, 3)


@dataclass(frozen=True)
class Line:
    code: str
    value_code: str


@dataclass(frozen=True)
class Entry:
    id: str
    entry_number: int
    posting_date: date
    account_number: str
    debit: Decimal
    credit: Decimal
    values: dict[str, str] = field(default_factory=dict)

    @property
    def dimensions(self) -> tuple[Line, ...]:
        return tuple(Line(c, v) for c, v in self.values.items())

    def dimension(self, code: str) -> str | None:
        return self.values.get(code)


def entry(
    n: int,
    account: str,
    debit: str,
    credit: str,
    cc: str = "CC100",
    dept: str = "SALES",
    day: int = 15,
) -> Entry:
    return Entry(
        f"id-{n}",
        n,
        date(2025, 3, day),
        account,
        Decimal(debit),
        Decimal(credit),
        {"COSTCENTER": cc, "DEPARTMENT": dept} if cc or dept else {},
    )


AGGREGATOR = Aggregator(
    accounts={"61010": "61010", "11020": "11020", "41010": "41010"},
    axes=[
        Axis("COSTCENTER", {"CC100": "CC100", "CC110": "CC110"}),
        Axis("DEPARTMENT", {"SALES": "SALES", "ADMIN": "ADMIN"}),
    ],
)


def test_cells_sum_exactly_in_decimal() -> None:
    entries = [entry(i, "61010", "0.10", "0") for i in range(10)]
    entries += [entry(20, "61010", "0", "0.30"), entry(21, "11020", "0", "0.70")]
    result = AGGREGATOR.aggregate(MARCH, entries)
    assert result.cells[("61010", "CC100", "SALES")] == Decimal("0.70")
    assert result.cells[("11020", "CC100", "SALES")] == Decimal("-0.70")
    assert result.net == Decimal("0.00") and result.sent == Decimal("0.00")
    assert result.reconciliation()["balanced"] is True


def test_unmapped_entries_are_quarantined_with_a_reason_not_dropped() -> None:
    entries = [
        entry(1, "61010", "100.00", "0"),
        entry(2, "99999", "5.00", "0"),
        entry(3, "61010", "7.00", "0", cc="CC999"),
        entry(4, "61010", "3.00", "0", cc=""),
        entry(5, "41010", "0", "115.00"),
    ]
    result = AGGREGATOR.aggregate(MARCH, entries)
    reasons = sorted(q.reason for q in result.quarantined)
    assert reasons == [
        "COSTCENTER value CC999 has no Anaplan member",
        "account 99999 has no Anaplan member",
        "entry has no COSTCENTER value",
    ]
    assert result.quarantined_amount == Decimal("15.00")
    assert result.net == result.sent + result.quarantined_amount
    rec = result.reconciliation()
    assert rec["quarantined_entries"] == 3 and rec["bc_net"] == "0.00"


def test_blank_member_places_entries_without_a_value() -> None:
    aggregator = Aggregator({"61010": "61010"}, [Axis("COSTCENTER", {}, blank_member="NO CC")])
    result = aggregator.aggregate(MARCH, [entry(1, "61010", "1", "0", cc="", dept="")])
    assert result.cells == {("61010", "NO CC"): Decimal("1")}


def test_entry_outside_the_period_is_an_error() -> None:
    stray = Entry("x", 9, date(2025, 4, 1), "61010", Decimal(1), Decimal(0), {})
    with pytest.raises(ValueError, match="outside period 2025-03"):
        AGGREGATOR.aggregate(MARCH, [stray])


def test_closing_balances_roll_forward_for_balance_sheet_only() -> None:
    bs = {"11020": True, "61010": False}
    previous = {("11020", "CC100", "SALES"): Decimal("1000.00")}
    change = {
        ("11020", "CC100", "SALES"): Decimal("-250.00"),
        ("61010", "CC100", "SALES"): Decimal("250.00"),
        ("11020", "CC110", "ADMIN"): Decimal("5.00"),
    }
    closing = roll_forward(previous, change, bs)
    assert closing == {
        ("11020", "CC100", "SALES"): Decimal("750.00"),
        ("11020", "CC110", "ADMIN"): Decimal("5.00"),
    }


def test_rows_zero_out_cells_that_disappeared_and_are_sorted() -> None:
    change = {("61010", "CC110", "SALES"): Decimal("4.00")}
    previous = [("61010", "CC100", "SALES"), ("61010", "CC110", "SALES")]
    rows = list(period_rows(MARCH, change, previous, {}))
    assert [(r.key, r.amount, r.closing) for r in rows] == [
        (("61010", "CC100", "SALES"), Decimal("0"), None),
        (("61010", "CC110", "SALES"), Decimal("4.00"), None),
    ]


def test_amounts_are_formatted_plainly() -> None:
    assert format_amount(Decimal("1E+3")) == "1000"
    assert format_amount(Decimal("-0.00")) == "0"
    assert format_amount(Decimal("-1234567.89")) == "-1234567.89"
    assert format_amount(Decimal("0.005")) == "0.005"  # exact: never rounded away
