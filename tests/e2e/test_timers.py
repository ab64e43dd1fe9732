"""Timer triggers start their flows on schedule, once per unit of work, never twice at a time."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

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


def test_nightly_actuals_timer_starts_one_load_at_a_time(app: ConnectorUnderTest) -> None:
    app.host.serve(port=0)
    seen: set[str] = set()
    concurrent = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        loads = [
            s
            for s in app.host.list_instances()
            if s.instance_id.startswith("actuals:")
            and "@" in s.instance_id
            and ":" not in s.instance_id.split("@", 1)[1]
        ]
        seen.update(s.instance_id for s in loads)
        running = [s for s in loads if s.runtime_status in ("Running", "Pending")]
        concurrent = max(concurrent, len(running))
        if any(s.runtime_status == "Completed" for s in loads) and len(seen) >= 2:
            break
        time.sleep(0.2)
    assert seen, "the timer never started an actuals load"
    assert concurrent == 1
    runs = app.rt.audit.list_runs(flow="actuals_load")
    assert runs and all(r["trigger"] == "timer" for r in runs)
