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
* nothing is read from BC or Anaplan here: per delivery and entity set one ``webhook_apply``
  orchestration is started, with an instance id derived from the notifications themselves, so
  BC's retries and duplicates start nothing twice. The answer (202) comes in well under a second.
"""

from __future__ import annotations

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
from bc_anaplan.flows.webhooks import GL_ENTRIES, SubscriptionStore, entity_set_of, item_identities
from bc_anaplan.runtime import get_runtime
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
    if not authentic(items, runtime.secrets.get("bc_webhook_client_state")):
        log.warning("rejected a notification delivery with a wrong clientState")
        return problem(401, "clientState does not match")
    started = await start_runs(client, items)
    return text(202, json.dumps(started), "application/json")


async def start_runs(
    client: df.DurableOrchestrationClient, items: list[dict[str, str]]
) -> dict[str, Any]:
    runtime = get_runtime()
    known = {s["RowKey"]: s for s in SubscriptionStore(runtime).all()}
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    ignored = 0
    for item in items:
        subscription = known.get(item["subscriptionId"])
        if subscription is None:
            ignored += 1
            log.warning("notification for unknown subscription %s ignored", item["subscriptionId"])
            continue
        groups[(subscription["Pipeline"], entity_set_of(item["resource"]))].append(item)
    started, duplicates = [], []
    for (pipeline, entity_set), group in groups.items():
        instance = instance_for(group)
        if await start_once(client, instance, webhook_input(pipeline, entity_set, group)):
            started.append(instance)
        else:
            duplicates.append(instance)
        if entity_set == GL_ENTRIES:
            await maybe_load_actuals(client, pipeline)
    return {"started": started, "duplicates": duplicates, "ignored": ignored}


async def start_once(
    client: df.DurableOrchestrationClient, instance: str, request: dict[str, Any]
) -> bool:
    status = await client.get_status(instance)
    if status.runtime_status is not None:
        return False  # BC delivered the same notifications again
    try:
        await client.start_new("webhook_apply", instance, request)
    except Exception as exc:  # started by a concurrent delivery of the same notifications
        log.info("notification run %s not started again: %s", instance, exc)
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
