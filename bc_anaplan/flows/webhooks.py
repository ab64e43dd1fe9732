"""BC webhooks: keeping subscriptions alive, reading what notifications point at, and polling.

A BC notification carries no data, only "something at this resource changed around this time".
So the endpoint (``triggers/notifications``) only checks the ``clientState`` and starts a
``webhook_apply`` run for the items it has not seen before, and that run reads BC itself:

* accounts, dimension values, employees -> which Anaplan list is affected (the changed dimension
  values are read, up to 25 in one filtered request, to learn their dimensions); the list is
  then aligned exactly as in reference sync, which also covers ``deleted`` (members gone from BC
  are flagged) and ``collection`` notifications;
* G/L entries -> the posting periods they touch are recorded as pending for the next actuals
  load (the incremental cursor guarantees that load picks them up; with
  ``webhooks.autoload_actuals`` the endpoint starts it at once).

Subscriptions expire after three days and BC deletes them after failed deliveries, so
``renew`` (a timer every 12 hours) ensures one per configured resource: deletes stray ones of
this app first, renews those expiring within 24 hours, recreates missing ones while BC holds
fewer than its 200, and records in the audit trail each action and each resource left without a
subscription (over the limit, or refused by BC) and therefore polled. Whatever has no live
subscription is polled by ``poll_unsubscribed`` with a lagged cursor (``flows.polling``) --
lists are aligned, new G/L entries mark their periods (or start the incremental actuals load,
as a notification would) -- so a lost webhook never means lost data, and the nightly loads
remain the safety net.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from bc_anaplan.audit import AuditRecord, StepRecord, utc_now
from bc_anaplan.bc import streams
from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.cursor import Cursor
from bc_anaplan.bc.encoding import parse_date
from bc_anaplan.bc.paging import iter_pages
from bc_anaplan.bc.records import DimensionValue
from bc_anaplan.bc.subscriptions import (
    MAX_SUBSCRIPTIONS,
    company_resource,
    ensure_subscriptions,
    list_subscriptions,
)
from bc_anaplan.flows.actuals import STAMPS
from bc_anaplan.flows.polling import (
    PollMark,
    PollResult,
    commit_mark,
    read_changes,
    stage_mark,
)
from bc_anaplan.flows.reference import employee_list, reference_lists
from bc_anaplan.flows.seen_notifications import SeenNotifications
from bc_anaplan.periods import Period
from bc_anaplan.pipeline import Pipeline
from bc_anaplan.runtime import Runtime
from bc_anaplan.storage import query_partition, safe_key

WEBHOOK_PATH = "/api/bc/notifications"
RENEW_WITHIN = timedelta(hours=24)
MAX_TARGETED_READS = 50
IDS_PER_FILTER = 25  # about 1.4 KB of encoded filter: 50 changed values cost two reads
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
GL_ENTRIES = "generalLedgerEntries"
PARTITION = "subscriptions"


def notification_url(rt: Runtime) -> str:
    base = rt.settings.public_base_url
    if not base:
        raise ValueError(
            "setting PUBLIC_BASE_URL is not set: BC needs the app's public https "
            "address to deliver webhook notifications"
        )
    return base + WEBHOOK_PATH


# --- which subscriptions are ours ----------------------------------------------------------------


class SubscriptionStore:
    """Subscription id -> pipeline and entity set, for the endpoint to recognise deliveries."""

    def __init__(self, rt: Runtime) -> None:
        self.table = rt.storage.table("Subscriptions")

    def lookup(self, subscription_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.table.get_entity(PARTITION, safe_key(subscription_id)))
        except ResourceNotFoundError:
            return None

    def all(self) -> list[dict[str, Any]]:
        return [dict(e) for e in query_partition(self.table, PARTITION)]

    def save(self, subscription_id: str, pipeline: str, entity_set: str, expires: str) -> None:
        self.table.upsert_entity(
            {
                "PartitionKey": PARTITION,
                "RowKey": safe_key(subscription_id),
                "Pipeline": pipeline,
                "EntitySet": entity_set,
                "ExpiresAt": expires,
                "UpdatedAt": utc_now(),
            },
            mode=UpdateMode.REPLACE,
        )

    def forget(self, subscription_id: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.table.delete_entity(PARTITION, safe_key(subscription_id))

    def forget_others(self, pipeline: str, keep: set[str]) -> int:
        """Forget this pipeline's subscriptions BC no longer holds (it deleted them after
        failed deliveries, or they lapsed): their entity sets are polled from now on."""
        gone = [
            s["RowKey"]
            for s in self.all()
            if s.get("Pipeline") == pipeline and s["RowKey"] not in keep
        ]
        for row_key in gone:
            with contextlib.suppress(ResourceNotFoundError):
                self.table.delete_entity(PARTITION, row_key)
        return len(gone)


def entity_set_of(resource: str) -> str:
    """``/api/v2.0/companies(<id>)/dimensionValues(<id>)?...`` -> ``dimensionValues``."""
    path = resource.split("?", 1)[0].rstrip("/")
    last = path.rsplit("/", 1)[-1]
    return last.split("(", 1)[0]


# --- renewal -------------------------------------------------------------------------------------


def renew(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    url = notification_url(rt)
    state = rt.secrets.get("bc_webhook_client_state")
    bc = rt.bc(pipeline.name)
    store = SubscriptionStore(rt)
    report = ensure_subscriptions(
        bc, url, pipeline.webhooks.resources, state, renew_within=RENEW_WITHIN
    )
    actions: list[AuditRecord] = []
    for sub in report.deleted:
        store.forget(sub.id)
        actions.append(
            AuditRecord(
                "event", f"subscription:{sub.id}", f"deleted stray subscription to {sub.resource}"
            )
        )
    live: set[str] = set()
    for kind, subs in (
        ("created", report.created),
        ("renewed", report.renewed),
        ("unchanged", report.unchanged),
    ):
        for sub in subs:
            entity_set = entity_set_of(sub.resource)
            expires = sub.expiration.isoformat() if sub.expiration else ""
            store.save(sub.id, pipeline.name, entity_set, expires)
            live.add(safe_key(sub.id))
            if kind != "unchanged":
                actions.append(
                    AuditRecord(
                        "event",
                        f"subscription:{sub.id}",
                        f"{kind} subscription to {entity_set}",
                        {"entity_set": entity_set, "expires": expires},
                    )
                )
    for entity_set in report.over_limit:
        actions.append(
            AuditRecord(
                "event",
                f"subscription:{entity_set}",
                f"not subscribed: BC holds {report.held} subscriptions, its limit of "
                f"{MAX_SUBSCRIPTIONS} per environment; {entity_set} is polled instead",
                {"entity_set": entity_set, "held": report.held, "limit": MAX_SUBSCRIPTIONS},
            )
        )
    for entity_set, exc in report.failed.items():
        actions.append(
            AuditRecord(
                "event",
                f"subscription:{entity_set}",
                f"could not subscribe: BC {exc.code}: {exc.message}; it is polled instead",
                {"entity_set": entity_set},
            )
        )
    forgotten = store.forget_others(pipeline.name, live)
    seen_forgotten = SeenNotifications(rt.storage).forget_old()
    rt.audit.record(run_id, actions)
    failed = [*report.over_limit, *report.failed]
    counts = {
        "created": len(report.created),
        "renewed": len(report.renewed),
        "unchanged": len(report.unchanged),
        "deleted": len(report.deleted),
        "failed": len(report.failed),
        "over_limit": len(report.over_limit),
    }
    rt.audit.record_step(
        run_id,
        StepRecord(
            "renew",
            "ensure webhook subscriptions",
            started_at,
            int((time.monotonic() - started) * 1000),
            {
                **{"subscriptions_" + k: v for k, v in counts.items()},
                "subscriptions_held_in_bc": report.held,
                "subscriptions_forgotten": forgotten,
                "seen_notifications_forgotten": seen_forgotten,
            },
            {"polled_instead": failed, "notification_url": url},
        ),
    )
    return {**counts, "held": report.held, "failed_entity_sets": failed}


# --- what a notification points at --------------------------------------------------------------


def targets(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Read the changed resources: which lists to align, which periods are pending."""
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    entity_set = request["entity_set"]
    bc = rt.bc(pipeline.name)
    lists: list[str] = []
    periods: list[str] = []
    if entity_set == GL_ENTRIES:
        periods = _touched_periods(bc, request["since"])
    elif entity_set == "accounts":
        lists = ["accounts"]
    elif entity_set == "employees":
        lists = ["employees"] if pipeline.employees else []
    elif entity_set == "dimensionValues":
        lists = _dimension_lists(bc, pipeline, request)
    rt.audit.record_step(
        run_id,
        StepRecord(
            "targets",
            f"read what changed in {entity_set}",
            started_at,
            int((time.monotonic() - started) * 1000),
            {"notifications": int(request["count"])},
            {"lists": lists, "pending_periods": periods},
        ),
    )
    _record_pending(rt, run_id, periods, polled=False)
    specs = {s.key: s.to_dict() for s in reference_lists(pipeline)}
    if pipeline.employees:
        specs["employees"] = employee_list(pipeline).to_dict()
    return {"lists": [specs[key] for key in lists if key in specs], "pending_periods": periods}


