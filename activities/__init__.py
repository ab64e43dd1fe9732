"""Durable activity functions: thin adapters between the runtime and the core.

An activity decodes a small JSON input, calls ``bc_anaplan``, and returns a small JSON result
(ids, counts, references, sums) -- never bulk data, because inputs and outputs are stored in the
orchestration history. Activities run at least once, so each one is idempotent. May import
``azure.durable_functions`` (for the blueprint) and ``bc_anaplan``.
"""
