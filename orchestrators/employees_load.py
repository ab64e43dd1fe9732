"""``employees_load``: employees onto the Employees list, then head count per department.

Input: ``{"pipeline"?, "trigger"?}``. Reference data first (departments must exist before head
count lands on them), then the employee list, then the head-count import; the staged employee
file and Anaplan's copy of it are removed at the end, successful or not (personal data).
"""

from __future__ import annotations

import contextlib

import azure.durable_functions as df

from orchestrators.actuals_load import align_reference_data
from orchestrators.anaplan_tasks import import_staged
from orchestrators.reference_sync import sync_list
from orchestrators.runs import begin, fail, finish, import_summary
from orchestrators.waiting import Steps

bp = df.Blueprint()

ACTIVITY_STAGE_HEADCOUNT = "stage_headcount"
ACTIVITY_FORGET_PERSONAL = "forget_personal_files"


@bp.orchestration_trigger(context_name="context")
def employees_load(context: df.DurableOrchestrationContext) -> Steps:
    _, plan = yield from begin(context, "employees_load")
    run = {"run_id": context.instance_id, "pipeline": plan["pipeline"]}
    try:
        if "employee_list" not in plan:
            raise ValueError(f"pipeline {plan['pipeline']} has no [pipeline.employees] section")
        reference = yield from align_reference_data(context, plan)
        context.set_custom_status({"step": "align Employees"})
        employees = yield from sync_list(context, plan, plan["employee_list"])
        headcount = None
        if plan.get("headcount_import"):
            context.set_custom_status({"step": "head count"})
            staged = yield context.call_activity(
                ACTIVITY_STAGE_HEADCOUNT, {**run, "step_id": "headcount"}
            )
            headcount = yield from import_staged(
                context, plan, plan["headcount_import"], staged["staged_blob"], "headcount"
            )
        yield context.call_activity(ACTIVITY_FORGET_PERSONAL, run)
    except Exception as exc:
        yield from fail(context, exc)  # first: the run record must not stay "running"
        # then forget; if that fails too, the run still fails with the original error (the
        # forget activity's own failure is in its log)
        with contextlib.suppress(Exception):
            yield context.call_activity(ACTIVITY_FORGET_PERSONAL, run)
        raise
    summary = {
        "reference_sync": reference,
        "employees": employees,
        "headcount": import_summary(headcount),
    }
    result = yield from finish(context, summary)
    return {**result, "summary": summary}
