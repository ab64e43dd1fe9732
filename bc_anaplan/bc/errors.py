"""Business Central's and Entra ID's error answers as typed exceptions, decoded in one place.

BC answers ``{"error": {"code": ..., "message": "...  CorrelationId:  <guid>."}}`` (JSON) for
nearly everything and an OData XML ``<error>`` for an unknown environment. ``decode_bc_error``
turns either into a ``BcError`` carrying BC's code, the message without the correlation suffix,
the correlation id and the HTTP status, so a finance admin reads BC's own words and support can
quote the correlation id. It is the ``decode_error`` of the BC ``ApiSpec``; ``$batch`` inner
responses go through ``error_from_body`` so a failed line reads exactly like a failed request.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from bc_anaplan.http import ApiError

BC_API = "bc"
_CORRELATION = re.compile(r"\s*CorrelationId:\s*([0-9A-Fa-f-]{32,36})\.?\s*$")
_XML_CODE = re.compile(r"<code>(.*?)</code>", re.S)
_XML_MESSAGE = re.compile(r"<message>(.*?)</message>", re.S)
_CORRELATION_HEADERS = ("x-ms-correlation-id", "request-id", "ms-correlation-x")


class BcError(ApiError):
    """Business Central said no: HTTP status, BC error code, message and correlation id."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        correlation_id: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(
            BC_API,
            status,
            message,
            code=code,
            method=method,
            path=path,
            correlation_id=correlation_id,
        )


class EntraError(ApiError):
    """Entra ID refused to issue a token (``invalid_client``, ``invalid_scope``, ...)."""

    def __init__(self, status: int, code: str, message: str, correlation_id: str | None) -> None:
        super().__init__("entra", status, message, code=code, correlation_id=correlation_id)


class BcDecodeError(ValueError):
    """A value in a BC response does not have the encoding the API documents."""


class PagingLoopError(RuntimeError):
    """BC returned an ``@odata.nextLink`` that was already followed: stop instead of looping."""


def split_correlation(message: str) -> tuple[str, str | None]:
    """``"Bad thing.  CorrelationId:  <guid>."`` -> ``("Bad thing.", "<guid>")``."""
    match = _CORRELATION.search(message)
    if match is None:
        return message.strip(), None
    return message[: match.start()].strip(), match.group(1).lower()


def error_from_body(status: int, body: Any, headers: Any = None) -> BcError:
    """A ``BcError`` from a parsed BC error body (a response, or a ``$batch`` inner response)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message, correlation = split_correlation(str(error.get("message") or ""))
        code = str(error["code"]) if error.get("code") else None
    else:
        message, correlation, code = (str(body)[:500] if body else "no details"), None, None
    if correlation is None and headers is not None:
        correlation = next((headers.get(h) for h in _CORRELATION_HEADERS if headers.get(h)), None)
    return BcError(status, message or "no details", code=code, correlation_id=correlation)


def decode_bc_error(response: httpx.Response) -> ApiError:
    """The BC ``ApiSpec.decode_error``: JSON error body, OData XML error, or plain text."""
    content = response.content
    if content.lstrip().startswith(b"<"):
        text = content.decode("utf-8", "replace")
        code = _XML_CODE.search(text)
        message = _XML_MESSAGE.search(text)
        body: Any = {
            "error": {
                "code": code.group(1).strip() if code else None,
                "message": message.group(1).strip() if message else text[:500],
            }
        }
    else:
        try:
            body = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:
            body = content.decode("utf-8", "replace")[:500] or response.reason_phrase
    return error_from_body(response.status_code, body, response.headers)


def decode_entra_error(status: int, body: Any) -> EntraError:
    """Entra's OAuth error: ``error``, first line of ``error_description``, ``correlation_id``."""
    if not isinstance(body, dict):
        return EntraError(status, "unknown", str(body)[:300], None)
    description = str(body.get("error_description") or "").split("\r\n", 1)[0].split("\n", 1)[0]
    return EntraError(
        status,
        str(body.get("error") or "unknown"),
        description or "no description",
        str(body["correlation_id"]) if body.get("correlation_id") else None,
    )
