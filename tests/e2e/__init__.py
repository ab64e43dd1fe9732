"""End-to-end tests: every flow (reference sync, actuals, employees, timers, webhooks, writeback)
run by the real app on the local host, against a private sandbox and Azurite.

They may import ``local_host``, ``devtools``, ``bc_anaplan`` (to read state as an operator
would) and ``tests.support``; verdicts come from the services' own data (the sandbox's inspection
endpoints, BC's trial balance), not from the connector's bookkeeping.
"""
