"""BC webhook subscriptions: create, list, renew, delete, and keep a wanted set alive.

BC deletes a subscription three days after its last renewal, and also after deliveries to the
connector failed too often (reference §8.6), so "subscribed" is a state to re-check, not a
fact to remember. ``ensure_subscriptions`` is the one call a timer makes: it lists what BC has,
deletes this app's stray subscriptions (same URL and company, a resource no longer wanted, or a
second one for the same resource), recreates what is gone, renews what expires within
``renew_within``, and leaves the rest.

BC holds at most 200 subscriptions per environment, whoever made them (reference §8.1), so the
order matters: strays are deleted *before* anything is created -- at the cap, deleting them
afterwards would free the slots only after the creates had failed -- and a create that would
exceed the cap is not attempted at all; the entity set is reported ``over_limit`` (the caller
polls it instead). BC's own answer still counts: a create refused because another app took the
last slot meanwhile is reported in ``failed`` like any other refusal.

BC validates the notification URL on create and on renew (it calls it with ``validationToken``
and expects the token back within 5 s), so the connector's webhook endpoint must be up first.
Creating is not idempotent: on ``OutcomeUnknownError`` the subscription list is read again and
the create repeated only if BC has no subscription for that URL and resource. Renew and delete
send ``If-Match`` with the subscription's ETag, as BC requires.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.encoding import parse_datetime
from bc_anaplan.bc.errors import BcDecodeError, BcError
from bc_anaplan.http import OutcomeUnknownError
from bc_anaplan.redaction import register_secret

log = logging.getLogger("bc_anaplan.bc.subscriptions")

LIFETIME = timedelta(days=3)
DEFAULT_RENEW_WITHIN = timedelta(days=2)
MAX_SUBSCRIPTIONS = 200  # per environment, every app's subscriptions together (reference §8.1)


@dataclass(frozen=True)
class Subscription:
    id: str  # 32 hex digits, no dashes
    notification_url: str
    resource: str
    expiration: datetime | None
    etag: str
    client_state: str = field(default="", repr=False)


def decode_subscription(raw: dict[str, Any]) -> Subscription:
    try:
        return Subscription(
            id=str(raw["subscriptionId"]),
            notification_url=str(raw["notificationUrl"]),
            resource=str(raw["resource"]),
            expiration=parse_datetime(raw.get("expirationDateTime")),
            etag=str(raw.get("@odata.etag") or "*"),
            client_state=str(raw.get("clientState") or ""),
        )
    except KeyError as exc:
        raise BcDecodeError(f"a BC subscription has no {exc.args[0]!r}") from None


def company_resource(client: BcClient, entity_set: str) -> str:
    """The ``resource`` of a subscription to a company's entity set."""
    return f"/api/v2.0/companies({client.company_id})/{entity_set}"


def _same_resource(a: str, b: str) -> bool:
    return a.strip("/").lower() == b.strip("/").lower()


def _url(client: BcClient, subscription_id: str | None = None) -> str:
    if subscription_id is None:
        return client.url("subscriptions")
    return client.url(f"subscriptions('{subscription_id}')")


def list_subscriptions(client: BcClient) -> list[Subscription]:
    response = client.get(_url(client))
    body = orjson.loads(response.content)
    return [decode_subscription(raw) for raw in body.get("value", [])]


def find_subscription(
    client: BcClient, notification_url: str, resource: str
) -> Subscription | None:
    for subscription in list_subscriptions(client):
        if subscription.notification_url == notification_url and _same_resource(
            subscription.resource, resource
        ):
            return subscription
    return None


def create_subscription(
    client: BcClient, notification_url: str, resource: str, client_state: str = ""
) -> Subscription:
    """Subscribe; BC performs the validation handshake before answering 201."""
    register_secret(client_state)
    body = {"notificationUrl": notification_url, "resource": resource, "clientState": client_state}
    try:
        return _post(client, body)
    except OutcomeUnknownError as exc:
        log.warning("subscription create: %s; checking whether it exists", exc)
        existing = find_subscription(client, notification_url, resource)
        if existing is not None:
            return existing
    return _post(client, body)


def _post(client: BcClient, body: dict[str, str]) -> Subscription:
    response = client.send("POST", _url(client), body, idempotent=False)
    return decode_subscription(orjson.loads(response.content))


def renew_subscription(client: BcClient, subscription: Subscription) -> Subscription:
    """Extend by three days (PATCH with ``If-Match``); BC repeats the handshake.

    If the answer to a PATCH that worked is lost, its retry meets a changed ETag (409): the
    subscription is read again and returned when it now expires later than before.
    """
    body = {
        "notificationUrl": subscription.notification_url,
        "resource": subscription.resource,
        "clientState": subscription.client_state,
    }
    try:
        response = client.send(
            "PATCH",
            _url(client, subscription.id),
            body,
            idempotent=True,  # a repeat is harmless: the ETag makes it fail, not apply twice
            headers={"If-Match": subscription.etag},
        )
    except BcError as exc:
        renewed = _renewed_meanwhile(client, subscription) if exc.status == 409 else None
        if renewed is None:
            raise
        return renewed
    return decode_subscription(orjson.loads(response.content))


