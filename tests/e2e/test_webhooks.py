"""BC webhooks end to end: the real handshake, notifications from the sandbox, renewal, polling.

The app runs on the local host with its front door on a known loopback port, which is also its
``PUBLIC_BASE_URL``: the sandbox's BC performs the validation handshake against it and delivers
notifications to it, exactly as BC would to the Function App. Tests run in order.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.encoding import parse_datetime
from bc_anaplan.bc.subscriptions import (
    MAX_SUBSCRIPTIONS,
    company_resource,
    create_subscription,
    delete_subscription,
    list_subscriptions,
)
from devtools.azurite import free_port
from tests.support.connector import ConnectorUnderTest, connector
from tests.support.processes import running_sandbox

PATH = "/api/bc/notifications"


@pytest.fixture(scope="module")
def app(azurite: str) -> Iterator[ConnectorUnderTest]:
    from local_host import RealClock

    port = free_port()
    with running_sandbox("--scale", "small", "--fast") as info:
        info = {
            **info,
            "connector_env": {
                **info["connector_env"],
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            },
        }
        with connector(info, azurite, clock=RealClock()) as c:
            c.host.serve(port=port)
            c.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
            c.run("reference_sync")
            yield c


def wait_until(check: Callable[[], Any], timeout_s: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def webhook_runs(app: ConnectorUnderTest) -> list[Any]:
    return [
        s
        for s in app.host.list_instances()
        if s.instance_id.startswith("webhook:") and ":" not in s.instance_id[len("webhook:") :]
    ]


def subscriptions(app: ConnectorUnderTest) -> list[dict[str, Any]]:
    body = app.sandbox.get("bc", "/_sandbox/bc/subscriptions")
    return list(body if isinstance(body, list) else body.get("value", body.get("subscriptions")))


def test_the_handshake_echoes_plausible_tokens_only(app: ConnectorUnderTest) -> None:
    url = app.url + PATH  # type: ignore[attr-defined]
    good = httpx.post(url, params={"validationToken": "a1b2-C3d4_e5.f6"})
    assert good.status_code == 200 and good.text == "a1b2-C3d4_e5.f6"
    assert good.headers["content-type"].startswith("text/plain")
    for hostile in ("<script>alert(1)</script>", "x" * 10_240, "a b", ""):
        assert httpx.get(url, params={"validationToken": hostile}).status_code == 400, hostile


def test_malformed_and_oversized_bodies_get_400(app: ConnectorUnderTest) -> None:
    url = app.url + PATH  # type: ignore[attr-defined]
    item = {
        "subscriptionId": "x",
        "clientState": "y",
        "expirationDateTime": "z",
        "resource": "r",
        "changeType": "updated",
        "lastModifiedDateTime": "t",
    }
    bodies: list[bytes] = [
        b"not json",
        json.dumps({"value": "nope"}).encode(),
        json.dumps({"value": [{**item, "extra": 1}]}).encode(),
        json.dumps({"value": [{k: v for k, v in item.items() if k != "resource"}]}).encode(),
        json.dumps({"value": [{**item, "changeType": "exploded"}]}).encode(),
        json.dumps({"value": [{**item, "resource": 7}]}).encode(),
        json.dumps({"value": [item] * 9000}).encode(),  # > 1 MiB
    ]
    for body in bodies:
        response = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body[:80]
    assert webhook_runs(app) == []


def test_subscriptions_are_created_through_the_real_handshake(app: ConnectorUnderTest) -> None:
    result = app.run("renew_subscriptions")
    assert result["subscriptions"]["created"] == 4, result
    ours = [s for s in subscriptions(app) if s["notificationUrl"].startswith(app.url)]  # type: ignore[attr-defined]
    assert len(ours) == 4
    again = app.run("renew_subscriptions")
    assert again["subscriptions"]["unchanged"] == 4 and again["subscriptions"]["created"] == 0


def test_a_wrong_client_state_gets_401_and_starts_nothing(app: ConnectorUnderTest) -> None:
    sub = subscriptions(app)[0]
    body = {
        "value": [
            {
                "subscriptionId": sub["subscriptionId"],
                "clientState": "guess",
                "expirationDateTime": "2026-12-01T00:00:00Z",
                "resource": "/api/v2.0/companies(x)/accounts(y)",
                "changeType": "updated",
                "lastModifiedDateTime": "2026-11-26T00:00:00Z",
            }
        ]
    }
    response = httpx.post(app.url + PATH, json=body)  # type: ignore[attr-defined]
    assert response.status_code == 401
    assert webhook_runs(app) == []


def test_a_renamed_dimension_value_reaches_the_anaplan_list(app: ConnectorUnderTest) -> None:
    app.sandbox.post(
        "bc",
        "/_sandbox/bc/dimension-values",
        {"action": "rename", "dimension": "DEPARTMENT", "code": "HR", "name": "People and Culture"},
    )
    app.sandbox.post("bc", "/_sandbox/bc/webhooks/flush")

    def renamed() -> bool:
        names = {m["code"]: m["name"] for m in app.sandbox.members("Departments")}
        return names.get("HR") == "HR People and Culture"

    wait_until(renamed, what="the renamed department in Anaplan")
    run = wait_until(
        lambda: [
            r for r in app.rt.audit.list_runs(flow="webhook_apply") if r["state"] != "running"
        ],
        what="the webhook run record",
    )
    assert run[0]["trigger"] == "webhook"


def notification(sub: dict[str, Any], key: str, modified: str, secret: str) -> dict[str, str]:
    return {
        "subscriptionId": sub["subscriptionId"],
        "clientState": secret,
        "expirationDateTime": sub["expirationDateTime"],
        "resource": f"{sub['resource']}({key})",
        "changeType": "updated",
        "lastModifiedDateTime": modified,
    }


def deliver(app: ConnectorUnderTest, *items: dict[str, str]) -> dict[str, Any]:
    response = httpx.post(app.url + PATH, json={"value": list(items)})  # type: ignore[attr-defined]
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def subscription_to(app: ConnectorUnderTest, entity_set: str) -> dict[str, Any]:
    return next(s for s in subscriptions(app) if s["resource"].endswith("/" + entity_set))


def test_duplicate_deliveries_start_one_run(app: ConnectorUnderTest) -> None:
    secret = app.rt.secrets.get("bc_webhook_client_state")
    sub = subscription_to(app, "employees")
    item = notification(sub, "00000000-0000-0000-0000-000000000001", "2026-11-26T01:02:03Z", secret)

    def runs_for_item() -> list[str]:
        """The host's webhook instances whose input names the item's resource."""
        return [
            s.instance_id
            for s in webhook_runs(app)
            if item["resource"] in (s.input or {}).get("resources", [])
        ]

    assert runs_for_item() == []
    first = deliver(app, item)
    second = deliver(app, item)
    assert len(first["started"]) == 1 and first["seen_before"] == 0
    assert second["started"] == [] and second["duplicates"] == [] and second["seen_before"] == 1
    assert runs_for_item() == first["started"]  # the host holds exactly one run for it
    unknown = {"value": [{**item, "subscriptionId": "0" * 32}]}
    ignored = httpx.post(app.url + PATH, json=unknown)  # type: ignore[attr-defined]
    assert ignored.status_code == 202 and ignored.json()["ignored"] == 1


def test_an_item_delivered_alone_and_then_with_another_starts_one_run_for_it(
    app: ConnectorUnderTest,
) -> None:
    secret = app.rt.secrets.get("bc_webhook_client_state")
    sub = subscription_to(app, "accounts")
    alone = notification(sub, str(uuid.uuid4()), "2026-11-26T02:00:00.123Z", secret)
    other = notification(sub, str(uuid.uuid4()), "2026-11-26T02:00:04.5Z", secret)
    first = deliver(app, alone)
    together = deliver(app, alone, other)  # BC combines whatever is pending into one POST
    retried = deliver(app, alone, other)  # ... and retries a POST it got no answer for
    assert len(first["started"]) == 1
    assert len(together["started"]) == 1 and together["started"] != first["started"]
    assert together["seen_before"] == 1
    assert retried["started"] == [] and retried["duplicates"] == []
    assert retried["seen_before"] == 2

    def finished() -> list[dict[str, Any]]:
        wanted = [app.rt.audit.get_run(i) for i in (first["started"][0], together["started"][0])]
        return [r for r in wanted if r and r["state"] != "running"]

    runs = wait_until(lambda: len(finished()) == 2 and finished(), what="both webhook runs")
    assert [r["input"]["resources"] for r in runs] == [[alone["resource"]], [other["resource"]]]
    assert all(r["state"] != "failed" for r in runs), runs


def test_the_handler_answers_well_within_a_second(app: ConnectorUnderTest) -> None:
    """Wall time of a delivery that starts a run, through the local host's front door."""
    secret = app.rt.secrets.get("bc_webhook_client_state")
    sub = subscription_to(app, "accounts")
    timings = []
    for i in range(9):
        item = notification(sub, str(uuid.uuid4()), f"2026-11-26T03:00:{i:02d}Z", secret)
        began = time.perf_counter()
        response = httpx.post(app.url + PATH, json={"value": [item]})  # type: ignore[attr-defined]
        timings.append(time.perf_counter() - began)
        assert response.status_code == 202 and len(response.json()["started"]) == 1
    median = statistics.median(timings)
    print(
        f"\nwebhook handler: median {median * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms",
        [round(t * 1000) for t in timings],
    )
    assert median < 1.0, timings


