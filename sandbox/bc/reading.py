"""Reading collections the way BC pages them.

Server-driven paging: at most 20,000 rows per response (or ``Prefer: odata.maxpagesize`` if
smaller); when a page is full, the response carries a next link whose ``$skiptoken`` is the id of
its last row, and the next page resumes *after that row in BC's key order*, not at an offset, so
rows inserted meanwhile never shift what the client sees. ``$top`` at or below the page size
returns everything with no next link; above it, the next link carries the remaining ``$top``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.bc.collection import Collection
from sandbox.bc.errors import bad_request
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
    rows = _ordered(collection, options)
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


def _ordered(collection: Collection, options: QueryOptions) -> Iterable[Row]:
    token = options.skiptoken
    if options.orderby:
        return _sorted(collection, options)
    if collection.scan is not None:
        return collection.scan(options.filter, token)
    rows: Iterable[Row] = collection.rows()
    if token is None:
        return rows
    after = resume_key(collection, token)
    return (r for r in rows if collection.order_key(r) > after)


def resume_key(collection: Collection, token: str) -> tuple[Any, ...]:
    """The order key a ``$skiptoken`` resumes after: its row's, or its deleted row's."""
    row = collection.get(token)
    if row is not None:
        return collection.order_key(row)
    if token in collection.tombstones:
        return collection.tombstones[token]
    raise bad_request(f"The skip token '{token}' is not valid.")


def _sorted(collection: Collection, options: QueryOptions) -> Iterable[Row]:
    """``$orderby``: matching rows sorted, ties in key order; resume after the token's row.

    Lazy collections (the ledger) keep only sort keys and ids, not a million rendered rows."""
    predicate = compile_filter(options.filter)
    key_field = collection.entity.key
    source = collection.scan(options.filter, None) if collection.scan else collection.rows()
    lazy = collection.scan is not None
    keyed = [
        (
            tuple(r[n] for n, _ in options.orderby),
            collection.order_key(r),
            r[key_field],
            None if lazy else r,
        )
        for r in source
        if predicate(r)
    ]
    keyed.sort(key=lambda k: k[1])
    for position in reversed(range(len(options.orderby))):
        descending = options.orderby[position][1]
        keyed.sort(key=lambda k, i=position: k[0][i], reverse=descending)
    start = 0
    if options.skiptoken:
        start = next((i + 1 for i, k in enumerate(keyed) if k[2] == options.skiptoken), -1)
        if start < 0:
            raise bad_request(f"The skip token '{options.skiptoken}' is not valid.")
    if not lazy:
        return [k[3] for k in keyed[start:]]
    return (row for k in keyed[start:] if (row := collection.get(k[2])) is not None)


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
