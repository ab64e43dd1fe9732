"""List members as Anaplan holds them, for aligning BC dimension values with Anaplan lists.

``GET .../lists/{id}/items?includeAll=true`` returns every item with its code, name, parent and
properties. The answer is read through the same paging as every other collection (a list can
hold far more members than one page) and yielded item by item, so a large list is never one big
Python structure unless the caller builds one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bc_anaplan.anaplan.actions import ModelList
from bc_anaplan.anaplan.api import ModelApi

PropertyValue = str | int | float | bool | None


@dataclass(frozen=True)
class ListItem:
    id: str
    name: str
    code: str | None
    parent: str | None = None  # the parent item's name
    parent_id: str | None = None
    properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    subsets: Mapping[str, bool] = field(default_factory=dict)


def _optional(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return str(value) if value not in (None, "") else None


def parse_item(raw: Mapping[str, Any]) -> ListItem:
    properties = raw.get("properties")
    subsets = raw.get("subsets")
    return ListItem(
        id=str(raw.get("id", "")),
        name=str(raw.get("name", "")),
        code=_optional(raw, "code"),
        parent=_optional(raw, "parent"),
        parent_id=_optional(raw, "parentId"),
        properties=dict(properties) if isinstance(properties, dict) else {},
        subsets={str(k): bool(v) for k, v in subsets.items()} if isinstance(subsets, dict) else {},
    )


def list_items(api: ModelApi, model_list: ModelList) -> Iterator[ListItem]:
    """Every item of ``model_list``, with properties and subsets."""
    path = api.path("lists", model_list.id, "items")
    for raw in api.collection(path, "listItems", {"includeAll": "true"}):
        yield parse_item(raw)


@dataclass(frozen=True)
class ListMetadata:
    id: str
    name: str
    properties: tuple[str, ...]  # property names, in the model's order
    item_count: int | None


def list_metadata(api: ModelApi, model_list: ModelList) -> ListMetadata:
    """``GET .../lists/{id}``: the list's properties, so imports send exactly the ones it has."""
    raw = api.get(api.path("lists", model_list.id)).get("metadata") or {}
    properties = raw.get("properties") if isinstance(raw, dict) else None
    names = tuple(
        str(p["name"]) for p in (properties or []) if isinstance(p, dict) and p.get("name")
    )
    count = raw.get("itemCount") if isinstance(raw, dict) else None
    return ListMetadata(
        model_list.id, model_list.name, names, count if isinstance(count, int) else None
    )
