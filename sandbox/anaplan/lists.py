"""Flat Anaplan lists: items with a code, a unique name and typed properties.

Rules the real service enforces and the simulator therefore enforces too: item names are unique
within a list (compared case-insensitively, as Anaplan does), names and codes are at most 60
characters, codes are unique. Items keep their insertion order, which is the order exports and
the API list them in. Lists are flat: BC has no hierarchy above these members, so no item has a
parent.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union

MAX_NAME_LENGTH = 60
MAX_CODE_LENGTH = 60

PropertyValue = Union[str, bool, None]  # noqa: UP007 - readable alias

TEXT = "TEXT"
BOOLEAN = "BOOLEAN"
DATE = "DATE"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PropertyFormatError(ValueError):
    """A source value that does not parse in the property's format."""


@dataclass(frozen=True)
class ListProperty:
    name: str
    format: str  # TEXT, BOOLEAN or DATE

    def parse(self, text: str) -> PropertyValue:
        """The value an import stores for ``text``; raises ``PropertyFormatError``."""
        if self.format == BOOLEAN:
            lowered = text.strip().lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            if lowered == "":
                return False
            raise PropertyFormatError(f"Invalid boolean value for {self.name}: {text}")
        if self.format == DATE:
            if text == "":
                return None
            if not _ISO_DATE.match(text) or not _valid_date(text):
                raise PropertyFormatError(
                    f"Invalid date value for {self.name}: {text} (expected YYYY-MM-DD)"
                )
            return text
        return text

    def render(self, value: PropertyValue) -> str:
        """The value as Anaplan writes it in JSON and CSV: ``true``/``false``, dates, text."""
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)


def _valid_date(text: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


@dataclass
class ListItem:
    id: str
    code: str
    name: str
    position: int  # order of creation, never reused: what module cell keys refer to
    properties: dict[str, PropertyValue] = field(default_factory=dict)


class PlanList:
    """One list of the model, indexed by id, code and (case-insensitive) name."""

    def __init__(
        self, list_id: str, name: str, properties: tuple[ListProperty, ...], item_prefix: str
    ) -> None:
        self.id = list_id
        self.name = name
        self.properties = properties
        self._item_prefix = item_prefix
        self._next_number = 1
        self._items: dict[str, ListItem] = {}
        self._by_code: dict[str, ListItem] = {}
        self._by_name: dict[str, ListItem] = {}
        self._by_position: dict[int, ListItem] = {}

    # -- reading ---------------------------------------------------------------------------
    def items(self) -> list[ListItem]:
        return list(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def by_id(self, item_id: str) -> ListItem | None:
        return self._items.get(item_id)

    def by_code(self, code: str) -> ListItem | None:
        return self._by_code.get(code)

    def by_name(self, name: str) -> ListItem | None:
        return self._by_name.get(name.casefold())

    def by_position(self, position: int) -> ListItem | None:
        return self._by_position.get(position)

    @property
    def next_item_index(self) -> int:
        return self._next_number

    # -- writing ---------------------------------------------------------------------------
    def add(self, code: str, name: str, properties: Mapping[str, PropertyValue]) -> ListItem:
        if code and code in self._by_code:
            raise ValueError(f"code {code!r} already exists in {self.name}")
        if name.casefold() in self._by_name:
            raise ValueError(f"name {name!r} already exists in {self.name}")
        number = self._next_number
        item = ListItem(f"{self._item_prefix}{number:09d}", code, name, number - 1)
        item.properties = {p.name: properties.get(p.name, _empty(p)) for p in self.properties}
        self._next_number += 1
        self._items[item.id] = item
        self._by_position[item.position] = item
        if code:
            self._by_code[code] = item
        self._by_name[name.casefold()] = item
        return item

    def update(self, item: ListItem, name: str, properties: Mapping[str, PropertyValue]) -> None:
        other = self._by_name.get(name.casefold())
        if other is not None and other is not item:
            raise ValueError(f"name {name!r} already exists in {self.name}")
        del self._by_name[item.name.casefold()]
        item.name = name
        self._by_name[name.casefold()] = item
        item.properties.update(properties)

    def remove(self, item: ListItem) -> None:
        del self._items[item.id]
        del self._by_position[item.position]
        self._by_code.pop(item.code, None)
        del self._by_name[item.name.casefold()]

    def snapshot(self) -> PlanList:
        """A deep copy, so a cancelled task can put the list back exactly as it was."""
        return copy.deepcopy(self)

    def restore(self, snapshot: PlanList) -> None:
        self.__dict__.update(copy.deepcopy(snapshot).__dict__)


def _empty(prop: ListProperty) -> PropertyValue:
    if prop.format == BOOLEAN:
        return False
    if prop.format == DATE:
        return None
    return ""
