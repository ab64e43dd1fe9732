"""``approval_watch``: start a writeback for every plan version approved since it was written.

Runs the small status export (``Export Plan Status``) under the model lock, compares each
approved version's approval time with its last writeback, and writes back the versions that are
due, one after the other. Started by the ``approval_watch_timer`` when
``WRITEBACK_WATCH_ENABLED`` is true (off by default: most finance teams start writebacks by hand).

Each writeback runs under an instance id of its version's work key (``writeback:<scope>:<version>@
<time>``), the same family ``POST /api/writeback`` uses, so the API refuses a second writeback of
a version the watch is writing (and the writeback's ``begin`` refuses the other way round).
"""

from __future__ import annotations

import azure.durable_functions as df

from bc_anaplan import workkeys
from orchestrators.anaplan_tasks import export_file
from orchestrators.runs import begin, fail, finish
from orchestrators.waiting import Steps

bp = df.Blueprint()

ACTIVITY_DUE = "newly_approved_versions"


@bp.orchestration_trigger(context_name="context")
def approval_watch(context: df.DurableOrchestrationContext) -> Steps:
    _, plan = yield from begin(context, "approval_watch")
    results = []
    try:
        if not plan.get("status_export"):
            raise ValueError("[pipeline.writeback] status_export is not configured")
        export = yield from export_file(context, plan, plan["status_export"], "status")
        due = yield context.call_activity(
            ACTIVITY_DUE, {"pipeline": plan["pipeline"], "staged_blob": export["staged_blob"]}
        )
        for version in due["versions"]:
            instance = workkeys.instance_id(due["work_keys"][version], context.current_utc_datetime)
            result = yield context.call_sub_orchestrator(
                "plan_writeback",
                {"pipeline": plan["pipeline"], "version": version, "trigger": "parent"},
                instance_id=instance,
            )
            results.append({"version": version, "state": result["state"], "run_id": instance})
    except Exception as exc:
        yield from fail(context, exc)
        raise
    summary = {"written_back": results, "being_written": due["being_written"]}
    outcome = yield from finish(context, summary, None if results else "unchanged")
    return {**outcome, **summary}
