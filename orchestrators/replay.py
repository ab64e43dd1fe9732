"""``replay``: re-run a flow for what an earlier run left out (see flows/replay).

Input: ``{"run_id": "<the run to replay>"}``. The replayed run is a child orchestration with
its own run record (trigger ``replay``, input naming the original run).
"""

from __future__ import annotations

import azure.durable_functions as df

from orchestrators.waiting import Steps

bp = df.Blueprint()

ACTIVITY_REPLAY_REQUEST = "replay_request"


@bp.orchestration_trigger(context_name="context")
def replay(context: df.DurableOrchestrationContext) -> Steps:
    request = context.get_input() or {}
    plan = yield context.call_activity(ACTIVITY_REPLAY_REQUEST, {"run_id": request["run_id"]})
    result = yield context.call_sub_orchestrator(
        plan["flow"], plan["input"], instance_id=f"{context.instance_id}:{plan['flow']}"
    )
    return {"replayed": request["run_id"], "flow": plan["flow"], "result": result}
