"""``POST /api/writeback``: write an approved plan version back to BC (function key required).

Body: ``{"version": "Budget FY27", "policy"?: "all-or-nothing"|"continue", "pipeline"?}``.
Answers 202 with the instance id and the Durable status URLs, or 409 if the same version is
already being written back (the running instance is named), or 400 naming what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from bc_anaplan import workkeys
from bc_anaplan.config import ConfigError
from bc_anaplan.runtime import get_runtime
from triggers.starting import start_unless_running

bp = df.Blueprint()

MAX_BODY_BYTES = 16_384
POLICIES = ("all-or-nothing", "continue")


def error(status: int, code: str, message: str, **extra: Any) -> func.HttpResponse:
    body = {"error": {"code": code, "message": message, **extra}}
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


def parse_request(req: func.HttpRequest) -> dict[str, Any]:
    raw = req.get_body()
    if len(raw) > MAX_BODY_BYTES:
        raise ValueError(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    version = body.get("version")
    if not isinstance(version, str) or not version.strip() or len(version) > 200:
        raise ValueError("'version' must be the name of the plan version, e.g. 'Budget FY27'")
    policy = body.get("policy")
    if policy is not None and policy not in POLICIES:
        raise ValueError(f"'policy' must be one of {', '.join(POLICIES)}")
    unknown = set(body) - {"version", "policy", "pipeline"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    return body


@bp.route(route="writeback", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_writeback(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    try:
        body = parse_request(req)
        pipeline = get_runtime().settings.pipeline(body.get("pipeline"))
    except (ValueError, ConfigError) as exc:
        return error(400, "BadRequest", str(exc))
    request = {"pipeline": pipeline.name, "version": body["version"].strip(), "trigger": "ops"}
    if body.get("policy"):
        request["policy"] = body["policy"]
    key = workkeys.plan_writeback(pipeline, request["version"])
    started = await start_unless_running(client, "plan_writeback", key, request)
    if not started.started:
        return error(
            409,
            "AlreadyRunning",
            f"version {request['version']!r} is already being written back",
            instanceId=started.instance_id,
        )
    return client.create_check_status_response(req, started.instance_id)
