"""The Integration API v2 service (``https://api.anaplan.com`` stand-in), paths under ``/2/0``.

Every call needs ``Authorization: AnaplanAuthToken <token>`` (``Bearer`` and the ``:`` variant
seen in some doc samples are refused), then passes the per-user rate limit (600 requests per
minute, 429 with ``Retry-After``), then reaches its handler. Errors, including unknown routes
and wrong methods, carry the §2.5 body ``{"status": {"code", "message"}, "path", "timestamp"}``.
"""

from __future__ import annotations

from aiohttp import web

from sandbox.anaplan import api_actions, api_files, api_metadata, api_models, api_tasks, controls
from sandbox.anaplan.access import USER
from sandbox.anaplan.envelope import ApiError, error_body, error_response
from sandbox.anaplan.routing import Handler
from sandbox.anaplan.state import STATE, AnaplanState
from sandbox.common.service import CONTROL_PREFIX, ERROR_BODY, ROUTE_OF

TOKEN_SCHEME = "AnaplanAuthToken "
# Uploads carry up to 50 MB per chunk; leave room for the request line and headers.
CLIENT_MAX_SIZE = 52 * 1024 * 1024
UNMATCHED_ROUTE = "(no such route)"


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(ApiError(exc.status), request)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    state = request.app[STATE]
    header = request.headers.get("Authorization", "")
    value = header[len(TOKEN_SCHEME) :] if header.startswith(TOKEN_SCHEME) else ""
    token = state.tokens.valid(value) if value else None
    if token is None:
        raise ApiError(401)
    request[USER] = token.user
    if not state.rate_limiter.take(token.user.guid):
        retry_after = "1" if state.ctx.fast else "10"
        raise ApiError(429, headers={"Retry-After": retry_after})
    return await handler(request)


def route_of(request: web.Request) -> str:
    """The route template (``/2/0/models/{modelId}/files/{fileId}``), or a fixed label."""
    resource = getattr(getattr(request.match_info, "route", None), "resource", None)
    return str(resource.canonical) if resource is not None else UNMATCHED_ROUTE


def build_api_app(state: AnaplanState) -> web.Application:
    app = web.Application(middlewares=[api_errors, authenticate], client_max_size=CLIENT_MAX_SIZE)
    app[STATE] = state
    app[ROUTE_OF] = route_of
    app[ERROR_BODY] = error_body
    for module in (api_models, api_metadata, api_actions, api_tasks, api_files, controls):
        module.add_routes(app)
    return app
