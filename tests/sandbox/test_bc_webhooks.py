"""Webhook subscriptions: handshake on create and renew, 3-day expiry, batched notifications with
exactly BC's six fields, ``collection`` past 1,000 changes, retries and deletion on failures,
unsupported entities, and the 200-subscription cap. Runs on a private sandbox (it moves the
clock and posts entries) with a plain-HTTP loopback receiver."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.sandbox.test_bc_kit import BcKit, WebhookReceiver, bc_error, bc_private, moment

__all__ = ["bc_private"]

# reference §8.6 retries after 60, 60, 60, 600 and 6,000 s; the --fast sandbox divides by 60
FAST_RETRY_DELAYS_S = (1.0, 1.0, 1.0, 10.0, 100.0)
ITEM_FIELDS = {
    "subscriptionId",
    "clientState",
    "expirationDateTime",
    "resource",
    "changeType",
    "lastModifiedDateTime",
}


@pytest.fixture(scope="module")
def kit(bc_private: BcKit) -> BcKit:
    return bc_private


@pytest.fixture
def receiver(kit: BcKit) -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook
    kit.token(fresh=True)  # the test may have moved the clock past the token's expiry
    for sub in kit.values("~/subscriptions"):
        kit.delete(f"~/subscriptions('{sub['subscriptionId']}')")


def _resource(kit: BcKit, entity_set: str) -> str:
    return f"/api/v2.0/companies({kit.company_id})/{entity_set}"


def _subscribe(kit: BcKit, hook: WebhookReceiver, entity_set: str, state: str = "s3cr3t") -> Any:
    return kit.post(
        "~/subscriptions",
        {
            "notificationUrl": hook.url,
            "resource": _resource(kit, entity_set),
            "clientState": state,
        },
    )


def _flush_and_wait(kit: BcKit, hook: WebhookReceiver, count: int) -> None:
    kit.control("bc/webhooks/flush")
    hook.wait_for(lambda: len(hook.notifications) >= count)


def test_subscribe_performs_the_handshake(kit: BcKit, receiver: WebhookReceiver) -> None:
    response = _subscribe(kit, receiver, "generalLedgerEntries")
    assert response.status_code == 201, response.text
    sub = response.json()
    assert re.match(r"^[0-9a-f]{32}$", sub["subscriptionId"])
    assert len(receiver.validations) == 1
    assert sub["clientState"] == "s3cr3t" and sub["notificationUrl"] == receiver.url
    expires = moment(sub["expirationDateTime"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=3))) < timedelta(minutes=5)
    listed = kit.values("~/subscriptions")
    assert [s["subscriptionId"] for s in listed] == [sub["subscriptionId"]]


@pytest.mark.parametrize("answer", ["wrong", 500, 404])
def test_a_failed_handshake_refuses_the_subscription(
    kit: BcKit, receiver: WebhookReceiver, answer: str | int
) -> None:
    receiver.handshake = answer
    bc_error(_subscribe(kit, receiver, "employees"), 400, "BadRequest")
    assert kit.values("~/subscriptions") == []


@pytest.mark.parametrize("entity_set", ["purchaseOrders", "trialBalances", "dimensionSetLines"])
def test_entities_without_webhooks_are_refused(
    kit: BcKit, receiver: WebhookReceiver, entity_set: str
) -> None:
    assert "does not support webhooks" in bc_error(
        _subscribe(kit, receiver, entity_set), 400, "BadRequest"
    )


def test_notifications_are_batched_per_url_with_six_fields(
    kit: BcKit, receiver: WebhookReceiver
) -> None:
    entries = _subscribe(kit, receiver, "generalLedgerEntries").json()
    staff = _subscribe(kit, receiver, "employees").json()
    posted = kit.control("bc/post-entries", {"count": 4, "period": "2026-11"})
    kit.control("bc/employees", {"action": "hire", "givenName": "Lin", "surname": "Wu"})
    _flush_and_wait(kit, receiver, 1)
    assert len(receiver.notifications) == 1  # one POST for both subscriptions on the URL
    items = receiver.items()
    assert all(set(item) == ITEM_FIELDS for item in items)
    created = [i for i in items if i["subscriptionId"] == entries["subscriptionId"]]
    assert len(created) == 4 and {i["changeType"] for i in created} == {"created"}
    ids = {e["id"] for e in posted["entries"]}
    assert {i["resource"] for i in created} == {
        f"{_resource(kit, 'generalLedgerEntries')}({entry_id})" for entry_id in ids
    }
    assert all(i["clientState"] == "s3cr3t" for i in items)
    hired = [i for i in items if i["subscriptionId"] == staff["subscriptionId"]]
    assert [i["changeType"] for i in hired] == ["created"]
    headers = receiver.headers[0]
    assert headers["clientRequestId"] == headers["x-ms-correlation-id"]


def test_consecutive_updates_merge(kit: BcKit, receiver: WebhookReceiver) -> None:
    _subscribe(kit, receiver, "employees")
    hired = kit.control("bc/employees", {"action": "hire", "givenName": "Ola", "surname": "Berg"})
    for title in ("Buyer", "Senior Buyer"):
        kit.control(
            "bc/employees", {"action": "change", "number": hired["number"], "jobTitle": title}
        )
    _flush_and_wait(kit, receiver, 1)
    assert [i["changeType"] for i in receiver.items()] == ["created", "updated"]


def test_updates_of_one_entity_merge_across_other_changes(
    kit: BcKit, receiver: WebhookReceiver
) -> None:
    _subscribe(kit, receiver, "employees")
    first = kit.control("bc/employees", {"action": "hire", "givenName": "Ana", "surname": "Lind"})
    second = kit.control("bc/employees", {"action": "hire", "givenName": "Bo", "surname": "Ek"})
    last = {}
    for person, title in ((first, "Clerk"), (second, "Buyer"), (first, "Head clerk")):
        last[person["id"]] = kit.control(
            "bc/employees", {"action": "change", "number": person["number"], "jobTitle": title}
        )
    _flush_and_wait(kit, receiver, 1)
    items = receiver.items()

    def resource(person: dict[str, Any]) -> str:
        return f"{_resource(kit, 'employees')}({person['id']})"

    assert [(i["changeType"], i["resource"]) for i in items] == [
        ("created", resource(first)),
        ("created", resource(second)),
        ("updated", resource(first)),  # "Clerk" and "Head clerk": one item, the later time
        ("updated", resource(second)),
    ]
    assert items[2]["lastModifiedDateTime"] == last[first["id"]]["lastModifiedDateTime"]


def test_no_op_updates_are_not_stamped_or_notified(kit: BcKit, receiver: WebhookReceiver) -> None:
    for entity_set in ("employees", "journals", "journalLines"):
        _subscribe(kit, receiver, entity_set)
    employee = kit.post("/employees", {"givenName": "Eva", "surname": "Holm", "jobTitle": "Clerk"})
    journal = kit.post("/journals", {"code": "NOOP", "displayName": "No-op"})
    assert employee.status_code == journal.status_code == 201, journal.text
    lines = f"/journals({journal.json()['id']})/journalLines"
    line = kit.post(lines, {"amount": 5, "description": "x"})
    assert line.status_code == 201, line.text
    dims = f"/journalLines({line.json()['id']})/dimensionSetLines"
    dimension = kit.post(dims, {"code": "DEPARTMENT", "valueCode": "SALES"})
    assert dimension.status_code == 201, dimension.text
    line = kit.get(f"/journalLines({line.json()['id']})")
    _flush_and_wait(kit, receiver, 1)
    assert sorted(i["changeType"] for i in receiver.items()) == ["created"] * 3 + ["updated"]
    kit.advance_clock(5)  # a touch now would move lastModifiedDateTime
    for path, before, body in (
        (
            f"/employees({employee.json()['id']})",
            employee,
            {"jobTitle": "Clerk", "surname": "Holm"},
        ),
        (f"/journals({journal.json()['id']})", journal, {"displayName": "No-op", "code": "noop"}),
        (f"/journalLines({line.json()['id']})", line, {"amount": 5, "description": "x"}),
        (f"{dims}({dimension.json()['id']})", line, {"valueCode": "SALES"}),
    ):
        response = kit.patch(path, body, etag=before.json()["@odata.etag"])
        assert response.status_code == 200, response.text
        assert response.json()["@odata.etag"] == before.json()["@odata.etag"], path
        if "lastModifiedDateTime" in response.json():
            assert response.json()["lastModifiedDateTime"] == before.json()["lastModifiedDateTime"]
    changed = kit.patch(
        f"/employees({employee.json()['id']})",
        {"jobTitle": "Head clerk"},
        etag=employee.json()["@odata.etag"],
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["@odata.etag"] != employee.json()["@odata.etag"]
    _flush_and_wait(kit, receiver, 2)
    assert [(i["changeType"], i["resource"]) for i in receiver.notifications[1]["value"]] == [
        ("updated", f"{_resource(kit, 'employees')}({employee.json()['id']})")
    ]


def test_more_than_1000_changes_become_one_collection(
    kit: BcKit, receiver: WebhookReceiver
) -> None:
    _subscribe(kit, receiver, "generalLedgerEntries")
    kit.control("bc/post-entries", {"count": 1002, "period": "2026-10"})
    _flush_and_wait(kit, receiver, 1)
    (item,) = receiver.items()
    assert item["changeType"] == "collection"
    prefix = f"{_resource(kit, 'generalLedgerEntries')}?$filter=lastModifiedDateTime%20gt%20"
    assert item["resource"].startswith(prefix)
    since = item["resource"][len(prefix) :]
    new = kit.values("/generalLedgerEntries", **{"$filter": f"lastModifiedDateTime gt {since}"})
    assert len(new) >= 1002


def test_retriable_failures_are_retried(kit: BcKit, receiver: WebhookReceiver) -> None:
    sub = _subscribe(kit, receiver, "employees").json()
    receiver.statuses = [503, 429]
    kit.control("bc/employees", {"action": "hire", "givenName": "Rui", "surname": "Sousa"})
    kit.control("bc/webhooks/flush")
    receiver.wait_for(lambda: receiver.attempts >= 1)
    kit.advance_clock(61)
    receiver.wait_for(lambda: receiver.attempts >= 2)
    kit.advance_clock(61)
    receiver.wait_for(lambda: len(receiver.notifications) == 1)
    assert receiver.attempts == 3
    assert [i["subscriptionId"] for i in receiver.items()] == [sub["subscriptionId"]]
    kit.token(fresh=True)
    assert [s["subscriptionId"] for s in kit.values("~/subscriptions")] == [sub["subscriptionId"]]


def test_a_non_retriable_answer_deletes_the_subscription(
    kit: BcKit, receiver: WebhookReceiver
) -> None:
    _subscribe(kit, receiver, "employees")
    receiver.statuses = [404]
    kit.control("bc/employees", {"action": "hire", "givenName": "Ida", "surname": "Lund"})
    kit.control("bc/webhooks/flush")
    receiver.wait_for(lambda: receiver.attempts >= 1)
    receiver.wait_for(lambda: kit.values("~/subscriptions") == [])
    # dropped, not retried: nothing comes once a retry would be due, nor for later changes
    kit.advance_clock(FAST_RETRY_DELAYS_S[0] + 1)
    kit.control("bc/employees", {"action": "hire", "givenName": "Jon", "surname": "Lund"})
    kit.control("bc/webhooks/flush")
    time.sleep(0.5)
    assert receiver.attempts == 1 and receiver.notifications == []


def test_too_many_failures_delete_the_subscription(kit: BcKit, receiver: WebhookReceiver) -> None:
    _subscribe(kit, receiver, "employees")
    receiver.statuses = [500] * 10
    kit.control("bc/employees", {"action": "hire", "givenName": "Max", "surname": "Roth"})
    kit.control("bc/webhooks/flush")
    receiver.wait_for(lambda: receiver.attempts >= 1)
    for failed, delay in enumerate(FAST_RETRY_DELAYS_S, start=1):
        # just before the delay (real time passes too: the 1 s delays get no clock move)
        kit.advance_clock(max(delay - 2, 0))
        time.sleep(0.3)
        assert receiver.attempts == failed, f"retry {failed} came before its {delay} s"
        kit.advance_clock(min(delay, 2) + 0.2)  # just past it
        receiver.wait_for(lambda a=failed: receiver.attempts > a, timeout=2.0)
    # the sixth attempt failed: more than five retries, the subscription is gone at once
    kit.token(fresh=True)
    receiver.wait_for(lambda: kit.values("~/subscriptions") == [], timeout=2.0)
    kit.advance_clock(60_000 / 60 + 1)  # the next delay there would have been
    time.sleep(0.3)
    assert receiver.attempts == 6 and receiver.notifications == []


def test_renew_needs_if_match_and_a_new_handshake(kit: BcKit, receiver: WebhookReceiver) -> None:
    sub = _subscribe(kit, receiver, "journals").json()
    path = f"~/subscriptions('{sub['subscriptionId']}')"
    body = {"notificationUrl": receiver.url, "resource": sub["resource"], "clientState": "new"}
    bc_error(kit.patch(path, body, etag=None), 400, "BadRequest_InvalidToken")
    kit.advance_clock(86_400)
    kit.token(fresh=True)
    renewed = kit.patch(path, body, etag=sub["@odata.etag"])
    assert renewed.status_code == 200, renewed.text
    assert len(receiver.validations) == 2
    assert renewed.json()["clientState"] == "new"
    assert moment(renewed.json()["expirationDateTime"]) > moment(sub["expirationDateTime"])
    bc_error(kit.delete(path, etag=sub["@odata.etag"]), 409, "Request_EntityChanged")
    assert kit.delete(path, etag=renewed.json()["@odata.etag"]).status_code == 204


def test_subscriptions_expire_after_three_days(kit: BcKit, receiver: WebhookReceiver) -> None:
    _subscribe(kit, receiver, "accounts")
    kit.advance_clock(3 * 86_400 + 1)
    kit.token(fresh=True)
    assert kit.values("~/subscriptions") == []


def test_at_most_200_subscriptions(kit: BcKit, receiver: WebhookReceiver) -> None:
    for _ in range(200):
        assert _subscribe(kit, receiver, "dimensions").status_code == 201
    assert "maximum number of subscriptions" in bc_error(
        _subscribe(kit, receiver, "dimensions"), 400, "BadRequest"
    )
