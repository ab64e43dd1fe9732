"""How long a task takes, and the two things that can interrupt it: cancellation and a hold.

Anaplan tasks take time proportional to the data (the simulator: about one second per 100,000
rows, at least one second; ``--fast`` divides by ten). Work is done in batches; between batches
``step`` sleeps until the simulated schedule catches up, yields to other requests, updates the
task's progress and raises ``TaskCancelled`` if a cancel arrived. ``finish`` waits out the
minimum duration and, when a test holds the model (``/_sandbox/anaplan/hold``), waits for the
release before anything is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

ROWS_PER_SECOND = 100_000
MINIMUM_TASK_S = 1.0


class TaskCancelled(Exception):
    """The task was cancelled; nothing it staged may be committed."""


class Pace:
    def __init__(
        self,
        cancel: asyncio.Event,
        released: Callable[[], asyncio.Event],
        wait: Callable[[float], float],
        on_progress: Callable[[float], None],
    ) -> None:
        self._cancel = cancel
        self._released = released
        self._wait = wait
        self._on_progress = on_progress
        self._started = time.monotonic()
        self._rows_before = 0  # rows of earlier steps of a process, for its schedule

    def restart_schedule(self, rows_done_so_far: int) -> None:
        self._rows_before = rows_done_so_far

    async def step(self, rows_done: int, fraction: float) -> None:
        self._on_progress(min(0.99, max(0.0, fraction)))
        due = self._started + self._wait((self._rows_before + rows_done) / ROWS_PER_SECOND)
        delay = due - time.monotonic()
        if delay > 0:
            await self._sleep(delay)
        else:
            await asyncio.sleep(0)  # let the event loop serve other requests
        self._check()

    async def finish(self, rows_done: int) -> None:
        seconds = max(MINIMUM_TASK_S, (self._rows_before + rows_done) / ROWS_PER_SECOND)
        delay = self._started + self._wait(seconds) - time.monotonic()
        if delay > 0:
            await self._sleep(delay)
        self._check()
        while not self._released().is_set():
            released = asyncio.ensure_future(self._released().wait())
            cancelled = asyncio.ensure_future(self._cancel.wait())
            try:
                await asyncio.wait({released, cancelled}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                released.cancel()
                cancelled.cancel()
            self._check()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._cancel.wait(), timeout=seconds)

    def _check(self) -> None:
        if self._cancel.is_set():
            raise TaskCancelled
