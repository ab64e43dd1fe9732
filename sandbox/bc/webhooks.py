"""API webhook subscriptions and notification delivery (reference §8).

Subscribing performs the validation handshake (``POST <notificationUrl>?validationToken=…``,
answered with 200 and the token as body within 5 s), and so does renewing with ``PATCH``.
Subscriptions expire three days after creation or renewal, on the simulated clock.

Changes are collected per subscription and delivered per notification URL: the first change
starts a 30 s delay (3 s with ``--fast``), then everything pending for that URL goes out in one
POST. Consecutive ``updated`` changes of one entity merge (other entities' changes between
them do not matter); more than 1,000 changes for one subscription collapse into one
``collection`` item. A 408, 429, 5xx, timeout or connection error is retried after 60, 60,
60, 600, 6,000 s (then 60,000 s; divided by 60 with ``--fast``), and past five retries the
subscriptions on that URL are deleted; any other error status deletes them at once. All due
times are on the simulated clock, so ``/_sandbox/clock`` makes them pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from sandbox.bc.encoding import format_datetime, sql_datetime_ms
from sandbox.bc.errors import BcError, bad_request, record_not_found
from sandbox.bc.resources import WEBHOOK_SETS
from sandbox.bc.store import Company
from sandbox.common.context import SandboxContext

Row = dict[str, Any]
MAX_SUBSCRIPTIONS = 200
LIFETIME_S = 3 * 86_400
HANDSHAKE_TIMEOUT_S = 5.0
DELIVERY_TIMEOUT_S = 10.0
BATCH_DELAY_S = 30.0
COLLECTION_THRESHOLD = 1000
RETRY_DELAYS_S = (60.0, 60.0, 60.0, 600.0, 6000.0, 60000.0)
MAX_RETRIES = 5
RETRIABLE = frozenset({408, 429})


@dataclass
class Change:
    resource: str
    change_type: str
    modified_ms: int


@dataclass
class Subscription:
    id: str
    notification_url: str
    resource: str
    client_state: str
    entity_set: str
    user_id: str
    created_ms: int
    modified_ms: int
    expires_ms: int
    version: int
    pending: list[Change] = field(default_factory=list)

    def row(self) -> Row:
        return {
            "subscriptionId": self.id,
            "notificationUrl": self.notification_url,
            "resource": self.resource,
            "timestamp": self.version,
            "userId": self.user_id,
            "lastModifiedDateTime": self.modified_ms,
            "clientState": self.client_state,
            "expirationDateTime": self.expires_ms,
            "systemCreatedAt": self.created_ms,
            "systemCreatedBy": self.user_id,
            "systemModifiedAt": self.modified_ms,
            "systemModifiedBy": self.user_id,
            "_v": self.version,
        }


@dataclass
class Delivery:
    """Delivery state of one notification URL."""

    due_s: float | None = None
    attempts: int = 0
    in_flight: bool = False
    # items of a failed POST, re-sent first: (subscription id, payload item)
    retry_items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class Webhooks:
    def __init__(self, ctx: SandboxContext, company: Company) -> None:
        self.ctx = ctx
        self.company = company
        self.subscriptions: dict[str, Subscription] = {}
        self.deliveries: dict[str, Delivery] = {}
        self.deleted: list[dict[str, Any]] = []  # why subscriptions were dropped, for tests
        self._versions = 0
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._deliveries_in_flight: set[asyncio.Task[None]] = set()
        company.listeners.append(self.on_change)

    # --- timing ------------------------------------------------------------------------------
    @property
    def batch_delay_s(self) -> float:
        return self.ctx.wait(BATCH_DELAY_S)

    def retry_delay_s(self, attempt: int) -> float:
        delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
        return delay / 60 if self.ctx.fast else delay

    def now_ms(self) -> int:
        return sql_datetime_ms(self.ctx.clock.time())

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ctx.tls.ca_path))
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._deliveries_in_flight) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        tick = 0.05 if self.ctx.fast else 0.5
        while True:
            await asyncio.sleep(tick)
            self.purge_expired()
            now = self.ctx.clock.time()
            for url, delivery in list(self.deliveries.items()):
                if not delivery.in_flight and delivery.due_s is not None and now >= delivery.due_s:
                    delivery.in_flight = True
                    task = asyncio.create_task(self._deliver(url, delivery))
                    self._deliveries_in_flight.add(task)
                    task.add_done_callback(self._deliveries_in_flight.discard)

    def flush(self) -> None:
        """Make every pending delivery due now (sandbox control)."""
        for delivery in self.deliveries.values():
            if delivery.due_s is not None:
                delivery.due_s = self.ctx.clock.time()

    # --- subscriptions -----------------------------------------------------------------------
    def purge_expired(self) -> None:
        now = self.now_ms()
        for sub in list(self.subscriptions.values()):
            if sub.expires_ms <= now:
                self._drop(sub, "expired")

    def get(self, subscription_id: str) -> Subscription:
        self.purge_expired()
        sub = self.subscriptions.get(subscription_id)
        if sub is None:
            raise record_not_found("API Webhook Subscription", "Subscription Id", subscription_id)
        return sub

    def rows(self) -> list[Row]:
        self.purge_expired()
        return [s.row() for s in sorted(self.subscriptions.values(), key=lambda s: s.id)]

    async def create(self, body: dict[str, Any], user_id: str) -> Row:
        self.purge_expired()
        url, resource, state = self._validated(body)
        entity_set = self._entity_set_of(resource)
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise bad_request(
                f"The maximum number of subscriptions ({MAX_SUBSCRIPTIONS}) has been reached."
            )
        await self.handshake(url)
        now = self.now_ms()
        sub = Subscription(
            uuid.uuid4().hex,
            url,
            resource,
            state,
            entity_set,
            user_id,
            now,
            now,
            now + LIFETIME_S * 1000,
            self._next_version(),
        )
        self.subscriptions[sub.id] = sub
        return sub.row()

    async def renew(self, sub: Subscription, body: dict[str, Any]) -> Row:
        merged = {
            "notificationUrl": sub.notification_url,
            "resource": sub.resource,
            "clientState": sub.client_state,
            **body,
        }
        url, resource, state = self._validated(merged)
        if resource != sub.resource:
            raise bad_request("The resource of a subscription cannot be changed.")
        await self.handshake(url)
        now = self.now_ms()
        sub.notification_url, sub.client_state = url, state
        sub.modified_ms, sub.expires_ms = now, now + LIFETIME_S * 1000
        sub.version = self._next_version()
        return sub.row()

    def delete(self, sub: Subscription) -> None:
        self._drop(sub, "deleted by client")

    def _next_version(self) -> int:
        self._versions += 1
        return self._versions

    def _drop(self, sub: Subscription, reason: str) -> None:
        if self.subscriptions.pop(sub.id, None) is not None:
            self.deleted.append({"subscriptionId": sub.id, "reason": reason})

    def _validated(self, body: dict[str, Any]) -> tuple[str, str, str]:
        unknown = set(body) - {"notificationUrl", "resource", "clientState"}
        unknown = {k for k in unknown if not k.startswith("@odata.")}
        if unknown:
            name = sorted(unknown)[0]
            raise bad_request(
                f"The property '{name}' does not exist on type 'Microsoft.NAV.subscription'. "
                "Make sure to only use property names that are defined by the type."
            )
        url, resource = body.get("notificationUrl"), body.get("resource")
        state = body.get("clientState") or ""
        if not isinstance(url, str) or not url:
            raise BcError(
                400,
                "BadRequest_RequiredParamNotProvided",
                "Field 'notificationUrl' must not be blank or empty.",
            )
        if not isinstance(resource, str) or not resource:
            raise BcError(
                400,
                "BadRequest_RequiredParamNotProvided",
                "Field 'resource' must not be blank or empty.",
            )
        if not isinstance(state, str) or len(state) > 2048:
            raise bad_request("The clientState must be a string of at most 2048 characters.")
        parts = urlsplit(url)
        if parts.scheme == "http" and _is_loopback(parts.hostname):
            return url, resource, state  # sandbox deviation: loopback receivers may use http
        if parts.scheme != "https" or not parts.hostname:
            raise bad_request(f"The notification URL '{url}' must be an absolute https URL.")
        return url, resource, state

    def _entity_set_of(self, resource: str) -> str:
        parts = resource.strip("/").split("/")
        expected = f"companies({self.company.id})"
        if len(parts) != 4 or parts[:2] != ["api", "v2.0"] or parts[2].lower() != expected:
            raise bad_request(
                f"The resource '{resource}' is not valid. Subscribe to "
                f"'/api/v2.0/companies({{companyId}})/{{entitySetName}}'."
            )
        if parts[3] not in WEBHOOK_SETS:
            raise bad_request(f"The entity '{parts[3]}' does not support webhooks.")
        return parts[3]

    async def handshake(self, url: str) -> None:
        assert self._session is not None
        token = secrets.token_urlsafe(24)
        separator = "&" if urlsplit(url).query else "?"
        try:
            async with self._session.post(
                f"{url}{separator}validationToken={token}",
                timeout=aiohttp.ClientTimeout(total=HANDSHAKE_TIMEOUT_S),
            ) as response:
                text = await response.text()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _handshake_failed(f"the notification URL did not answer ({exc!r})") from exc
        if status != 200:
            raise _handshake_failed(f"the notification URL answered {status}")
        if text.strip() != token:
            raise _handshake_failed("the response body was not the validation token")

    # --- changes and delivery ----------------------------------------------------------------
    def on_change(self, entity_set: str, row: Row, change_type: str) -> None:
        modified = row.get("lastModifiedDateTime") or self.now_ms()
        if change_type == "deleted":
            modified = self.now_ms()
        for sub in self.subscriptions.values():
            if sub.entity_set != entity_set or sub.expires_ms <= self.now_ms():
                continue
            sub.pending.append(Change(f"{sub.resource}({row['id']})", change_type, modified))
            delivery = self.deliveries.setdefault(sub.notification_url, Delivery())
            if delivery.due_s is None:
                delivery.due_s = self.ctx.clock.time() + self.batch_delay_s

    def _items(self, url: str) -> list[tuple[str, dict[str, Any]]]:
        items: list[tuple[str, dict[str, Any]]] = []
        for sub in self.subscriptions.values():
            if sub.notification_url != url or not sub.pending:
                continue
            changes, sub.pending = sub.pending, []
            head = {
                "subscriptionId": sub.id,
                "clientState": sub.client_state,
                "expirationDateTime": format_datetime(sub.expires_ms),
            }
            if len(changes) > COLLECTION_THRESHOLD:
                items.append((sub.id, {**head, **_collection(sub, changes)}))
                continue
            for change in _merged(changes):
                items.append(
                    (
                        sub.id,
                        {
                            **head,
                            "resource": change.resource,
                            "changeType": change.change_type,
                            "lastModifiedDateTime": format_datetime(change.modified_ms),
                        },
                    )
                )
        return items

    async def _deliver(self, url: str, delivery: Delivery) -> None:
        try:
            items = delivery.retry_items + self._items(url)
            delivery.retry_items = []
            items = [(s, i) for s, i in items if s in self.subscriptions]
            if not items:
                delivery.due_s = None
                return
            status = await self._post(url, [item for _, item in items])
            if status is not None and 200 <= status < 300:
                delivery.attempts, delivery.due_s = 0, None
                if any(s.pending for s in self.subscriptions.values() if s.notification_url == url):
                    delivery.due_s = self.ctx.clock.time() + self.batch_delay_s
                return
            if status is None or status in RETRIABLE or status >= 500:
                delivery.attempts += 1
                if delivery.attempts > MAX_RETRIES:
                    self._drop_all({s for s, _ in items}, f"too many failed deliveries ({status})")
                    delivery.attempts, delivery.due_s = 0, None
                    return
                delivery.retry_items = items
                delivery.due_s = self.ctx.clock.time() + self.retry_delay_s(delivery.attempts - 1)
                return
            self._drop_all({s for s, _ in items}, f"notification answered {status}")
            delivery.attempts, delivery.due_s = 0, None
        finally:
            delivery.in_flight = False

    def _drop_all(self, subscription_ids: set[str], reason: str) -> None:
        for sub_id in subscription_ids:
            sub = self.subscriptions.get(sub_id)
            if sub is not None:
                self._drop(sub, reason)

    async def _post(self, url: str, items: list[dict[str, Any]]) -> int | None:
        assert self._session is not None
        request_id = str(uuid.uuid4())
        try:
            async with self._session.post(
                url,
                json={"value": items},
                headers={"clientRequestId": request_id, "x-ms-correlation-id": request_id},
                timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_S),
            ) as response:
                await response.read()
                return response.status
        except (TimeoutError, aiohttp.ClientError):
            return None

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                **{k: v for k, v in sub.row().items() if not k.startswith("_")},
                "expirationDateTime": format_datetime(sub.expires_ms),
                "pending": len(sub.pending),
                "attempts": self.deliveries.get(sub.notification_url, Delivery()).attempts,
            }
            for sub in self.subscriptions.values()
        ]


def _merged(changes: list[Change]) -> list[Change]:
    """An ``updated`` change merges into its entity's previous change when that one is an
    ``updated`` too (in its place, with the later time), even with other entities' changes in
    between; anything else stays as it came (reference §8.5: consecutive ``updated`` for one
    entity merge, ``created`` + ``updated`` stay separate)."""
    out: list[Change] = []
    last_of: dict[str, int] = {}  # resource -> index in out of its latest change
    for change in changes:
        previous = last_of.get(change.resource)
        if (
            previous is not None
            and change.change_type == "updated"
            and out[previous].change_type == "updated"
        ):
            out[previous] = change
            continue
        last_of[change.resource] = len(out)
        out.append(change)
    return out


def _collection(sub: Subscription, changes: list[Change]) -> dict[str, Any]:
    first = min(c.modified_ms for c in changes)
    resource = sub.resource
    if not any(c.change_type == "deleted" for c in changes):
        since = format_datetime(first - 50)
        resource = f"{sub.resource}?$filter=lastModifiedDateTime%20gt%20{since}"
    return {
        "resource": resource,
        "changeType": "collection",
        "lastModifiedDateTime": format_datetime(max(c.modified_ms for c in changes)),
    }


def _is_loopback(host: str | None) -> bool:
    if host in ("localhost",):
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _handshake_failed(detail: str) -> BcError:
    return bad_request(
        "The subscription could not be validated: the notification URL must answer the "
        f"validation request with status 200 and the validation token as body; {detail}."
    )
