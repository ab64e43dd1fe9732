"""``replay``: re-run a flow for what an earlier run left out (see flows/replay).

Input: ``{"run_id": "<the run to replay>"}``. The replayed run is a child orchestration with
its own run record (trigger ``replay``, input naming the original run and, for actuals, what the
replay could not send). A commitments replay first forgets the load's poll mark, which would
otherwise make the load skip ("no purchase order changed").
"""

from __future__ import annotations

import azure.durable_functions as df

from orchestrators.waiting import Steps

bp = df.Blueprint()

ACTIVITY_REPLAY_REQUEST = "replay_request"
ACTIVITY_FORGET_MARK = "forget_replay_mark"


@bp.orchestration_trigger(context_name="context")
def replay(context: df.DurableOrchestrationContext) -> Steps:
    request = context.get_input() or {}
    plan = yield context.call_activity(ACTIVITY_REPLAY_REQUEST, {"run_id": request["run_id"]})
    child = f"{context.instance_id}:{plan['flow']}"
    if plan.get("forget_mark"):
        yield context.call_activity(
            ACTIVITY_FORGET_MARK,
            {
                "run_id": child,
                "pipeline": plan["input"]["pipeline"],
                "resource": plan["forget_mark"],
            },
        )
    result = yield context.call_sub_orchestrator(plan["flow"], plan["input"], instance_id=child)
    return {
        "replayed": request["run_id"],
        "flow": plan["flow"],
        "scope": plan.get("scope"),
        "not_replayed": plan.get("not_replayed") or [],
        "result": result,
    }
