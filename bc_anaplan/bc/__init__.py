"""The Business Central client: Entra ID auth, streaming reads, draft journal writes, webhooks.

Framework-free (no Azure Functions imports) and built on ``bc_anaplan.http``. Modules:

* ``client`` -- ``BcClient``: URLs from configuration, requests through the resilient layer;
* ``auth`` -- MSAL client credentials, one app per process, token eviction on 401;
* ``paging``/``streams`` -- declared ``Resource``s, one pager, the ``iter_*`` streams;
* ``records``/``encoding`` -- typed records, BC's encodings decoded once;
* ``cursor`` -- the incremental ``Cursor`` value object;
* ``batch``/``journal`` -- ``$batch`` and idempotent draft journal lines (never posted);
* ``subscriptions`` -- webhook subscriptions kept alive.
"""

from __future__ import annotations

from bc_anaplan.bc.auth import BcAuth
from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.cursor import Cursor, CursorRun
from bc_anaplan.bc.errors import BcDecodeError, BcError, EntraError, PagingLoopError
from bc_anaplan.bc.journal import (
    DeleteReport,
    DraftJournalWriter,
    LineFailure,
    PlanLine,
    WriteReport,
    delete_draft_lines,
    line_key,
)
from bc_anaplan.bc.records import (
    Account,
    Company,
    DefaultDimension,
    Dimension,
    DimensionSetLine,
    DimensionValue,
    Employee,
    GlEntry,
    Journal,
    JournalLine,
    PurchaseOrder,
    PurchaseOrderLine,
)
from bc_anaplan.bc.streams import (
    find_journal,
    iter_accounts,
    iter_companies,
    iter_dimension_values,
    iter_dimensions,
    iter_employees,
    iter_gl_entries,
    iter_journal_lines,
    iter_journals,
    iter_purchase_orders,
)
from bc_anaplan.bc.subscriptions import (
    Subscription,
    create_subscription,
    delete_subscription,
    ensure_subscriptions,
    list_subscriptions,
    renew_subscription,
)

__all__ = [
    "Account",
    "BcAuth",
    "BcClient",
    "BcDecodeError",
    "BcError",
    "Company",
    "Cursor",
    "CursorRun",
    "DefaultDimension",
    "DeleteReport",
    "Dimension",
    "DimensionSetLine",
    "DimensionValue",
    "DraftJournalWriter",
    "Employee",
    "EntraError",
    "GlEntry",
    "Journal",
    "JournalLine",
    "LineFailure",
    "PagingLoopError",
    "PlanLine",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "Subscription",
    "WriteReport",
    "create_subscription",
    "delete_draft_lines",
    "delete_subscription",
    "ensure_subscriptions",
    "find_journal",
    "iter_accounts",
    "iter_companies",
    "iter_dimension_values",
    "iter_dimensions",
    "iter_employees",
    "iter_gl_entries",
    "iter_journal_lines",
    "iter_journals",
    "iter_purchase_orders",
    "line_key",
    "list_subscriptions",
    "renew_subscription",
]
