"""Accounting periods: calendar months, their BC dates, their Anaplan names, their fiscal years.

A ``Period`` is a calendar month (``2025-03``). Business Central posting dates are plain dates
with no time zone: a posting date belongs to the month it names, whatever the server's zone.
``lastModifiedDateTime`` values, by contrast, are UTC instants and never decide a period.

Anaplan names months by a pattern set in the model's time settings (default ``Jan 25``);
``PeriodNaming`` turns periods into those names and back. The fiscal year (``FY25``) is the year
in which the fiscal year *ends*, as BC and Anaplan both label it, given the first month.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import total_ordering

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TOKEN = re.compile(r"YYYY|YY|MMM|MM")
_KEY = re.compile(r"^(\d{4})-(\d{2})$")


@total_ordering
@dataclass(frozen=True)
class Period:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1900 <= self.year <= 9999:
            raise ValueError(f"not a valid period: {self.year}-{self.month}")

    @classmethod
    def parse(cls, key: str) -> Period:
        """``YYYY-MM`` (the connector's own period key) to a ``Period``."""
        match = _KEY.match(key.strip())
        if not match:
            raise ValueError(f"period {key!r} is not in YYYY-MM form")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def previous(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Period):
            return NotImplemented
        return (self.year, self.month) < (other.year, other.month)

    def __str__(self) -> str:
        return self.key


def months(first: Period, last: Period) -> list[Period]:
    """Every month from ``first`` to ``last``, both included."""
    result, current = [], first
    while current <= last:
        result.append(current)
        current = current.next()
    return result


@dataclass(frozen=True)
class PeriodNaming:
    """How the Anaplan model names months, and when the fiscal year starts."""

    pattern: str = "MMM YY"
    fiscal_year_start_month: int = 1

    def __post_init__(self) -> None:
        tokens = _TOKEN.findall(self.pattern)
        if sorted(t[0] for t in tokens) != ["M", "Y"]:
            raise ValueError(
                f"period format {self.pattern!r} needs exactly one month token "
                "(MMM or MM) and one year token (YYYY or YY)"
            )

    def name(self, period: Period) -> str:
        def token(match: re.Match[str]) -> str:
            t = match.group(0)
            if t == "MMM":
                return _MONTHS[period.month - 1]
            if t == "MM":
                return f"{period.month:02d}"
            if t == "YYYY":
                return f"{period.year:04d}"
            return f"{period.year % 100:02d}"

        return _TOKEN.sub(token, self.pattern)

    def parse(self, name: str) -> Period:
        """An Anaplan period name back to a ``Period``; ``ValueError`` if it does not fit."""
        regex = "^" + _TOKEN.sub(self._group, re.escape(self.pattern).replace(r"\ ", " ")) + "$"
        match = re.match(regex, name.strip())
        if not match:
            raise ValueError(f"period {name!r} does not match the Anaplan format {self.pattern!r}")
        parts = match.groupdict()
        month = _MONTHS.index(parts["mmm"]) + 1 if parts.get("mmm") else int(parts["mm"])
        year = int(parts["yyyy"]) if parts.get("yyyy") else 2000 + int(parts["yy"])
        return Period(year, month)

    @staticmethod
    def _group(match: re.Match[str]) -> str:
        t = match.group(0)
        return {
            "MMM": "(?P<mmm>" + "|".join(_MONTHS) + ")",
            "MM": r"(?P<mm>0[1-9]|1[0-2])",
            "YYYY": r"(?P<yyyy>\d{4})",
            "YY": r"(?P<yy>\d{2})",
        }[t]

    def fiscal_year(self, period: Period) -> int:
        """The fiscal year a period belongs to, labelled by the calendar year it ends in."""
        if self.fiscal_year_start_month == 1 or period.month < self.fiscal_year_start_month:
            return period.year
        return period.year + 1
