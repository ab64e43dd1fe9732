"""The life of a run, as every orchestration begins and ends it.

``begin`` opens the run record and returns the request and the pipeline's plan (orchestrators
may not read configuration); ``finish`` closes it with the summary and the state the steps
recorded; ``fail`` closes it with the error. ``import_summary`` is the part of an import's
result a run keeps in its summary.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.waiting import Steps

ACTIVITY_BEGIN_RUN = "begin_run"
ACTIVITY_END_RUN = "end_run"


def begin(context: df.DurableOrchestrationContext, flow: str) -> Steps:
    request = context.get_input() or {}
    plan = yield context.call_activity(
        ACTIVITY_BEGIN_RUN,
        {
            "run_id": context.instance_id,
            "flow": flow,
            "trigger": request.get("trigger") or "cli",
            "pipeline": request.get("pipeline"),
            "input": request,
        },
    )
    return request, plan


def finish(
    context: df.DurableOrchestrationContext, summary: dict[str, Any], state: str | None = None
) -> Steps:
    result = yield context.call_activity(
        ACTIVITY_END_RUN, {"run_id": context.instance_id, "summary": summary, "state": state}
    )
    context.set_custom_status({"step": "done", "state": result["state"]})
    return result


def fail(context: df.DurableOrchestrationContext, error: Exception) -> Steps:
    yield context.call_activity(
        ACTIVITY_END_RUN, {"run_id": context.instance_id, "error": str(error)[:2000]}
    )


def import_summary(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "state": result.get("state"),
        "successful": result.get("successful"),
        "rejected": result.get("rejected", 0),
        "counts": result.get("counts"),
    }
