"""BC's wire encodings decoded once, at the boundary: enums, datetimes, dates, exact decimals."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest

from bc_anaplan.bc.encoding import (
    InexactNumber,
    dump_json,
    format_datetime,
    parse_date,
    parse_datetime,
    to_decimal,
    unescape_enum,
)
from bc_anaplan.bc.errors import BcDecodeError


@pytest.mark.parametrize(
    ("wire", "plain"),
    [
        ("G_x002F_L_x0020_Account", "G/L Account"),
        ("_x0020_", " "),
        ("General_x0020_Ledger_x0020_Entry", "General Ledger Entry"),
        ("Begin_x002D_Total", "Begin-Total"),
        ("Credit_x0020_Memo", "Credit Memo"),
        ("Cost_x0020_of_x0020_Goods_x0020_Sold", "Cost of Goods Sold"),
        ("In_x0020_Review", "In Review"),
        ("Invoice", "Invoice"),
        ("lower_x002f_case", "lower/case"),
    ],
)
def test_enum_names_are_unescaped(wire: str, plain: str) -> None:
    assert unescape_enum(wire) == plain


def test_enum_that_is_not_text_is_a_decode_error() -> None:
    with pytest.raises(BcDecodeError):
        unescape_enum(3)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2024-03-28T10:15:42Z", datetime(2024, 3, 28, 10, 15, 42, tzinfo=UTC)),
        ("2024-03-28T10:15:42.5Z", datetime(2024, 3, 28, 10, 15, 42, 500_000, tzinfo=UTC)),
        ("2024-03-28T10:15:42.53Z", datetime(2024, 3, 28, 10, 15, 42, 530_000, tzinfo=UTC)),
        ("2024-03-28T10:15:42.533Z", datetime(2024, 3, 28, 10, 15, 42, 533_000, tzinfo=UTC)),
        ("2024-03-28T12:15:42.533+02:00", datetime(2024, 3, 28, 10, 15, 42, 533_000, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        (None, None),
        ("", None),
    ],
)
def test_trimmed_datetimes_become_aware_utc(wire: str | None, expected: datetime | None) -> None:
    parsed = parse_datetime(wire)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("bad", ["2024-03-28T10:15:42", "yesterday", "2024-13-01T00:00:00Z"])
def test_datetimes_without_zone_or_malformed_are_refused(bad: str) -> None:
    with pytest.raises(BcDecodeError):
        parse_datetime(bad)


def test_dates_and_blank_dates() -> None:
    assert parse_date("2023-04-28") == date(2023, 4, 28)
    assert parse_date("0001-01-01") is None
    assert parse_date(None) is None
    with pytest.raises(BcDecodeError):
        parse_date("28.04.2023")


def test_datetime_literals_for_filters_are_utc_milliseconds() -> None:
    value = datetime(2024, 3, 28, 12, 15, 42, 533_999, tzinfo=timezone(timedelta(hours=2)))
    assert format_datetime(value) == "2024-03-28T10:15:42.533Z"
    with pytest.raises(ValueError):
        format_datetime(datetime(2024, 3, 28))


AWKWARD = [
    "0", "0.1", "0.2", "0.3", "0.30", "0.01", "0.07", "1.005", "2.675", "-0.01", "-0", "0.00",
    "125.5", "4125.59", "1234567.89", "99999999.99", "9999999999999.99", "-9999999999999.99",
    "1000000000000.01", "8589934592.01", "72893.84", "33.33", "66.67", "1e2", "1.5E3",
]  # fmt: skip


@pytest.mark.parametrize("text", AWKWARD)
def test_json_numbers_become_the_exact_decimal_bc_wrote(text: str) -> None:
    parsed = orjson.loads(f'{{"amount": {text}}}')["amount"]
    assert to_decimal(parsed) == Decimal(text)


def test_every_two_decimal_amount_is_exact_through_orjson() -> None:
    """Every 7th cent up to 10,000.00 and 100,000 random amounts below 10^13, both signs."""
    rng = random.Random(20260101)
    cents = list(range(0, 1_000_000, 7)) + [rng.randrange(10**15) for _ in range(100_000)]
    texts = [f"{'-' if c % 3 == 0 else ''}{c // 100}.{c % 100:02d}" for c in cents]
    parsed = orjson.loads("[" + ",".join(texts) + "]")
    wrong = [t for t, p in zip(texts, parsed, strict=True) if to_decimal(p) != Decimal(t)]
    assert wrong == []


def test_sums_stay_exact_where_floats_drift() -> None:
    values = orjson.loads("[0.1, 0.2, 0.3]")
    assert values[0] + values[1] != values[2]  # the float problem we avoid
    assert to_decimal(values[0]) + to_decimal(values[1]) == to_decimal(values[2])


def test_numbers_beyond_fifteen_digits_ask_for_an_exact_reparse() -> None:
    parsed = orjson.loads("[12345678901234567.89]")[0]
    with pytest.raises(InexactNumber):
        to_decimal(parsed)
    assert json.loads("[12345678901234567.89]", parse_float=Decimal)[0] == Decimal(
        "12345678901234567.89"
    )


def test_decimal_from_text_int_and_refusals() -> None:
    assert to_decimal("72893.84") == Decimal("72893.84")
    assert to_decimal(12) == Decimal(12)
    for bad in (True, None, "1,000.00", [1]):
        with pytest.raises(BcDecodeError):
            to_decimal(bad)


def test_request_bodies_carry_exact_decimals_and_iso_dates() -> None:
    body = dump_json(
        {"amount": Decimal("12345678901234567.89"), "small": Decimal("-0.10"),
         "hundred": Decimal("1E+2"), "postingDate": date(2027, 1, 1)}
    )  # fmt: skip
    assert body == (
        b'{"amount":12345678901234567.89,"small":-0.10,"hundred":100,"postingDate":"2027-01-01"}'
    )
    with pytest.raises(TypeError):
        dump_json({"amount": Decimal("NaN")})
