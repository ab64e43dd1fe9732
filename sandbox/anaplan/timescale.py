"""The model calendar: one member per month, named as Anaplan names months by default.

Anaplan's default month format is ``Jan 25`` (three-letter month, two-digit year). The calendar
covers the books of the BC dataset (``FIRST_PERIOD`` .. ``LAST_PERIOD``) plus the budget year, so
actuals and next year's plan live on the same time axis.
"""

from __future__ import annotations

from sandbox.masterdata import BUDGET_YEAR, FIRST_PERIOD

MONTH_ABBREVIATIONS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


def month_name(year: int, month: int) -> str:
    return f"{MONTH_ABBREVIATIONS[month - 1]} {year % 100:02d}"


def calendar_months() -> tuple[str, ...]:
    """Every month from the first booked period to December of the budget year, in order."""
    year, month = FIRST_PERIOD
    names = []
    while year <= BUDGET_YEAR:
        names.append(month_name(year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(names)


def budget_months() -> tuple[str, ...]:
    return tuple(month_name(BUDGET_YEAR, m) for m in range(1, 13))
