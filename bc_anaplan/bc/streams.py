"""The BC entity sets the connector reads, each declared once, and the ``iter_*`` streams over them.

Every ``iter_*`` function yields typed records and reads one server page at a time
(``paging.iter_pages``). Streams that take a ``CursorRun`` read only its window and drop the
records it already handled (``cursor``); the caller commits ``run.advanced()`` afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TypeVar

from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.cursor import CursorRun, Tracked
from bc_anaplan.bc.errors import BcError
from bc_anaplan.bc.paging import Resource, expand, iter_pages
from bc_anaplan.bc.records import (
    Account,
    Company,
    Dimension,
    DimensionValue,
    Employee,
    GlEntry,
    Journal,
    JournalLine,
    PurchaseOrder,
    TrialBalanceRow,
    decode_account,
    decode_company,
    decode_dimension,
    decode_dimension_value,
    decode_gl_entry,
    decode_journal,
    decode_journal_line,
    decode_purchase_order,
    decode_trial_balance_row,
    employee_decoder,
)

R = TypeVar("R", bound=Tracked)

DIMENSION_SET_LINES = expand("dimensionSetLines", ("code", "valueCode"))  # all the mapping needs

COMPANIES = Resource(
    "companies",
    ("id", "name", "displayName"),
    decode_company,
    company_scoped=False,
    cursor_field=None,
)
ACCOUNTS = Resource(
    "accounts",
    (
        "id",
        "number",
        "displayName",
        "category",
        "subCategory",
        "accountType",
        "blocked",
        "directPosting",
        "lastModifiedDateTime",
    ),
    decode_account,
)
GL_ENTRIES = Resource(
    "generalLedgerEntries",
    (
        "id",
        "entryNumber",
        "postingDate",
        "documentNumber",
        "documentType",
        "accountId",
        "accountNumber",
        "description",
        "debitAmount",
        "creditAmount",
        "lastModifiedDateTime",
    ),
    decode_gl_entry,
    expand=(DIMENSION_SET_LINES,),
)
DIMENSIONS = Resource(
    "dimensions", ("id", "code", "displayName", "lastModifiedDateTime"), decode_dimension
)
DIMENSION_VALUES = Resource(
    "dimensionValues",
    ("id", "code", "dimensionId", "displayName", "consolidationCode", "lastModifiedDateTime"),
    decode_dimension_value,
)
EMPLOYEE_FIELDS = (
    "id",
    "number",
    "displayName",
    "jobTitle",
    "status",
    "employmentDate",
    "terminationDate",
    "lastModifiedDateTime",
)
DEFAULT_DIMENSIONS = expand("defaultDimensions", ("dimensionCode", "dimensionValueCode"))
PURCHASE_ORDER_LINES = expand(
    "purchaseOrderLines",
    (
        "id",
        "documentId",
        "sequence",
        "lineType",
        "lineObjectNumber",
        "description",
        "quantity",
        "directUnitCost",
        "amountExcludingTax",
        "receivedQuantity",
        "invoicedQuantity",
        "expectedReceiptDate",
    ),
)
PURCHASE_ORDERS = Resource(
    "purchaseOrders",
    (
        "id",
        "number",
        "orderDate",
        "vendorNumber",
        "vendorName",
        "currencyCode",
        "status",
        "totalAmountExcludingTax",
        "fullyReceived",
        "lastModifiedDateTime",
    ),
    decode_purchase_order,
    expand=(PURCHASE_ORDER_LINES, DIMENSION_SET_LINES),
)
JOURNALS = Resource(
    "journals",
    ("id", "code", "displayName", "templateDisplayName", "lastModifiedDateTime"),
    decode_journal,
)
JOURNAL_LINES = Resource(
    "journalLines",
    (
        "id",
        "journalId",
        "lineNumber",
        "accountType",
        "accountNumber",
        "postingDate",
        "documentNumber",
        "externalDocumentNumber",
        "amount",
        "description",
        "lastModifiedDateTime",
    ),
    decode_journal_line,
    expand=(DIMENSION_SET_LINES,),
)
# BC's trial balance, a report page computed on each read (so no cursor field). Its amounts are
# text formatted in the caller's language: every request asks for en-US ("72,893.84").
TRIAL_BALANCES = Resource(
    "trialBalances",
    ("number", "accountId", "accountType", "totalDebit", "totalCredit"),
    decode_trial_balance_row,
    cursor_field=None,
    headers=(("Accept-Language", "en-US"),),
)


def stream(
    client: BcClient,
    resource: Resource[R],
    cursor: CursorRun | None = None,
    *,
    path: str | None = None,
    page_size: int | None = None,
) -> Iterator[R]:
    """Every record of ``resource`` in the cursor's window, deduplicated, page by page."""
    window = _window(resource, cursor)
    for page in iter_pages(
        client, resource, path=path, filter_expression=window, page_size=page_size
    ):
        yield from (cursor.admit(page) if cursor is not None else page)


