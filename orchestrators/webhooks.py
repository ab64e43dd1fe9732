"""Orchestrations behind BC webhooks and polling.

* ``webhook_apply`` -- started by the notification endpoint for the new notifications of one
  delivery about one entity set: read what changed, then align the affected lists (exactly as
  reference sync does) or record the G/L periods the next actuals load recomputes.
* ``renew_subscriptions`` -- timer: one live subscription per configured resource, within BC's
  200; what could not be subscribed is polled.
* ``commitments_load`` -- open purchase orders into the Commitments import, when any changed or
  was deleted.
* ``poll_changes`` -- timer: commitments, plus every resource without a live subscription:
  changed lists are aligned, new G/L entries mark their periods or -- with
  ``webhooks.autoload_actuals``, as a notification would -- run the incremental actuals load.
  The poll marks are committed last, so anything that failed is polled again.

The commitments and actuals loads a poll starts are that work, not parts of the poll: each runs
under an instance id of its work key (``commitments:<scope>@<time>``,
``actuals:<scope>:incremental@<time>``), the family the timers, the webhook endpoint and
``POST /api/runs/...`` check (``triggers.starting``), so none of them starts the same load while
the poll's runs. The poll cannot ask the task hub itself, so it asks the audit trail
(``running_work``) and, while a run of that work is recorded as running, starts none and reports
``already_running`` with that run's id: the G/L periods stay recorded as pending and the running
or the next incremental load reads them (as when a notification finds a load running). What
remains: the check and the start are two steps, so a trigger in between can still start a second
load (the model lock serialises the imports; see ``triggers.starting``); and terminating a poll
does not reach the loads it started -- they are not found under its id prefix; terminate them by
their own ids, listed under ``runs`` in the poll's summary (and its custom status while it waits).
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from bc_anaplan import workkeys
from orchestrators.anaplan_tasks import import_staged
from orchestrators.reference_sync import sync_lists
from orchestrators.runs import begin, fail, finish
from orchestrators.waiting import Steps

bp = df.Blueprint()

ACTIVITY_RUNNING_WORK = "running_work"


@bp.orchestration_trigger(context_name="context")
def webhook_apply(context: df.DurableOrchestrationContext) -> Steps:
    request, plan = yield from begin(context, "webhook_apply")
    try:
        found = yield context.call_activity(
            "webhook_targets",
            {
                "run_id": context.instance_id,
                "pipeline": plan["pipeline"],
                "entity_set": request["entity_set"],
                "resources": request.get("resources", []),
                "count": request.get("count", 0),
                "collection": request.get("collection", False),
                "since": request.get("since", ""),
            },
        )
        aligned = yield from sync_lists(context, plan, found["lists"])
    except Exception as exc:
        yield from fail(context, exc)
        raise
    summary = {
        "entity_set": request["entity_set"],
        "lists": aligned,
        "pending_periods": found["pending_periods"],
    }
    result = yield from finish(context, summary)
    return {**result, "summary": summary}


@bp.orchestration_trigger(context_name="context")
def renew_subscriptions(context: df.DurableOrchestrationContext) -> Steps:
    _, plan = yield from begin(context, "renew_subscriptions")
    try:
        report = yield context.call_activity(
            "renew_webhook_subscriptions",
            {"run_id": context.instance_id, "pipeline": plan["pipeline"]},
        )
    except Exception as exc:
        yield from fail(context, exc)
        raise
    result = yield from finish(context, {"subscriptions": report})
    return {**result, "subscriptions": report}


def load_commitments(context: df.DurableOrchestrationContext, plan: dict[str, Any]) -> Steps:
    run = {"run_id": context.instance_id, "pipeline": plan["pipeline"]}
    staged = yield context.call_activity("stage_commitments", {**run, "step_id": "commitments"})
    if not staged["changed"]:
        return {"changed": False}, "unchanged"
    imported = None
    if staged["rows"]:
        imported = yield from import_staged(
            context, plan, plan["commitments_import"], staged["staged_blob"], "commitments"
        )
    accepted = imported is None or (imported.get("successful") and not imported.get("rejected"))
    if accepted:
        yield context.call_activity("commit_commitments", {**run, "mark": staged["mark"]})
    summary = {
        "changed": True,
        "rows": staged["rows"],
        "open_orders": staged["open_orders"],
        "import": None
        if imported is None
        else {"successful": imported.get("successful"), "rejected": imported.get("rejected")},
    }
    return summary, None if accepted else "partially_succeeded"


@bp.orchestration_trigger(context_name="context")
def commitments_load(context: df.DurableOrchestrationContext) -> Steps:
    _, plan = yield from begin(context, "commitments_load")
    try:
        if "commitments_import" not in plan:
            raise ValueError(f"pipeline {plan['pipeline']} has no [pipeline.commitments]")
        summary, state = yield from load_commitments(context, plan)
    except Exception as exc:
        yield from fail(context, exc)
        raise
    result = yield from finish(context, summary, state)
    return {**result, "summary": summary}


def start_work(
    context: df.DurableOrchestrationContext,
    plan: dict[str, Any],
    flow: str,
    child_input: dict[str, Any],
) -> Steps:
    """Run ``flow`` under its work key as a sub-orchestration, unless that work is running.

    Returns the child's final state (or ``already_running``) and its run id.
    """
    work = yield context.call_activity(
        ACTIVITY_RUNNING_WORK, {"pipeline": plan["pipeline"], "flow": flow}
    )
    if work["running"]:
        return "already_running", work["running"]
    instance = workkeys.instance_id(work["work_key"], context.current_utc_datetime)
    context.set_custom_status({"step": flow, "run_id": instance})
    result = yield context.call_sub_orchestrator(
        flow,
        {**child_input, "pipeline": plan["pipeline"], "trigger": "parent"},
        instance_id=instance,
    )
    return result["state"], instance


@bp.orchestration_trigger(context_name="context")
def poll_changes(context: df.DurableOrchestrationContext) -> Steps:
    _, plan = yield from begin(context, "poll_changes")
    run = {"run_id": context.instance_id, "pipeline": plan["pipeline"]}
    runs: dict[str, str] = {}
    try:
        commitments = None
        if "commitments_import" in plan:
            commitments, runs["commitments"] = yield from start_work(
                context, plan, "commitments_load", {}
            )
        polled = yield context.call_activity("poll_unsubscribed", run)
        aligned = yield from sync_lists(context, plan, polled["lists"])
        actuals = None
        if polled.get("load_actuals"):
            actuals, runs["actuals"] = yield from start_work(
                context, plan, "actuals_load", {"mode": "incremental"}
            )
        yield context.call_activity("commit_poll_marks", {**run, "marks": polled["marks"]})
    except Exception as exc:
        yield from fail(context, exc)
        raise
    summary = {
        "commitments": commitments,
        "polled": polled["changed_entity_sets"],
        "lists": aligned,
        "pending_periods": polled.get("pending_periods", []),
        "actuals": actuals,
        "runs": runs,
    }
    result = yield from finish(context, summary)
    return {**result, "summary": summary}
