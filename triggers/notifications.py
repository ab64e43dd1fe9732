"""``/api/bc/notifications``: the endpoint BC delivers webhook notifications to.

Anonymous at the Functions level -- BC cannot send a function key -- so it protects itself:

* a request with ``validationToken`` (BC's handshake on subscribe and renew, GET or POST) is
  answered 200 with exactly that token as ``text/plain``, but only if the token is plausible
  (at most 1,024 URL-safe characters, no markup); anything else gets 400;
* a notification body is parsed strictly (at most 1 MiB; ``{"value": [...]}`` of items with
  exactly BC's six fields, as strings, a known ``changeType``) or gets 400;
* every item's ``clientState`` must equal the configured secret (constant-time comparison), or
  the whole request gets 401 and nothing is started;
* items of unknown subscriptions are ignored and logged;
* nothing is read from BC or Anaplan here: for the items not seen before, one ``webhook_apply``
  orchestration is started per entity set, and the answer (202) comes in well under a second.

Deduplication is per notification item (``flows.seen_notifications``: subscription, resource,
change type and ``lastModifiedDateTime``), not per delivery, because BC combines whatever is
pending into one POST: the same change can come alone and then again next to another one. The
order of the steps is chosen so that a crash never loses a notification -- a repeated run is
harmless (aligning a list or marking periods twice changes nothing), a lost one is not:

1. look up which items already have a "seen" row; drop those;
2. start the runs for the rest, each under an instance id derived from exactly its items, so a
   concurrent or retried delivery of the same items finds the instance and starts nothing;
3. only then write the "seen" rows, and answer 202.

Written before the start, a row would make BC's retry after a crash in between skip an item
that never started anything. Written after, the same crash costs at most one repeated run. If
starting (or the lookup) fails, the answer is 503 and BC delivers again later (reference §8.6).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections import defaultdict
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from bc_anaplan import workkeys
from bc_anaplan.flows.seen_notifications import SeenNotifications, identity
from bc_anaplan.flows.webhooks import GL_ENTRIES, SubscriptionStore, entity_set_of, item_identities
from bc_anaplan.runtime import get_runtime
from bc_anaplan.storage import safe_key
from triggers.starting import start_unless_running

bp = df.Blueprint()
log = logging.getLogger("triggers.notifications")

MAX_BODY_BYTES = 1_048_576
MAX_TARGETED = 50
TOKEN = re.compile(r"^[A-Za-z0-9._~:+/=-]{1,1024}$")
FIELDS = frozenset(
    {
        "subscriptionId",
        "clientState",
        "expirationDateTime",
        "resource",
        "changeType",
        "lastModifiedDateTime",
    }
)
CHANGE_TYPES = frozenset({"created", "updated", "deleted", "collection"})


class BadNotification(ValueError):
    pass


def parse_notifications(raw: bytes) -> list[dict[str, str]]:
    """BC's notification payload, strictly: anything else raises ``BadNotification``."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadNotification(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadNotification("the body is not JSON") from None
    if not isinstance(body, dict) or set(body) != {"value"} or not isinstance(body["value"], list):
        raise BadNotification('the body must be {"value": [notifications]}')
    if not body["value"]:
        raise BadNotification("the notification list is empty")
    items = []
    for index, item in enumerate(body["value"]):
        if not isinstance(item, dict) or set(item) != FIELDS:
            raise BadNotification(
                f"notification {index} must have exactly the fields {', '.join(sorted(FIELDS))}"
            )
        if not all(isinstance(v, str) and len(v) <= 4096 for v in item.values()):
            raise BadNotification(f"notification {index} has a field that is not a short string")
        if item["changeType"] not in CHANGE_TYPES:
            raise BadNotification(f"notification {index} has an unknown changeType")
        items.append(item)
    return items


def text(status: int, body: str, mimetype: str = "text/plain") -> func.HttpResponse:
    return func.HttpResponse(body, status_code=status, mimetype=mimetype)


def problem(status: int, message: str) -> func.HttpResponse:
    return text(
        status, json.dumps({"error": {"code": str(status), "message": message}}), "application/json"
    )


def authentic(items: list[dict[str, str]], secret: str) -> bool:
    expected = secret.encode()
    # compare every item, whatever the first ones gave, so timing says nothing
    results = [hmac.compare_digest(item["clientState"].encode(), expected) for item in items]
    return all(results)


