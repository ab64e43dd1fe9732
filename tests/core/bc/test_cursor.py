"""The cursor value object: filter rendering, overlap deduplication, high-water mark, commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from bc_anaplan.bc.cursor import ANY_TIME, Cursor
from bc_anaplan.bc.encoding import format_datetime

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    id: str
    last_modified: datetime | None


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamped(**minutes: float) -> dict[str, str]:
    """A ``seen`` map: id -> the stored timestamp of ``at(minutes)``."""
    return {i: format_datetime(at(m)) for i, m in minutes.items()}


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
    assert advanced.seen == stamped(b=-2, c=-1)  # inside the 5-minute overlap below the mark
    assert run.admitted == 4 and run.duplicates == 0


def test_overlap_is_reread_but_yielded_once_and_new_records_pass() -> None:
    cursor = Cursor(start=at(-1), seen=stamped(b=-2, c=-1))
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
    assert advanced.seen == stamped(c=-1, b2=-1, e=2, f=3)


def test_a_record_modified_again_is_yielded_again() -> None:
    run = Cursor(start=at(0), seen=stamped(a=-1)).open()
    assert run.admit([Row("a", at(1))]) == [Row("a", at(1))]


def test_a_late_commit_inside_the_overlap_is_yielded_again() -> None:
    # run 1 saw x at t0-2min and reached t0; x then changed at t0-1min, committed late: its new
    # timestamp is still at or below the mark, but it is not the one run 1 saw
    first = Cursor().open()
    first.admit([Row("x", at(-2)), Row("y", at(0))])
    cursor = first.advanced()
    assert cursor.start == at(0)
    run = cursor.open()
    changed = Row("x", at(-1))
    assert run.admit([changed, Row("y", at(0))]) == [changed]
    assert run.duplicates == 1
    advanced = run.advanced()
    assert advanced.start == at(0)
    assert advanced.seen == stamped(x=-1, y=0)  # the next run knows the newer timestamp


def test_the_same_timestamp_at_millisecond_precision_is_a_duplicate() -> None:
    # the stored stamp has milliseconds; a re-read parsed with more digits is still the same
    run = Cursor(start=at(0), seen=stamped(a=-1)).open()
    assert run.admit([Row("a", at(-1) + timedelta(microseconds=400))]) == []


def test_nothing_new_keeps_the_mark_and_the_overlap() -> None:
    cursor = Cursor(start=at(0), seen=stamped(a=-1, b=0))
    run = cursor.open()
    assert run.admit([Row("a", at(-1))]) == []
    advanced = run.advanced()
    assert advanced.start == at(0)
    assert advanced.seen == stamped(a=-1, b=0)


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
        seen=stamped(b=-1, a=-2),
    )
    data = orjson.loads(orjson.dumps(cursor.to_dict()))
    assert data["seen"] == {"a": "2026-03-01T11:58:00.000Z", "b": "2026-03-01T11:59:00.000Z"}
    assert Cursor.from_dict(data) == cursor
    assert Cursor.from_dict(Cursor().to_dict()) == Cursor()


def test_a_cursor_stored_with_ids_only_still_loads_as_seen_at_any_time() -> None:
    # the format before timestamps were kept: a plain id list
    stored = {"start": "2026-03-01T12:00:00.000Z", "lag_s": 300.0, "seen": ["b", "a"]}
    cursor = Cursor.from_dict(stored)
    assert cursor.seen == {"a": ANY_TIME, "b": ANY_TIME}
    run = cursor.open()
    assert run.admit([Row("a", at(-1)), Row("b", at(-4))]) == []  # any time up to start
    assert run.admit([Row("a", at(1))]) == [Row("a", at(1))]  # newer than start: a change
    assert run.advanced().seen == stamped(a=1)
