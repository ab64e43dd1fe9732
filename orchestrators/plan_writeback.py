"""``plan_writeback``: an approved plan version into BC as draft journal lines, exactly once.

Input: ``{"version": "Budget FY27", "policy"?: "all-or-nothing"|"continue", "pipeline"?,
"trigger"?}``. Export under the model lock (released as soon as the file is down), validate
every line before BC is touched, claim the version (a second run of it while one runs is
refused) and leave out the rows finance already posted, then write in bounded chunks, retire
the version's earlier drafts, and reconcile what BC holds with the lines meant to be written.
See ``bc_anaplan/flows/writeback``.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.anaplan_tasks import export_file
from orchestrators.runs import begin, fail, finish
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
    if started.get("busy"):
        return {
            "refused": (
                f"plan version {run['version']!r} is being written back by run "
                f"{started['busy']}; this run wrote nothing to BC (start it again once that "
                "run has ended)"
            )
        }, "failed"
    rejected = 0
    chunk_run = {**run, "lines_blob": started["lines_blob"], "journal_id": started["journal_id"]}
    for chunk in range(started["chunks"]):
        context.set_custom_status(
            {"step": "write draft lines", "done": chunk, "total": started["chunks"]}
        )
        result = yield context.call_activity(ACTIVITY_WRITE, {**chunk_run, "chunk": chunk})
        rejected += result["bc_rejected"]
    if rejected and checked["policy"] == "all-or-nothing":
        rolled = yield context.call_activity(ACTIVITY_ROLL_BACK, run)
        return {"rolled_back": rolled, "bc_rejected": rejected}, "failed"
    retired = None
    if started["earlier"]:
        retired = yield context.call_activity(
            ACTIVITY_RETIRE,
            {**run, "earlier": started["earlier"], "previous": started["previous"]},
        )
    committed = yield context.call_activity(ACTIVITY_COMMIT, run)
    posted = started["posted_earlier"] + (retired or {}).get("posted_during_run", 0)
    written = {
        "bc_rejected": rejected,
        "posted_earlier": started["posted_earlier"],
        "posted_during_run": (retired or {}).get("posted_during_run", 0),
        "lines_to_write": started["lines_to_write"],
        "retired_previous": retired,
        **committed,
    }
    if posted:
        written["posted_note"] = (
            f"{posted} rows were already posted by finance from an earlier draft of this "
            "version and were not rewritten; the posted amount, the new plan amount and the "
            "difference of each are in the audit trail"
        )
    return written, (None if committed["complete"] or rejected else "partially_succeeded")


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
            if "refused" in written:
                summary["refused"] = written["refused"]
            else:
                summary["written"] = written
    except Exception as exc:
        yield from fail(context, exc)
        raise
    result = yield from finish(context, summary, state)
    return {**result, "summary": summary}
