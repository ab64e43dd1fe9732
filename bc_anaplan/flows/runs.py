"""The beginning and end of every run: the run record, and the plan an orchestrator follows.

Orchestrators may not read configuration (they are replayed), so ``begin_run`` reads it for
them and returns the small plan they sequence: which pipeline, workspace and model, which lists
and actions, which limits. ``end_run`` decides the final state from what the steps recorded --
quarantined or rejected records make a run *partially succeeded*, an error makes it *failed* --
and writes the summary onto the run record, then announces the run if its state calls for it
(``bc_anaplan.ops.notify``; best effort).
"""

from __future__ import annotations

import logging
from typing import Any

from bc_anaplan.flows.reference import employee_list, reference_lists
from bc_anaplan.ops.notify import notify_run_end
from bc_anaplan.pipeline import Pipeline
from bc_anaplan.runtime import Runtime

FLOWS = (
    "reference_sync",
    "actuals_load",
    "employees_load",
    "plan_writeback",
    "approval_watch",
    "commitments_load",
    "webhook_apply",
    "renew_subscriptions",
    "retention",
    "poll_changes",
)
TRIGGERS = ("timer", "webhook", "ops", "cli", "parent", "replay")
log = logging.getLogger("bc_anaplan.flows.runs")
IMPORT_DEADLINE_S = 2 * 3600


def pipeline_plan(pipeline: Pipeline, poll_s: float = 5.0) -> dict[str, Any]:
    """Everything about a pipeline an orchestrator needs, as a small dict."""
    plan: dict[str, Any] = {
        "pipeline": pipeline.name,
        "workspace_id": pipeline.anaplan_workspace_id,
        "model_id": pipeline.anaplan_model_id,
        "lists": [s.to_dict() for s in reference_lists(pipeline)],
        "actuals_import": pipeline.actuals.import_action,
        "deadline_s": IMPORT_DEADLINE_S,
        "poll_s": poll_s,
    }
    if pipeline.employees is not None:
        plan["employee_list"] = employee_list(pipeline).to_dict()
        plan["headcount_import"] = pipeline.employees.headcount_import
    if pipeline.commitments is not None:
        plan["commitments_import"] = pipeline.commitments.import_action
    if pipeline.writeback is not None:
        plan["writeback_export"] = pipeline.writeback.export_action
        plan["status_export"] = pipeline.writeback.status_export_action
    return plan


def begin_run(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    flow, trigger = request["flow"], request.get("trigger") or "cli"
    if flow not in FLOWS:
        raise ValueError(f"unknown flow {flow!r}; known: {', '.join(FLOWS)}")
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; known: {', '.join(TRIGGERS)}")
    pipeline = rt.settings.pipeline(request.get("pipeline"))
    rt.audit.start_run(request["run_id"], flow, trigger, pipeline.name, request.get("input") or {})
    return pipeline_plan(pipeline, rt.settings.anaplan.poll_s)


def end_run(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    run_id = request["run_id"]
    error = request.get("error") or ""
    summary = dict(request.get("summary") or {})
    totals = rt.audit.step_totals(run_id)
    if error:
        state = "failed"
    elif request.get("state") in ("unchanged", "failed", "partially_succeeded"):
        state = request["state"]
    elif any(
        totals.get(k, 0)
        for k in ("quarantined", "anaplan_rejected", "bc_rejected", "invalid_lines")
    ):
        state = "partially_succeeded"
    else:
        state = "succeeded"
    full = rt.audit.finish_run(run_id, state, summary, error=error)
    try:
        notify_run_end(rt, run_id, state)
    except Exception:  # best effort: a notification never fails the run
        log.exception("run %s: notifying its end failed", run_id)
    return {"run_id": run_id, "state": state, "counts": full["counts"]}
