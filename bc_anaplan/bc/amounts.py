"""G/L entry amounts, read lean and ahead, for aggregation into actuals.

The actuals load reads every entry of the periods it recomputes -- a million at a time on a
first load -- and needs only a few fields of each: id, entry number, posting date, account,
debit, credit and the dimension set. ``GL_AMOUNTS`` asks BC for just those (a fifth less JSON
than the full ``GL_ENTRIES`` stream, and less to decode), and ``iter_gl_amounts`` reads them
through ``paging.iter_pages_ahead``: the next 20,000-entry page is requested as soon as this
one's bytes have arrived, so BC rendering a page and the connector decoding and aggregating the
previous one overlap instead of alternating. Memory stays flat whatever the period count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.cursor import Cursor
from bc_anaplan.bc.encoding import InexactNumber
from bc_anaplan.bc.paging import Json, Resource, iter_pages_ahead
from bc_anaplan.bc.records import DimensionSetLine, diagnose_entry, dimension_set, entry_core
from bc_anaplan.bc.streams import DIMENSION_SET_LINES


@dataclass(frozen=True, slots=True)
class GlAmount:
    id: str
    entry_number: int
    posting_date: date
    account_number: str
    debit: Decimal
    credit: Decimal
    dimensions: tuple[DimensionSetLine, ...] = ()

    def dimension(self, code: str) -> str | None:
        for line in self.dimensions:
            if line.code == code:
                return line.value_code
        return None


def decode_gl_amount(raw: Json) -> GlAmount:
    try:
        posting_date, number, debit, credit = entry_core(raw)
        return GlAmount(
            raw["id"],
            number,
            posting_date,
            raw["accountNumber"],
            debit,
            credit,
            dimension_set(raw.get("dimensionSetLines")),
        )
    except InexactNumber:
        raise  # the pager re-parses the page with exact decimals
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise diagnose_entry(raw, exc) from None


GL_AMOUNTS = Resource(
    "generalLedgerEntries",
    ("id", "entryNumber", "postingDate", "accountNumber", "debitAmount", "creditAmount"),
    decode_gl_amount,
    expand=(DIMENSION_SET_LINES,),
)


def iter_gl_amounts(client: BcClient, posting_from: date, posting_to: date) -> Iterator[GlAmount]:
    """Every entry posted in the window, page by page, the next page requested ahead."""
    window = Cursor(posting_from=posting_from, posting_to=posting_to).filter()
    for page in iter_pages_ahead(client, GL_AMOUNTS, filter_expression=window):
        yield from page
