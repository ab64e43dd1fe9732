"""Entra ID's OAuth error responses: ``error`` + an ``AADSTS`` description with trace ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web


def error_body(error: str, aadsts: int, message: str) -> dict[str, Any]:
    """The JSON body Entra sends with a failed token or discovery request."""
    now = datetime.now(UTC)
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    description = (
        f"AADSTS{aadsts}: {message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}"
        f"\r\nTimestamp: {now.strftime('%Y-%m-%d %H:%M:%SZ')}"
    )
    return {
        "error": error,
        "error_description": description,
        "error_codes": [aadsts],
        "timestamp": now.strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={aadsts}",
    }


def error_response(status: int, error: str, aadsts: int, message: str) -> web.Response:
    return web.json_response(
        error_body(error, aadsts, message),
        status=status,
        headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
    )


def fault_body(status: int, message: str, request: web.Request) -> dict[str, Any]:
    """Body of an injected fault (``app[ERROR_BODY]``): Entra's shape for a busy service."""
    if status == 429:
        return error_body("temporarily_unavailable", 50196, "The server is busy.")
    if status in (500, 502, 503, 504):
        return error_body("temporarily_unavailable", 90033, f"A transient error ({message}).")
    return error_body("invalid_request", 90000, message)
