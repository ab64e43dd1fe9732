"""The general ledger as the API sees it: lazy history plus entries posted while the sandbox runs.

Entry numbers run on from the history, and paging order is entry number (BC's G/L Entry primary
key), so a client paging with ``$skiptoken`` while entries are posted sees every entry exactly
once: new entries only ever appear after the last one it has read.

Entry number, posting date and ``lastModifiedDateTime`` never decrease along the history, so
``$orderby`` on one of them is answered the way BC answers it from an index: walk the history in
runs of equal value (upwards, or downwards run by run), merge the few posted entries in, and
render only the rows the page takes (``ordered``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sandbox.bc.encoding import sql_datetime_ms
from sandbox.bc.history import History, Template
from sandbox.bc.odata.filter import Bounds, Node, bounds
from sandbox.common.clock import SimClock

Row = dict[str, Any]
# one line of a posting: account index, amount in cents (+ debit), dimension value ids
PostingLine = tuple[int, int, tuple[str, ...]]
# fields whose value never decreases with the entry number along the history
ORDERED_FIELDS = ("entryNumber", "postingDate", "lastModifiedDateTime")


@dataclass(frozen=True)
class _Monotone:
    """A field that never decreases along the history, as pure functions of the index."""

    value: Callable[[int], Any]  # the field's value at an index
    at_least: Callable[[Any], int]  # first index whose value is >= v (count if none)
    above: Callable[[Any], int]  # first index whose value is > v (count if none)


class GeneralLedger:
    def __init__(self, history: History, clock: SimClock) -> None:
        self.history = history
        self.clock = clock
        chart = history.chart
        self._account_ids = [a.id for a in chart.accounts]
        self._account_numbers = [a.number for a in chart.accounts]
        self._value_ids = [v.id for v in chart.values]
        self._posted: list[Row] = []
        self._posted_by_id: dict[str, int] = {}
        self._chunk_totals: list[dict[int, list[int]]] | None = None
        self._totals_lock = threading.Lock()
        self._posted_rng = random.Random(f"posted:{history.seed}")

    @property
    def count(self) -> int:
        return self.history.count + len(self._posted)

    # --- reading -----------------------------------------------------------------------------
    def history_row(self, index: int) -> Row:
        h = self.history
        chunk = h.chunk_of(index)
        number, doc_type, account, description, amount, dims = h.chunk(chunk)[
            index - h.start(chunk)
        ]
        value_ids = self._value_ids
        return {
            "id": h.system_id(index),
            "entryNumber": index + 1,
            "postingDate": h.day_of_chunk(chunk),
            "documentNumber": number,
            "documentType": doc_type,
            "accountId": self._account_ids[account],
            "accountNumber": self._account_numbers[account],
            "description": description,
            "debitAmount": amount / 100 if amount > 0 else 0,
            "creditAmount": -amount / 100 if amount < 0 else 0,
            "additionalCurrencyDebitAmount": 0,
            "additionalCurrencyCreditAmount": 0,
            "lastModifiedDateTime": h.last_modified_ms(index),
            "_dims": tuple(value_ids[v] for v in dims if v >= 0),
            "_v": index + 1,
        }

    def history_rows(self, lo: int, hi: int) -> Iterator[Row]:
        """``history_row`` for ``lo <= index < hi``, with per-chunk work done once per chunk."""
        h = self.history
        value_ids, account_ids, numbers = self._value_ids, self._account_ids, self._account_numbers
        system_id, stored = h.system_id, h.stored_ms
        index = lo
        while index < hi:
            chunk = h.chunk_of(index)
            start, end = h.start(chunk), h.start(chunk + 1)
            day = h.day_of_chunk(chunk)
            entries = h.chunk(chunk)
            base, span = h.chunk_clock(chunk)
            length = end - start
            for i in range(index, min(hi, end)):
                number, doc_type, account, description, amount, dims = entries[i - start]
                yield {
                    "id": system_id(i),
                    "entryNumber": i + 1,
                    "postingDate": day,
                    "documentNumber": number,
                    "documentType": doc_type,
                    "accountId": account_ids[account],
                    "accountNumber": numbers[account],
                    "description": description,
                    "debitAmount": amount / 100 if amount > 0 else 0,
                    "creditAmount": -amount / 100 if amount < 0 else 0,
                    "additionalCurrencyDebitAmount": 0,
                    "additionalCurrencyCreditAmount": 0,
                    "lastModifiedDateTime": stored(base + (i - start) * span // length),
                    "_dims": tuple(value_ids[v] for v in dims if v >= 0),
                    "_v": i + 1,
                }
            index = min(hi, end)

    def position_of(self, system_id: str) -> int | None:
        """0-based position in entry-number order, for ``$skiptoken`` and key lookups."""
        index = self.history.index_of(system_id)
        if index is not None:
            return index
        posted = self._posted_by_id.get(system_id.lower())
        return None if posted is None else self.history.count + posted

    def row_at(self, position: int) -> Row:
        if position < self.history.count:
            return self.history_row(position)
        return self._posted[position - self.history.count]

    def get(self, system_id: str) -> Row | None:
        position = self.position_of(system_id)
        return None if position is None else self.row_at(position)

    def scan(self, node: Node | None, after: int = -1) -> Iterator[Row]:
        """Rows in entry-number order after position ``after``, skipping what ``node`` excludes
        by range; the caller still applies the full predicate."""
        lo, hi = self._history_range(node)
        yield from self.history_rows(max(lo, after + 1), hi)
        base = self.history.count
        for offset in range(max(0, after + 1 - base), len(self._posted)):
            yield self._posted[offset]

    def ordered(
        self, node: Node | None, field: str, descending: bool, after: Row | None = None
    ) -> Iterator[Row]:
        """Rows sorted on ``field`` (one of ``ORDERED_FIELDS``), ties in entry-number order, after
        the row ``after`` in that order, skipping what ``node`` excludes by range; the caller
        still applies the full predicate. Exactly what a stable sort of ``scan(node)`` gives,
        but a row is generated only when it is reached."""
        monotone = self._monotone(field)
        lo, hi = self._history_range(node)
        posted = sorted(self._posted, key=lambda r: r[field], reverse=descending)
        if after is None:
            history = (
                self._history_descending(monotone, lo, hi)
                if descending
                else self.history_rows(lo, hi)
            )
        else:
            value, number = after[field], after["entryNumber"]
            if descending:
                history = self._history_descending(monotone, lo, hi, value, number)
                posted = [
                    r
                    for r in posted
                    if r[field] < value or (r[field] == value and r["entryNumber"] > number)
                ]
            else:
                # entries of the token's value after it, then every larger value
                first = min(monotone.above(value), max(monotone.at_least(value), number))
                history = self.history_rows(max(lo, first), hi)
                posted = [r for r in posted if (r[field], r["entryNumber"]) > (value, number)]
        return _merge(history, posted, field, descending)

    def _history_descending(
        self,
        monotone: _Monotone,
        lo: int,
        hi: int,
        value: Any = None,
        number: int | None = None,
    ) -> Iterator[Row]:
        """History indexes ``lo <= i < hi`` by descending value, ascending index within a run
        of equal values; with ``number``, only what follows entry ``number`` of value ``value``
        in that order."""
        top = hi
        if number is not None:
            run_lo, run_hi = monotone.at_least(value), monotone.above(value)
            # entry ``number`` is index ``number - 1``: its run's entries after it come first
            yield from self.history_rows(max(lo, run_lo, number), min(hi, run_hi))
            top = min(hi, run_lo)
        at = monotone.value
        while top > lo:
            last = top - 1
            value = at(last)
            first = last if last == lo or at(last - 1) != value else monotone.at_least(value)
            first = max(lo, first)
            yield from self.history_rows(first, top)
            top = first

    def _monotone(self, field: str) -> _Monotone:
        h = self.history
        count = h.count
        if field == "entryNumber":
            return _Monotone(
                lambda i: i + 1,
                lambda v: min(max(v - 1, 0), count),
                lambda v: min(max(v, 0), count),
            )
        if field == "postingDate":
            return _Monotone(
                lambda i: h.day_of_chunk(h.chunk_of(i)),
                lambda v: h.start(h.first_chunk_on_or_after(v)),
                lambda v: h.start(h.first_chunk_on_or_after(v + timedelta(days=1))),
            )
        if field == "lastModifiedDateTime":
            return _Monotone(
                h.last_modified_ms,
                lambda v: h.first_index_modified_after(v, True),
                lambda v: h.first_index_modified_after(v, False),
            )
        raise ValueError(f"the history is not ordered on {field}")

    def _history_range(self, node: Node | None) -> tuple[int, int]:
        h = self.history
        lo, hi = 0, h.count
        numbers = bounds(node, "entryNumber")
        if numbers.lo is not None:
            lo = max(lo, numbers.lo - (1 if numbers.lo_inclusive else 0))
        if numbers.hi is not None:
            hi = min(hi, numbers.hi - (0 if numbers.hi_inclusive else 1))
        days = bounds(node, "postingDate")
        if days.lo is not None:
            first = days.lo if days.lo_inclusive else days.lo + timedelta(days=1)
            lo = max(lo, h.start(h.first_chunk_on_or_after(first)))
        if days.hi is not None:
            last = days.hi if days.hi_inclusive else days.hi - timedelta(days=1)
            hi = min(hi, h.start(h.first_chunk_on_or_after(last + timedelta(days=1))))
        modified = bounds(node, "lastModifiedDateTime")
        lo, hi = self._modified_range(modified, lo, hi)
        ids = bounds(node, "id")
        if ids.lo is not None and ids.lo == ids.hi:
            index = h.index_of(ids.lo)
            lo, hi = (index, index + 1) if index is not None and lo <= index < hi else (0, 0)
        return lo, max(lo, hi)

    def _modified_range(self, modified: Bounds, lo: int, hi: int) -> tuple[int, int]:
        h = self.history
        if modified.lo is not None:
            lo = max(lo, h.first_index_modified_after(modified.lo, modified.lo_inclusive))
        if modified.hi is not None:
            hi = min(hi, h.first_index_modified_after(modified.hi, not modified.hi_inclusive))
        return lo, hi

    def snapshot(self) -> int:
        return len(self._posted)

    def restore(self, posted_count: int) -> None:
        for row in self._posted[posted_count:]:
            del self._posted_by_id[row["id"]]
        del self._posted[posted_count:]

    # --- balances ----------------------------------------------------------------------------
    def totals(self, first: date | None, last: date | None) -> dict[str, list[int]]:
        """Debit and credit cents per account id for posting dates in ``[first, last]``."""
        h = self.history
        result: dict[str, list[int]] = {}
        for chunk, per_account in enumerate(self.chunk_totals()):
            day = h.day_of_chunk(chunk)
            if (first and day < first) or (last and day > last):
                continue
            for account, (debit, credit) in per_account.items():
                slot = result.setdefault(self._account_ids[account], [0, 0])
                slot[0] += debit
                slot[1] += credit
        for row in self._posted:
            day = row["postingDate"]
            if (first and day < first) or (last and day > last):
                continue
            slot = result.setdefault(row["accountId"], [0, 0])
            slot[0] += round(row["debitAmount"] * 100)
            slot[1] += round(row["creditAmount"] * 100)
        return result

    def chunk_totals(self) -> list[dict[int, list[int]]]:
        """Per-chunk debit/credit cents per account: one pass over the whole history, once.
        Safe to call from a background thread (generation is pure; the list is built locally)."""
        with self._totals_lock:
            if self._chunk_totals is None:
                chunks = range(self.history.chunks)
                self._chunk_totals = [self._totals_of_chunk(c) for c in chunks]
            return self._chunk_totals

    def _totals_of_chunk(self, chunk: int) -> dict[int, list[int]]:
        per_account: dict[int, list[int]] = {}
        for _, _, account, _, amount, _ in self.history.generate(chunk):
            slot = per_account.setdefault(account, [0, 0])
            slot[0 if amount > 0 else 1] += abs(amount)
        return per_account

    # --- posting -----------------------------------------------------------------------------
    def post(
        self,
        posting_date: date,
        document_number: str,
        document_type: str,
        description: str,
        lines: list[tuple[str, str, int, tuple[str, ...]]],
        new_id: Callable[[], str],
    ) -> list[Row]:
        """Append one balanced document; ``lines`` are (account id, number, cents, value ids)."""
        modified = sql_datetime_ms(self.clock.time())
        rows = []
        for account_id, account_number, amount, dims in lines:
            row = {
                "id": new_id(),
                "entryNumber": self.count + 1,
                "postingDate": posting_date,
                "documentNumber": document_number,
                "documentType": document_type,
                "accountId": account_id,
                "accountNumber": account_number,
                "description": description,
                "debitAmount": amount / 100 if amount > 0 else 0,
                "creditAmount": -amount / 100 if amount < 0 else 0,
                "additionalCurrencyDebitAmount": 0,
                "additionalCurrencyCreditAmount": 0,
                "lastModifiedDateTime": modified,
                "_dims": dims,
                "_v": self.count + 1,
            }
            self._posted_by_id[row["id"]] = len(self._posted)
            self._posted.append(row)
            rows.append(row)
        return rows

    def generated_documents(
        self, count: int, days: list[date]
    ) -> Iterator[tuple[date, Template, list[PostingLine]]]:
        """``count`` lines of new business in whole balanced documents, on the given days."""
        h = self.history
        chart = h.chart
        rng = self._posted_rng
        remaining = count
        while remaining:
            size = rng.choice((2, 2, 3, 3, 4))
            if size > remaining or remaining - size == 1:
                size = remaining if remaining <= 4 else 2
            template = rng.choices(chart.templates, chart.template_weights)[0]
            entries = h.document(rng, template, "", size)
            lines = [
                (account, amount, tuple(self._value_ids[v] for v in dims if v >= 0))
                for _, _, account, _, amount, dims in entries
            ]
            yield rng.choice(days), template, lines
            remaining -= size


def _merge(
    history: Iterator[Row], posted: list[Row], field: str, descending: bool
) -> Iterator[Row]:
    """Two streams sorted on ``field`` into one; on equal values the history entry first (its
    entry number is lower than any posted entry's)."""
    pending = iter(posted)
    nxt = next(pending, None)
    for row in history:
        if nxt is not None:
            value = row[field]
            while nxt is not None and (nxt[field] > value if descending else nxt[field] < value):
                yield nxt
                nxt = next(pending, None)
        yield row
    if nxt is not None:
        yield nxt
        yield from pending
