"""System query options (``$filter``, ``$select``, ``$expand``, ``$orderby``, ``$top``, ``$skip``,
``$skiptoken``) parsed and validated against an entity type, before any data is touched."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sandbox.bc.errors import bad_request, unknown_property
from sandbox.bc.odata.filter import Node, parse_filter
from sandbox.bc.schema import EntityType

SYSTEM_OPTIONS = (
    "$filter",
    "$select",
    "$expand",
    "$orderby",
    "$top",
    "$skip",
    "$skiptoken",
    "$schemaversion",
    "$format",
)
MAX_PAGE_SIZE = 20_000

# navigation name -> the entity type it leads to (resolved by the resource layer)
NavigationTypes = Callable[[EntityType, str], EntityType | None]


@dataclass
class Expand:
    navigation: str
    options: QueryOptions


@dataclass
class QueryOptions:
    filter: Node | None = None
    select: tuple[str, ...] = ()
    expand: tuple[Expand, ...] = ()
    orderby: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    top: int | None = None
    skip: int = 0
    skiptoken: str | None = None
    raw: dict[str, str] = field(default_factory=dict)


def parse_options(
    query: Mapping[str, str], entity: EntityType, navigation_type: NavigationTypes
) -> QueryOptions:
    for name in query:
        if name.startswith("$") and name not in SYSTEM_OPTIONS:
            raise bad_request(f"The query parameter '{name}' is not supported.")
    return _parse(dict(query), entity, navigation_type)


def _parse(
    raw: dict[str, str], entity: EntityType, navigation_type: NavigationTypes
) -> QueryOptions:
    options = QueryOptions(raw=raw)
    if raw.get("$filter"):
        options.filter = parse_filter(raw["$filter"], entity)
    if raw.get("$select"):
        names = tuple(n.strip() for n in raw["$select"].split(",") if n.strip())
        for name in names:
            if name != "*" and entity.field(name) is None and name not in entity.navigations:
                raise unknown_property(name, entity.name)
        options.select = () if "*" in names else names
    if raw.get("$expand"):
        options.expand = tuple(
            _parse_expand(item, entity, navigation_type) for item in _split_top(raw["$expand"], ",")
        )
    if raw.get("$orderby"):
        options.orderby = tuple(_parse_orderby(item, entity) for item in raw["$orderby"].split(","))
    options.top = _non_negative(raw, "$top")
    options.skip = _non_negative(raw, "$skip") or 0
    options.skiptoken = raw.get("$skiptoken") or None
    return options


def _parse_expand(item: str, entity: EntityType, navigation_type: NavigationTypes) -> Expand:
    name, paren, rest = item.strip().partition("(")
    name = name.strip()
    target = navigation_type(entity, name)
    if target is None:
        raise unknown_property(name, entity.name)
    nested: dict[str, str] = {}
    if paren:
        if not rest.endswith(")"):
            raise bad_request(f"Syntax error in '$expand={item}'.")
        for part in _split_top(rest[:-1], ";"):
            key, eq, value = part.partition("=")
            key = key.strip()
            if not eq or key not in ("$select", "$filter", "$expand", "$orderby", "$top", "$skip"):
                raise bad_request(f"The query parameter '{key}' is not supported in $expand.")
            nested[key] = value
    return Expand(name, _parse(nested, target, navigation_type))


def _parse_orderby(item: str, entity: EntityType) -> tuple[str, bool]:
    parts = item.split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
        raise bad_request(f"Syntax error in '$orderby={item}'.")
    if entity.field(parts[0]) is None:
        raise unknown_property(parts[0], entity.name)
    return parts[0], len(parts) == 2 and parts[1] == "desc"


def _non_negative(raw: dict[str, str], name: str) -> int | None:
    if name not in raw:
        return None
    text = raw[name].strip()
    if not text.isdigit():
        raise bad_request(
            f"Invalid value '{text}' for {name} query option found. The {name} query option "
            "requires a non-negative integer value."
        )
    return int(text)


def _split_top(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside parentheses and quotes."""
    parts, depth, quoted, current = [], 0, False, []
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == separator and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise bad_request(f"Syntax error: unbalanced parentheses in '{text}'.")
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def page_size(prefer: str | None) -> int:
    """``Prefer: odata.maxpagesize=N`` if smaller than BC's fixed 20,000, else 20,000."""
    for part in (prefer or "").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "odata.maxpagesize" and value.strip().isdigit():
            return max(1, min(int(value.strip()), MAX_PAGE_SIZE))
    return MAX_PAGE_SIZE
