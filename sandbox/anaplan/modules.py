"""Modules: line items dimensioned by lists and time, holding cells.

A cell key is one integer packing the member *positions* of the module's dimensions (list item
positions never change; a month's position is its index in the calendar), most significant
dimension first, so sorting keys sorts cells by dimension order. Only non-empty cells are stored
(a number of zero, a false boolean and empty text are what an empty Anaplan cell shows). Numbers
are stored in the compact form of ``numbers.py`` and read back as ``Decimal``, so money
reconciles to the cent and a module with millions of cells still fits in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Union

from sandbox.anaplan.lists import PlanList
from sandbox.anaplan.numbers import Stored, to_decimal

NUMBER = "NUMBER"
BOOLEAN = "BOOLEAN"
TEXT = "TEXT"

CellValue = Union[Decimal, bool, str]  # noqa: UP007 - readable alias
StoredValue = Union[Stored, bool, str]  # noqa: UP007 - readable alias
CellKey = int
POSITION_BITS = 20
_MASK = (1 << POSITION_BITS) - 1


@dataclass(frozen=True)
class LineItem:
    id: str
    name: str
    format: str  # NUMBER, BOOLEAN or TEXT


def is_empty(value: StoredValue) -> bool:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | Decimal):
        return value == 0
    return value == ""


class Dimension:
    """How an import finds a member from source text and how exports name it.

    Lists synced from BC are matched by code and exported as codes; Time and Versions are
    matched and exported by name (they have no codes), exactly as the model builder mapped them.
    """

    def __init__(self, name: str, plan_list: PlanList | None, months: tuple[str, ...] = ()) -> None:
        self.name = name
        self.plan_list = plan_list
        self.months = months
        self._month_positions = {m: i for i, m in enumerate(months)}

    @property
    def by_code(self) -> bool:
        return self.plan_list is not None and self.name != "Versions"

    def lookup(self) -> dict[str, int]:
        """Source text -> member position, exact and case-sensitive, for one import's rows."""
        if self.plan_list is None:
            return dict(self._month_positions)
        if self.by_code:
            return {item.code: item.position for item in self.plan_list.items() if item.code}
        return {item.name: item.position for item in self.plan_list.items()}

    def exported(self, position: int) -> str:
        if self.plan_list is None:
            return self.months[position]
        item = self.plan_list.by_position(position)
        assert item is not None
        return item.code if self.by_code else item.name

    def member_name(self, position: int) -> str:
        if self.plan_list is None:
            return self.months[position]
        item = self.plan_list.by_position(position)
        assert item is not None
        return item.name

    def not_found_message(self, text: str) -> str:
        if self.plan_list is None:
            return f"Invalid time period: {text}"
        return f"Item not located in {self.name} list: {text}"


class Module:
    def __init__(
        self,
        module_id: str,
        name: str,
        dimensions: tuple[Dimension, ...],
        line_items: tuple[LineItem, ...],
    ) -> None:
        self.id = module_id
        self.name = name
        self.dimensions = dimensions
        self.line_items = line_items
        self.cells: dict[str, dict[CellKey, StoredValue]] = {li.name: {} for li in line_items}

    def line_item(self, name: str) -> LineItem | None:
        return next((li for li in self.line_items if li.name == name), None)

    def dimension_index(self, name: str) -> int | None:
        return next((i for i, d in enumerate(self.dimensions) if d.name == name), None)

    # -- keys ------------------------------------------------------------------------------
    @staticmethod
    def key(positions: tuple[int, ...] | list[int]) -> CellKey:
        key = 0
        for position in positions:
            if not 0 <= position <= _MASK:
                raise ValueError(f"member position {position} out of range")
            key = (key << POSITION_BITS) | position
        return key

    def positions(self, key: CellKey) -> tuple[int, ...]:
        count = len(self.dimensions)
        return tuple((key >> (POSITION_BITS * (count - 1 - i))) & _MASK for i in range(count))

    def position_in(self, key: CellKey, dimension_index: int) -> int:
        shift = POSITION_BITS * (len(self.dimensions) - 1 - dimension_index)
        return (key >> shift) & _MASK

    # -- values ----------------------------------------------------------------------------
    def set(self, line_item: str, key: CellKey, value: StoredValue) -> None:
        if is_empty(value):
            self.cells[line_item].pop(key, None)
        else:
            self.cells[line_item][key] = value

    def get(self, line_item: str, key: CellKey) -> CellValue | None:
        stored = self.cells[line_item].get(key)
        return None if stored is None else public_value(stored)

    def items(self, line_item: str) -> Iterator[tuple[CellKey, CellValue]]:
        for key, stored in self.cells[line_item].items():
            yield key, public_value(stored)

    def clear_where(self, dimension: str, position: int) -> int:
        """Drop every cell on one member (the member was deleted); returns cells dropped."""
        index = self.dimension_index(dimension)
        if index is None:
            return 0
        dropped = 0
        for cells in self.cells.values():
            doomed = [k for k in cells if self.position_in(k, index) == position]
            for key in doomed:
                del cells[key]
            dropped += len(doomed)
        return dropped

    def cell_count(self) -> int:
        return sum(len(c) for c in self.cells.values())

    def snapshot(self) -> dict[str, dict[CellKey, StoredValue]]:
        return {name: dict(cells) for name, cells in self.cells.items()}

    def restore(self, snapshot: dict[str, dict[CellKey, StoredValue]]) -> None:
        self.cells = {name: dict(cells) for name, cells in snapshot.items()}


def public_value(stored: StoredValue) -> CellValue:
    if isinstance(stored, bool | str):
        return stored
    return to_decimal(stored)
