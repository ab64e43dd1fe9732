"""One incremental actuals load at a time, also when a poll starts it.

With ``webhooks.autoload_actuals``, a poll that finds new G/L entries starts the incremental
actuals load. It starts it under the actuals work key (``actuals:<scope>:incremental@<time>``),
the family the nightly timer, the webhook endpoint and ``POST /api/runs/actuals_load`` check, so
none of them starts a second load while the poll's runs; and a poll that finds a run of that
work recorded as running starts none. BC is slowed down (every request answered after 0.4 s) so
that the poll's load is still running when the API is asked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bc_anaplan import workkeys
from tests.support.connector import ConnectorUnderTest, connector
from tests.support.processes import running_sandbox

APP_ROOT = Path(__file__).resolve().parents[2]
FAST_BC = {"BC_RATE_LIMIT_PER_MINUTE": "3000"}
SLOW_BC = {"spec": "bc:slow=1.0,slow_s=0.4"}


@pytest.fixture(scope="module")
def app(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectorUnderTest]:
    pipeline_file = (APP_ROOT / "connector.toml").read_text()
    assert "autoload_actuals = false" in pipeline_file
    config = tmp_path_factory.mktemp("autoload") / "connector.toml"
    config.write_text(pipeline_file.replace("autoload_actuals = false", "autoload_actuals = true"))
    with running_sandbox("--scale", "small", "--fast") as info:
        env = {**info["connector_env"], **FAST_BC, "CONNECTOR_CONFIG_PATH": str(config)}
        with connector({**info, "connector_env": env}, azurite) as c:
            c.run("actuals_load", {"mode": "incremental", "trigger": "cli"})  # sets the cursor
            c.run("poll_changes", {"trigger": "timer"})  # and the poll marks
            yield c


def actuals_key(c: ConnectorUnderTest) -> str:
    return workkeys.actuals_load(c.rt.settings.pipeline())


def loads(c: ConnectorUnderTest, *statuses: str) -> set[str]:
    """Actuals loads of the incremental work key (not their reference-sync sub-runs)."""
    prefix = f"{actuals_key(c)}@"
    return {
        str(s.instance_id)
        for s in c.host.list_instances()
        if s.instance_id.startswith(prefix)
        and ":" not in s.instance_id[len(prefix) :]
        and (not statuses or s.runtime_status in statuses)
    }


def running_load(c: ConnectorUnderTest, timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = loads(c, "Running", "Pending")
        if running:
            assert len(running) == 1, running
            return running.pop()
        time.sleep(0.05)
    raise AssertionError("no actuals load started")


def start_by_api(c: ConnectorUnderTest) -> httpx.Response:
    door = c.host.serve(port=0)
    with httpx.Client(timeout=60) as http:
        return http.post(
            f"{door.url}/api/runs/actuals_load",
            json={"mode": "incremental"},
            headers={"x-functions-key": door.function_key},
        )


def test_the_api_refuses_an_actuals_load_while_the_polls_load_runs(app: ConnectorUnderTest) -> None:
    before = loads(app)
    app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 20, "period": "2026-12"})
    app.sandbox.post("bc", "/_sandbox/faults", SLOW_BC)
    try:
        poll = app.host.start_new("poll_changes", {"trigger": "timer"}, instance_id="poll-1")
        loading = running_load(app)
        assert loading not in before
        assert workkeys.work_key_of(loading) == actuals_key(app)
        refused = start_by_api(app)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["instanceId"] == loading
    finally:
        app.sandbox.post("bc", "/_sandbox/faults", {"clear": True})
    status = app.host.wait_for(poll, timeout_s=300)
    assert status.runtime_status == "Completed", status
    summary = status.output["summary"]
    assert summary["actuals"] == "succeeded", summary
    assert summary["runs"]["actuals"] == loading
    assert loads(app) - before == {loading}  # the API started nothing


def test_a_poll_starts_no_load_while_one_is_recorded_running(app: ConnectorUnderTest) -> None:
    """The poll asks the audit trail (it cannot ask the task hub); a run record stands in for a
    load another trigger started, so the test does not race that load."""
    before = loads(app)
    other = workkeys.instance_id(actuals_key(app), datetime.now(UTC))
    pipeline = app.rt.settings.pipeline().name
    app.rt.audit.start_run(other, "actuals_load", "timer", pipeline, {"mode": "incremental"})
    try:
        app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 20, "period": "2026-11"})
        polled = app.run("poll_changes", {"trigger": "timer"})
    finally:
        app.rt.audit.finish_run(other, "succeeded", {})
    summary = polled["summary"]
    assert summary["pending_periods"] == ["2026-11"], summary
    assert summary["actuals"] == "already_running" and summary["runs"]["actuals"] == other
    assert loads(app) == before  # no second load
    # the periods stay pending: the next incremental load reads them
    loaded = app.run("actuals_load", {"mode": "incremental", "trigger": "cli"})
    assert loaded["state"] == "succeeded", loaded
    assert "2026-11" in loaded["summary"]["periods"]
