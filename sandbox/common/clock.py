"""The simulated clock: wall-clock time plus an offset that ``/_sandbox/clock`` moves forward.

Every expiry the real services enforce on their own clock (Entra and Anaplan tokens, BC webhook
subscriptions) reads this clock, so a test can make 36 minutes or 3 days pass instantly. Things the
real services check against true time (the Anaplan certificate-login timestamp) use ``time.time()``
directly, on purpose.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SimClock:
    def __init__(self) -> None:
        self.offset_s = 0.0

    def time(self) -> float:
        """Simulated epoch seconds."""
        return time.time() + self.offset_s

    def now(self) -> datetime:
        """Simulated current time, timezone-aware UTC."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        self.offset_s += seconds