def test_a_storm_of_changes_arrives_as_one_collection(app: ConnectorUnderTest) -> None:
    before = {s.instance_id for s in webhook_runs(app)}
    app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 2000, "period": "2026-11"})
    app.sandbox.post("bc", "/_sandbox/bc/webhooks/flush")

    def new_gl_run() -> list[Any]:
        runs = [
            app.rt.audit.get_run(r["run_id"])
            for r in app.rt.audit.list_runs(flow="webhook_apply")
            if r["run_id"] not in before and r["state"] != "running"
        ]
        return [r for r in runs if r and r["input"].get("entity_set") == "generalLedgerEntries"]

    runs = wait_until(new_gl_run, what="the G/L webhook run")
    assert len(runs) == 1
    assert runs[0]["input"]["collection"] is True and runs[0]["input"]["count"] == 1
    assert runs[0]["summary"]["pending_periods"] == ["2026-11"]


def rotate_client_state(app: ConnectorUnderTest, value: str) -> None:
    info = app.sandbox.info
    credential = ClientSecretCredential(
        info["tenant_id"],
        info["client_id"],
        info["client_secret"],
        authority=info["entra"],
        disable_instance_discovery=True,
        connection_verify=info["ca_bundle"],
    )
    vault = SecretClient(
        info["keyvault"],
        credential,
        verify_challenge_resource=False,
        connection_verify=info["ca_bundle"],
    )
    vault.set_secret("bc-webhook-client-state", value)
    app.rt.secrets.forget("bc_webhook_client_state")  # as the cache TTL would, later


