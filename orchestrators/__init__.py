"""Durable orchestrator functions: deterministic generators that sequence the work.

They call activities, durable timers, entities and sub-orchestrations, and nothing else: no I/O,
no clock (use ``context.current_utc_datetime``), no randomness, no configuration reads, because
the engine replays them from history. May import ``azure.durable_functions`` and pure,
side-effect-free helpers and constants from ``bc_anaplan``; activities are called by name.
"""
