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
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.reference_sync import begin, fail, finish, import_staged, sync_list
from orchestrators.waiting import Steps

bp = df.Blueprint()


def align(
    context: df.DurableOrchestrationContext, plan: dict[str, Any], specs: list[dict[str, Any]]
) -> Steps:
    results = []
    for spec in specs:
        context.set_custom_status({"step": f"align {spec['list']}"})
        results.append((yield from sync_list(context, plan, spec)))
    return results


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
        aligned = yield from align(context, plan, found["lists"])
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


@bp.orchestration_trigger(context_name="context")
def poll_changes(context: df.DurableOrchestrationContext) -> Steps:
    _, plan = yield from begin(context, "poll_changes")
    run = {"run_id": context.instance_id, "pipeline": plan["pipeline"]}
    try:
        commitments = None
        if "commitments_import" in plan:
            commitments = yield context.call_sub_orchestrator(
                "commitments_load",
                {"pipeline": plan["pipeline"], "trigger": "parent"},
                instance_id=f"{context.instance_id}:commitments",
            )
        polled = yield context.call_activity("poll_unsubscribed", run)
        aligned = yield from align(context, plan, polled["lists"])
        actuals = None
        if polled.get("load_actuals"):
            context.set_custom_status({"step": "incremental actuals load"})
            actuals = yield context.call_sub_orchestrator(
                "actuals_load",
                {"pipeline": plan["pipeline"], "mode": "incremental", "trigger": "parent"},
                instance_id=f"{context.instance_id}:actuals",
            )
        yield context.call_activity("commit_poll_marks", {**run, "marks": polled["marks"]})
    except Exception as exc:
        yield from fail(context, exc)
        raise
    summary = {
        "commitments": None if commitments is None else commitments["state"],
        "polled": polled["changed_entity_sets"],
        "lists": aligned,
        "pending_periods": polled.get("pending_periods", []),
        "actuals": None if actuals is None else actuals["state"],
    }
    result = yield from finish(context, summary)
    return {**result, "summary": summary}
