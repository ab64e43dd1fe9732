"""Time as the host sees it: the wall clock, or a clock that skips ahead when only timers remain.

Durable timers make orchestrations wait for minutes or days. Tests cannot, so the
:class:`SkippingClock` works like Temporal's time-skipping test environment: time runs normally
while anything is happening, and whenever the host has nothing left to do but wait for a durable
timer, the dispatcher calls :meth:`SkippingClock.skip_to` and the timer is due at once. The
orchestration still sees consistent time: ``current_utc_datetime`` jumps forward exactly as it
would have after a real wait.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    skips_time: bool

    def now(self) -> datetime: ...

    def skip_to(self, moment: datetime) -> None: ...


class RealClock:
    """The wall clock (UTC). Waits cost what they say."""

    skips_time = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def skip_to(self, moment: datetime) -> None:
        raise RuntimeError("the real clock cannot skip time")


class SkippingClock:
    """Wall-clock time plus an offset that grows each time the host skips to a timer."""

    skips_time = True

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0) if start is None else start - datetime.now(UTC)

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def skip_to(self, moment: datetime) -> None:
        """Move time forward to ``moment`` (never backwards)."""
        with self._lock:
            gap = moment - (datetime.now(UTC) + self._offset)
            if gap > timedelta(0):
                self._offset += gap
