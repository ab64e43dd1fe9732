"""A local Durable Functions host: runs a ``df.DFApp`` offline through the SDK's real replay.

See ``local_host/README.md``. The app never imports this package; this package imports the app,
and only as a ``module:attribute`` given on the command line (``function_app:app`` by default),
never by name in code. It may import the Functions SDKs (``azure.functions``,
``azure.durable_functions``), ``azure-data-tables`` for its state in Azurite or Azure Storage,
``aiohttp`` for its HTTP front door, and the standard library -- not ``bc_anaplan``, ``sandbox``
or any layer of the connector, so that it hosts any Durable app the way ``func`` would.
"""

from __future__ import annotations

from local_host.clock import Clock, RealClock, SkippingClock
from local_host.host import Endpoint, LocalHost, Status

__all__ = ["Clock", "Endpoint", "LocalHost", "RealClock", "SkippingClock", "Status"]
