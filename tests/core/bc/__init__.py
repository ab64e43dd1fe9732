"""Tests of the Business Central client (``bc_anaplan.bc``): tokens, OData paging and parsing,
``$batch``, journals and webhook subscriptions, against the sandbox's BC over HTTPS.

They may import ``bc_anaplan`` and ``tests.support`` (and ``tests.core`` fixtures); they reach the
BC simulator only through its HTTP API and its ``/_sandbox/`` controls.
"""
