"""What the hostile proxy breaks in a BC answer: one record of one page, and how.

``BadRecord`` is an edit for ``TamperingProxy.tamper``: it changes the first record of the page
that ``pick`` accepts (``setting`` a field to a wrong value, ``removing`` it, ``replacing`` the
record by something that is not an object, or changing a child with ``in_first``) and remembers
what the record was called before the change (number, code, entry number, id), so a test can
check that the error names that record. ``reading`` matches the reads of one entity set.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

Change = Callable[[dict[str, Any]], Any]
Match = Callable[[str, str, Mapping[str, str]], bool]
NAMING_FIELDS = ("number", "code", "entryNumber", "id", "accountId")


def reading(entity_set: str) -> Match:
    """A read of ``entity_set``; for purchase orders only the full read with their lines (not
    the poll that asks for modification stamps)."""

    def match(method: str, path: str, query: Mapping[str, str]) -> bool:
        if method != "GET" or not path.endswith("/" + entity_set):
            return False
        return entity_set != "purchaseOrders" or "purchaseOrderLines" in query.get("$expand", "")

    return match


def setting(field: str, value: Any) -> Change:
    def change(record: dict[str, Any]) -> None:
        record[field] = value

    return change


def removing(field: str) -> Change:
    def change(record: dict[str, Any]) -> None:
        del record[field]

    return change


def replacing(value: Any) -> Change:
    """The record itself replaced by ``value`` (a string, a list: not a JSON object)."""

    def change(record: dict[str, Any]) -> Any:
        return value

    return change


def in_first(navigation: str, change: Change) -> Change:
    """``change`` applied to the first child of an expanded navigation (an order's first line)."""

    def nested(record: dict[str, Any]) -> None:
        change(record[navigation][0])

    return nested


def anything(record: dict[str, Any]) -> bool:
    return True


class BadRecord:
    """One edit of one record of a page: the first record ``pick`` accepts is changed."""

    def __init__(self, change: Change, pick: Callable[[dict[str, Any]], bool] = anything) -> None:
        self.change = change
        self.pick = pick
        self.names: set[str] = set()  # what the error may call the record

    def __call__(self, body: Any) -> Any:
        body = copy.deepcopy(body)
        records = body["value"]
        index = next(i for i, r in enumerate(records) if self.pick(r))
        original = records[index]
        self.names = {str(original[k]) for k in NAMING_FIELDS if original.get(k)}
        replaced = self.change(original)
        if replaced is not None:
            records[index] = replaced
        return body
