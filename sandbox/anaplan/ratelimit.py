"""Anaplan's request rate limit: a token bucket of 600 requests per minute per user.

Each request takes one token; tokens refill continuously at capacity/60 per second (10/s for
600/min), measured on real time (rate limits do not follow the simulated clock). An empty bucket
answers 429 with ``Retry-After`` (Anaplan recommends waiting 10 seconds; ``--fast`` says 1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

DEFAULT_PER_MINUTE = 600


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_minute: int = DEFAULT_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, _Bucket] = {}

    def configure(self, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1: the limit cannot be switched off")
        self.per_minute = per_minute
        self._buckets.clear()

    def reset(self) -> None:
        self._buckets.clear()

    def take(self, user: str) -> bool:
        """Take one token for ``user``; False when the bucket is empty."""
        now = time.monotonic()
        bucket = self._buckets.get(user)
        if bucket is None:
            bucket = self._buckets[user] = _Bucket(float(self.per_minute), now)
        refill = (now - bucket.updated) * self.per_minute / 60.0
        bucket.tokens = min(float(self.per_minute), bucket.tokens + refill)
        bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True
