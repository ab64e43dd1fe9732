"""BC webhooks end to end: the real handshake, notifications from the sandbox, renewal, polling.

The app runs on the local host with its front door on a known loopback port, which is also its
``PUBLIC_BASE_URL``: the sandbox's BC performs the validation handshake against it and delivers
notifications to it, exactly as BC would to the Function App. Tests run in order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

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


def test_duplicate_deliveries_start_one_run(app: ConnectorUnderTest) -> None:
    secret = app.rt.secrets.get("bc_webhook_client_state")
    sub = next(s for s in subscriptions(app) if s["resource"].endswith("/employees"))
    body = {
        "value": [
            {
                "subscriptionId": sub["subscriptionId"],
                "clientState": secret,
                "expirationDateTime": sub["expirationDateTime"],
                "resource": sub["resource"] + "(00000000-0000-0000-0000-000000000001)",
                "changeType": "updated",
                "lastModifiedDateTime": "2026-11-26T01:02:03Z",
            }
        ]
    }
    first = httpx.post(app.url + PATH, json=body).json()  # type: ignore[attr-defined]
    second = httpx.post(app.url + PATH, json=body).json()  # type: ignore[attr-defined]
    assert len(first["started"]) == 1 and second["started"] == []
    assert second["duplicates"] == first["started"]
    unknown = {"value": [{**body["value"][0], "subscriptionId": "0" * 32}]}
    ignored = httpx.post(app.url + PATH, json=unknown)  # type: ignore[attr-defined]
    assert ignored.status_code == 202 and ignored.json()["ignored"] == 1


def test_a_storm_of_changes_arrives_as_one_collection(app: ConnectorUnderTest) -> None:
    before = {s.instance_id for s in webhook_runs(app)}
    app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 2000, "period": "2026-11"})
    app.sandbox.post("bc", "/_sandbox/bc/webhooks/flush")

    def new_gl_run() -> list[Any]:
        return [
            r
            for r in app.rt.audit.list_runs(flow="webhook_apply")
            if r["run_id"] not in before
            and r["input"].get("entity_set") == "generalLedgerEntries"
            and r["state"] != "running"
        ]

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
