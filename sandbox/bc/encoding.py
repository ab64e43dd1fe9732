"""Business Central's wire encodings (reference §3.3), in one place.

BC never sends what Python would print by default: enum values are escaped names
(``G_x002F_L_x0020_Account``), datetimes are UTC at SQL ``datetime`` precision with trailing
zeros trimmed, blank dates are ``0001-01-01``, trial balance amounts are formatted strings. Values
are kept typed inside the simulator (epoch milliseconds, ``date``, cents) and encoded only here.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

BLANK_DATE = date(1, 1, 1)
# a blank GUID field; GUIDs go out lowercase, dashed, without braces
NULL_GUID = "00000000-0000-0000-0000-000000000000"
GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
# epoch milliseconds of 0001-01-01T00:00:00Z: BC's blank DateTime
BLANK_MS = -62_135_596_800_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_NOT_IDENTIFIER = re.compile(r"[^0-9A-Za-z_]")


def escape_enum(name: str) -> str:
    """``"G/L Account"`` -> ``"G_x002F_L_x0020_Account"``; ``" "`` -> ``"_x0020_"``."""
    return _NOT_IDENTIFIER.sub(lambda m: f"_x{ord(m.group()):04X}_", name)


def unescape_enum(text: str) -> str:
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def sql_datetime_ms(epoch_s: float) -> int:
    """Epoch milliseconds rounded the way SQL ``datetime`` stores time (1/300 s ticks)."""
    whole = int(epoch_s // 1)
    ticks = round((epoch_s - whole) * 300)
    return whole * 1000 + round(ticks * 1000 / 300)


def format_datetime(epoch_ms: int) -> str:
    """UTC, ``Z``, at most three fraction digits, trailing zeros trimmed."""
    if epoch_ms <= BLANK_MS:
        return "0001-01-01T00:00:00Z"
    seconds, millis = divmod(epoch_ms, 1000)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{_day_text(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}"
    if millis:
        return f"{text}.{_MILLIS[millis]}Z"
    return text + "Z"


@lru_cache(maxsize=4096)
def _day_text(days_since_epoch: int) -> str:
    return (_EPOCH + timedelta(days=days_since_epoch)).strftime("%Y-%m-%d")


_MILLIS = [f"{m:03d}".rstrip("0") for m in range(1000)]


def datetime_to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@lru_cache(maxsize=65_536)
def etag(row_version: int) -> str:
    """A weak ETag in BC's style: base64 of ``'<n>;<row version>;00;'``; opaque to clients."""
    text = f"'19;{row_version:020d};00;'"
    return 'W/"' + base64.b64encode(text.encode("ascii")).decode("ascii") + '"'


def format_amount_text(cents: int) -> str:
    """Trial balance amounts: positive magnitudes as text, ``"72,893.84"``, ``"0.00"``."""
    units, rest = divmod(abs(cents), 100)
    return f"{units:,}.{rest:02d}"


def format_amount_message(cents: int) -> str:
    """How AL's ``Format(Decimal)`` shows an amount in an error message: ``"1,638.4"``."""
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    fraction = f"{rest:02d}".rstrip("0")
    return f"{sign}{units:,}" + (f".{fraction}" if fraction else "")
