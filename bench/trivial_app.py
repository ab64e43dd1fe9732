"""The orchestration-overhead benchmark's own app: trivial activities, nothing else.

``fan_out`` schedules ``n`` activities at once and sums their results (the host's throughput
when it has work queued); ``sequence`` runs ``n`` activities one after the other (each step is
an episode that replays the whole history, as in Azure). ``square`` does no I/O, so everything
measured is the host: dispatch, SDK replay, history and inbox rows in Table Storage.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


@app.activity_trigger(input_name="n")
def square(n: int) -> int:
    return n * n


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    n = int(context.get_input())
    results = yield context.task_all([context.call_activity("square", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext) -> Generator[Any, Any, int]:
    total = 0
    for i in range(int(context.get_input())):
        total += yield context.call_activity("square", i)
    return total
