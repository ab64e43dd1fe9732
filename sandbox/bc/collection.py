"""One addressable entity set of the API: how to list, find, order, navigate and change its rows.

The request layer only ever talks to ``Collection`` objects, whether the rows come from a dict of
records, a navigation from a parent (``journals({id})/journalLines``) or the lazy ledger. A
collection that cannot be written simply leaves ``create``/``update``/``delete`` unset, and the
request layer answers with BC's "not allowed" error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.bc.odata.filter import Node
from sandbox.bc.schema import EntityType

Row = dict[str, Any]
OrderBy = tuple[tuple[str, bool], ...]  # ($orderby field, descending)


@dataclass
class Collection:
    name: str  # entity set name as it appears in the URL
    entity: EntityType
    caption: str  # BC table caption, for "The <caption> does not exist." errors
    rows: Callable[[], Iterable[Row]]  # every row, in BC's default (primary key) order
    order_key: Callable[[Row], tuple[Any, ...]]
    find: Callable[[str], Row | None] | None = None
    # rows in default order after the row with a given id, narrowed by the filter's ranges
    scan: Callable[[Node | None, str | None], Iterator[Row]] | None = None
    # rows in ``$orderby`` order (ties in default order) after a given row, narrowed by the
    # filter's ranges, produced without sorting; None for an ordering it cannot produce so
    ordered: Callable[[Node | None, OrderBy, Row | None], Iterator[Row] | None] | None = None
    navigations: dict[str, Callable[[Row], Collection]] = field(default_factory=dict)
    # shortcut for a plain $expand: the child rows of a row without building a Collection
    expanders: dict[str, Callable[[Row], list[Row]]] = field(default_factory=dict)
    create: Callable[[dict[str, Any]], Row] | None = None
    update: Callable[[Row, dict[str, Any]], Row] | None = None
    delete: Callable[[Row], None] | None = None
    actions: dict[str, Callable[[Row], None]] = field(default_factory=dict)
    # rows deleted since start, with their order keys, so $skiptoken still resumes correctly
    tombstones: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    # the error a collection read raises before returning anything, given its $filter (BC's
    # "must get to the parent first" when the page insists on a parent or a filter)
    read_error: Callable[[Node | None], Exception | None] | None = None

    def get(self, key: str) -> Row | None:
        if self.find is not None:
            return self.find(key)
        key_field = self.entity.key
        return next((r for r in self.rows() if str(r.get(key_field)) == key), None)
