"""The incremental cursor: which slice of an entity set a read covers, as one small value.

A ``Cursor`` (frozen, serialisable with ``to_dict``/``from_dict``) owns the window of a read, as
dlt's ``Incremental`` does, and is the only place a ``$filter`` on it is rendered:

* ``start`` -- the high-water mark of ``lastModifiedDateTime`` the last committed run reached.
  The read re-reads ``lag`` (default 5 minutes) below it, because BC timestamps are coarse and a
  transaction that committed late can carry an earlier timestamp than rows already read.
* ``seen`` -- ``id -> lastModifiedDateTime`` (``format_datetime``, millisecond precision) of the
  records handled inside that overlap, so records re-read there are yielded once, not twice. A
  record re-read with *another* timestamp is a change and is yielded again -- even one still at
  or below ``start``: BC stamps a change when it is written, and a late commit can carry a
  timestamp inside the overlap. Keying on the id alone would drop exactly that change. Cursors
  stored before timestamps were kept list ids only; they load as seen at ``ANY_TIME``.
* ``end`` -- an optional inclusive upper bound, for deterministic backfills.
* ``posting_from``/``posting_to`` -- an optional posting-date window ("reload March").

``cursor.open()`` starts a ``CursorRun`` that admits records page by page (dropping overlap
duplicates) and tracks the high-water mark. ``run.advanced()`` returns the next ``Cursor``; it
is *committed* only when the caller stores it after the records were durably handled, so a
crash in between re-reads instead of losing anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypeVar

from bc_anaplan.bc.encoding import format_datetime, parse_date, parse_datetime

DEFAULT_LAG = timedelta(minutes=5)
ANY_TIME = "*"  # an id known without its timestamp: seen at any time up to ``start``


class Tracked(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def last_modified(self) -> datetime | None: ...


R = TypeVar("R", bound=Tracked)


@dataclass(frozen=True)
class Cursor:
    start: datetime | None = None
    lag: timedelta = DEFAULT_LAG
    end: datetime | None = None
    posting_from: date | None = None
    posting_to: date | None = None
    seen: Mapping[str, str] = field(default_factory=dict)  # id -> format_datetime or ANY_TIME
    field: str = "lastModifiedDateTime"

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"cursor {name} must be timezone-aware")
        if self.lag < timedelta(0):
            raise ValueError("cursor lag must not be negative")
        if self.posting_from and self.posting_to and self.posting_from > self.posting_to:
            raise ValueError("cursor posting_from is after posting_to")

    @property
    def lower_bound(self) -> datetime | None:
        """Exclusive lower bound of the read: ``start - lag``."""
        return None if self.start is None else self.start - self.lag

    def filter(self) -> str | None:
        """The OData ``$filter`` of this window (``and`` only: BC rejects ``or`` across fields)."""
        clauses = []
        if self.lower_bound is not None:
            clauses.append(f"{self.field} gt {format_datetime(self.lower_bound)}")
        if self.end is not None:
            clauses.append(f"{self.field} le {format_datetime(self.end)}")
        if self.posting_from is not None:
            clauses.append(f"postingDate ge {self.posting_from.isoformat()}")
        if self.posting_to is not None:
            clauses.append(f"postingDate le {self.posting_to.isoformat()}")
        return " and ".join(clauses) or None

    def open(self) -> CursorRun:
        return CursorRun(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "start": format_datetime(self.start) if self.start else None,
            "lag_s": self.lag.total_seconds(),
            "end": format_datetime(self.end) if self.end else None,
            "posting_from": self.posting_from.isoformat() if self.posting_from else None,
            "posting_to": self.posting_to.isoformat() if self.posting_to else None,
            "seen": dict(sorted(self.seen.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cursor:
        return cls(
            start=parse_datetime(data.get("start")),
            lag=timedelta(seconds=float(data.get("lag_s", DEFAULT_LAG.total_seconds()))),
            end=parse_datetime(data.get("end")),
            posting_from=parse_date(data.get("posting_from")),
            posting_to=parse_date(data.get("posting_to")),
            seen=_seen_of(data.get("seen")),
            field=str(data.get("field") or "lastModifiedDateTime"),
        )


@dataclass
class CursorRun:
    """One read through a cursor's window: admits records, remembers what the next one needs."""

    cursor: Cursor
    high_water: datetime | None = None
    admitted: int = 0
    duplicates: int = 0
    # id -> timestamp of records near the running high-water mark (the next run's overlap)
    _recent: dict[str, datetime] = field(default_factory=dict)
    _prune_at: int = 1024

    def __post_init__(self) -> None:
        self.high_water = self.cursor.start

    def admit(self, records: Iterable[R]) -> list[R]:
        """The records of one page that were not already handled in the overlap."""
        fresh = []
        for record in records:
            if self._admit_one(record.id, record.last_modified):
                fresh.append(record)
        return fresh

    def _admit_one(self, record_id: str, modified: datetime | None) -> bool:
        start = self.cursor.start
        duplicate = False
        if start is not None and modified is not None and modified <= start:
            known = self.cursor.seen.get(record_id)
            duplicate = known is not None and known in (ANY_TIME, format_datetime(modified))
        if modified is not None:
            self._remember(record_id, modified)
        if duplicate:
            self.duplicates += 1
            return False
        self.admitted += 1
        return True

    def _remember(self, record_id: str, modified: datetime) -> None:
        if self.high_water is None or modified > self.high_water:
            self.high_water = modified
        if modified > self.high_water - self.cursor.lag:
            self._recent[record_id] = modified
        if len(self._recent) >= self._prune_at:
            self._prune()
            self._prune_at = max(1024, 2 * len(self._recent))

    def _prune(self) -> None:
        if self.high_water is not None:
            floor = self.high_water - self.cursor.lag
            self._recent = {i: m for i, m in self._recent.items() if m > floor}

    def advanced(self) -> Cursor:
        """The cursor to commit once every admitted record was durably handled."""
        self._prune()
        if self.high_water == self.cursor.start:
            # nothing newer than the old mark: keep its overlap and add what we saw inside it
            return replace(self.cursor, seen={**self.cursor.seen, **self._stamps()})
        return replace(self.cursor, start=self.high_water, seen=self._stamps())

    def _stamps(self) -> dict[str, str]:
        return {i: format_datetime(m) for i, m in self._recent.items()}


def _seen_of(stored: Any) -> dict[str, str]:
    """``seen`` as stored: a map id -> timestamp, or a plain id list (the format before)."""
    if isinstance(stored, Mapping):
        return {str(i): str(stamp) for i, stamp in stored.items()}
    return dict.fromkeys(map(str, stored or ()), ANY_TIME)
