"""Numbers as Anaplan imports them, and as this simulator stores them without losing a cent.

Source values must be plain decimals (``-1234.5``, ``0.125``): no thousands separators, no
exponent, no surrounding spaces; anything else is rejected so a client that formats numbers
sloppily finds out here. Stored numbers are integers of hundredths when that is exact (most
money), else ``Decimal``: a Python int costs a third of a Decimal, which matters for modules
with millions of cells. Callers only ever see ``Decimal``.
"""

from __future__ import annotations

import re
from decimal import Decimal

_PLAIN_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_CENTS = re.compile(r"^(-?)(\d+)(?:\.(\d{0,2}))?$")

Stored = int | Decimal


class NumberFormatError(ValueError):
    pass


def parse_number(text: str) -> Stored:
    """The stored form of a source value; raises ``NumberFormatError``."""
    match = _CENTS.match(text)
    if match:
        sign, whole, fraction = match.groups()
        cents = int(whole) * 100 + int((fraction or "").ljust(2, "0"))
        return -cents if sign else cents
    if not _PLAIN_DECIMAL.match(text):
        raise NumberFormatError(f"Invalid number: {text}")
    return to_stored(Decimal(text))


def to_stored(value: Decimal) -> Stored:
    scaled = value.scaleb(2)
    if scaled == scaled.to_integral_value():
        return int(scaled)
    return value


def to_decimal(stored: Stored) -> Decimal:
    if isinstance(stored, Decimal):
        return stored
    return Decimal(stored).scaleb(-2)


def add(a: Stored, b: Stored) -> Stored:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    return to_stored(to_decimal(a) + to_decimal(b))


def plain(value: Decimal) -> str:
    """A decimal as exports write it: no exponent, no trailing zeros after the point."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
