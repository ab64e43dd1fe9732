"""Orchestrations behind BC webhooks and polling.

* ``webhook_apply`` -- started by the notification endpoint for one delivery's notifications
  about one entity set: read what changed, then align the affected lists (exactly as reference
  sync does) or record the G/L periods the next actuals load recomputes.
* ``renew_subscriptions`` -- timer: one live subscription per configured resource.
* ``commitments_load`` -- open purchase orders into the Commitments import, when they changed.
* ``poll_changes`` -- timer: commitments, plus every list whose BC source has no live
  subscription, so a lost webhook never means lost data.
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
        yield context.call_activity("commit_poll_marks", {**run, "marks": polled["marks"]})
    except Exception as exc:
        yield from fail(context, exc)
        raise
    summary = {
        "commitments": None if commitments is None else commitments["state"],
        "polled": polled["changed_entity_sets"],
        "lists": aligned,
    }
    result = yield from finish(context, summary)
    return {**result, "summary": summary}