def _touched_periods(bc: BcClient, since: str) -> list[str]:
    cursor = Cursor.from_dict({"start": since, "lag_s": 1})
    periods: set[Period] = set()
    for page in iter_pages(bc, STAMPS, filter_expression=cursor.filter()):
        for stamp in page:
            if stamp.posting_date is not None:
                periods.add(Period.of(stamp.posting_date))
    return [p.key for p in sorted(periods)]


def _dimension_lists(bc: BcClient, pipeline: Pipeline, request: dict[str, Any]) -> list[str]:
    """The dimension lists the changed values belong to (all of them when that is unknowable)."""
    every = [f"dimension:{d.bc_dimension}" for d in pipeline.dimensions]
    resources = request.get("resources") or []
    if request.get("collection") or not resources or len(resources) > MAX_TARGETED_READS:
        return every
    ids: set[str] = set()
    for resource in resources:
        key = _key_of(resource)
        if key is None or not _GUID.fullmatch(key):  # none, or one that cannot go in a filter
            return every
        ids.add(key.lower())
    values = _dimension_values(bc, sorted(ids))
    if {value.id.lower() for value in values} != ids:  # deleted: its dimension is unknowable
        return every
    codes = {d.id.lower(): d.code for d in streams.iter_dimensions(bc)}
    found = {f"dimension:{codes.get(v.dimension_id.lower())}" for v in values}
    return [key for key in every if key in found]


