"""BC webhook subscriptions: create, list, renew, delete, and keep a wanted set alive.

BC deletes a subscription three days after its last renewal, and also after deliveries to the
connector failed too often (reference §8.6), so "subscribed" is a state to re-check, not a
fact to remember. ``ensure_subscriptions`` is the one call a daily timer makes: it lists what BC
has, recreates what is gone, renews what expires within ``renew_within``, and leaves the rest.

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


def ensure_subscriptions(
    client: BcClient,
    notification_url: str,
    entity_sets: Iterable[str],
    client_state: str = "",
    *,
    renew_within: timedelta = DEFAULT_RENEW_WITHIN,
    now: datetime | None = None,
) -> EnsureReport:
    """Make BC hold a live subscription per entity set, recreating any that BC deleted."""
    moment = now or datetime.now(UTC)
    current = list_subscriptions(client)
    report = EnsureReport()
    for entity_set in entity_sets:
        resource = company_resource(client, entity_set)
        found = next(
            (
                s
                for s in current
                if s.notification_url == notification_url and _same_resource(s.resource, resource)
            ),
            None,
        )
        if found is None:
            report.created.append(
                create_subscription(client, notification_url, resource, client_state)
            )
        elif found.expiration is None or found.expiration - moment <= renew_within:
            _renew_or_recreate(client, found, client_state, report)
        else:
            report.unchanged.append(found)
    return report


def _renew_or_recreate(
    client: BcClient, found: Subscription, client_state: str, report: EnsureReport
) -> None:
    wanted = replace(found, client_state=client_state or found.client_state)
    try:
        report.renewed.append(renew_subscription(client, wanted))
    except BcError as exc:
        if exc.status != 404:
            raise
        log.info("subscription %s vanished before renewal; creating it again", found.id)
        report.created.append(
            create_subscription(client, found.notification_url, found.resource, client_state)
        )
