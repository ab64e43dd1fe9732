"""The contract between the server and each simulated service, and the shared middlewares.

A simulator package (``sandbox.bc``, ``sandbox.entra``, ``sandbox.keyvault``, ``sandbox.anaplan``)
exposes two functions:

* ``build(ctx) -> dict[str, web.Application]``: one aiohttp application per service name it owns;
* ``describe(ctx) -> dict``: its fields of the JSON line printed at start-up; a ``connector_env``
  entry (a dict) is merged into the line's ``connector_env``.

An application may set ``app[ROUTE_OF]`` (how to name a request's route template for the request
log and targeted faults; default: aiohttp's canonical resource path) and ``app[ERROR_BODY]``
(how the service shapes an error body, used for injected faults).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sandbox.common.context import SandboxContext
from sandbox.common.faults import Fault, FaultSpecError

RouteOf = Callable[[web.Request], str]
ErrorBody = Callable[[int, str, web.Request], Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROUTE_OF: web.AppKey[RouteOf] = web.AppKey("route_of")
ERROR_BODY: web.AppKey[ErrorBody] = web.AppKey("error_body")
SERVICE_NAME: web.AppKey[str] = web.AppKey("service_name")
REQUEST_LOG: web.AppKey[Counter[tuple[str, str, int]]] = web.AppKey("request_log")
# operations a service executes inside another request (BC's $batch): counted in REQUEST_LOG
# under their own templates, and here too, so that ?wire=1 can report only what crossed the wire
INNER_LOG: web.AppKey[Counter[tuple[str, str, int]]] = web.AppKey("inner_log")

CONTROL_PREFIX = "/_sandbox/"
REASONS = {
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def default_route_of(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    canonical = getattr(resource, "canonical", None)
    return str(canonical) if canonical else request.path


def route_of(request: web.Request) -> str:
    fn = request.app.get(ROUTE_OF, default_route_of)
    return fn(request)


def _default_error_body(status: int, message: str, request: web.Request) -> Any:
    return {"error": {"code": str(status), "message": message}}


def _fault_response(fault: Fault, request: web.Request) -> web.Response:
    status = fault.status
    assert status is not None
    make_body = request.app.get(ERROR_BODY, _default_error_body)
    body = make_body(status, REASONS.get(status, "Error"), request)
    headers = {}
    if status in (429, 503):
        if fault.retry_after_format == "date":
            headers["Retry-After"] = email.utils.formatdate(
                time.time() + fault.retry_after_s, usegmt=True
            )
        else:
            headers["Retry-After"] = str(max(0, round(fault.retry_after_s)))
    return web.json_response(body, status=status, headers=headers)


def _close_connection(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=500)


def make_middlewares(ctx: SandboxContext, service: str) -> list[Any]:
    @web.middleware
    async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        status = 0
        try:
            response = await handler(request)
            status = 0 if request.get("sandbox.connection_closed") else response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            key = (request.method, route_of(request), status)
            request.app[REQUEST_LOG][key] += 1

    @web.middleware
    async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        fault = ctx.faults.pick(service, request.method, route_of(request))
        if fault is None:
            return await handler(request)
        if fault.kind == "slow":
            await asyncio.sleep(fault.slow_s)
            return await handler(request)
        if fault.kind == "reset":
            request["sandbox.connection_closed"] = True
            return _close_connection(request)
        if fault.kind == "drop":
            await handler(request)  # the work happens; the client never hears about it
            request["sandbox.connection_closed"] = True
            return _close_connection(request)
        return _fault_response(fault, request)

    return [request_log, inject_faults]


def add_controls(app: web.Application, ctx: SandboxContext) -> None:
    """``/_sandbox/requests``, ``/_sandbox/faults`` and ``/_sandbox/clock`` on every service."""

    async def get_requests(request: web.Request) -> web.Response:
        log = Counter(request.app[REQUEST_LOG])
        if request.query.get("wire") in ("1", "true"):
            log.subtract(request.app[INNER_LOG])
            log = +log  # drop the zeros
        rows = [
            {"method": m, "route": r, "status": s, "count": c}
            for (m, r, s), c in sorted(log.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2]))
        ]
        return web.json_response(rows)

    async def reset_requests(request: web.Request) -> web.Response:
        request.app[REQUEST_LOG].clear()
        request.app[INNER_LOG].clear()
        return web.Response(status=204)

    async def set_faults(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise FaultSpecError("body must be a JSON object")
            if body.get("clear"):
                ctx.faults.clear()
            if "spec" in body:
                ctx.faults.configure(str(body["spec"]))
            if "rules" in body:
                ctx.faults.add_rules(list(body["rules"]))
        except (FaultSpecError, ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(ctx.faults.describe())

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(ctx.faults.describe())

    async def advance_clock(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            ctx.clock.advance(float(body["advance_seconds"]))
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            return web.json_response(
                {"error": f"expected {{'advance_seconds': N}}: {exc}"}, status=400
            )
        return web.json_response(
            {"now": ctx.clock.now().isoformat(), "offset_s": ctx.clock.offset_s}
        )

    app.router.add_get("/_sandbox/requests", get_requests)
    app.router.add_delete("/_sandbox/requests", reset_requests)
    app.router.add_get("/_sandbox/faults", get_faults)
    app.router.add_post("/_sandbox/faults", set_faults)
    app.router.add_post("/_sandbox/clock", advance_clock)


def prepare(app: web.Application, ctx: SandboxContext, service: str) -> web.Application:
    """Wrap a service's application with the shared middlewares and controls."""
    app[SERVICE_NAME] = service
    app[REQUEST_LOG] = Counter()
    app.setdefault(INNER_LOG, Counter())
    for middleware in reversed(make_middlewares(ctx, service)):
        app.middlewares.insert(0, middleware)
    add_controls(app, ctx)
    return app