def test_subscriptions_bc_deletes_after_refused_deliveries_are_recreated(
    app: ConnectorUnderTest,
) -> None:
    rotate_client_state(app, "rotated-client-state-2")
    app.sandbox.post(
        "bc",
        "/_sandbox/bc/employees",
        {"action": "change", "number": "E0002", "jobTitle": "Lead Assembler"},
    )
    app.sandbox.post("bc", "/_sandbox/bc/webhooks/flush")

    # the old clientState is refused (401), so BC drops the subscription that delivery served
    def employees_subscription() -> list[dict[str, Any]]:
        return [s for s in subscriptions(app) if s["resource"].endswith("/employees")]

    wait_until(lambda: not employees_subscription(), what="BC deleting the refused subscription")
    result = app.run("renew_subscriptions")
    assert result["subscriptions"]["created"] == 1 and employees_subscription()
    app.sandbox.post(
        "bc",
        "/_sandbox/bc/employees",
        {"action": "change", "number": "E0002", "jobTitle": "Senior Assembler"},
    )
    app.sandbox.post("bc", "/_sandbox/bc/webhooks/flush")

    def updated() -> bool:
        member = next(m for m in app.sandbox.members("Employees") if m["code"] == "E0002")
        return member["properties"].get("Job Title") == "Senior Assembler"

    wait_until(updated, what="the employee change in Anaplan")


def test_purchase_orders_reach_commitments_through_polling(app: ConnectorUnderTest) -> None:
    first = app.run("poll_changes")
    assert first["summary"]["commitments"] in ("succeeded", "partially_succeeded")
    created = app.sandbox.post(
        "bc",
        "/_sandbox/bc/purchase-orders",
        {
            "action": "create",
            "status": "Open",
            "department": "PROD",
            "costCenter": "CC340",
            "lines": [
                {
                    "accountNumber": "51010",
                    "quantity": 10,
                    "directUnitCost": 123.45,
                    "expectedReceiptDate": "2027-02-15",
                }
            ],
        },
    )
    assert created
    second = app.run("poll_changes")
    assert second["summary"]["commitments"] in ("succeeded", "partially_succeeded")
    cells = app.sandbox.cells("Commitments", **{"GL Accounts": "51010", "Time": "Feb 27"})
    assert any(
        c["dimensions"]["Cost Centers"].startswith("CC340") and float(c["value"]) >= 1234.5
        for c in cells
    ), cells
    quiet = app.run("poll_changes")
    assert quiet["summary"]["commitments"] == "unchanged"


