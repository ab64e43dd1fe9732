"""``$orderby`` on the ledger without sorting it: the index walk gives exactly what the sort gives.

The ledger answers ``$orderby`` on ``entryNumber``, ``postingDate`` and ``lastModifiedDateTime``
by walking its history in order and merging the posted entries in (``GeneralLedger.ordered``),
and any other ordering with ``$top`` by a heap over the sort keys. Both must be indistinguishable
from the general path (every matching row, stable sort, ties in entry-number order): same rows,
same order, same paging. The in-process tests read pages straight from ``read_page`` with the
fast path on and forced off; the HTTP test compares against a client-side sort of a full read
after ``/_sandbox/bc/post-entries`` added back-dated and current entries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from sandbox.bc import reading, schema
from sandbox.bc.collection import Collection
from sandbox.bc.errors import BcError
from sandbox.bc.history import History
from sandbox.bc.ledger import GeneralLedger
from sandbox.bc.odata.options import parse_options
from sandbox.bc.reading import read_page
from sandbox.bc.resources import CompanyApi
from sandbox.bc.store import Company
from sandbox.common.clock import SimClock
from sandbox.masterdata import master_data
from tests.sandbox.test_bc_kit import BcKit, bc_private, moment

__all__ = ["bc_private"]

SEED = 7
ORDERINGS = [
    "postingDate",
    "postingDate asc",
    "postingDate desc",
    "entryNumber desc",
    "entryNumber asc",
    "lastModifiedDateTime asc",
    "lastModifiedDateTime desc",
    "postingDate desc,entryNumber asc",
    "entryNumber desc,postingDate desc",
]
FILTERS = [
    None,
    "postingDate ge 2025-03-01 and postingDate le 2025-05-31",
    "postingDate lt 2025-02-10 or postingDate gt 2026-12-20",
    "entryNumber gt 1000 and entryNumber le 1500 and accountNumber ne '61100'",
    "accountNumber eq '40100'",
    "lastModifiedDateTime ge 2026-01-01T00:00:00Z",
    "debitAmount gt 10000",
]


class Ledger:
    """An in-process company on a small ledger, read the way a GET would read it."""

    def __init__(self, entries: int = 3000, horizon_s: float | None = None) -> None:
        self.clock = SimClock()
        data = master_data(SEED)
        horizon = self.clock.time() - 3600 if horizon_s is None else horizon_s
        history = History(data, SEED, entries, horizon_s=horizon)
        self.company = Company(data, GeneralLedger(history, self.clock), self.clock, SEED)
        self.fast = CompanyApi(self.company, today=lambda: self.clock.now().date()).sets[
            "generalLedgerEntries"
        ]
        self.general = dataclasses.replace(self.fast, ordered=None)

    def post(self, count: int, period: str) -> None:
        """What ``/_sandbox/bc/post-entries`` does, without webhooks."""
        ledger = self.company.ledger
        year, month = (int(p) for p in period.split("-"))
        days = [date(year, month, d) for d in range(1, 29)]
        accounts = ledger.history.chart.accounts
        for day, template, lines in ledger.generated_documents(count, days):
            postings = [(accounts[a].id, accounts[a].number, m, dims) for a, m, dims in lines]
            ledger.post(day, "X", template.document_type, "posted", postings, self.company.new_id)


def _options(query: dict[str, str]) -> Any:
    return parse_options(query, schema.GL_ENTRY, schema.navigation_target)


def _pages(collection: Collection, query: dict[str, str], size: int) -> Iterator[list[Any]]:
    """Every page, following the next links the way ``service`` builds them."""
    query = dict(query)
    while True:
        page = read_page(collection, _options(query), size)
        yield page.values
        if page.next_skiptoken is None:
            return
        query.pop("$skip", None)
        query["$skiptoken"] = page.next_skiptoken
        if page.next_top is not None:
            query["$top"] = str(page.next_top)


def _same(ledger: Ledger, query: dict[str, str], size: int = 20_000) -> list[Any]:
    fast = [p for p in _pages(ledger.fast, query, size)]
    general = [p for p in _pages(ledger.general, query, size)]
    assert fast == general, query
    return [row for page in fast for row in page]


def _query(orderby: str, flt: str | None = None, **more: str) -> dict[str, str]:
    query = {"$orderby": orderby, **more}
    if flt:
        query["$filter"] = flt
    return query


@pytest.fixture(scope="module")
def posted() -> Ledger:
    """History plus back-dated, current and same-instant posted entries."""
    ledger = Ledger()
    ledger.post(30, "2025-03")  # back-dated: dates and modification times amid the history
    ledger.clock.advance(60)
    ledger.post(12, "2026-12")  # on the history's last days
    ledger.post(8, "2025-01")  # same instant as the previous post: tied lastModifiedDateTime
    ledger.clock.advance(5)
    ledger.post(6, "2026-06")
    return ledger


@pytest.mark.parametrize("orderby", ORDERINGS)
@pytest.mark.parametrize("flt", FILTERS)
def test_top_is_what_the_sort_gives(posted: Ledger, orderby: str, flt: str | None) -> None:
    for top in ("1", "7", "250"):
        rows = _same(posted, _query(orderby, flt, **{"$top": top}))
        assert len(rows) <= int(top)
    _same(posted, _query(orderby, flt, **{"$top": "0"}))
    _same(posted, _query(orderby, flt, **{"$top": "5", "$skip": "40", "$select": "entryNumber"}))


@pytest.mark.parametrize("orderby", ORDERINGS)
def test_paging_through_everything_in_order(posted: Ledger, orderby: str) -> None:
    rows = _same(posted, _query(orderby), size=700)
    assert len(rows) == posted.company.ledger.count
    field, _, direction = orderby.split(",")[0].partition(" ")
    # rendered datetimes trim trailing zeros of the milliseconds: compare instants, not text
    values = [moment(r[field]) if field == "lastModifiedDateTime" else r[field] for r in rows]
    assert values == sorted(values, reverse=direction == "desc")


@pytest.mark.parametrize("orderby", ["postingDate desc", "lastModifiedDateTime asc", "entryNumber"])
def test_paging_with_a_filter_and_a_top_above_the_page(posted: Ledger, orderby: str) -> None:
    flt = "postingDate ge 2025-02-15 and postingDate le 2025-06-30"
    rows = _same(posted, _query(orderby, flt, **{"$top": "300"}), size=64)
    assert len(rows) == 300


def test_every_row_resumes_as_a_skip_token(posted: Ledger) -> None:
    """Resuming after any row, history or posted, amid ties of either, gives the same rest."""
    rows = _same(posted, {}, size=20_000)
    for orderby in ("postingDate desc", "postingDate asc", "lastModifiedDateTime desc"):
        for row in rows[::97] + [r for r in rows if r["entryNumber"] > 3000][::5]:
            query = _query(orderby, **{"$top": "3", "$skiptoken": row["id"]})
            _same(posted, query)


def test_top_renders_only_what_it_takes(posted: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = posted.company.ledger
    rendered = []
    history_rows = ledger.history_rows

    def counting(lo: int, hi: int) -> Iterator[dict[str, Any]]:
        for row in history_rows(lo, hi):
            rendered.append(row["entryNumber"])
            yield row

    monkeypatch.setattr(ledger, "history_rows", counting)
    for orderby in ORDERINGS:
        rendered.clear()
        read_page(posted.fast, _options(_query(orderby, **{"$top": "1"})), 20_000)
        assert len(rendered) <= 1, orderby
    rendered.clear()
    read_page(posted.general, _options(_query("postingDate desc", **{"$top": "1"})), 20_000)
    assert len(rendered) == 3000


def test_invalid_skip_tokens_fail_alike(posted: Ledger) -> None:
    some = _same(posted, _query("entryNumber", **{"$top": "1"}))[0]["id"]
    unknown = "00000000-0000-0000-0000-000000000001"
    cases = [
        _query("postingDate desc", **{"$skiptoken": unknown}),
        _query("postingDate desc", **{"$skiptoken": some.upper()}),
        _query("postingDate desc", "postingDate gt 2025-06-01", **{"$skiptoken": some}),
        _query("entryNumber desc", **{"$top": "0", "$skiptoken": "nonsense"}),
    ]
    for query in cases:
        errors = []
        for collection in (posted.fast, posted.general):
            with pytest.raises(BcError) as caught:
                read_page(collection, _options(query), 20_000)
            errors.append((caught.value.status, caught.value.code, caught.value.message))
        assert errors[0] == errors[1] and errors[0][0] == 400


def test_modification_time_ties_across_chunks() -> None:
    """Long runs of equal ``lastModifiedDateTime`` across posting days (the history's stamps
    coarsened to 5-day steps, still never decreasing): runs are found, not assumed per day."""
    ledger = Ledger()
    history = ledger.company.ledger.history
    precise = history.stored_ms
    step = 5 * 86_400_000
    history.stored_ms = lambda natural: precise(natural) // step * step  # type: ignore[method-assign]
    ledger.post(10, "2025-05")
    stamps = [history.last_modified_ms(i) for i in range(history.count)]
    assert stamps == sorted(stamps) and 100 < len(set(stamps)) < 200
    assert history.last_modified_ms(0) == history.last_modified_ms(10)  # days 1 to 3
    for orderby in ("lastModifiedDateTime desc", "lastModifiedDateTime asc"):
        rows = _same(ledger, _query(orderby), size=333)
        assert len(rows) == 3010
        for row in rows[::150]:
            _same(ledger, _query(orderby, **{"$top": "4", "$skiptoken": row["id"]}))
        flt = "lastModifiedDateTime ge 2025-03-01T00:00:00Z and postingDate le 2025-06-01"
        _same(ledger, _query(orderby, flt, **{"$top": "50"}), size=20)


def test_no_history_only_posted_entries() -> None:
    ledger = Ledger(entries=1)
    for orderby in ORDERINGS:
        assert _same(ledger, _query(orderby, **{"$top": "1"})) == []
    ledger.post(9, "2026-02")
    for orderby in ORDERINGS:
        rows = _same(ledger, _query(orderby), size=4)
        assert len(rows) == 9


# --- the general path's heap ------------------------------------------------------------------
@pytest.mark.parametrize(
    "orderby",
    [
        "accountNumber",
        "accountNumber desc",
        "documentType desc,postingDate",
        "debitAmount desc,accountNumber desc",
        "description,entryNumber desc",
    ],
)
def test_heap_selects_what_the_full_sort_puts_first(
    posted: Ledger, orderby: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read(query: dict[str, str], size: int = 20_000) -> list[Any]:
        return [r for p in _pages(posted.general, query, size) for r in p]

    cases = [
        _query(orderby, **{"$top": "1"}),
        _query(orderby, **{"$top": "25", "$skip": "3"}),
        _query(orderby, "postingDate le 2025-04-30", **{"$top": "40"}),
    ]
    everything = read(_query(orderby))
    for row in everything[::400]:
        cases.append(_query(orderby, **{"$top": "10", "$skiptoken": row["id"]}))
    heap = [read(q) for q in cases]
    paged_heap = read(_query(orderby, **{"$top": "2000"}), size=600)
    monkeypatch.setattr(reading, "HEAP_LIMIT", -1)
    assert heap == [read(q) for q in cases]
    assert paged_heap == read(_query(orderby, **{"$top": "2000"}), size=600)
    assert heap[0] == everything[:1]


def test_heap_on_an_in_memory_collection(posted: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = CompanyApi(posted.company, today=date.today).sets["accounts"]
    query = {"$orderby": "category desc,displayName", "$top": "9", "$skip": "2"}
    options = parse_options(query, schema.ACCOUNT, schema.navigation_target)
    heap = read_page(accounts, options, 20_000).values
    monkeypatch.setattr(reading, "HEAP_LIMIT", -1)
    assert heap == read_page(accounts, options, 20_000).values
    assert len(heap) == 9


# --- over HTTP, after /_sandbox/bc/post-entries ------------------------------------------------
def test_ordered_reads_after_posting(bc_private: BcKit) -> None:
    kit = bc_private
    kit.control("bc/post-entries", {"count": 24, "period": "2025-03"})
    kit.advance_clock(120)
    kit.control("bc/post-entries", {"count": 10, "period": "2026-12"})
    everything = kit.values("/generalLedgerEntries")
    keys = {
        "entryNumber": lambda e: e["entryNumber"],
        "postingDate": lambda e: e["postingDate"],
        "lastModifiedDateTime": lambda e: moment(e["lastModifiedDateTime"]),
    }
    flt = "postingDate ge 2025-03-01 and postingDate le 2025-03-31"
    in_march = [e for e in everything if "2025-03-01" <= e["postingDate"] <= "2025-03-31"]
    for field, key in keys.items():
        for descending in (False, True):
            orderby = f"{field} {'desc' if descending else 'asc'}"
            expected = sorted(everything, key=key, reverse=descending)  # stable: entry order
            top = kit.values("/generalLedgerEntries", **{"$orderby": orderby, "$top": "5"})
            assert top == expected[:5], orderby
            selected = kit.values(
                "/generalLedgerEntries", **{"$orderby": orderby, "$top": "1", "$select": field}
            )
            assert selected == [{"@odata.etag": expected[0]["@odata.etag"], field: top[0][field]}]
            pages = kit.pages(
                "/generalLedgerEntries", page_size=40, **{"$orderby": orderby, "$filter": flt}
            )
            paged = [e for p in pages for e in p["value"]]
            assert paged == sorted(in_march, key=key, reverse=descending), orderby
