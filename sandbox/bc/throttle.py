"""Business Central's per-user operational limits (reference §7), per principal.

* rate: at most ``rate_limit`` requests in any sliding ``window_s`` (6,000 per 5 minutes) on
  the simulated clock, else 429 with ``Retry-After`` = seconds until the oldest request leaves
  the window;
* concurrency: at most ``concurrency`` (5) requests execute at once; further requests wait in a
  queue, and once running + queued reach ``max_connections`` (100) new requests get 429;
  a request queued longer than ``queue_timeout_s`` (8 minutes, shortened by ``--fast``) gets 503.

The limits can be lowered at run time (``POST /_sandbox/bc/limits``) so tests can reach them
without sending 6,000 requests; ``hold_s`` adds server-side work time inside the slot, which is
what makes concurrency observable.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.bc.errors import BcError
from sandbox.common.clock import SimClock


@dataclass
class Limits:
    rate_limit: int = 6000
    window_s: float = 300.0
    concurrency: int = 5
    max_connections: int = 100
    queue_timeout_s: float = 480.0
    hold_s: float = 0.0

    def update(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown limit {name!r}")
            setattr(self, name, type(getattr(self, name))(value))


@dataclass
class _Principal:
    times: deque[float] = field(default_factory=deque)
    running: int = 0
    queued: int = 0
    wakeup: asyncio.Condition = field(default_factory=asyncio.Condition)


class Throttle:
    def __init__(self, clock: SimClock, fast: bool) -> None:
        self.clock = clock
        self.limits = Limits(queue_timeout_s=48.0 if fast else 480.0)
        self._defaults = asdict(self.limits)
        self._principals: dict[str, _Principal] = {}

    def reset(self) -> None:
        self.limits = Limits(**self._defaults)
        for state in self._principals.values():
            state.times.clear()

    def describe(self) -> dict[str, Any]:
        return asdict(self.limits)

    @asynccontextmanager
    async def slot(self, principal: str) -> AsyncIterator[None]:
        state = self._principals.setdefault(principal, _Principal())
        self._check_rate(state)
        limits = self.limits
        if state.running + state.queued >= limits.max_connections:
            raise _too_many(
                f"The number of concurrent connections exceeded the limit of "
                f"{limits.max_connections}.",
                5,
            )
        state.times.append(self.clock.time())
        if state.running >= limits.concurrency:
            state.queued += 1
            try:
                async with state.wakeup:
                    await asyncio.wait_for(
                        state.wakeup.wait_for(lambda: state.running < self.limits.concurrency),
                        timeout=limits.queue_timeout_s,
                    )
            except TimeoutError as exc:
                raise BcError(
                    503,
                    "Internal_ServiceUnavailable",
                    "The request waited too long in the queue of concurrent requests.",
                    {"Retry-After": "5"},
                ) from exc
            finally:
                state.queued -= 1
        state.running += 1
        try:
            if self.limits.hold_s:
                await asyncio.sleep(self.limits.hold_s)
            yield
        finally:
            state.running -= 1
            async with state.wakeup:
                state.wakeup.notify_all()

    def _check_rate(self, state: _Principal) -> None:
        now = self.clock.time()
        limits = self.limits
        while state.times and state.times[0] <= now - limits.window_s:
            state.times.popleft()
        if len(state.times) >= limits.rate_limit:
            wait = state.times[0] + limits.window_s - now
            raise _too_many(
                f"The rate limit of {limits.rate_limit} requests per {int(limits.window_s)} "
                "seconds was exceeded.",
                max(1, math.ceil(wait)),
            )


def _too_many(message: str, retry_after_s: int) -> BcError:
    return BcError(429, "Application_TooManyRequests", message, {"Retry-After": str(retry_after_s)})
