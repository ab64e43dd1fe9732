"""Tests of the Anaplan client (``bc_anaplan.anaplan``): authentication, action discovery, chunked
uploads, tasks and exports, against the sandbox's Anaplan over HTTPS.

They may import ``bc_anaplan`` and ``tests.support`` (and ``tests.core`` fixtures); they reach the
Anaplan simulator only through its HTTP API and its ``/_sandbox/`` controls.
"""
