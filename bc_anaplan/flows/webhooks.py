"""BC webhooks: keeping subscriptions alive, reading what notifications point at, and polling.

A BC notification carries no data, only "something at this resource changed around this time".
So the endpoint (``triggers/notifications``) only checks the ``clientState`` and starts a
``webhook_apply`` run, and that run reads BC itself:

* accounts, dimension values, employees -> which Anaplan list is affected (a dimension value is
  read to learn its dimension); the list is then aligned exactly as in reference sync, which
  also covers ``deleted`` (members gone from BC are flagged) and ``collection`` notifications;
* G/L entries -> the posting periods they touch are recorded as pending for the next actuals
  load (the incremental cursor guarantees that load picks them up; with
  ``webhooks.autoload_actuals`` the endpoint starts it at once).

Subscriptions expire after three days and BC deletes them after failed deliveries, so
``renew`` (a timer every 12 hours) ensures one per configured resource: renews those expiring
within 24 hours, recreates missing ones, deletes stray ones of this app. Whatever has no live
subscription is polled by ``poll_unsubscribed`` -- a lost webhook never means lost data, and the
nightly loads remain the safety net.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from bc_anaplan.audit import AuditRecord, StepRecord, utc_now
from bc_anaplan.bc import streams
from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.cursor import Cursor
from bc_anaplan.bc.errors import BcError
from bc_anaplan.bc.paging import iter_pages
from bc_anaplan.bc.subscriptions import (
    company_resource,
    delete_subscription,
    ensure_subscriptions,
    list_subscriptions,
)
from bc_anaplan.cursors import CursorConflict
from bc_anaplan.flows.actuals import STAMPS
from bc_anaplan.flows.reference import employee_list, reference_lists
from bc_anaplan.periods import Period
from bc_anaplan.pipeline import Pipeline
from bc_anaplan.runtime import Runtime
from bc_anaplan.storage import query_partition, safe_key

WEBHOOK_PATH = "/api/bc/notifications"
RENEW_WITHIN = timedelta(hours=24)
MAX_TARGETED_READS = 50
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

    def live_entity_sets(self, pipeline: str) -> set[str]:
        now = utc_now()
        return {
            s["EntitySet"]
            for s in self.all()
            if s.get("Pipeline") == pipeline and str(s.get("ExpiresAt") or "") > now
        }


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
    actions: list[AuditRecord] = []
    counts = {"created": 0, "renewed": 0, "unchanged": 0, "deleted": 0, "failed": 0}
    failed: list[str] = []
    for entity_set in pipeline.webhooks.resources:
        try:
            report = ensure_subscriptions(bc, url, [entity_set], state, renew_within=RENEW_WITHIN)
        except BcError as exc:
            counts["failed"] += 1
            failed.append(entity_set)
            actions.append(
                AuditRecord(
                    "event",
                    f"subscription:{entity_set}",
                    f"could not subscribe: BC {exc.code}: {exc.message}; it is polled instead",
                    {"entity_set": entity_set},
                )
            )
            continue
        for kind, subs in (
            ("created", report.created),
            ("renewed", report.renewed),
            ("unchanged", report.unchanged),
        ):
            for sub in subs:
                counts[kind] += 1
                expires = sub.expiration.isoformat() if sub.expiration else ""
                store.save(sub.id, pipeline.name, entity_set, expires)
                if kind != "unchanged":
                    actions.append(
                        AuditRecord(
                            "event",
                            f"subscription:{sub.id}",
                            f"{kind} subscription to {entity_set}",
                            {"entity_set": entity_set, "expires": expires},
                        )
                    )
    counts["deleted"] = _delete_strays(bc, pipeline, url, store, actions)
    rt.audit.record(run_id, actions)
    rt.audit.record_step(
        run_id,
        StepRecord(
            "renew",
            "ensure webhook subscriptions",
            started_at,
            int((time.monotonic() - started) * 1000),
            {"subscriptions_" + k: v for k, v in counts.items()},
            {"failed": failed, "notification_url": url},
        ),
    )
    return {**counts, "failed_entity_sets": failed}


def _delete_strays(
    bc: BcClient, pipeline: Pipeline, url: str, store: SubscriptionStore, actions: list[AuditRecord]
) -> int:
    wanted = {company_resource(bc, e).strip("/").lower() for e in pipeline.webhooks.resources}
    deleted = 0
    for sub in list_subscriptions(bc):
        if sub.notification_url != url or sub.resource.strip("/").lower() in wanted:
            continue
        if f"companies({bc.company_id})" not in sub.resource:
            continue  # another company's subscription to the same endpoint: not this pipeline's
        delete_subscription(bc, sub)
        store.forget(sub.id)
        deleted += 1
        actions.append(
            AuditRecord(
                "event",
                f"subscription:{sub.id}",
                f"deleted stray subscription to {sub.resource}",
                {},
            )
        )
    return deleted


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
    if periods:
        rt.audit.record(
            run_id,
            [
                AuditRecord(
                    "event",
                    "pending-periods",
                    "G/L entries changed: the next actuals load recomputes these periods",
                    {"periods": periods},
                )
            ],
        )
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
    codes = {d.id: d.code for d in streams.iter_dimensions(bc)}
    found: set[str] = set()
    for resource in resources:
        value_id = _key_of(resource)
        if value_id is None:
            return every
        try:
            raw = bc.get(bc.company_url(f"dimensionValues({value_id})")).json()
        except BcError as exc:
            if exc.status == 404:  # deleted: its dimension cannot be read any more
                return every
            raise
        code = codes.get(str(raw.get("dimensionId", "")).lower())
        if code:
            found.add(f"dimension:{code}")
    return [key for key in every if key in found]


def _key_of(resource: str) -> str | None:
    path = resource.split("?", 1)[0].rstrip("/")
    last = path.rsplit("/", 1)[-1]
    if "(" not in last or not last.endswith(")"):
        return None
    return last[last.index("(") + 1 : -1].strip("'")


# --- polling what has no live subscription -------------------------------------------------------


POLLED = {
    "accounts": ("accounts",),
    "dimensionValues": ("dimensionValues",),
    "employees": ("employees",),
}


def poll_unsubscribed(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Lists whose BC source changed while no live subscription watched it.

    Returns the lists to align and the marks to commit (``commit_poll_marks``) once they are:
    a failed alignment is retried at the next poll instead of being forgotten.
    """
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    live = SubscriptionStore(rt).live_entity_sets(pipeline.name)
    bc = rt.bc(pipeline.name)
    marks: dict[str, dict[str, Any]] = {}
    lists: dict[str, dict[str, Any]] = {}
    for entity_set in POLLED:
        if entity_set in live and entity_set in pipeline.webhooks.resources:
            continue
        mark = _poll_mark(rt, bc, pipeline.name, entity_set)
        if mark is None:
            continue
        marks[entity_set] = mark
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
    return {"changed_entity_sets": sorted(marks), "lists": list(lists.values()), "marks": marks}


