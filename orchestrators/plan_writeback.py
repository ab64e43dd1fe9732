"""``plan_writeback``: an approved plan version into BC as draft journal lines, exactly once.

Input: ``{"version": "Budget FY27", "policy"?: "all-or-nothing"|"continue", "pipeline"?,
"trigger"?}``. Export under the model lock (released as soon as the file is down), validate
every line before BC is touched, then write in bounded chunks, retire the version's previous
drafts, and reconcile what BC holds with the export. See ``bc_anaplan/flows/writeback``.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.anaplan_tasks import export_file
from orchestrators.reference_sync import begin, fail, finish
from orchestrators.waiting import Steps

bp = df.Blueprint()

ACTIVITY_VALIDATE = "validate_plan"
ACTIVITY_BEGIN = "begin_plan_revision"
ACTIVITY_WRITE = "write_plan_chunk"
ACTIVITY_ROLL_BACK = "roll_back_plan_revision"
ACTIVITY_RETIRE = "retire_previous_revision"
ACTIVITY_COMMIT = "commit_plan_revision"


def export_plan(context: df.DurableOrchestrationContext, plan: dict[str, Any]) -> Steps:
    context.set_custom_status({"step": "export the approved plan"})
    result = yield from export_file(context, plan, plan["writeback_export"], "export")
    return result


def write(
    context: df.DurableOrchestrationContext, run: dict[str, Any], checked: dict[str, Any]
) -> Steps:
    started = yield context.call_activity(ACTIVITY_BEGIN, run)
    rejected = 0
    for chunk in range(checked["chunks"]):
        context.set_custom_status(
            {"step": "write draft lines", "done": chunk, "total": checked["chunks"]}
        )
        result = yield context.call_activity(
            ACTIVITY_WRITE, {**run, "chunk": chunk, "journal_id": started["journal_id"]}
        )
        rejected += result["bc_rejected"]
    if rejected and checked["policy"] == "all-or-nothing":
        rolled = yield context.call_activity(ACTIVITY_ROLL_BACK, run)
        return {"rolled_back": rolled, "bc_rejected": rejected}, "failed"
    retired = None
    if started["previous"]:
        retired = yield context.call_activity(
            ACTIVITY_RETIRE, {**run, "previous": started["previous"]}
        )
    committed = yield context.call_activity(ACTIVITY_COMMIT, run)
    return {"bc_rejected": rejected, "retired_previous": retired, **committed}, None


@bp.orchestration_trigger(context_name="context")
def plan_writeback(context: df.DurableOrchestrationContext) -> Steps:
    request, plan = yield from begin(context, "plan_writeback")
    try:
        if not request.get("version") or "writeback_export" not in plan:
            raise ValueError(
                "plan_writeback needs a plan version, and a pipeline with [pipeline.writeback]"
            )
        export = yield from export_plan(context, plan)
        run = {
            "run_id": context.instance_id,
            "pipeline": plan["pipeline"],
            "version": request["version"],
        }
        checked = yield context.call_activity(
            ACTIVITY_VALIDATE,
            {
                **run,
                "staged_blob": export["staged_blob"],
                "policy": request.get("policy"),
                "step_id": "validate",
            },
        )
        summary: dict[str, Any] = {
            "version": request["version"],
            "export_rows": export["rows"],
            "validation": checked,
        }
        state = None
        if checked["stop"]:
            summary["stopped"] = (
                f"{checked['invalid_lines']} invalid lines under the "
                "all-or-nothing policy: nothing was written to BC"
            )
            state = "failed"
        elif checked["unchanged"]:
            state = "unchanged"
        else:
            run = {**run, "revision": checked["revision"], "lines_blob": checked["lines_blob"]}
            written, state = yield from write(context, run, checked)
            summary["written"] = written
    except Exception as exc:
        yield from fail(context, exc)
        raise
    result = yield from finish(context, summary, state)
    return {**result, "summary": summary}
