"""The front door: HTTP triggers behind function keys, the SDK's durable client, timers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from local_host import LocalHost, RealClock
from tests.local_host import app as test_app
from tests.local_host.conftest import MakeHost


@pytest.fixture
def served(make_host: MakeHost) -> Iterator[tuple[LocalHost, httpx.Client]]:
    host = make_host(clock=RealClock())
    endpoint = host.serve()
    with httpx.Client(base_url=endpoint.url, timeout=30) as http:
        yield host, http


def test_durable_client_starts_and_queries_an_instance_from_http_triggers(
    served: tuple[LocalHost, httpx.Client],
) -> None:
    host, http = served
    key = {"x-functions-key": host.function_key}
    started = http.post(
        "/api/orchestrators/chain?id=via-http", json={"city": "Bergen"}, headers=key
    )
    assert started.status_code == 202
    links = started.json()
    assert links["id"] == "via-http"
    assert started.headers["Location"] == links["statusQueryGetUri"]
    assert host.wait_for("via-http", timeout_s=20).runtime_status == "Completed"

    status = http.get("/api/instances/via-http", params={"code": host.function_key})
    assert status.json() == {"status": "Completed", "output": ["Hello Bergen", "HELLO BERGEN!"],
                             "custom": {"done": 1, "total": 2}}  # fmt: skip
    # The management links the client handed out work too (they carry the key).
    assert http.get(links["statusQueryGetUri"]).json()["runtimeStatus"] == "Completed"
    assert http.get("/api/instances/nobody", headers=key).status_code == 404


def test_durable_client_refuses_to_start_a_running_id(
    served: tuple[LocalHost, httpx.Client],
) -> None:
    host, http = served
    host.start_new("approval", 24, instance_id="busy")
    second = http.post("/api/orchestrators/approval?id=busy", json=24,
                       headers={"x-functions-key": host.function_key})  # fmt: skip
    assert second.status_code == 500  # the client raised: the instance already exists
    host.terminate("busy", "test over")


def test_management_api_raises_events_and_terminates(
    served: tuple[LocalHost, httpx.Client],
) -> None:
    host, http = served
    links = http.post("/api/orchestrators/approval", json=24,
                      headers={"x-functions-key": host.function_key}).json()  # fmt: skip
    raised = http.post(links["sendEventPostUri"].replace("{eventName}", "approved"), json=["ok"])
    assert raised.status_code == 202
    # A plain HTTP caller's JSON body arrives as the value (the SDK client's arrives as text).
    assert host.wait_for(links["id"], timeout_s=20).output == {"approved": ["ok"]}

    other = http.post("/api/orchestrators/approval", json=24,
                      headers={"x-functions-key": host.function_key}).json()  # fmt: skip
    assert http.post(other["terminatePostUri"].replace("{text}", "bye")).status_code == 202
    assert host.wait_for(other["id"], timeout_s=20).runtime_status == "Terminated"
    assert http.post(other["terminatePostUri"].replace("{text}", "again")).status_code == 410

    # A bare JSON string that is not JSON inside: the orchestrator fails, the status still reads.
    webhook = f"/runtime/webhooks/durabletask/orchestrators/chain?code={host.function_key}"
    bare = http.post(webhook, content='"Oslo"', headers={"Content-Type": "application/json"})
    status = host.wait_for(bare.json()["id"], timeout_s=20)
    assert (status.runtime_status, status.input) == ("Failed", "Oslo")


def test_entities_through_the_durable_client(served: tuple[LocalHost, httpx.Client]) -> None:
    host, http = served
    params = {"code": host.function_key}
    assert http.get("/api/counter/web", params=params).json() == {"exists": False, "state": None}
    assert http.post("/api/counter/web", params={**params, "by": "4"}).status_code == 202
    deadline = time.monotonic() + 20
    while http.get("/api/counter/web", params=params).json()["state"] != 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_function_keys_are_enforced(served: tuple[LocalHost, httpx.Client]) -> None:
    host, http = served
    assert http.get("/api/instances/x").status_code == 401
    assert http.get("/api/instances/x", params={"code": "wrong"}).status_code == 401
    assert http.get("/api/instances/x", headers={"x-functions-key": "wrong"}).status_code == 401
    assert http.get("/api/instances/x", params={"code": host.function_key}).status_code == 404
    assert http.get("/runtime/webhooks/durabletask/instances/x").status_code == 401
    assert http.get("/api/ping", params={"x": "1"}).text == "pong 1"  # ANONYMOUS
    assert http.post("/api/instances/x", params={"code": host.function_key}).status_code == 404


def test_the_rest_of_the_client_api(served: tuple[LocalHost, httpx.Client]) -> None:
    host, http = served
    params = {"code": host.function_key}
    host.start_new("approval", 24, instance_id="ops-1")
    host.start_new("approval", 24, instance_id="ops-2")
    assert http.post("/api/ops/query", params=params).json() == ["ops-1", "ops-2"]
    assert http.post("/api/ops/raise/ops-1", params=params).status_code == 200
    assert host.wait_for("ops-1", timeout_s=20).output == {"approved": '{"via": "client"}'}
    assert http.post("/api/ops/terminate/ops-2", params=params).status_code == 200
    assert host.wait_for("ops-2", timeout_s=20).runtime_status == "Terminated"
    assert http.post("/api/ops/restart/ops-1", params=params).json()["id"] == "ops-1"
    assert host.get_status("ops-1").runtime_status in ("Pending", "Running")  # type: ignore[union-attr]
    assert http.post("/api/ops/purge/ops-2", params=params).json() == 1
    assert host.get_status("ops-2") is None
    host.terminate("ops-1", "test over")


def test_timer_triggers_fire_on_their_schedule(make_host: MakeHost) -> None:
    test_app.ticks.clear()
    host = make_host(clock=RealClock(), env={"LOCAL_HOST_TEST_TICK": "*/1 * * * * *"})
    host.serve()
    deadline = time.monotonic() + 10
    while len(test_app.ticks) < 2:
        assert time.monotonic() < deadline, "the every-second timer trigger did not fire twice"
        time.sleep(0.05)
    assert test_app.ticks[1] - test_app.ticks[0] >= 0.5
    # The other timer function started a singleton through its durable client binding.
    status = host.wait_for("from-timer", timeout_s=20)
    assert status.output == ["Hello Tromso", "HELLO TROMSO!"]
