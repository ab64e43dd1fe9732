"""Typed rows to BC's JSON: per-field encoders, ``@odata.etag`` on every entity (expanded
children included), ``$select`` and nested ``$expand``."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sandbox.bc.encoding import escape_enum, etag, format_datetime
from sandbox.bc.schema import EntityType, Kind

Row = dict[str, Any]
Encoder = Callable[[Any], Any] | None


def _decimal(value: Any) -> Any:
    number = float(value)
    return int(number) if number.is_integer() else round(number, 5)


@cache
def _enum(value: str) -> str:
    return escape_enum(value)


_ENCODERS: dict[Kind, Encoder] = {
    Kind.GUID: None,
    Kind.STRING: None,
    Kind.INT: None,
    Kind.BOOL: None,
    Kind.AMOUNT_TEXT: None,
    Kind.DECIMAL: _decimal,
    Kind.DATE: lambda d: d.isoformat(),
    Kind.DATETIME: format_datetime,
    Kind.ENUM: _enum,
}


@cache
def field_plan(entity: EntityType, select: tuple[str, ...]) -> tuple[tuple[str, Encoder], ...]:
    names = [f.name for f in entity.fields] if not select else list(select)
    return tuple(
        (name, _ENCODERS[field.kind]) for name in names if (field := entity.field(name)) is not None
    )


def render_row(row: Row, plan: tuple[tuple[str, Encoder], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"@odata.etag": etag(row["_v"])}
    for name, encode in plan:
        value = row[name]
        out[name] = value if encode is None else encode(value)
    return out
