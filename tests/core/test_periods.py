"""Periods: BC months, Anaplan month names and fiscal years."""

from __future__ import annotations

from datetime import date

import pytest

from bc_anaplan.periods import Period, PeriodNaming


def test_period_dates_and_order() -> None:
    feb = Period.parse("2024-02")
    assert feb.first_day == date(2024, 2, 1) and feb.last_day == date(2024, 2, 29)
    assert Period(2024, 12).next() == Period(2025, 1)
    assert sorted([Period(2025, 1), Period(2024, 12)]) == [Period(2024, 12), Period(2025, 1)]
    assert Period.of(date(2025, 3, 31)).key == "2025-03"
    with pytest.raises(ValueError):
        Period.parse("2025-13")
    with pytest.raises(ValueError):
        Period.parse("March 2025")


@pytest.mark.parametrize(
    ("pattern", "name"),
    [("MMM YY", "Mar 25"), ("MMM YYYY", "Mar 2025"), ("YYYY-MM", "2025-03"), ("MM/YY", "03/25")],
)
def test_anaplan_names_round_trip(pattern: str, name: str) -> None:
    naming = PeriodNaming(pattern)
    assert naming.name(Period(2025, 3)) == name
    assert naming.parse(name) == Period(2025, 3)


def test_names_that_do_not_fit_are_rejected() -> None:
    with pytest.raises(ValueError, match="does not match"):
        PeriodNaming("MMM YY").parse("FY25")
    with pytest.raises(ValueError):
        PeriodNaming("YYYY")


def test_fiscal_year_is_labelled_by_the_year_it_ends() -> None:
    calendar_years = PeriodNaming("MMM YY", 1)
    assert calendar_years.fiscal_year(Period(2025, 12)) == 2025
    july_start = PeriodNaming("MMM YY", 7)
    assert july_start.fiscal_year(Period(2025, 6)) == 2025
    assert july_start.fiscal_year(Period(2025, 7)) == 2026
