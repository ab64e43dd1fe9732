"""Paging, token renewal mid-stream and incremental reads on a 50,000-entry ledger of our own.

Our own sandbox, because these tests move its clock and post entries, which the shared one must
not see.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from bc_anaplan.bc import BcClient, Cursor, iter_gl_entries, paging
from bc_anaplan.bc.amounts import GL_AMOUNTS, iter_gl_amounts
from bc_anaplan.bc.encoding import parse_datetime
from bc_anaplan.bc.errors import BcDecodeError
from bc_anaplan.bc.streams import GL_ENTRIES
from tests.core.bc.conftest import Controls, count, make_client
from tests.support.processes import running_sandbox

ENTRIES = 50_000
GL = "/companies({id})/generalLedgerEntries"
TOKEN = "/{tenant}/oauth2/v2.0/token"


@pytest.fixture(scope="module")
def big() -> Iterator[dict[str, Any]]:
    with running_sandbox("--scale", str(ENTRIES), "--fast") as info:
        yield info


@pytest.fixture(scope="module")
def big_controls(big: dict[str, Any]) -> Iterator[Controls]:
    c = Controls(big)
    yield c
    c.http.close()


def gl_gets(controls: Controls, status: int | None = 200) -> int:
    return count(controls.requests(), "GET", GL, status)


@pytest.mark.parametrize("page_size", [20_000, 7_000])
def test_pages_follow_next_links_one_page_in_memory(
    big: dict[str, Any], big_controls: Controls, page_size: int
) -> None:
    client = make_client(big, page_size=page_size)
    big_controls.reset_requests()
    pages = paging.iter_pages(client, GL_ENTRIES)
    first = next(pages)
    assert len(first) == page_size
    assert gl_gets(big_controls) == 1  # the next page is only asked for when needed
    sizes, ids = [len(first)], [e.id for e in first]
    for page in pages:
        sizes.append(len(page))
        ids += [e.id for e in page]
    total = sum(sizes)
    assert total >= ENTRIES and max(sizes) == page_size
    assert len(set(ids)) == total  # every entry exactly once
    assert gl_gets(big_controls) == total // page_size + 1  # last page short (or empty)


def test_token_expiring_mid_stream_is_renewed_without_losing_a_page(
    big: dict[str, Any], big_controls: Controls
) -> None:
    client = make_client(big, page_size=10_000)
    entra_before = big_controls.requests("entra")
    bc_before = big_controls.requests()
    pages = paging.iter_pages(client, GL_ENTRIES)
    seen = [e.id for e in next(pages)]
    big_controls.advance_clock(3600)  # past the token's 3599 s on BC's clock, not on MSAL's
    for page in pages:
        seen += [e.id for e in page]
    assert len(seen) >= ENTRIES and len(set(seen)) == len(seen)
    bc_after = big_controls.requests()
    assert count(bc_after, "GET", GL, 401) - count(bc_before, "GET", GL, 401) == 1
    entra_after = big_controls.requests("entra")
    new_tokens = count(entra_after, "POST", TOKEN, 200, "") - count(
        entra_before, "POST", TOKEN, 200, ""
    )
    assert new_tokens == 1  # exactly one renewal, not one per request


def test_incremental_reads_yield_exactly_the_new_entries(
    big: dict[str, Any], big_controls: Controls
) -> None:
    client = make_client(big, page_size=500)
    now = parse_datetime(big_controls.advance_clock(0)["now"])
    assert now is not None
    cursor = Cursor(start=now)
    cursor = read(client, cursor, expect=set())  # nothing modified since "now"
    first = big_controls.post_entries(20, "2026-11")
    cursor = read(client, cursor, expect=posted(first))
    second = big_controls.post_entries(30, "2026-11")
    # the first batch lies inside the 5-minute overlap: re-read, but not yielded again
    cursor = read(client, cursor, expect=posted(second), duplicates=first["count"])
    read(client, cursor, expect=set(), duplicates=first["count"] + second["count"])


def posted(answer: dict[str, Any]) -> set[int]:
    return set(range(answer["firstEntryNumber"], answer["lastEntryNumber"] + 1))


def read(client: BcClient, cursor: Cursor, *, expect: set[int], duplicates: int = 0) -> Cursor:
    run = cursor.open()
    numbers = [e.entry_number for e in iter_gl_entries(client, run)]
    assert sorted(numbers) == sorted(expect)
    assert run.duplicates == duplicates
    committed = run.advanced()  # the caller stores it only after handling the entries
    return Cursor.from_dict(committed.to_dict())  # as an orchestration would carry it


# --- reading ahead: the full load's reader ---------------------------------------------------

WINDOW = Cursor(posting_from=date(2000, 1, 1), posting_to=date(2099, 12, 31)).filter()


def wait_for_gl_gets(controls: Controls, wanted: int, seconds: float = 30.0) -> int:
    """G/L entry GETs the sandbox has logged, once ``wanted`` are (or after ``seconds``: a
    loaded shared machine can take several seconds to render a 7,000-entry page)."""
    deadline = time.monotonic() + seconds
    while (seen := gl_gets(controls)) < wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


def test_the_next_page_is_asked_for_while_this_one_is_worked_on(
    big: dict[str, Any], big_controls: Controls
) -> None:
    client = make_client(big, page_size=7_000)
    big_controls.reset_requests()
    pages = paging.iter_pages_ahead(client, GL_AMOUNTS, filter_expression=WINDOW)
    first = next(pages)
    assert len(first) == 7_000
    # page 2 is requested before page 1 is done; at most two raw pages wait besides the one
    # being worked on (one queued, one in the producer's hand), so the read-ahead stops at 3
    assert wait_for_gl_gets(big_controls, 3) == 3
    time.sleep(1.0)
    assert gl_gets(big_controls) == 3  # and no further while page 1 is held
    ids = [e.id for e in first] + [e.id for page in pages for e in page]
    assert len(ids) >= ENTRIES and len(set(ids)) == len(ids)  # every entry exactly once
    assert gl_gets(big_controls) == len(ids) // 7_000 + 1  # and not one request more
    sequential = [
        e.id
        for page in paging.iter_pages(client, GL_AMOUNTS, filter_expression=WINDOW)
        for e in page
    ]
    assert ids == sequential
    assert sum(1 for _ in iter_gl_amounts(client, date(2000, 1, 1), date(2099, 12, 31))) == len(ids)


def test_a_link_not_found_in_the_bytes_is_followed_after_parsing(
    big: dict[str, Any], big_controls: Controls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "early_next_link", lambda content: None)
    client = make_client(big, page_size=20_000)
    big_controls.reset_requests()
    pages = paging.iter_pages_ahead(client, GL_AMOUNTS, filter_expression=WINDOW)
    first = next(pages)
    time.sleep(0.3)
    assert gl_gets(big_controls) == 1  # nothing to read ahead with: one page at a time
    total = len(first) + sum(len(page) for page in pages)
    assert total >= ENTRIES and gl_gets(big_controls) == total // 20_000 + 1


def test_a_link_read_early_that_is_not_the_parsed_one_stops_the_read(
    big: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = paging.early_next_link

    def off_by_one(content: bytes) -> str | None:
        link = real(content)
        return None if link is None else link + "&x=1"

    monkeypatch.setattr(paging, "early_next_link", off_by_one)
    client = make_client(big, page_size=20_000)
    with pytest.raises(BcDecodeError, match="nextLink read from its bytes"):
        for _ in paging.iter_pages_ahead(client, GL_AMOUNTS, filter_expression=WINDOW):
            pass


@pytest.mark.parametrize(
    ("content", "link"),
    [
        (
            b'{"value":[{"id":"a"}],"@odata.nextLink":"https://bc/x?$skiptoken=1"}',
            "https://bc/x?$skiptoken=1",
        ),
        (b'{"value": [], "@odata.nextLink" : "https:\\/\\/bc\\/x?a=\\u0026"}', "https://bc/x?a=&"),
        (b'{"@odata.nextLink":"https://bc/first","value":[]}', "https://bc/first"),
        (b'{"value":[{"description":"x\\"@odata.nextLink\\":\\"https://evil\\""}]}', None),
        (b'{"value":[{"id":"a"}]}', None),
        (b'{"value":[],"@odata.nextLink":""}', None),
    ],
    ids=["compact", "spaced and escaped", "before value", "inside a string", "last page", "empty"],
)
def test_early_next_link_finds_only_the_annotation(content: bytes, link: str | None) -> None:
    assert paging.early_next_link(content) == link
