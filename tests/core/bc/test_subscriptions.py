"""Webhook subscriptions on a sandbox of our own (its clock moves days ahead).

The receiver below plays the connector's webhook endpoint for BC's validation handshake only:
it answers ``validationToken`` with the token, as the HTTP trigger will.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bc_anaplan.bc import (
    BcClient,
    BcError,
    create_subscription,
    delete_subscription,
    ensure_subscriptions,
    list_subscriptions,
    renew_subscription,
)
from bc_anaplan.bc.encoding import parse_datetime
from bc_anaplan.bc.subscriptions import MAX_SUBSCRIPTIONS, company_resource
from tests.core.bc.conftest import API, Controls, make_client
from tests.support.processes import running_sandbox

DAY = 86_400


class Receiver:
    """A loopback HTTP endpoint that passes (or fails) BC's validation handshake."""

    def __init__(self) -> None:
        self.healthy = True
        self.handshakes = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                token = parse_qs(urlsplit(self.path).query).get("validationToken", [""])[0]
                receiver.handshakes += bool(token)
                body = token.encode() if receiver.healthy else b"down"
                self.send_response(200 if receiver.healthy else 500)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/bc-webhook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def own() -> Iterator[dict[str, Any]]:
    with running_sandbox("--scale", "100", "--fast") as info:
        yield info


@pytest.fixture(scope="module")
def own_controls(own: dict[str, Any]) -> Iterator[Controls]:
    c = Controls(own)
    yield c
    c.http.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def client(own: dict[str, Any]) -> Iterator[BcClient]:
    c = make_client(own)
    yield c
    for subscription in list_subscriptions(c):
        delete_subscription(c, subscription)


def test_create_list_renew_delete(
    client: BcClient, own_controls: Controls, receiver: Receiver, own: dict[str, Any]
) -> None:
    resource = company_resource(client, "generalLedgerEntries")
    created = create_subscription(client, receiver.url, resource, own["webhook_client_state"])
    assert len(created.id) == 32 and receiver.handshakes == 1
    assert [s.id for s in list_subscriptions(client)] == [created.id]
    assert "sbx-" not in repr(created)  # the client state is a secret
    own_controls.advance_clock(DAY)
    renewed = renew_subscription(client, created)
    assert receiver.handshakes == 2  # BC validates again on renew
    assert created.expiration and renewed.expiration
    assert renewed.expiration - created.expiration >= timedelta(hours=23)
    assert delete_subscription(client, renewed) is True
    assert list_subscriptions(client) == []
    assert delete_subscription(client, renewed) is False  # already gone: not an error


def test_failed_handshake_is_reported_with_bc_message(client: BcClient, receiver: Receiver) -> None:
    receiver.healthy = False
    with pytest.raises(BcError) as caught:
        create_subscription(client, receiver.url, company_resource(client, "accounts"))
    assert caught.value.status == 400
    assert "could not be validated" in caught.value.message
    assert list_subscriptions(client) == []


def test_ensure_renews_what_expires_and_recreates_what_bc_deleted(
    client: BcClient, own_controls: Controls, receiver: Receiver
) -> None:
    sets = ["generalLedgerEntries", "accounts", "dimensionValues"]

    def ensure() -> Any:
        now = parse_datetime(own_controls.advance_clock(0)["now"])
        return ensure_subscriptions(client, receiver.url, sets, "state-0123456789", now=now)

    first = ensure()
    assert (len(first.created), len(first.renewed), len(first.unchanged)) == (3, 0, 0)
    assert len(ensure().unchanged) == 3
    own_controls.advance_clock(1.5 * DAY)  # less than 2 days left: renew
    renewed = ensure()
    assert len(renewed.renewed) == 3 and not renewed.created
    own_controls.advance_clock(3.5 * DAY)  # BC purges subscriptions not renewed for 3 days
    assert list_subscriptions(client) == []
    recreated = ensure()
    assert len(recreated.created) == 3
    assert {s.resource.rsplit("/", 1)[1] for s in list_subscriptions(client)} == set(sets)


def test_lost_answers_to_create_and_renew_are_reconciled(
    client: BcClient, own_controls: Controls, receiver: Receiver
) -> None:
    resource = company_resource(client, "employees")
    subscriptions = API + "/subscriptions"
    try:
        # BC processes the POST, then the connection drops before the answer
        own_controls.faults({"rules": [{"service": "bc", "kind": "drop", "method": "POST",
                                        "route": subscriptions}]})  # fmt: skip
        created = create_subscription(client, receiver.url, resource)
        assert [s.id for s in list_subscriptions(client)] == [created.id]
        own_controls.advance_clock(DAY)
        list_subscriptions(client)  # renews the expired token first, so the PATCH is processed
        own_controls.faults({"rules": [{"service": "bc", "kind": "drop", "method": "PATCH",
                                        "route": subscriptions + "({id})"}]})  # fmt: skip
        renewed = renew_subscription(client, created)
    finally:
        own_controls.clear_faults()
    assert renewed.id == created.id and renewed.etag != created.etag
    assert renewed.expiration and created.expiration and renewed.expiration > created.expiration
    assert len(list_subscriptions(client)) == 1
    log = own_controls.requests()
    assert log[("POST", subscriptions, 0)] >= 1  # the dropped create really happened
    assert log[("PATCH", subscriptions + "({id})", 409)] >= 1  # its repeat met the new ETag


def test_at_the_limit_strays_go_first_and_nothing_over_it_is_attempted(
    client: BcClient, own_controls: Controls, receiver: Receiver, own: dict[str, Any]
) -> None:
    create_subscription(client, receiver.url, company_resource(client, "accounts"))
    create_subscription(client, receiver.url, company_resource(client, "journals"))
    # other apps (other notification URLs) fill BC up to its limit of 200 per environment
    others = make_client(own, BC_RATE_LIMIT_PER_MINUTE="60000")
    for i in range(MAX_SUBSCRIPTIONS - 2):
        create_subscription(
            others, f"{receiver.url}?app={i}", company_resource(client, "generalLedgerEntries")
        )
    assert len(list_subscriptions(client)) == MAX_SUBSCRIPTIONS
    try:
        _strays_first_then_the_limit(client, own_controls, receiver)
    finally:
        for sub in list_subscriptions(others):
            delete_subscription(others, sub)


def _strays_first_then_the_limit(
    client: BcClient, own_controls: Controls, receiver: Receiver
) -> None:
    stray = next(s for s in list_subscriptions(client) if s.resource.endswith("/journals"))

    # the stray is deleted before the create, so the missing subscription fits
    report = ensure_subscriptions(client, receiver.url, ["accounts", "employees"])
    assert [s.id for s in report.deleted] == [stray.id]
    assert [s.resource.rsplit("/", 1)[1] for s in report.created] == ["employees"]
    assert report.over_limit == [] and report.failed == {}
    assert report.held == MAX_SUBSCRIPTIONS == len(list_subscriptions(client))

    # full, nothing of ours to free: the create is not even attempted
    posts = own_controls.requests()
    wanted = ["accounts", "employees", "dimensionValues"]
    full = ensure_subscriptions(client, receiver.url, wanted)
    assert full.over_limit == ["dimensionValues"] and not full.created and not full.deleted
    assert len(full.unchanged) == 2
    after = own_controls.requests()
    route = API + "/subscriptions"
    assert sum(n for (m, r, _), n in after.items() if (m, r) == ("POST", route)) == sum(
        n for (m, r, _), n in posts.items() if (m, r) == ("POST", route)
    )
