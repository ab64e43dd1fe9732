"""A token-bucket rate limiter per API, shared by every client and thread of the process.

Business Central and Anaplan both allow about 600 requests a minute per principal and answer
429 beyond it. Staying under the budget on the client side is cheaper than being told off: the
bucket holds ``burst`` tokens (10 seconds' worth by default), refills at ``per_minute / 60`` per
second, and ``acquire()`` blocks until a token is free. When a server does answer 429 with
``Retry-After``, ``pause()`` makes every caller of that API wait, not only the one that was told.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate_per_s = per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, per_minute // 6))
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_s)
        self._updated = now

    def acquire(self) -> float:
        """Take one token, waiting as long as needed. Returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                pause = self._paused_until - now
                if pause <= 0 and self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                delay = max(pause, (1.0 - self._tokens) / self.rate_per_s)
            self._sleep(delay)
            waited += delay

    def pause(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` (a server asked us to slow down)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(api: str, per_minute: int) -> RateLimiter:
    """The process-wide limiter of ``api`` (created on first use with ``per_minute``)."""
    with _registry_lock:
        limiter = _registry.get(api)
        if limiter is None or limiter.rate_per_s != per_minute / 60.0:
            limiter = RateLimiter(per_minute)
            _registry[api] = limiter
        return limiter
