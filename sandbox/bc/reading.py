"""Reading collections the way BC pages them.

Server-driven paging: at most 20,000 rows per response (or ``Prefer: odata.maxpagesize`` if
smaller); when a page is full, the response carries a next link whose ``$skiptoken`` is the id of
its last row, and the next page resumes *after that row in BC's key order*, not at an offset, so
rows inserted meanwhile never shift what the client sees. ``$top`` at or below the page size
returns everything with no next link; above it, the next link carries the remaining ``$top``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.bc.collection import Collection
from sandbox.bc.errors import invalid_skiptoken
from sandbox.bc.odata.filter import compile_filter
from sandbox.bc.odata.options import QueryOptions
from sandbox.bc.odata.render import field_plan, render_row
from sandbox.bc.schema import navigation_target

Row = dict[str, Any]


@dataclass
class Page:
    values: list[dict[str, Any]]
    next_skiptoken: str | None  # id of the last row, when a next link is due
    next_top: int | None  # the $top the next link carries, if the request had one


def read_page(collection: Collection, options: QueryOptions, page_size: int) -> Page:
    if collection.read_error is not None:
        error = collection.read_error(options.filter)
        if error is not None:
            raise error
    limit = page_size if options.top is None else min(options.top, page_size)
    predicate = compile_filter(options.filter)
    rows = _ordered(collection, options, limit + (0 if options.skiptoken else options.skip))
    if options.skip and not options.skiptoken:
        rows = _drop(rows, options.skip, predicate)
    page: list[Row] = []
    if limit:
        for row in rows:
            if predicate(row):
                page.append(row)
                if len(page) >= limit:
                    break
    more = len(page) == page_size and (options.top is None or options.top > page_size)
    plan = field_plan(collection.entity, options.select)
    values = [render_entity(collection, row, options, plan) for row in page]
    return Page(
        values,
        page[-1][collection.entity.key] if more and page else None,
        None if options.top is None else options.top - len(page),
    )


def _drop(rows: Iterable[Row], count: int, predicate: Any) -> Iterator[Row]:
    skipped = 0
    for row in rows:
        if skipped < count and predicate(row):
            skipped += 1
            continue
        yield row


def _ordered(
    collection: Collection, options: QueryOptions, wanted: int | None = None
) -> Iterable[Row]:
    """Rows in the order the request asks for, after its ``$skiptoken``; the caller applies the
    filter. ``wanted``: how many matching rows the caller will take at most, if it knows."""
    token = options.skiptoken
    if options.orderby:
        if collection.ordered is not None:
            after = _token_row(collection, options) if token else None
            walked = collection.ordered(options.filter, options.orderby, after)
            if walked is not None:
                return walked
        return _sorted(collection, options, wanted)
    if collection.scan is not None:
        return collection.scan(options.filter, token)
    rows: Iterable[Row] = collection.rows()
    if token is None:
        return rows
    after_key = resume_key(collection, token)
    return (r for r in rows if collection.order_key(r) > after_key)


def resume_key(collection: Collection, token: str) -> tuple[Any, ...]:
    """The order key a ``$skiptoken`` resumes after: its row's, or its deleted row's."""
    row = collection.get(token)
    if row is not None:
        return collection.order_key(row)
    if token in collection.tombstones:
        return collection.tombstones[token]
    raise invalid_skiptoken(token)


def _token_row(collection: Collection, options: QueryOptions) -> Row:
    """The row an ordered read resumes after: it must exist and match the filter, exactly as
    the general path finds it among the sorted matching rows."""
    token = options.skiptoken
    row = collection.get(token) if token else None
    if (
        row is None
        or row[collection.entity.key] != token
        or not compile_filter(options.filter)(row)
    ):
        raise invalid_skiptoken(token)
    return row


# at most this many rows wanted: select them with a heap instead of sorting everything
HEAP_LIMIT = 1000
# (sort values, order key, id, row or None), in the order the rows came
Keyed = tuple[tuple[Any, ...], tuple[Any, ...], Any, Row | None]


def _sorted(
    collection: Collection, options: QueryOptions, wanted: int | None = None
) -> Iterable[Row]:
    """``$orderby``: matching rows sorted, ties in key order; resume after the token's row.

    Lazy collections (the ledger) keep only sort keys and ids, not a million rendered rows.
    When only the first ``wanted`` rows are needed and that is few, a heap selects exactly the
    rows the full sort would put first."""
    predicate = compile_filter(options.filter)
    key_field = collection.entity.key
    source = collection.scan(options.filter, None) if collection.scan else collection.rows()
    lazy = collection.scan is not None
    keyed: list[Keyed] = [
        (
            tuple(r[n] for n, _ in options.orderby),
            collection.order_key(r),
            r[key_field],
            None if lazy else r,
        )
        for r in source
        if predicate(r)
    ]
    if wanted is not None and wanted <= HEAP_LIMIT:
        chosen = _first_sorted(keyed, options, wanted)
    else:
        chosen = _sort_all(keyed, options)
    if not lazy:
        return [k[3] for k in chosen]  # type: ignore[misc]
    return (row for k in chosen if (row := collection.get(k[2])) is not None)


def _sort_all(keyed: list[Keyed], options: QueryOptions) -> list[Keyed]:
    keyed.sort(key=lambda k: k[1])
    for position in reversed(range(len(options.orderby))):
        descending = options.orderby[position][1]
        keyed.sort(key=_sort_value(position), reverse=descending)
    start = 0
    if options.skiptoken:
        start = next((i + 1 for i, k in enumerate(keyed) if k[2] == options.skiptoken), -1)
        if start < 0:
            raise invalid_skiptoken(options.skiptoken)
    return keyed[start:]


def _sort_value(position: int) -> Callable[[Keyed], Any]:
    return lambda k: k[0][position]


def _first_sorted(keyed: list[Keyed], options: QueryOptions, wanted: int) -> list[Keyed]:
    """``_sort_all(keyed, options)[:wanted]`` without sorting: the rank of a row is its sort
    values (wrapped when descending), then its order key, then where it came (``heapq`` keeps
    ties in input order, like a stable sort)."""
    flags = tuple(descending for _, descending in options.orderby)

    def rank(k: Keyed) -> tuple[Any, ...]:
        return tuple(_Descending(v) if d else v for v, d in zip(k[0], flags, strict=True)), k[1]

    candidates: list[Keyed] = keyed
    if options.skiptoken:
        found = next((i for i, k in enumerate(keyed) if k[2] == options.skiptoken), None)
        if found is None:
            raise invalid_skiptoken(options.skiptoken)
        token = (rank(keyed[found]), found)
        candidates = [k for i, k in enumerate(keyed) if (rank(k), i) > token]
    if all(flags):
        # the common "newest first": plain values, the order key breaks ties upwards
        return heapq.nlargest(wanted, candidates, key=lambda k: (k[0], _Descending(k[1])))
    if not any(flags):
        return heapq.nsmallest(wanted, candidates, key=lambda k: (k[0], k[1]))
    return heapq.nsmallest(wanted, candidates, key=rank)


class _Descending:
    """A sort value that orders backwards."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return bool(other.value < self.value)

    def __gt__(self, other: _Descending) -> bool:
        return bool(self.value < other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and bool(self.value == other.value)

    __hash__ = None  # type: ignore[assignment]


def render_entity(
    collection: Collection,
    row: Row,
    options: QueryOptions,
    plan: Any = None,
) -> dict[str, Any]:
    out = render_row(row, plan or field_plan(collection.entity, options.select))
    for expand in options.expand:
        nested = expand.options
        expander = collection.expanders.get(expand.navigation)
        if expander is not None and _plain(nested):
            # the hot path: $expand=dimensionSetLines on a page of 20,000 entries
            child_type = navigation_target(collection.entity, expand.navigation)
            assert child_type is not None
            child_plan = field_plan(child_type, nested.select)
            out[expand.navigation] = [child_plan(r) for r in expander(row)]
            continue
        child = collection.navigations[expand.navigation](row)
        child_plan = field_plan(child.entity, nested.select)
        if _plain(nested):
            out[expand.navigation] = [render_row(r, child_plan) for r in child.rows()]
            continue
        predicate = compile_filter(nested.filter)
        rows = [r for r in _ordered(child, nested) if predicate(r)]
        rows = rows[nested.skip :]
        if nested.top is not None:
            rows = rows[: nested.top]
        out[expand.navigation] = [render_entity(child, r, nested, child_plan) for r in rows]
    return out


def _plain(options: QueryOptions) -> bool:
    return not (
        options.filter
        or options.expand
        or options.orderby
        or options.skip
        or options.top is not None
    )
