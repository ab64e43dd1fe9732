"""Timer triggers start their flows on schedule, once per unit of work, never twice at a time."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from local_host.host import Status
from tests.reliability.harness import clear_faults, set_faults
from tests.support.connector import ConnectorUnderTest, connector
from tests.support.processes import running_sandbox


@pytest.fixture(scope="module")
def app(azurite: str) -> Iterator[ConnectorUnderTest]:
    from local_host import RealClock

    with running_sandbox("--scale", "small", "--fast") as info:
        info = {
            **info,
            "connector_env": {
                **info["connector_env"],
                "ACTUALS_SCHEDULE": "*/2 * * * * *",
                "REFERENCE_SYNC_SCHEDULE": "0 0 0 1 1 *",
                "EMPLOYEES_SCHEDULE": "0 0 0 1 1 *",
            },
        }
        with connector(info, azurite, clock=RealClock()) as c:
            yield c


SLOW_FOR_S = 5.0  # how long BC stays slow once the first load runs: two ticks at least
_first_seen: dict[str, float] = {}


def first_seen(status: Status) -> float:
    """When this test first saw the instance running (monotonic seconds)."""
    return _first_seen.setdefault(status.instance_id, time.monotonic())


def actuals_loads(app: ConnectorUnderTest) -> list[Status]:
    """Actuals loads started by a trigger (``actuals:<work key>@<start time>``)."""
    return [
        s
        for s in app.host.list_instances()
        if s.instance_id.startswith("actuals:")
        and "@" in s.instance_id
        and ":" not in s.instance_id.split("@", 1)[1]
    ]


def test_nightly_actuals_timer_starts_one_load_at_a_time(
    app: ConnectorUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """Ticks every 2 s; BC answers slowly at first, so the first load spans several ticks: they
    land while it runs and start nothing. Once BC is quick again the load ends, and the next
    tick starts the next load."""
    caplog.set_level(logging.INFO, logger="triggers.starting")
    set_faults(app.sandbox, "bc:slow=1.0,slow_s=1.0")  # every BC answer a second late
    app.host.serve(port=0)
    seen: set[str] = set()
    concurrent = 0
    slowed = True
    deadline = time.monotonic() + 25
    try:
        while time.monotonic() < deadline:
            loads = actuals_loads(app)
            seen.update(s.instance_id for s in loads)
            running = [s for s in loads if s.runtime_status in ("Running", "Pending")]
            concurrent = max(concurrent, len(running))
            if slowed and running and time.monotonic() - first_seen(running[0]) >= SLOW_FOR_S:
                clear_faults(app.sandbox)  # the first load may finish now
                slowed = False
            if any(s.runtime_status == "Completed" for s in loads) and len(seen) >= 2:
                break
            time.sleep(0.2)
    finally:
        clear_faults(app.sandbox)
    assert seen, "the timer never started an actuals load"
    assert len(seen) >= 2, seen
    assert concurrent == 1
    loads = sorted(actuals_loads(app), key=lambda s: s.created_time)
    first = loads[0]
    assert first.runtime_status == "Completed", first
    # the first load ran across several ticks (one every 2 s) ...
    assert (first.last_updated_time - first.created_time).total_seconds() >= SLOW_FOR_S
    # ... each of which was refused because it was running, and none started another load
    message = f"already running as {first.instance_id}; not starting it again"
    refused = [
        r for r in caplog.records if r.name == "triggers.starting" and message in r.getMessage()
    ]
    assert len(refused) >= 2, [r.getMessage() for r in caplog.records]
    assert all(s.created_time >= first.last_updated_time for s in loads[1:]), loads
    runs = app.rt.audit.list_runs(flow="actuals_load")
    assert {r["run_id"] for r in runs} == {s.instance_id for s in loads}
    assert all(r["trigger"] == "timer" for r in runs)