def _renewed_meanwhile(client: BcClient, old: Subscription) -> Subscription | None:
    current = find_subscription(client, old.notification_url, old.resource)
    if current is None or current.expiration is None or old.expiration is None:
        return None
    return current if current.expiration > old.expiration else None


def delete_subscription(client: BcClient, subscription: Subscription) -> bool:
    """Unsubscribe; False when BC had already deleted it."""
    response = client.send(
        "DELETE",
        _url(client, subscription.id),
        headers={"If-Match": subscription.etag},
        expected=frozenset({404}),
    )
    return response.status_code != 404


@dataclass
class EnsureReport:
    created: list[Subscription] = field(default_factory=list)
    renewed: list[Subscription] = field(default_factory=list)
    unchanged: list[Subscription] = field(default_factory=list)
    deleted: list[Subscription] = field(default_factory=list)  # this app's strays
    over_limit: list[str] = field(default_factory=list)  # entity sets not subscribed: BC is full
    failed: dict[str, BcError] = field(default_factory=dict)  # entity set -> BC's refusal
    held: int = 0  # subscriptions BC holds (every app's) after this call


def _is_stray(
    subscription: Subscription, client: BcClient, notification_url: str, kept: set[str]
) -> bool:
    """Ours (this URL, this company) and not the one subscription kept for its resource."""
    if subscription.notification_url != notification_url:
        return False  # another app's, or another deployment's: never ours to delete
    company = company_resource(client, "").strip("/").lower()
    if not subscription.resource.strip("/").lower().startswith(company):
        return False  # another company's pipeline posts to the same endpoint
    return subscription.id not in kept


def ensure_subscriptions(
    client: BcClient,
    notification_url: str,
    entity_sets: Iterable[str],
    client_state: str = "",
    *,
    renew_within: timedelta = DEFAULT_RENEW_WITHIN,
    now: datetime | None = None,
    limit: int = MAX_SUBSCRIPTIONS,
) -> EnsureReport:
    """Make BC hold one live subscription per entity set, within BC's subscription limit.

    Strays go first, then each entity set is renewed, left alone, or created if BC holds fewer
    than ``limit`` subscriptions. A refusal by BC for one entity set is reported in ``failed``
    and the others are still handled; anything else (BC unreachable) raises.
    """
    moment = now or datetime.now(UTC)
    current = list_subscriptions(client)
    wanted = {e: company_resource(client, e) for e in dict.fromkeys(entity_sets)}
    keep: dict[str, Subscription] = {}
    for sub in current:
        entity_set = next((e for e, r in wanted.items() if _same_resource(sub.resource, r)), None)
        if entity_set is None or sub.notification_url != notification_url:
            continue
        best = keep.get(entity_set)
        if best is None or _expires(sub) > _expires(best):
            keep[entity_set] = sub  # of two for one resource, keep the one that lives longer
    report = EnsureReport()
    kept = {s.id for s in keep.values()}
    for sub in current:
        if _is_stray(sub, client, notification_url, kept) and delete_subscription(client, sub):
            report.deleted.append(sub)
    report.held = len(current) - len(report.deleted)
    for entity_set, resource in wanted.items():
        found = keep.get(entity_set)
        try:
            if found is None:
                if report.held >= limit:
                    report.over_limit.append(entity_set)
                    continue
                report.created.append(
                    create_subscription(client, notification_url, resource, client_state)
                )
                report.held += 1
            elif found.expiration is None or found.expiration - moment <= renew_within:
                _renew_or_recreate(client, found, client_state, report)
            else:
                report.unchanged.append(found)
        except BcError as exc:
            if exc.status in (401, 403) or exc.status >= 500:
                raise  # not about this entity set: the whole call fails, to be retried
            report.failed[entity_set] = exc
    return report


def _expires(subscription: Subscription) -> datetime:
    return subscription.expiration or datetime.min.replace(tzinfo=UTC)


def _renew_or_recreate(
    client: BcClient, found: Subscription, client_state: str, report: EnsureReport
) -> None:
    wanted = replace(found, client_state=client_state or found.client_state)
    try:
        report.renewed.append(renew_subscription(client, wanted))
    except BcError as exc:
        if exc.status != 404:
            raise
        # BC purged it meanwhile: its slot is free again, so the create stays within the limit
        log.info("subscription %s vanished before renewal; creating it again", found.id)
        report.created.append(
            create_subscription(client, found.notification_url, found.resource, client_state)
        )
