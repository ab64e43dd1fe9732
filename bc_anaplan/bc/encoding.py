"""BC's wire encodings, decoded once at the client boundary (reference §3.3) and encoded back.

* Enums arrive as escaped names: ``G_x002F_L_x0020_Account`` -> ``G/L Account``.
* Datetimes are UTC with ``Z`` and 0-3 fraction digits (trailing zeros trimmed); dates are
  ``YYYY-MM-DD``; BC's blank values ``0001-01-01`` and ``0001-01-01T00:00:00Z`` become ``None``.
* Decimals are JSON numbers. orjson parses them to ``float``; ``to_decimal`` turns a float back
  into the exact decimal the server wrote via ``repr`` (the shortest text that round-trips).
  That is exact for every number of at most 15 significant digits -- two distinct such decimals
  never share a double -- which covers every 2-decimal amount below 10^13. A float whose
  ``repr`` needs more digits may not be what BC wrote: ``InexactNumber`` is raised and the
  pager re-parses that page with ``json`` + ``Decimal`` (exact, slower).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from bc_anaplan.bc.errors import BcDecodeError

_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_BLANK_DATE = "0001-01-01"
MAX_EXACT_DIGITS = 15


class InexactNumber(BcDecodeError):
    """A float that cannot be proven to be the decimal BC sent; re-parse the text exactly."""


def unescape_enum(value: Any) -> str:
    """``"Credit_x0020_Memo"`` -> ``"Credit Memo"``; ``"_x0020_"`` -> ``" "``."""
    if not isinstance(value, str):
        raise BcDecodeError(f"expected an enum name, got {value!r}")
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), value)


def parse_date(value: Any) -> date | None:
    if value is None or value == "" or value == _BLANK_DATE:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise BcDecodeError(f"expected a date like 2024-03-28, got {value!r}") from None


def parse_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime; accepts 0-7 fraction digits and ``Z`` or an offset."""
    if value is None or value == "" or str(value).startswith(_BLANK_DATE):
        return None
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BcDecodeError(
            f"expected a UTC datetime like 2024-03-28T10:15:42.53Z, got {text!r}"
        ) from None
    if parsed.tzinfo is None:
        raise BcDecodeError(f"datetime {text!r} has no time zone")
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """An OData datetime literal: UTC, millisecond precision, ``Z``."""
    if value.tzinfo is None:
        raise ValueError("datetimes sent to BC must be timezone-aware")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def to_decimal(value: Any) -> Decimal:
    """The exact decimal of a JSON number (see the module docstring for why this is exact)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise BcDecodeError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        text = repr(value)
        # fewer than 16 characters cannot hold 16 digits: skip counting on the common path
        if len(text) > MAX_EXACT_DIGITS and _significant_digits(text) > MAX_EXACT_DIGITS:
            raise InexactNumber(f"{text} has more than {MAX_EXACT_DIGITS} significant digits")
        return Decimal(text)
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise BcDecodeError(f"expected a decimal number, got {value!r}") from None
        if not number.is_finite():  # "NaN", "Infinity": Decimal takes them, money must not
            raise BcDecodeError(f"expected a finite number, got {value!r}")
        return number
    raise BcDecodeError(f"expected a number, got {value!r}")


def _significant_digits(text: str) -> int:
    mantissa = text.lower().split("e", 1)[0].lstrip("-").replace(".", "")
    return len(mantissa.lstrip("0").rstrip("0")) or 1


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"{value} cannot be sent to BC")
        return orjson.Fragment(format(value, "f").encode("ascii"))
    raise TypeError(f"cannot encode {type(value).__name__} for BC")


def dump_json(payload: Any) -> bytes:
    """A request body; ``Decimal`` is written as an exact JSON number, ``date`` as YYYY-MM-DD."""
    return orjson.dumps(payload, default=_json_default)
