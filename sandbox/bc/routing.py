"""OData resource paths under ``/v2.0/{tenant}/{environment}/api/v2.0``: parsed into segments,
named as route templates for the request log, and resolved to what they address.

Templates follow one rule: literal entity set names, ``({id})`` for every key, so
``companies(3f..)/journals(9a..)/journalLines`` is logged as
``/v2.0/{tenant}/{environment}/api/v2.0/companies({id})/journals({id})/journalLines``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.bc.collection import Collection
from sandbox.bc.encoding import GUID
from sandbox.bc.errors import BcError, query_syntax, record_not_found, segment_not_found

API_PREFIX = ("api", "v2.0")
_SEGMENT = re.compile(r"^([A-Za-z$][A-Za-z0-9_.$]*)(?:\((.*)\))?$")
Row = dict[str, Any]


@dataclass(frozen=True)
class Segment:
    name: str
    key: str | None  # raw text between the parentheses

    @property
    def template(self) -> str:
        return self.name if self.key is None else f"{self.name}({{id}})"


@dataclass(frozen=True)
class ApiPath:
    tenant: str | None
    environment: str
    segments: tuple[Segment, ...]

    @property
    def root_template(self) -> str:
        tenant = "{tenant}/" if self.tenant is not None else ""
        return f"/v2.0/{tenant}{{environment}}/api/v2.0"

    @property
    def template(self) -> str:
        return "/".join([self.root_template, *(s.template for s in self.segments)])


def parse_segments(parts: list[str]) -> tuple[Segment, ...]:
    segments = []
    for part in parts:
        match = _SEGMENT.match(part)
        if match is None:
            raise segment_not_found(part)
        segments.append(Segment(match.group(1), match.group(2)))
    return tuple(segments)


def parse_api_path(path: str) -> ApiPath | None:
    """``/v2.0/{tenant}/{environment}/api/v2.0/...`` (tenant optional); ``None`` if not BC's."""
    parts = path.split("/")
    if len(parts) < 2 or parts[0] != "" or parts[1] != "v2.0":
        return None
    rest = parts[2:]
    if len(rest) >= 3 and tuple(rest[1:3]) == API_PREFIX:
        tenant, environment, tail = None, rest[0], rest[3:]
    elif len(rest) >= 4 and tuple(rest[2:4]) == API_PREFIX:
        tenant, environment, tail = rest[0], rest[1], rest[4:]
    else:
        return None
    tail = [t for t in tail if t != ""]
    try:
        segments = parse_segments(tail)
    except BcError:
        segments = tuple(Segment(t, None) for t in tail)
    return ApiPath(tenant, environment, segments)


def template_of(path: str) -> str:
    api = parse_api_path(path)
    return api.template if api is not None else path


def guid_key(segment: Segment) -> str:
    assert segment.key is not None
    key = segment.key.strip()
    if key.startswith("id="):
        key = key[3:]
    if not GUID.match(key):
        raise query_syntax()
    return key.lower()


def quoted_key(segment: Segment) -> str:
    assert segment.key is not None
    key = segment.key.strip()
    if len(key) >= 2 and key[0] == key[-1] == "'":
        return key[1:-1].replace("''", "'")
    return key


@dataclass
class Target:
    """What a company-scoped path addresses."""

    collection: Collection
    row: Row | None = None  # set when the path ends with a key
    action: str | None = None
    context: list[str] = field(default_factory=list)  # path text for @odata.context


def resolve(sets: dict[str, Collection], segments: tuple[Segment, ...], prefix: str) -> Target:
    """Walk entity sets, keys, navigations and bound actions from the company's entity sets."""
    first = segments[0]
    collection = sets.get(first.name)
    if collection is None:
        raise segment_not_found(first.name)
    target = Target(collection, context=[prefix, first.name])
    target.row = _keyed(collection, first)
    for segment in segments[1:]:
        if target.row is None or target.action is not None:
            raise segment_not_found(segment.name)
        if segment.name in target.collection.actions and segment.key is None:
            target.action = segment.name
            target.context.append(segment.name)
            continue
        navigate = target.collection.navigations.get(segment.name)
        if navigate is None:
            raise segment_not_found(segment.name)
        key_text = f"({target.row[target.collection.entity.key]})"
        target.context[-1] += key_text
        child = navigate(target.row)
        target = Target(child, _keyed(child, segment), None, [*target.context, segment.name])
    return target


def _keyed(collection: Collection, segment: Segment) -> Row | None:
    if segment.key is None:
        return None
    key = guid_key(segment)
    row = collection.get(key)
    if row is None:
        raise record_not_found(collection.caption, "Id", key)
    return row
