"""A local Durable Functions host: runs a ``df.DFApp`` offline through the SDK's real replay.

See ``local_host/README.md``. The app never imports this package; this package imports the app.
"""

from __future__ import annotations

from local_host.clock import Clock, RealClock, SkippingClock
from local_host.host import Endpoint, LocalHost, Status

__all__ = ["Clock", "Endpoint", "LocalHost", "RealClock", "SkippingClock", "Status"]