def _dimension_values(bc: BcClient, ids: list[str]) -> list[DimensionValue]:
    """The dimension values with these ids, read by ``$filter`` (``or`` on one field), a few
    ids per request so that the URL stays well under the 2 KB a query string may safely be."""
    values: list[DimensionValue] = []
    for start in range(0, len(ids), IDS_PER_FILTER):
        chunk = ids[start : start + IDS_PER_FILTER]
        where = " or ".join(f"id eq {value_id}" for value_id in chunk)
        for page in iter_pages(bc, streams.DIMENSION_VALUES, filter_expression=where):
            values.extend(page)
    return values


def _key_of(resource: str) -> str | None:
    path = resource.split("?", 1)[0].rstrip("/")
    last = path.rsplit("/", 1)[-1]
    if "(" not in last or not last.endswith(")"):
        return None
    return last[last.index("(") + 1 : -1].strip("'")


# --- polling what has no live subscription -------------------------------------------------------


LISTS_POLLED = ("accounts", "dimensionValues", "employees")
POLLED = (*LISTS_POLLED, GL_ENTRIES)


def poll_unsubscribed(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """What changed in BC while no live subscription watched it.

    Lists whose source changed are returned for alignment; new G/L entries mark their periods
    pending (audited, as a notification's run does) and ask for the incremental actuals load
    when ``webhooks.autoload_actuals`` is set. The next marks are parked and returned as
    references, committed (``commit_poll_marks``) only once that work succeeded: a failed
    alignment is retried at the next poll instead of being forgotten.
    """
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    bc = rt.bc(pipeline.name)
    live = live_entity_sets(rt, bc)
    lag = timedelta(seconds=rt.settings.poll_lag_s)
    marks: dict[str, dict[str, Any]] = {}
    lists: dict[str, dict[str, Any]] = {}
    periods: list[str] = []
    for entity_set in POLLED:
        if entity_set in live and entity_set in pipeline.webhooks.resources:
            continue
        if entity_set == "employees" and not pipeline.employees:
            continue
        started, started_at = time.monotonic(), utc_now()
        stored, version = rt.cursors.get(pipeline.name, f"poll:{entity_set}")
        if entity_set == GL_ENTRIES:
            polled, touched = _poll_ledger(rt, bc, pipeline.name, stored, lag)
        else:
            previous = PollMark.from_dict(stored)
            polled = read_changes(bc, entity_set, previous, lag, track_members=True)
            touched = set()
        rt.audit.record_step(
            run_id,
            StepRecord(
                f"poll:{entity_set}",
                f"poll {entity_set} (no live subscription)",
                started_at,
                int((time.monotonic() - started) * 1000),
                polled.counts() if polled is not None else {},
            ),
        )
        if polled is None or not polled.changed:
            continue
        marks[entity_set] = stage_mark(
            rt, pipeline.name, run_id, f"poll:{entity_set}", polled.mark, version
        )
        if entity_set == GL_ENTRIES:
            periods = [p.key for p in sorted(touched)]
            _record_pending(rt, run_id, periods, polled=True)
            continue
        found = targets(
            rt,
            {
                "run_id": run_id,
                "pipeline": pipeline.name,
                "entity_set": entity_set,
                "count": 0,
                "collection": True,
                "since": "",
            },
        )
        lists.update({spec["key"]: spec for spec in found["lists"]})
    return {
        "changed_entity_sets": sorted(marks),
        "lists": list(lists.values()),
        "marks": marks,
        "pending_periods": periods,
        "load_actuals": bool(periods) and pipeline.webhooks.autoload_actuals,
    }


def live_entity_sets(rt: Runtime, bc: BcClient) -> set[str]:
    """Entity sets BC holds a live subscription of this app for, asked of BC itself.

    Not the subscription table: BC deletes subscriptions after failed deliveries without
    telling anyone, and the table learns of it only at the next renewal -- until then the
    resource would be neither notified nor polled.
    """
    if not rt.settings.public_base_url:
        return set()  # no public address, so no subscriptions: poll everything
    url, now = notification_url(rt), datetime.now(UTC)
    company = company_resource(bc, "").strip("/").lower()
    return {
        entity_set_of(s.resource)
        for s in list_subscriptions(bc)
        if s.notification_url == url
        and s.resource.strip("/").lower().startswith(company)
        and (s.expiration is None or s.expiration > now)
    }


def _poll_ledger(
    rt: Runtime, bc: BcClient, pipeline: str, stored: dict[str, Any] | None, lag: timedelta
) -> tuple[PollResult | None, set[Period]]:
    """New G/L entries since the last poll, or -- at the first -- since the actuals cursor.

    Without an actuals cursor nothing is polled: no actuals load has run yet, and the first one
    reads every entry anyway. The entries the actuals load already handled inside its overlap
    are known with their timestamps: they are not changes, unless re-stamped since.
    """
    previous = PollMark.from_dict(stored)
    if previous is None:
        actuals, _ = rt.cursors.get(pipeline, GL_ENTRIES)
        if not actuals or not actuals.get("start"):
            return None, set()
        loaded = Cursor.from_dict(actuals)
        previous = PollMark(loaded.start, dict(loaded.seen))
    touched: set[Period] = set()

    def visit(row: dict[str, Any]) -> None:
        posted = parse_date(row.get("postingDate"))
        if posted is not None:
            touched.add(Period.of(posted))

    polled = read_changes(
        bc, GL_ENTRIES, previous, lag, track_members=False, select=("postingDate",), visit=visit
    )
    return polled, touched


def _record_pending(rt: Runtime, run_id: str, periods: list[str], *, polled: bool) -> None:
    """The audit event that periods are pending, from a notification or from polling."""
    if not periods:
        return
    how = " while no subscription watched them" if polled else ""
    rt.audit.record(
        run_id,
        [
            AuditRecord(
                "event",
                "pending-periods",
                f"G/L entries changed{how}: the next actuals load recomputes these periods",
                {"periods": periods},
            )
        ],
    )


def commit_poll_marks(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    pipeline = rt.settings.pipeline(request["pipeline"]).name
    committed = 0
    for ref in (request.get("marks") or {}).values():
        committed += commit_mark(rt, pipeline, request["run_id"], ref)
    return {"committed": committed}


def item_identities(items: Iterable[dict[str, Any]]) -> list[str]:
    return sorted(f"{i['resource']}|{i['changeType']}|{i['lastModifiedDateTime']}" for i in items)