def instance_for(items: list[dict[str, str]]) -> str:
    """The instance id of a run for exactly these items (BC's retries compute the same one)."""
    digest = hashlib.sha256("\n".join(item_identities(items)).encode()).hexdigest()
    return f"webhook:{digest[:40]}"


def webhook_input(pipeline: str, entity_set: str, items: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "pipeline": pipeline,
        "entity_set": entity_set,
        "trigger": "webhook",
        "count": len(items),
        "resources": [i["resource"] for i in items][:MAX_TARGETED],
        "collection": any(i["changeType"] == "collection" for i in items)
        or len(items) > MAX_TARGETED,
        "since": min(i["lastModifiedDateTime"] for i in items),
    }


@bp.route(route="bc/notifications", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def bc_notifications(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    token = req.params.get("validationToken")
    if token is not None:
        if not TOKEN.match(token):
            return problem(400, "implausible validationToken")
        return text(200, token)
    if req.method != "POST":
        return problem(400, "notifications are POSTed")
    try:
        items = parse_notifications(req.get_body())
    except BadNotification as exc:
        return problem(400, str(exc))
    runtime = get_runtime()
    secret = await asyncio.to_thread(runtime.secrets.get, "bc_webhook_client_state")
    if not authentic(items, secret):
        log.warning("rejected a notification delivery with a wrong clientState")
        return problem(401, "clientState does not match")
    try:
        started = await start_runs(client, items)
    except Exception:
        log.exception("could not start the runs for a notification delivery; BC will retry")
        return func.HttpResponse(
            json.dumps({"error": {"code": "503", "message": "try again later"}}),
            status_code=503,
            mimetype="application/json",
            headers={"Retry-After": "60"},
        )
    return text(202, json.dumps(started), "application/json")


async def start_runs(
    client: df.DurableOrchestrationClient, items: list[dict[str, str]]
) -> dict[str, Any]:
    """Start the work for the items not seen before (the order is in the module docstring)."""
    runtime = get_runtime()
    subscriptions = await asyncio.to_thread(SubscriptionStore(runtime).all)
    known = {s["RowKey"]: s for s in subscriptions}
    ours: list[dict[str, str]] = []
    for item in items:
        if safe_key(item["subscriptionId"]) in known:
            ours.append(item)
        else:
            log.warning("notification for unknown subscription %s ignored", item["subscriptionId"])
    seen = SeenNotifications(runtime.storage)
    fresh = await asyncio.to_thread(seen.unseen, ours)
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for item in fresh:
        subscription = known[safe_key(item["subscriptionId"])]
        groups[(subscription["Pipeline"], entity_set_of(item["resource"]))].append(item)
    started, duplicates, instances = [], [], {}
    for (pipeline, entity_set), group in groups.items():
        instance = instance_for(group)
        if await start_once(client, instance, webhook_input(pipeline, entity_set, group)):
            started.append(instance)
        else:
            duplicates.append(instance)
        instances.update({identity(i): instance for i in group})
        if entity_set == GL_ENTRIES:
            await maybe_load_actuals(client, pipeline)
    await asyncio.to_thread(seen.remember, fresh, instances)
    return {
        "started": started,
        "duplicates": duplicates,
        "seen_before": len(ours) - len(fresh),
        "ignored": len(items) - len(ours),
    }


async def start_once(
    client: df.DurableOrchestrationClient, instance: str, request: dict[str, Any]
) -> bool:
    """Start ``instance`` unless it exists; False if it did. A failed start raises."""
    status = await client.get_status(instance)
    if status.runtime_status is not None:
        return False  # BC delivered the same notifications again
    try:
        await client.start_new("webhook_apply", instance, request)
    except Exception:
        again = await client.get_status(instance)
        if again.runtime_status is None:
            raise  # not started by anyone: the caller answers 503 so BC retries
        log.info("notification run %s was started by a concurrent delivery", instance)
        return False
    return True


async def maybe_load_actuals(client: df.DurableOrchestrationClient, pipeline_name: str) -> None:
    pipeline = get_runtime().settings.pipeline(pipeline_name)
    if pipeline.webhooks.autoload_actuals:
        await start_unless_running(
            client,
            "actuals_load",
            workkeys.actuals_load(pipeline),
            {"pipeline": pipeline.name, "mode": "incremental", "trigger": "webhook"},
        )