def _poll_mark(rt: Runtime, bc: BcClient, pipeline: str, entity_set: str) -> dict[str, Any] | None:
    """The newest change of ``entity_set`` if it differs from the last poll's, else None."""
    stored, version = rt.cursors.get(pipeline, f"poll:{entity_set}")
    params = {
        "$select": "lastModifiedDateTime",
        "$orderby": "lastModifiedDateTime desc",
        "$top": "1",
    }
    rows = bc.get(bc.company_url(entity_set), params=params).json().get("value") or []
    newest = rows[0]["lastModifiedDateTime"] if rows else ""
    if stored is not None and stored.get("newest") == newest:
        return None
    return {"newest": newest, "version": version}


def commit_poll_marks(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    pipeline = rt.settings.pipeline(request["pipeline"]).name
    committed = 0
    for entity_set, mark in (request.get("marks") or {}).items():
        try:
            rt.cursors.commit(
                pipeline,
                f"poll:{entity_set}",
                {"newest": mark["newest"]},
                request["run_id"],
                mark.get("version"),
            )
            committed += 1
        except CursorConflict:  # a concurrent poll moved it: its own alignment covers it
            continue
    return {"committed": committed}


def item_identities(items: Iterable[dict[str, Any]]) -> list[str]:
    return sorted(f"{i['resource']}|{i['changeType']}|{i['lastModifiedDateTime']}" for i in items)
