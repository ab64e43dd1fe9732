"""Request bodies of POST and PATCH, checked and converted to typed values field by field.

Unknown properties, read-only fields, values of the wrong type and strings longer than the table
field are rejected with the errors BC returns, before any business rule runs.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sandbox.bc.encoding import GUID, NULL_GUID, datetime_to_ms, etag, unescape_enum
from sandbox.bc.errors import BcError, bad_request, entity_changed, missing_if_match
from sandbox.bc.schema import EntityType, Field, Kind


def parse_json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request("Invalid Request Body") from exc
    if not isinstance(body, dict):
        raise bad_request("Invalid Request Body")
    return body


def typed_values(entity: EntityType, body: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@odata."):
            continue
        field = entity.field(name)
        if field is None:
            if name in entity.navigations:
                raise bad_request(
                    f"Deep insert of '{name}' is not supported; create the entity first, then "
                    f"POST to its '{name}'."
                )
            raise bad_request(
                f"The property '{name}' does not exist on type 'Microsoft.NAV.{entity.name}'. "
                "Make sure to only use property names that are defined by the type."
            )
        if field.read_only:
            raise BcError(400, "BadRequest_InvalidOperation", f"Control '{name}' is read-only.")
        values[name] = convert(field, value)
    return values


def _cannot_convert(value: Any, edm: str) -> BcError:
    return bad_request(f"Cannot convert the literal '{value}' to the expected type '{edm}'.")


def convert(field: Field, value: Any) -> Any:
    kind = field.kind
    if kind is Kind.GUID:
        if value is None:
            return NULL_GUID
        if isinstance(value, str) and GUID.match(value):
            return value.lower()
        raise _cannot_convert(value, kind.edm)
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value
        raise _cannot_convert(value, kind.edm)
    if kind is Kind.INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _cannot_convert(value, kind.edm)
    if kind is Kind.DECIMAL:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _cannot_convert(value, kind.edm)
    if kind is Kind.DATE:
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise _cannot_convert(value, kind.edm) from exc
    if kind is Kind.DATETIME:
        try:
            return datetime_to_ms(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
        except ValueError as exc:
            raise _cannot_convert(value, kind.edm) from exc
    if not isinstance(value, str):
        raise _cannot_convert(value, kind.edm)
    if kind is Kind.ENUM:
        name = unescape_enum(value)
        match = next((o for o in field.options if o.lower() == name.lower()), None)
        if match is None:
            raise bad_request(
                f"'{value}' is not an option. The existing options are: {','.join(field.options)}"
            )
        return match
    if field.max_length is not None and len(value) > field.max_length:
        raise BcError(
            400,
            "Application_StringExceededLength",
            f"The length of the string is {len(value)}, but it must be less than or equal to "
            f"{field.max_length} characters. Value: {value}",
        )
    return value


def check_if_match(header: str | None, row: dict[str, Any]) -> None:
    """PATCH and DELETE need ``If-Match``: ``*`` or the row's current ETag."""
    if not header:
        raise missing_if_match()
    if header.strip() == "*":
        return
    if header.strip() != etag(row["_v"]):
        raise entity_changed()
