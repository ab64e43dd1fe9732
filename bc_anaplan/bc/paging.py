"""One generic pager for every BC entity set, driven by small ``Resource`` declarations.

A ``Resource`` declares an entity set the way a Singer stream does: the entity set, the fields
to ``$select`` (only what the connector uses), what to ``$expand``, the cursor field and the
record decoder. ``iter_pages`` does the rest for all of them:

* the first request carries ``$select``/``$expand``/``$filter``; every request carries
  ``Prefer: odata.maxpagesize=N`` (BC caps pages at 20,000), unless the read must see the
  caller's own writes ``Data-Access-Intent: ReadOnly`` (served from a replica), and the
  resource's own headers (the trial balance asks for ``Accept-Language: en-US``);
* ``@odata.nextLink`` is followed exactly as given (the HTTP layer refuses a link to another
  origin, so the bearer token never leaves BC); a link that was already followed raises
  ``PagingLoopError`` instead of looping all night;
* each page is parsed with orjson (measurably faster than ``json`` at 20,000 entries), decoded
  into typed records, and yielded before the next page is requested: memory stays at one page
  whatever the size of the set. A page holding a number that a float cannot carry exactly is
  re-parsed with ``json`` + ``Decimal`` (see ``encoding``).

``iter_pages_ahead`` is the same pager for the one read that is big enough to care (the G/L
entries of a full load): a background thread requests page k+1 as soon as page k's bytes have
arrived -- its ``@odata.nextLink`` is found in the raw bytes (``early_next_link``) -- while the
caller parses, decodes and aggregates page k. BC renders the next page while the connector
works on this one, instead of waiting for it. The link found early is checked against the
parsed one before the page is handed on; a page whose link cannot be found early is simply
followed after parsing.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

import orjson

from bc_anaplan.bc.client import MAX_PAGE_SIZE, BcClient
from bc_anaplan.bc.encoding import InexactNumber
from bc_anaplan.bc.errors import BcDecodeError, PagingLoopError

T = TypeVar("T")
Json = Mapping[str, Any]


@dataclass(frozen=True)
class Resource(Generic[T]):
    """One BC entity set as a stream: what to ask for and how to decode it."""

    entity_set: str  # e.g. "generalLedgerEntries"; may be a path such as "journals(<id>)/..."
    select: tuple[str, ...]
    decode: Callable[[Json], T]
    expand: tuple[str, ...] = ()  # e.g. "dimensionSetLines($select=code,valueCode)"
    # the field an incremental ``Cursor`` may filter on (None: no incremental reads); records
    # are deduplicated by their ``id``, the SystemId key of every entity set read here
    cursor_field: str | None = "lastModifiedDateTime"
    company_scoped: bool = True
    # request headers of every page besides the pager's own, e.g. (("Accept-Language", "en-US"),)
    headers: tuple[tuple[str, str], ...] = ()

    def query(self, filter_expression: str | None = None) -> dict[str, str]:
        params = {"$select": ",".join(self.select)}
        if self.expand:
            params["$expand"] = ",".join(self.expand)
        if filter_expression:
            params["$filter"] = filter_expression
        return params

    def url(self, client: BcClient, path: str | None = None) -> str:
        relative = path or self.entity_set
        return client.company_url(relative) if self.company_scoped else client.url(relative)


def expand(navigation: str, fields: tuple[str, ...]) -> str:
    """``dimensionSetLines($select=code,valueCode)``."""
    return f"{navigation}($select={','.join(fields)})"


def read_headers(
    page_size: int, replica: bool = True, extra: tuple[tuple[str, str], ...] = ()
) -> dict[str, str]:
    headers = {"Prefer": f"odata.maxpagesize={page_size}"}
    if replica:
        headers["Data-Access-Intent"] = "ReadOnly"
    headers.update(extra)
    return headers


def iter_pages(
    client: BcClient,
    resource: Resource[T],
    *,
    path: str | None = None,
    filter_expression: str | None = None,
    page_size: int | None = None,
    replica: bool = True,
) -> Iterator[list[T]]:
    """Yield the decoded records of ``resource`` one server page at a time.

    ``replica=False`` reads from the primary database: for reads that must see the caller's
    own writes (a replica may lag behind), such as reconciling after a lost answer.
    """
    size = page_size or client.page_size
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {size}")
    headers = read_headers(size, replica, resource.headers)
    url: str | None = resource.url(client, path)
    params: dict[str, str] | None = resource.query(filter_expression)
    followed: set[str] = set()
    while url is not None:
        response = client.get(url, params=params, headers=headers)
        records, next_link = parse_page(response.content, resource.decode)
        yield records
        url, params = next_url(next_link, followed, resource.entity_set), None


def iter_pages_ahead(
    client: BcClient,
    resource: Resource[T],
    *,
    filter_expression: str | None = None,
    page_size: int | None = None,
) -> Iterator[list[T]]:
    """``iter_pages``, with the next page requested while the caller works on this one.

    At most two raw pages wait besides the one being decoded, so memory stays flat. Errors of
    the background requests are raised here, in the caller's thread.
    """
    size = page_size or client.page_size
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {size}")
    headers = read_headers(size, extra=resource.headers)
    followed: set[str] = set()

    def raw_pages() -> Iterator[tuple[bytes, str | None]]:
        url: str | None = resource.url(client)
        params: dict[str, str] | None = resource.query(filter_expression)
        while url is not None:
            content = client.get(url, params=params, headers=headers).content
            early = early_next_link(content)
            yield content, early
            url, params = next_url(early, followed, resource.entity_set), None

    link: str | None = None
    for content, early in read_ahead(raw_pages()):
        records, link = parse_page(content, resource.decode)
        if early is not None and link != early:
            raise BcDecodeError(
                f"a {resource.entity_set} page's nextLink read from its bytes ({early}) is not "
                f"the parsed one ({link})"
            )
        yield records
        if early is None:
            break  # the last page, or a link not found early: followed below, one at a time
    url = next_url(link, followed, resource.entity_set)
    while url is not None:
        response = client.get(url, headers=headers)
        records, link = parse_page(response.content, resource.decode)
        yield records
        url = next_url(link, followed, resource.entity_set)


# ``"@odata.nextLink":"..."`` as BC writes it (spaces allowed around the colon). The closing quote
# right after ``nextLink`` cannot occur unescaped inside a JSON string, so a match is the key.
_NEXT_LINK = re.compile(rb'"@odata\.nextLink"\s*:\s*("(?:[^"\\]|\\.)*")')
_EARLY_SCAN = 8192  # bytes searched at each end: the annotation sits next to "value", not in it


def early_next_link(content: bytes) -> str | None:
    """The page's ``@odata.nextLink`` found in its raw bytes, or None (the last page, or not
    where it is looked for). Only a hint: ``iter_pages_ahead`` checks it against the parsed
    page before handing the page on."""
    for part in (content[-_EARLY_SCAN:], content[:_EARLY_SCAN]):
        found = _NEXT_LINK.search(part)
        if found is not None:
            try:
                link = orjson.loads(found.group(1))
            except orjson.JSONDecodeError:
                return None
            return link if isinstance(link, str) and link else None
    return None


_DONE = object()


def read_ahead(source: Iterator[T], depth: int = 1) -> Iterator[T]:
    """``source``'s items, produced by a background thread up to ``depth`` items ahead.

    Exceptions in the producer are re-raised in the consumer; a consumer that stops early stops
    the producer at its next item.
    """
    if depth < 1:
        yield from source
        return
    items: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        items.put(("item", item), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(("done", _DONE))
        except BaseException as exc:  # handed to the consumer, which raises it
            items.put(("error", exc))

    thread = threading.Thread(target=produce, name="bc-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        while thread.is_alive():
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.2)


def next_url(next_link: str | None, followed: set[str], entity_set: str) -> str | None:
    """The next page to request, refusing a link that was already followed (a server loop)."""
    if next_link is None:
        return None
    if next_link in followed:
        raise PagingLoopError(
            f"BC returned the nextLink {next_link} a second time while reading "
            f"{entity_set}; stopping instead of looping"
        )
    followed.add(next_link)
    return next_link


def parse_page(content: bytes, decode: Callable[[Json], T]) -> tuple[list[T], str | None]:
    """The records and the next link of one page (orjson first, exact ``Decimal`` if needed)."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise BcDecodeError(f"BC answered with a page that is not JSON: {content[:80]!r}") from None
    try:
        records = _decode_all(body, decode)
    except InexactNumber:
        body = json.loads(content, parse_float=Decimal)
        records = _decode_all(body, decode)
    next_link = body.get("@odata.nextLink")
    return records, str(next_link) if next_link else None


def _decode_all(body: Any, decode: Callable[[Json], T]) -> list[T]:
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise BcDecodeError("a BC collection response has no 'value' array")
    return [decode(raw) for raw in body["value"]]
