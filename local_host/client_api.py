"""The extension's HTTP API behind ``DurableOrchestrationClient``, on loopback.

The SDK's client builds its URLs from the binding JSON (``rpcBaseUrl`` for its own calls,
``managementUrls`` for the links it hands out), so serving the same paths, status codes and
bodies as the extension's ``HttpApiHandler`` lets the unmodified client run inside HTTP and timer
triggers. The same handler serves the public ``/runtime/webhooks/durabletask`` paths (behind the
function key) and the unauthenticated RPC listener.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from local_host import engine as eng
from local_host.history import parse_timestamp
from local_host.host import LocalHost, Status

Links = Callable[[str], dict[str, str]]  # instance id -> management URLs


async def handle(host: LocalHost, request: web.Request, path: str, links: Links) -> web.Response:
    parts = [p for p in path.split("/") if p]
    try:
        if parts[:1] == ["orchestrators"] and len(parts) in (2, 3) and request.method == "POST":
            return await _start(
                host, request, parts[1], parts[2] if len(parts) == 3 else None, links
            )
        if parts[:1] == ["instances"]:
            return await _instances(host, request, parts[1:], links)
        if parts[:1] == ["entities"] and len(parts) == 3:
            return await _entity(host, request, parts[1], parts[2])
    except eng.NotFound:
        return web.Response(status=404)
    except eng.Gone:
        return web.Response(status=410)
    except eng.UnknownFunction as exc:
        return _error(400, str(exc))
    except eng.AlreadyExists as exc:
        return _error(409, str(exc))
    except eng.NotTerminal as exc:
        return _error(412, str(exc))
    except json.JSONDecodeError:
        return _error(400, "Invalid JSON content")
    return web.Response(status=404)


async def _start(
    host: LocalHost, request: web.Request, name: str, instance_id: str | None, links: Links
) -> web.Response:
    input_text = _input_text(await request.text())
    started = await asyncio.to_thread(host.engine.start_instance, name, input_text, instance_id)
    return _check_status(started, links)


async def _instances(
    host: LocalHost, request: web.Request, parts: list[str], links: Links
) -> web.Response:
    engine, query, method = host.engine, request.query, request.method
    if not parts:
        statuses = await asyncio.to_thread(_query, host, query)
        if method == "GET":
            return web.json_response([s.to_json() for s in statuses])
        if method == "DELETE":
            if "createdTimeFrom" not in query:
                return _error(400, "Please provide value for 'createdTimeFrom' parameter.")
            deleted = 0
            for status in statuses:
                deleted += await asyncio.to_thread(engine.purge, status.instance_id)
            return web.json_response({"instancesDeleted": deleted}, status=200 if deleted else 404)
    instance_id, operation = parts[0], parts[1] if len(parts) > 1 else None
    if operation is None and method == "GET":
        return await _status(host, instance_id, query)
    if operation is None and method == "DELETE":
        if await asyncio.to_thread(engine.status, instance_id) is None:
            return web.Response(status=404)
        deleted = await asyncio.to_thread(engine.purge, instance_id)
        return web.json_response({"instancesDeleted": deleted})
    if operation == "raiseEvent" and len(parts) == 3 and method == "POST":
        body = await request.text()
        await asyncio.to_thread(engine.raise_event, instance_id, parts[2], body or None)
        return web.Response(status=202)
    if operation == "terminate" and method == "POST":
        await asyncio.to_thread(engine.terminate, instance_id, query.get("reason", ""))
        return web.Response(status=202)
    if operation == "restart" and method == "POST":
        return await _restart(host, instance_id, query.get("restartWithNewInstanceId"), links)
    if operation in ("suspend", "resume", "rewind"):
        return _error(501, f"{operation} is not supported by the local host")
    return web.Response(status=404)


async def _status(host: LocalHost, instance_id: str, query: Any) -> web.Response:
    meta = await asyncio.to_thread(host.engine.status, instance_id)
    if meta is None or meta.get("kind") != "orchestration":
        return web.Response(status=404)
    payload = Status.from_meta(meta).to_json()
    if query.get("showInput", "true").lower() == "false":
        payload["input"] = None
    if query.get("showHistory", "").lower() == "true":
        payload["historyEvents"] = await asyncio.to_thread(host.engine.history, instance_id)
    running = meta["status"] in eng.ACTIVE
    failed_as_500 = query.get("returnInternalServerErrorOnFailure", "").lower() == "true"
    code = 202 if running else 500 if meta["status"] == "Failed" and failed_as_500 else 200
    return web.json_response(payload, status=code)


async def _restart(
    host: LocalHost, instance_id: str, new_id: str | None, links: Links
) -> web.Response:
    meta = await asyncio.to_thread(host.engine.status, instance_id)
    if meta is None or meta.get("kind") != "orchestration":
        return web.Response(status=404)
    target = None if (new_id or "true").lower() == "true" else instance_id
    started = await asyncio.to_thread(
        host.engine.start_instance, meta["name"], meta.get("input"), target
    )
    return _check_status(started, links)


async def _entity(host: LocalHost, request: web.Request, name: str, key: str) -> web.Response:
    entity_id = eng.entity_instance_id(name, key)
    if request.method == "GET":
        exists, state = await asyncio.to_thread(host.engine.entity_state, entity_id)
        if not exists:
            return web.Response(status=404)
        return web.json_response(json.loads(state) if state is not None else None)
    operation = "delete" if request.method == "DELETE" else request.query.get("op", "")
    input_text = _input_text(await request.text())
    await asyncio.to_thread(host.engine.signal_entity, entity_id, operation, input_text)
    return web.Response(status=202)


def _query(host: LocalHost, query: Any) -> list[Status]:
    statuses = host.list_instances()
    wanted = {s for s in query.get("runtimeStatus", "").split(",") if s}
    prefix = query.get("instanceIdPrefix", "")
    since, until = _time(query.get("createdTimeFrom")), _time(query.get("createdTimeTo"))
    return [
        s
        for s in statuses
        if (not wanted or s.runtime_status in wanted)
        and s.instance_id.startswith(prefix)
        and (since is None or s.created_time >= since)
        and (until is None or s.created_time <= until)
    ]


def _time(text: str | None) -> datetime | None:
    return parse_timestamp(text) if text else None


def _input_text(body: str) -> str | None:
    """The client posts its input as JSON text inside a JSON string; other callers post JSON."""
    if not body.strip():
        return None
    value = json.loads(body)
    return value if isinstance(value, str) else json.dumps(value)


def _check_status(instance_id: str, links: Links) -> web.Response:
    payload = links(instance_id)
    headers = {"Location": payload["statusQueryGetUri"], "Retry-After": "10"}
    return web.json_response(payload, status=202, headers=headers)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"Message": message, "ExceptionMessage": message}, status=status)