def _window(resource: Resource[R], cursor: CursorRun | None) -> str | None:
    if cursor is None:
        return None
    if cursor.cursor.field != resource.cursor_field:
        raise ValueError(
            f"{resource.entity_set} cannot be read incrementally on {cursor.cursor.field!r}"
        )
    return cursor.cursor.filter()


def iter_companies(client: BcClient) -> Iterator[Company]:
    for page in iter_pages(client, COMPANIES):
        yield from page


def iter_accounts(client: BcClient, cursor: CursorRun | None = None) -> Iterator[Account]:
    return stream(client, ACCOUNTS, cursor)


def iter_gl_entries(
    client: BcClient, cursor: CursorRun | None = None, *, page_size: int | None = None
) -> Iterator[GlEntry]:
    """G/L entries with their dimension set lines, in the cursor's window."""
    return stream(client, GL_ENTRIES, cursor, page_size=page_size)


def iter_dimensions(client: BcClient) -> Iterator[Dimension]:
    return stream(client, DIMENSIONS)


def iter_dimension_values(
    client: BcClient, dimension_id: str | None = None, cursor: CursorRun | None = None
) -> Iterator[DimensionValue]:
    """All dimension values, or those of one dimension (``dimensions({id})/dimensionValues``)."""
    path = f"dimensions({dimension_id})/dimensionValues" if dimension_id else None
    return stream(client, DIMENSION_VALUES, cursor, path=path)


def iter_employees(
    client: BcClient,
    cursor: CursorRun | None = None,
    *,
    personal_fields: tuple[str, ...] = (),
    with_default_dimensions: bool = True,
) -> Iterator[Employee]:
    """Employees without personal data, except the BC fields named in ``personal_fields``."""
    resource = Resource(
        "employees",
        EMPLOYEE_FIELDS + tuple(f for f in personal_fields if f not in EMPLOYEE_FIELDS),
        employee_decoder(personal_fields),
        expand=(DEFAULT_DIMENSIONS,) if with_default_dimensions else (),
    )
    return stream(client, resource, cursor)


def iter_purchase_orders(
    client: BcClient, cursor: CursorRun | None = None
) -> Iterator[PurchaseOrder]:
    """Purchase orders with their lines and header dimension set lines."""
    return stream(client, PURCHASE_ORDERS, cursor)


def iter_journals(client: BcClient) -> Iterator[Journal]:
    return stream(client, JOURNALS)


def find_journal(client: BcClient, code: str) -> Journal:
    """The journal batch with ``code`` (e.g. ``PLAN``) of the default General Journal template."""
    wanted = code.upper()
    literal = wanted.replace("'", "''")
    for page in iter_pages(client, JOURNALS, filter_expression=f"code eq '{literal}'"):
        for journal in page:
            if journal.code.upper() == wanted:
                return journal
    raise BcError(
        404,
        f"journal batch {wanted!r} does not exist in company {client.company_id}; create it "
        "in Business Central (General Journals) or fix writeback.journal in connector.toml",
        code="Connector_JournalNotFound",
    )


def iter_journal_lines(client: BcClient, journal_id: str) -> Iterator[JournalLine]:
    """The lines of one journal batch with their dimension set lines and ETags."""
    return stream(client, JOURNAL_LINES, path=f"journals({journal_id})/journalLines")


def iter_trial_balance(
    client: BcClient, first_day: date, last_day: date
) -> Iterator[TrialBalanceRow]:
    """BC's trial balance between two dates, one decoded row per account."""
    window = f"dateFilter ge {first_day.isoformat()} and dateFilter le {last_day.isoformat()}"
    for page in iter_pages(client, TRIAL_BALANCES, filter_expression=window):
        yield from page
