"""One writeback of a plan version at a time, whichever way the writebacks start.

The approval watch starts its writebacks under the version's work key (``writeback:<scope>:
<version>@<time>``), the family ``POST /api/writeback`` checks, so the API refuses a second
writeback of a version the watch is writing; and a watch that finds a version owned by a
running writeback (started by the API) leaves it alone. BC is slowed down (every request
answered after 0.4 s) so that a writeback is still running when the other trigger fires.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bc_anaplan.flows.writeback import WritebackState
from tests.support.connector import ConnectorUnderTest, connector
from tests.support.processes import running_sandbox

FAST_BC = {"BC_RATE_LIMIT_PER_MINUTE": "3000"}
SLOW_BC = {"spec": "bc:slow=1.0,slow_s=0.4"}


@pytest.fixture(scope="module")
def app(azurite: str) -> Iterator[ConnectorUnderTest]:
    with running_sandbox("--scale", "small", "--fast") as info:
        info = {**info, "connector_env": {**info["connector_env"], **FAST_BC}}
        with connector(info, azurite) as c:
            c.run("reference_sync")
            yield c


def approve(c: ConnectorUnderTest, version: str, rows: int) -> None:
    c.sandbox.post("anaplan_api", "/_sandbox/anaplan/budget", {"version": version, "rows": rows})
    c.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": version})


def running_writeback(c: ConnectorUnderTest, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for status in c.host.list_instances():
            if status.instance_id.startswith("writeback:") and status.runtime_status in (
                "Running",
                "Pending",
            ):
                return str(status.instance_id)
        time.sleep(0.05)
    raise AssertionError("no writeback started")


def start_by_api(c: ConnectorUnderTest, version: str) -> httpx.Response:
    door = c.host.serve(port=0)
    with httpx.Client(timeout=60) as http:
        return http.post(
            f"{door.url}/api/writeback",
            json={"version": version},
            headers={"x-functions-key": door.function_key},
        )


def test_the_api_refuses_a_version_the_watch_is_writing(app: ConnectorUnderTest) -> None:
    version = "Budget FY27"
    approve(app, version, 300)
    app.sandbox.post("bc", "/_sandbox/faults", SLOW_BC)
    try:
        watch = app.host.start_new("approval_watch", {"trigger": "timer"}, instance_id="watch-1")
        writing = running_writeback(app)
        assert writing.startswith("writeback:") and "Budget-FY27@" in writing
        refused = start_by_api(app, version)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["instanceId"] == writing
    finally:
        app.sandbox.post("bc", "/_sandbox/faults", {"clear": True})
    status = app.host.wait_for(watch, timeout_s=300)
    assert status.runtime_status == "Completed", status
    output: dict[str, Any] = status.output
    assert output["written_back"] == [{"version": version, "state": "succeeded", "run_id": writing}]


def test_the_watch_leaves_a_version_the_api_is_writing(app: ConnectorUnderTest) -> None:
    version = "Forecast FY27"
    approve(app, version, 300)
    app.sandbox.post("bc", "/_sandbox/faults", SLOW_BC)
    try:
        started = start_by_api(app, version)
        assert started.status_code == 202, started.text
        writing = started.json()["id"]
        deadline = time.monotonic() + 120
        while WritebackState(app.rt).get("fpa", version).get("PendingRun") != writing:
            assert time.monotonic() < deadline, "the writeback never began writing"
            time.sleep(0.05)
        watch = app.run("approval_watch", {"trigger": "timer"})
        assert app.host.get_status(writing).runtime_status == "Running"  # still writing
    finally:
        app.sandbox.post("bc", "/_sandbox/faults", {"clear": True})
    assert watch["written_back"] == [] and watch["being_written"] == [version]
    status = app.host.wait_for(writing, timeout_s=300)
    assert status.runtime_status == "Completed" and status.output["state"] == "succeeded"
    # once it is written, the next watch has nothing to do
    quiet = app.run("approval_watch", {"trigger": "timer"})
    assert quiet["written_back"] == [] and quiet["being_written"] == []
