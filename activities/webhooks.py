"""Activities behind BC webhooks, subscription renewal and polling (see flows/webhooks)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from bc_anaplan.flows import commitments, webhooks
from bc_anaplan.runtime import get_runtime

bp = df.Blueprint()


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
