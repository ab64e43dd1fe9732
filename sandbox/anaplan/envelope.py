"""Response shapes of the Integration API: the envelope, paging, and the error body.

Success: ``{"meta": {"schema": ..., "paging": ...}, "status": {"code", "message"}, <key>: ...}``,
with the payload key omitted for an empty collection. Errors: ``{"status": {"code", "message"},
"path", "timestamp"}``. Collections page with ``limit``/``offset`` (default and maximum 5000,
a larger limit silently capped); ``next``/``previous`` are absolute URLs and appear only when
there is a next or previous page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from sandbox.anaplan import jsonexact
from sandbox.anaplan.state import STATE

PAGE_SIZE = 5000
REASONS = {
    200: "Success",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    423: "Locked",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class ApiError(Exception):
    def __init__(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message or REASONS.get(status, "Error"))
        self.status = status
        self.message = message or REASONS.get(status, "Error")
        self.headers = headers or {}


async def json_object(request: web.Request) -> dict[str, Any]:
    """A request body that must be a JSON object: 415 unless ``Content-Type: application/json``,
    400 when it does not parse or is not an object."""
    if request.content_type != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    try:
        body = await request.json()
    except ValueError as exc:
        raise ApiError(400, "Request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


def timestamp(request: web.Request) -> str:
    now = datetime.fromtimestamp(request.app[STATE].clock.time(), tz=UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def error_body(status: int, message: str, request: web.Request) -> dict[str, Any]:
    return {
        "status": {"code": status, "message": message},
        "path": request.path,
        "timestamp": timestamp(request),
    }


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=jsonexact.dumps(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(error: ApiError, request: web.Request) -> web.Response:
    return json_response(
        error_body(error.status, error.message, request), error.status, error.headers
    )


def schema(request: web.Request, kind: str, model_id: str | None = None) -> str:
    base = request.app[STATE].api_base
    if model_id:
        return f"{base}/2/0/models/{model_id}/objects/{kind}"
    return f"{base}/2/0/objects/{kind}"


def envelope(
    request: web.Request, key: str, payload: Any, kind: str, model_id: str | None = None
) -> web.Response:
    return json_response(
        {
            "meta": {"schema": schema(request, kind, model_id)},
            "status": {"code": 200, "message": "Success"},
            key: payload,
        }
    )


def _int_param(request: web.Request, name: str, default: int, minimum: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"Invalid value for {name}: {raw}") from exc
    if value < minimum:
        raise ApiError(400, f"Invalid value for {name}: {raw}")
    return value


def page_window(request: web.Request) -> tuple[int, int]:
    limit = min(_int_param(request, "limit", PAGE_SIZE, 1), PAGE_SIZE)
    offset = _int_param(request, "offset", 0, 0)
    return limit, offset


def _page_url(request: web.Request, limit: int, offset: int) -> str:
    query = [(k, v) for k, v in request.query.items() if k not in ("limit", "offset")]
    query += [("limit", str(limit)), ("offset", str(offset))]
    return f"{request.app[STATE].api_base}{request.path}?{urlencode(query)}"


def paged(
    request: web.Request,
    key: str,
    items: list[Any],
    kind: str,
    model_id: str | None = None,
) -> web.Response:
    limit, offset = page_window(request)
    page = items[offset : offset + limit]
    paging: dict[str, Any] = {
        "currentPageSize": len(page),
        "offset": offset,
        "totalSize": len(items),
    }
    if offset + limit < len(items):
        paging["next"] = _page_url(request, limit, offset + limit)
    if offset > 0:
        paging["previous"] = _page_url(request, limit, max(0, offset - limit))
    body: dict[str, Any] = {
        "meta": {"paging": paging, "schema": schema(request, kind, model_id)},
        "status": {"code": 200, "message": "Success"},
    }
    if page:
        body[key] = page
    return json_response(body)
