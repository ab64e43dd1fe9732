"""``retention``: purge the audit trail and staged files older than the cutoff, in batches.

Input (from the retention trigger, which already purged the Durable instance history):
``{"cutoff": "<ISO instant>", "older_than_days", "instances_purged", "trigger"}``. Each
``retention_purge_runs`` call removes up to 50 expired runs with everything they left and says
whether more remain; at most ``MAX_BATCHES`` run per night, the rest waits for the next one (the
summary says so). Then one sweep of staged files and pending snapshots nothing refers to.
"""

from __future__ import annotations

import azure.durable_functions as df

from orchestrators.runs import fail, finish
from orchestrators.waiting import Steps

bp = df.Blueprint()

ACTIVITY_BEGIN = "retention_begin"
ACTIVITY_PURGE_RUNS = "retention_purge_runs"
ACTIVITY_SWEEP = "retention_sweep_files"
MAX_BATCHES = 200


@bp.orchestration_trigger(context_name="context")
def retention(context: df.DurableOrchestrationContext) -> Steps:
    request = context.get_input() or {}
    run = {"run_id": context.instance_id, "cutoff": request["cutoff"]}
    yield context.call_activity(ACTIVITY_BEGIN, {**request, **run})
    batches, more = 0, True
    try:
        while more and batches < MAX_BATCHES:
            context.set_custom_status({"step": "purge expired runs", "batch": batches})
            result = yield context.call_activity(
                ACTIVITY_PURGE_RUNS, {**run, "step_id": f"runs:{batches:04d}"}
            )
            more, batches = bool(result["more"]), batches + 1
        context.set_custom_status({"step": "sweep expired files"})
        yield context.call_activity(ACTIVITY_SWEEP, {**run, "step_id": "files"})
    except Exception as exc:
        yield from fail(context, exc)
        raise
    summary = {
        "cutoff": request["cutoff"],
        "older_than_days": request.get("older_than_days"),
        "batches": batches,
        "more_left": more,
    }
    return (yield from finish(context, summary))
