"""Tests of operations: the ops API and CLI, run reports, repair, notifications and retention,
through the local host's front door against a sandbox and Azurite, as an operator would use them.

They may import ``bc_anaplan``, ``local_host``, ``devtools`` and ``tests.support``.
"""