def commitment(app: ConnectorUnderTest, month: str, cost_center: str = "CC340") -> Decimal:
    """The Commitments amount of account 51010 in ``month`` for one cost center, in Anaplan."""
    cells = app.sandbox.cells("Commitments", **{"GL Accounts": "51010", "Time": month})
    return sum(
        (
            Decimal(str(c["value"]))
            for c in cells
            if c["dimensions"]["Cost Centers"].startswith(cost_center)
        ),
        Decimal(0),
    )


def order(app: ConnectorUnderTest, receipt: str, quantity: int, cost: float) -> dict[str, Any]:
    created: dict[str, Any] = app.sandbox.post(
        "bc",
        "/_sandbox/bc/purchase-orders",
        {
            "action": "create",
            "status": "Open",
            "department": "PROD",
            "costCenter": "CC340",
            "lines": [
                {
                    "accountNumber": "51010",
                    "quantity": quantity,
                    "directUnitCost": cost,
                    "expectedReceiptDate": receipt,
                }
            ],
        },
    )
    return created


def bc_of(app: ConnectorUnderTest) -> BcClient:
    return app.rt.bc(app.rt.settings.pipeline().name)


def loaded(result: dict[str, Any]) -> bool:
    return result["summary"]["commitments"] in ("succeeded", "partially_succeeded")


def test_a_deleted_purchase_order_that_is_not_the_newest_leaves_commitments(
    app: ConnectorUnderTest,
) -> None:
    before = commitment(app, "Apr 27")
    doomed = order(app, "2027-04-15", 4, 250.0)
    order(app, "2027-05-15", 1, 10.0)  # newer than the doomed one
    assert loaded(app.run("poll_changes"))
    assert commitment(app, "Apr 27") == before + 1000
    bc = bc_of(app)  # BC allows deleting a purchase order (reference §4)
    bc.send("DELETE", bc.company_url(f"purchaseOrders({doomed['id']})"), headers={"If-Match": "*"})
    after = app.run("poll_changes")
    assert loaded(after), after
    assert commitment(app, "Apr 27") == before
    assert app.run("poll_changes")["summary"]["commitments"] == "unchanged"


def test_a_change_committed_late_with_an_older_timestamp_is_picked_up(
    app: ConnectorUnderTest,
) -> None:
    late = order(app, "2027-06-15", 2, 100.0)
    time.sleep(0.2)
    newest = order(app, "2027-07-15", 1, 10.0)
    assert loaded(app.run("poll_changes"))
    base = commitment(app, "Jun 27")
    # a transaction that wrote between the two orders commits only now, after the poll
    written = parse_datetime(late["lastModifiedDateTime"])
    newest_at = parse_datetime(newest["lastModifiedDateTime"])
    assert written and newest_at
    changed = app.sandbox.post(
        "bc",
        "/_sandbox/bc/purchase-orders",
        {
            "action": "change",
            "number": late["number"],
            "stampedAt": (written + (newest_at - written) / 2).isoformat(),
            "lines": [{"sequence": late["purchaseOrderLines"][0]["sequence"], "quantity": 5}],
        },
    )
    stamped = parse_datetime(changed["lastModifiedDateTime"])
    assert stamped and written < stamped < newest_at
    picked = app.run("poll_changes")
    assert loaded(picked), picked  # the newest timestamp did not move; the lagged cursor saw it
    assert commitment(app, "Jun 27") == base + 300
    assert app.run("poll_changes")["summary"]["commitments"] == "unchanged"


