"""Business Central's error responses (reference §6): ``{"error": {"code", "message"}}``.

Every message ends with two spaces, ``CorrelationId:``, two spaces, a GUID and a full stop, as
the real service appends it. Handlers raise ``BcError``; the application turns it into the
response, so a handler never builds an error body itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web


class BcError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"{message}  CorrelationId:  {uuid.uuid4()}."}}


def fault_body(status: int, message: str, request: web.Request) -> dict[str, Any]:
    """Body of an injected fault (``app[ERROR_BODY]``)."""
    codes = {
        408: "Internal_ServerTimeout",
        429: "Application_TooManyRequests",
        500: "Internal_ServerError",
        502: "Internal_ServerError",
        503: "Internal_ServiceUnavailable",
        504: "Internal_GatewayTimeout",
    }
    return error_body(codes.get(status, "Unknown"), f"{message}.")


def bad_request(message: str, code: str = "BadRequest") -> BcError:
    return BcError(400, code, message)


def invalid_skiptoken(token: str | None) -> BcError:
    return bad_request(f"The skip token '{token}' is not valid.")


def dialog(message: str) -> BcError:
    """An AL ``Error()`` raised by the application code behind an API page."""
    return BcError(400, "Application_DialogException", message)


def test_field(field: str, expected: str, table: str, key: str, current: str) -> BcError:
    """AL ``TestField`` failure, with BC's double space before ``in``."""
    return BcError(
        400,
        "Application_FieldValidationException",
        f"{field} must be equal to '{expected}'  in {table}: {key}. Current value is '{current}'.",
    )


def segment_not_found(segment: str) -> BcError:
    return BcError(
        404, "BadRequest_ResourceNotFound", f"Resource not found for the segment '{segment}'."
    )


def query_syntax() -> BcError:
    return BcError(404, "BadRequest_NotFound", "Bad Request - Error in query syntax.")


def record_not_found(table: str, key_field: str, key: str) -> BcError:
    return BcError(
        404,
        "Internal_RecordNotFound",
        f"The {table} does not exist. Identification fields and values: {key_field}='{key}'",
    )


def unknown_property(name: str, type_name: str) -> BcError:
    return bad_request(
        f"Could not find a property named '{name}' on type 'Microsoft.NAV.{type_name}'."
    )


def method_not_allowed(method: str, entity_set: str) -> BcError:
    return BcError(
        405,
        "BadRequest_MethodNotAllowed",
        f"'{method}' requests for '{entity_set}' of EdmType 'Entity' are not allowed within "
        "Microsoft Dynamics NAV OData web services.",
    )


def missing_if_match() -> BcError:
    return BcError(
        400,
        "BadRequest_InvalidToken",
        "Could not validate the client concurrency token required by the service. Please "
        "provide a valid token in the client request.",
    )


def entity_changed() -> BcError:
    return BcError(409, "Request_EntityChanged", "Another user has already changed the record.")


def invalid_credentials() -> BcError:
    return BcError(
        401,
        "Authentication_InvalidCredentials",
        "The server has rejected the client credentials.",
        {"WWW-Authenticate": "Bearer"},
    )
