"""Tests of the local Durable host (``local_host``) on a small test app of its own (``app.py``),
not on the connector: replay, timers, entities, the HTTP front door, the command line, and
recovery after a killed process, with real Azurite.

They may import ``local_host``, ``azure.durable_functions`` and ``tests.support``, never
``bc_anaplan`` or the connector's app, so that a host bug and a connector bug cannot hide each
other.
"""