def test_gl_entries_without_a_live_subscription_are_polled(app: ConnectorUnderTest) -> None:
    app.run("actuals_load", {"trigger": "cli", "mode": "incremental"})  # the actuals cursor
    bc = bc_of(app)
    url = app.url + PATH  # type: ignore[attr-defined]
    ledger = next(
        s
        for s in list_subscriptions(bc)
        if s.notification_url == url and s.resource.endswith("/generalLedgerEntries")
    )
    delete_subscription(bc, ledger)  # as BC does after failed deliveries
    # the first poll starts from the actuals cursor; what it re-reads in that cursor's overlap
    # (entries the next actuals load re-reads too) may count once, never again
    app.run("poll_changes")
    quiet = app.run("poll_changes")
    assert "generalLedgerEntries" not in quiet["summary"]["polled"], quiet
    app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 4, "period": "2026-10"})
    polled = app.run("poll_changes")
    assert "generalLedgerEntries" in polled["summary"]["polled"]
    assert polled["summary"]["pending_periods"] == ["2026-10"]
    events = list(app.rt.audit.records(polled["run_id"], kind="event"))
    assert any(e.key == "pending-periods" and e.data["periods"] == ["2026-10"] for e in events)
    again = app.run("poll_changes")
    assert "generalLedgerEntries" not in again["summary"]["polled"]
    assert app.run("renew_subscriptions")["subscriptions"]["created"] == 1


def post_count(app: ConnectorUnderTest) -> int:
    return sum(
        r["count"]
        for r in app.sandbox.requests("bc")
        if r["method"] == "POST" and r["route"].endswith("/subscriptions")
    )


def test_at_bcs_limit_strays_go_first_and_what_does_not_fit_is_polled(
    app: ConnectorUnderTest,
) -> None:
    bc = bc_of(app)
    settings = app.rt.settings
    fast = BcClient(  # other apps' subscriptions, created without our client's request budget
        dataclasses.replace(
            settings, bc=dataclasses.replace(settings.bc, rate_limit_per_minute=60_000)
        ),
        app.rt.secrets,
    )
    url = app.url + PATH  # type: ignore[attr-defined]
    secret = app.rt.secrets.get("bc_webhook_client_state")
    journals = company_resource(bc, "journals")

    def other_app(tag: str) -> None:
        create_subscription(fast, f"{url}?deployment={tag}", journals, "other")

    def drop_ours(entity_set: str) -> None:
        delete_subscription(
            bc,
            next(
                s
                for s in list_subscriptions(bc)
                if s.notification_url == url and s.resource.endswith("/" + entity_set)
            ),
        )

    create_subscription(bc, url, journals, secret)  # a stray of ours: journals are not wanted
    try:
        for i in range(MAX_SUBSCRIPTIONS - len(list_subscriptions(bc))):
            other_app(str(i))
        drop_ours("employees")  # BC dropped it, and another app took the slot
        other_app("late-1")
        assert len(list_subscriptions(bc)) == MAX_SUBSCRIPTIONS
        fitted = app.run("renew_subscriptions")["subscriptions"]
        assert (fitted["deleted"], fitted["created"], fitted["over_limit"]) == (1, 1, 0), fitted

        drop_ours("employees")
        other_app("late-2")  # full again, and nothing of ours to free
        posts = post_count(app)
        full = app.run("renew_subscriptions")
        assert full["subscriptions"]["over_limit"] == 1
        assert full["subscriptions"]["failed_entity_sets"] == ["employees"]
        assert post_count(app) == posts  # a create that cannot fit is not attempted
        events = list(app.rt.audit.records(full["run_id"], kind="event"))
        assert any(
            e.key == "subscription:employees" and "polled instead" in e.reason for e in events
        ), events

        app.run("poll_changes")  # employees are polled from now on
        app.sandbox.post(
            "bc",
            "/_sandbox/bc/employees",
            {"action": "change", "number": "E0003", "jobTitle": "Polled Planner"},
        )
        polled = app.run("poll_changes")
        assert "employees" in polled["summary"]["polled"]
        member = next(m for m in app.sandbox.members("Employees") if m["code"] == "E0003")
        assert member["properties"].get("Job Title") == "Polled Planner"
    finally:
        for sub in list_subscriptions(fast):
            if sub.notification_url != url:
                delete_subscription(fast, sub)


def test_three_days_without_renewal_lapse_and_the_renewal_restores(
    app: ConnectorUnderTest,
) -> None:
    assert [s for s in subscriptions(app) if s["notificationUrl"].startswith(app.url)]  # type: ignore[attr-defined]
    app.sandbox.post("bc", "/_sandbox/clock", {"advance_seconds": 3 * 86400 + 60})
    wait_until(
        lambda: not [s for s in subscriptions(app) if s["notificationUrl"].startswith(app.url)],  # type: ignore[attr-defined]
        what="the subscriptions to lapse",
    )
    result = app.run("renew_subscriptions")
    assert result["subscriptions"]["created"] == 4
    assert len([s for s in subscriptions(app) if s["notificationUrl"].startswith(app.url)]) == 4  # type: ignore[attr-defined]
