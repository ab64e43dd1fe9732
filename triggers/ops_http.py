"""What every ops endpoint shares: JSON answers, one error shape, the Durable status of a run.

Errors are ``{"error": {"code", "message", ...}}`` with the status the core chose
(``bc_anaplan.ops.requests.OpsError``); a configuration that does not load is 503 with its
one-line reason; anything unexpected is 500 with the exception type (details go to the log, not
to the caller). ``handle`` wraps an endpoint's work so that each endpoint reads straight through.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import azure.durable_functions as df
import azure.functions as func

from bc_anaplan.config import ConfigError
from bc_anaplan.ops.requests import OpsError, json_object
from entities.model_lock import ENTITY_NAME
from triggers import starting

log = logging.getLogger("triggers.ops")

ACTIVE = tuple(status.value for status in starting.ACTIVE)  # as ``durable_status`` names them


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str),
        status_code=status,
        mimetype="application/json",
        headers=headers,
    )


def error_response(status: int, code: str, message: str, **extra: Any) -> func.HttpResponse:
    return json_response({"error": {"code": code, "message": message, **extra}}, status)


async def handle(work: Callable[[], Awaitable[func.HttpResponse]]) -> func.HttpResponse:
    try:
        return await work()
    except OpsError as exc:
        return json_response(exc.body(), exc.status)
    except ConfigError as exc:
        return error_response(503, "Misconfigured", str(exc))
    except Exception as exc:
        log.exception("ops endpoint failed")
        return error_response(500, "InternalError", f"unexpected {type(exc).__name__}; see the log")


def body_of(req: func.HttpRequest) -> dict[str, Any]:
    return json_object(req.get_body() or b"")


async def durable_status(
    client: df.DurableOrchestrationClient, instance_id: str
) -> dict[str, Any] | None:
    """The Durable runtime status of an instance, or None if the task hub does not know it."""
    status = await client.get_status(instance_id)
    if not status or status.runtime_status is None:
        return None
    return {
        "runtime_status": status.runtime_status.value,
        "created_time": _iso(status.created_time),
        "last_updated_time": _iso(status.last_updated_time),
        "custom_status": status.custom_status,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def run_links(
    client: df.DurableOrchestrationClient, req: func.HttpRequest, instance_id: str
) -> dict[str, str]:
    """The Durable management URLs of an instance plus the ops API's own."""
    links = dict(client.get_client_response_links(req, instance_id))
    base = req.url.split("/api/", 1)[0]
    path = quote(instance_id, safe="")
    links["runUri"] = f"{base}/api/runs/{path}"
    links["reportUri"] = f"{base}/api/runs/{path}/report"
    return links


def accepted(
    client: df.DurableOrchestrationClient,
    req: func.HttpRequest,
    instance_id: str,
    **extra: Any,
) -> func.HttpResponse:
    """202 with the instance id and status URLs, like ``create_check_status_response``."""
    links = run_links(client, req, instance_id)
    headers = {"Location": links["statusQueryGetUri"], "Retry-After": "10"}
    return json_response({**links, **extra}, 202, headers)


async def lock_state(client: df.DurableOrchestrationClient, key: str) -> dict[str, Any]:
    """The ``ModelLock`` entity's state for ``<workspace>:<model>`` (``{}`` if it never existed)."""
    state = await client.read_entity_state(df.EntityId(ENTITY_NAME, key))
    value = state.entity_state if state.entity_exists else None
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}
