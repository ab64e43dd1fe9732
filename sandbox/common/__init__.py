"""Machinery shared by every simulator: TLS, the simulated clock, fault injection, the request log.

The server (``sandbox.server``) wraps each service's aiohttp application with the same request-log
and fault-injection middlewares and the same ``/_sandbox/`` controls, so the services themselves
only implement their API.
"""
