"""Tasks: start, list, poll and cancel imports, exports, processes and actions; failure dumps.

Start: ``POST …/{imports|exports|processes|actions}/{id}/tasks`` with a JSON body carrying
``localeName``; the task is queued behind any running one and the response shows it
``NOT_STARTED``. The route template of that POST is stable (see ``routing.py``), so a test can
drop its response with a targeted fault and check that the client never starts a second task.
Dumps: 204 when the task has no dump, 404 when it had one that is gone (replaced by the user's
next run of the same action, or 48 hours after it was recorded).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from sandbox.anaplan.access import Access, current_user, open_model
from sandbox.anaplan.api_actions import ID_PARAMS, KINDS, definition_of
from sandbox.anaplan.dumps import dump_chunks
from sandbox.anaplan.envelope import ApiError, envelope, json_object, paged
from sandbox.anaplan.routing import Handler, add_model_route
from sandbox.anaplan.state import STATE
from sandbox.anaplan.tasks import COMPLETE, Task

_LOCALE = re.compile(r"[a-z]{2}_[A-Z]{2}")


async def _start_body(request: web.Request) -> dict[str, Any]:
    body = await json_object(request)
    locale = body.get("localeName")
    if not isinstance(locale, str) or not _LOCALE.fullmatch(locale):
        raise ApiError(400, 'localeName is required, e.g. {"localeName": "en_US"}')
    parameters = body.get("mappingParameters", [])
    if not isinstance(parameters, list):
        raise ApiError(
            400,
            'mappingParameters must be a list of {"entityType": ..., "entityName": ...} objects',
        )
    for parameter in parameters:
        name = parameter.get("entityType") if isinstance(parameter, dict) else parameter
        raise ApiError(400, f"Mapping parameter {name} is not defined for this action")
    return body


def _start_handler(kind: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        model = await open_model(request, Access.START)
        definition = definition_of(model, kind, request.match_info[ID_PARAMS[kind]])
        await _start_body(request)
        user = current_user(request)
        task = request.app[STATE].tasks.submit(kind, definition.id, user.guid, user.login)
        return envelope(request, "task", task.summary(), "task", model.id)

    return handler


def _list_handler(kind: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        model = await open_model(request, Access.READ)
        object_id = request.match_info[ID_PARAMS[kind]]
        tasks = request.app[STATE].tasks.tasks_of(object_id)
        items = [t.summary() for t in tasks if t.kind == kind]
        return paged(request, "tasks", items, "task", model.id)

    return handler


async def _task(request: web.Request, kind: str) -> tuple[str, Task]:
    model = await open_model(request, Access.READ)
    object_id = request.match_info[ID_PARAMS[kind]]
    definition_of(model, kind, object_id)
    task = request.app[STATE].tasks.find(object_id, request.match_info["taskId"])
    if task is None or task.kind != kind:
        raise ApiError(404)
    return model.id, task


def _get_handler(kind: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        model_id, task = await _task(request, kind)
        details = request.query.get("includeProcessDetails", "false").lower() == "true"
        return envelope(request, "task", task.describe(details), "task", model_id)

    return handler


def _cancel_handler(kind: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        model_id, task = await _task(request, kind)
        request.app[STATE].tasks.cancel(task)
        return envelope(request, "task", task.describe(), "task", model_id)

    return handler


def _dump_of(request: web.Request, task: Task, object_id: str) -> bytes:
    """The dump bytes, or the documented 204 (no dump) / 404 (gone) as an exception."""
    result = task.result or {}
    has_dump = task.state == COMPLETE and result.get("failureDumpAvailable")
    if task.kind == "processes":
        definition = request.app[STATE].model.definition(task.object_id)
        if object_id not in getattr(definition, "action_ids", ()):
            raise ApiError(404)
        children = [c for c in result.get("nestedResults", []) if c.get("objectId") == object_id]
        has_dump = has_dump and any(c.get("failureDumpAvailable") for c in children)
    if not has_dump:
        raise web.HTTPNoContent()
    state = request.app[STATE]
    data = state.dumps.get(current_user(request).guid, task.object_id, task.id, object_id)
    if data is None:
        raise ApiError(404, "The dump file is no longer available")
    return data


def _chunk_index(request: web.Request, count: int) -> int:
    raw = request.match_info["chunkId"]
    if not raw.isdigit() or int(raw) >= count:
        raise ApiError(404)
    return int(raw)


def _dump_handlers(kind: str) -> tuple[Handler, Handler, Handler]:
    async def dump_object(request: web.Request) -> tuple[str, bytes]:
        model_id, task = await _task(request, kind)
        object_id = request.match_info.get("objectId", task.object_id)
        return model_id, _dump_of(request, task, object_id)

    async def whole(request: web.Request) -> web.StreamResponse:
        _, data = await dump_object(request)
        return web.Response(body=data, content_type="text/plain", charset="utf-8")

    async def chunks(request: web.Request) -> web.StreamResponse:
        model_id, data = await dump_object(request)
        items = [{"id": str(i), "name": f"Chunk {i}"} for i in range(len(dump_chunks(data)))]
        return paged(request, "chunks", items, "chunk", model_id)

    async def chunk(request: web.Request) -> web.StreamResponse:
        _, data = await dump_object(request)
        pieces = dump_chunks(data)
        return web.Response(
            body=pieces[_chunk_index(request, len(pieces))],
            content_type="application/octet-stream",
        )

    return whole, chunks, chunk


def add_routes(app: web.Application) -> None:
    for kind, param in ID_PARAMS.items():
        assert kind in KINDS
        base = f"/{kind}/{{{param}}}/tasks"
        add_model_route(app, "POST", base, _start_handler(kind))
        add_model_route(app, "GET", base, _list_handler(kind))
        add_model_route(app, "GET", base + "/{taskId}", _get_handler(kind))
        add_model_route(app, "DELETE", base + "/{taskId}", _cancel_handler(kind))
    whole, chunks, chunk = _dump_handlers("imports")
    add_model_route(app, "GET", "/imports/{importId}/tasks/{taskId}/dump", whole)
    add_model_route(app, "GET", "/imports/{importId}/tasks/{taskId}/dump/chunks", chunks)
    add_model_route(app, "GET", "/imports/{importId}/tasks/{taskId}/dump/chunks/{chunkId}", chunk)
    whole, chunks, chunk = _dump_handlers("processes")
    base = "/processes/{processId}/tasks/{taskId}/dumps/{objectId}"
    add_model_route(app, "GET", base, whole)
    add_model_route(app, "GET", base + "/chunks", chunks)
    add_model_route(app, "GET", base + "/chunks/{chunkId}", chunk)
