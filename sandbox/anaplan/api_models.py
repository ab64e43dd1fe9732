"""Workspaces and models: ``/workspaces``, ``/models``, ``/models/{id}`` and model status.

``GET /workspaces/{ws}/models/{id}`` answers 405, as on the real service (use
``GET /models/{id}``). ``sort`` on these collections is validated: it needs a ``+`` or ``-``
prefix (a ``+`` that arrived URL-decoded as a space counts as ``+``) and a sortable field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox.anaplan.access import Access, open_model
from sandbox.anaplan.envelope import ApiError, envelope, json_response, paged, schema
from sandbox.anaplan.model import PlanModel
from sandbox.anaplan.state import STATE, AnaplanState

MODEL_CREATED = "2024-09-02T08:15:00.000+0000"


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() == "true"


def _sorted(
    request: web.Request, items: list[dict[str, Any]], fields: tuple[str, ...]
) -> list[dict[str, Any]]:
    raw = request.query.get("sort")
    if raw is None:
        return items
    direction, field = raw[:1], raw[1:]
    if direction not in ("+", "-", " ") or field not in fields:
        raise ApiError(400, f"Bad sort order format: {raw}")
    return sorted(items, key=lambda item: item[field], reverse=direction == "-")


def _workspace(state: AnaplanState, details: bool) -> dict[str, Any]:
    workspace = state.model.workspace
    body: dict[str, Any] = {
        "id": workspace.id,
        "name": workspace.name,
        "active": True,
        "sizeAllowance": workspace.size_allowance,
    }
    if details:
        body["currentSize"] = 873_741_824
    return body


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def model_body(state: AnaplanState, model: PlanModel, details: bool, single: bool) -> dict:
    body: dict[str, Any] = {
        "id": model.id,
        "activeState": model.active_state,
        "name": model.name,
        "currentWorkspaceId": model.workspace.id,
        "currentWorkspaceName": model.workspace.name,
        "modelUrl": (
            f"{state.api_base}/anaplan/rt?selectedWorkspaceId={model.workspace.id}"
            f"&selectedModelId={model.id}"
        ),
        "categoryValues": [],
    }
    if details:
        body.update(
            {
                "lastSavedSerialNumber": 2_000_000 + model.last_modified_ms % 100_000,
                "lastModifiedByUserGuid": state.user.guid,
                "memoryUsage": 474_900 + 120 * sum(m.cell_count() for m in model.modules.values()),
                "isoCreationDate": MODEL_CREATED,
                "lastModified": _iso(model.last_modified_ms),
            }
        )
        if single:
            body["modelTransactionRunning"] = state.tasks.running is not None
    return body


async def list_workspaces(request: web.Request) -> web.Response:
    state = request.app[STATE]
    items = _sorted(request, [_workspace(state, _flag(request, "tenantDetails"))],
                    ("name", "sizeAllowance"))  # fmt: skip
    return paged(request, "workspaces", items, "workspace")


async def get_workspace(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.match_info["workspaceId"] != state.model.workspace.id:
        raise ApiError(404)
    return envelope(request, "workspace", _workspace(state, True), "workspace")


async def list_models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    workspace = request.match_info.get("workspaceId")
    if workspace is not None and workspace != state.model.workspace.id:
        raise ApiError(404)
    details = _flag(request, "modelDetails")
    items = _sorted(request, [model_body(state, state.model, details, single=False)],
                    ("name", "activeState"))  # fmt: skip
    return paged(request, "models", items, "model")


async def get_model(request: web.Request) -> web.Response:
    model = await open_model(request, Access.DESCRIBE)
    state = request.app[STATE]
    body = model_body(state, model, _flag(request, "modelDetails"), single=True)
    return envelope(request, "model", body, "model")


async def model_via_workspace(request: web.Request) -> web.Response:
    raise ApiError(405, "Method Not Allowed: use GET /2/0/models/{modelId}")


def _request_status(request: web.Request) -> dict[str, Any]:
    state = request.app[STATE]
    running = state.tasks.running
    if running is None:
        return {
            "tooltip": None,
            "progress": -1.0,
            "currentStep": "Open",
            "exportTaskType": None,
            "creationTime": int(state.clock.time() * 1000),
            "taskId": None,
            "peakMemoryUsageEstimate": None,
            "peakMemoryUsageTime": None,
        }
    kind = {"imports": "Import", "exports": "Export", "processes": "Process"}.get(
        running.kind, "Action"
    )
    started = datetime.fromtimestamp((running.started_ms or 0) / 1000, tz=UTC)
    return {
        "tooltip": (
            f"The system is currently processing an {kind}:\n\n{kind} started by user "
            f"{running.user_login}\n\n{kind} started at {started:%H:%M} (UTC)\n"
            "Tasks can be cancelled in Model Management."
        ),
        "progress": running.progress,
        "currentStep": "Processing ...",
        "exportTaskType": None,
        "creationTime": running.creation_ms,
        "taskId": running.id,
        "peakMemoryUsageEstimate": None,
        "peakMemoryUsageTime": None,
    }


async def get_model_status(request: web.Request) -> web.Response:
    await open_model(request, Access.DESCRIBE)
    return json_response({"requestStatus": _request_status(request)})


async def post_model_status(request: web.Request) -> web.Response:
    await open_model(request, Access.DESCRIBE)
    return json_response(
        {
            "meta": {"schema": schema(request, "dimension")},
            "status": {"code": 200, "message": "Success"},
            "requestStatus": _request_status(request),
        }
    )


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/2/0/workspaces", list_workspaces)
    router.add_get("/2/0/workspaces/{workspaceId}", get_workspace)
    router.add_get("/2/0/models", list_models)
    router.add_get("/2/0/workspaces/{workspaceId}/models", list_models)
    router.add_get("/2/0/models/{modelId}", get_model)
    router.add_get("/2/0/workspaces/{workspaceId}/models/{modelId}", model_via_workspace)
    for prefix in ("/2/0/models/{modelId}", "/2/0/workspaces/{workspaceId}/models/{modelId}"):
        router.add_get(prefix + "/status", get_model_status)
        router.add_post(prefix + "/status", post_model_status)
