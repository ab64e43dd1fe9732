"""The cursor value object: filter rendering, overlap deduplication, high-water mark, commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from bc_anaplan.bc.cursor import Cursor

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    id: str
    last_modified: datetime | None


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_an_empty_cursor_reads_everything() -> None:
    assert Cursor().filter() is None


def test_filter_renders_lag_end_and_posting_window() -> None:
    cursor = Cursor(
        start=at(0),
        end=at(60),
        posting_from=date(2026, 3, 1),
        posting_to=date(2026, 3, 31),
    )
    assert cursor.filter() == (
        "lastModifiedDateTime gt 2026-03-01T11:55:00.000Z"
        " and lastModifiedDateTime le 2026-03-01T13:00:00.000Z"
        " and postingDate ge 2026-03-01 and postingDate le 2026-03-31"
    )


def test_posting_window_alone_is_a_period_reload() -> None:
    cursor = Cursor(posting_from=date(2025, 3, 1), posting_to=date(2025, 3, 31))
    assert cursor.filter() == "postingDate ge 2025-03-01 and postingDate le 2025-03-31"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": datetime(2026, 3, 1)},
        {"lag": timedelta(minutes=-1)},
        {"posting_from": date(2026, 4, 1), "posting_to": date(2026, 3, 1)},
    ],
)
def test_invalid_windows_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Cursor(**kwargs)  # type: ignore[arg-type]


def test_first_run_admits_everything_and_reports_the_high_water_mark() -> None:
    run = Cursor().open()
    page = [Row("a", at(-30)), Row("b", at(-2)), Row("c", at(-1)), Row("d", None)]
    assert run.admit(page) == page
    advanced = run.advanced()
    assert advanced.start == at(-1)
    assert advanced.seen == {"b", "c"}  # inside the 5-minute overlap below the mark
    assert run.admitted == 4 and run.duplicates == 0


def test_overlap_is_reread_but_yielded_once_and_new_records_pass() -> None:
    cursor = Cursor(start=at(-1), seen=frozenset({"b", "c"}))
    run = cursor.open()
    reread = [Row("b", at(-2)), Row("c", at(-1))]
    late = Row("late", at(-3))  # committed late with an older timestamp: not seen before
    updated = Row("b2", at(-1))
    new = [Row("e", at(2)), Row("f", at(3))]
    assert run.admit([*reread, late, updated, *new]) == [late, updated, *new]
    assert run.duplicates == 2
    advanced = run.advanced()
    assert advanced.start == at(3)
    # the next overlap is (at(-2), at(3)]: "b" and "late" fell out of it, re-read ones stay
    assert advanced.seen == {"c", "b2", "e", "f"}


def test_a_record_modified_again_is_yielded_again() -> None:
    run = Cursor(start=at(0), seen=frozenset({"a"})).open()
    assert run.admit([Row("a", at(1))]) == [Row("a", at(1))]


def test_nothing_new_keeps_the_mark_and_the_overlap() -> None:
    cursor = Cursor(start=at(0), seen=frozenset({"a", "b"}))
    run = cursor.open()
    assert run.admit([Row("a", at(-1))]) == []
    advanced = run.advanced()
    assert advanced.start == at(0)
    assert advanced.seen == {"a", "b"}


def test_the_cursor_only_moves_when_the_caller_commits() -> None:
    cursor = Cursor(start=at(0))
    run = cursor.open()
    run.admit([Row("x", at(10))])
    assert cursor.start == at(0)  # frozen: the old window is intact until the new one is stored
    assert run.advanced().start == at(10)


def test_overlap_memory_stays_bounded_on_long_reads() -> None:
    run = Cursor(lag=timedelta(seconds=10)).open()
    for i in range(50_000):
        run.admit([Row(f"id{i}", at(i / 60))])  # one record a second
    assert len(run.advanced().seen) <= 11


def test_round_trips_through_a_small_json_dict() -> None:
    cursor = Cursor(
        start=at(0),
        lag=timedelta(minutes=2),
        end=at(30),
        posting_from=date(2026, 3, 1),
        posting_to=date(2026, 3, 31),
        seen=frozenset({"b", "a"}),
    )
    data = orjson.loads(orjson.dumps(cursor.to_dict()))
    assert data["seen"] == ["a", "b"]
    assert Cursor.from_dict(data) == cursor
    assert Cursor.from_dict(Cursor().to_dict()) == Cursor()
