"""Activities behind BC webhooks, subscription renewal and polling (see flows/webhooks)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from bc_anaplan import workkeys
from bc_anaplan.flows import commitments, webhooks
from bc_anaplan.runtime import get_runtime

bp = df.Blueprint()

POLLED_WORK = {"actuals_load": workkeys.actuals_load, "commitments_load": workkeys.commitments_load}


@bp.activity_trigger(input_name="request")
def webhook_targets(request: dict[str, Any]) -> dict[str, Any]:
    return webhooks.targets(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def renew_webhook_subscriptions(request: dict[str, Any]) -> dict[str, Any]:
    return webhooks.renew(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def poll_unsubscribed(request: dict[str, Any]) -> dict[str, Any]:
    return webhooks.poll_unsubscribed(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def commit_poll_marks(request: dict[str, Any]) -> dict[str, Any]:
    return webhooks.commit_poll_marks(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def stage_commitments(request: dict[str, Any]) -> dict[str, Any]:
    return commitments.stage(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def commit_commitments(request: dict[str, Any]) -> dict[str, Any]:
    return commitments.commit(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def running_work(request: dict[str, Any]) -> dict[str, Any]:
    """The work key of a load ``poll_changes`` starts, and the run of that work the audit trail
    records as running (None if none is): the orchestrator cannot ask the task hub."""
    rt = get_runtime()
    flow = request["flow"]
    key = POLLED_WORK[flow](rt.settings.pipeline(request["pipeline"]))
    running = (
        r["run_id"]
        for r in rt.audit.list_runs(flow=flow, state="running")
        if workkeys.work_key_of(r["run_id"]) == key
    )
    return {"work_key": key, "running": next(running, None)}
