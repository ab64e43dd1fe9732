"""The ops API through the front door: keys, validation, starting, reading, stopping, locks, ping.

Requests go over HTTP to the local host, which runs the real app; what a request changed is
checked in the task hub (instances) and the audit trail (run records), never in the API's own
answer alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from bc_anaplan.ops import cli
from tests.ops.conftest import OpsApp
from tests.support.processes import REPO_ROOT

UNKNOWN = quote("reference:nope@20990101T000000000000Z", safe="")
ENDPOINTS = [  # (method, path, a harmless body with the key: bad input or a read)
    ("GET", "/api/health", None),
    ("GET", "/api/ping", None),
    ("GET", "/api/runs", None),
    ("POST", "/api/runs/reference_sync", {"bogus": 1}),
    ("GET", f"/api/runs/{UNKNOWN}", None),
    ("GET", f"/api/runs/{UNKNOWN}/report", None),
    ("POST", f"/api/runs/{UNKNOWN}/rerun", {}),
    ("POST", f"/api/runs/{UNKNOWN}/replay", {}),
    ("POST", f"/api/runs/{UNKNOWN}/terminate", {}),
    ("POST", "/api/locks/x/y/release", {}),
    ("POST", "/api/retention", {"older_than_days": -1}),
    ("POST", "/api/writeback", {}),
]


def lock_key(ops: OpsApp) -> str:
    env = ops.c.env
    return f"{env['ANAPLAN_WORKSPACE_ID'].lower()}:{env['ANAPLAN_MODEL_ID'].upper()}"


def run_ids(ops: OpsApp) -> set[str]:
    return {r["run_id"] for r in ops.c.rt.audit.list_runs()}


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_wants_the_function_key(
    ops: OpsApp, method: str, path: str, body: object
) -> None:
    before = ops.instances()
    refused = ops.call(method, path, key=False, json=body)
    assert refused.status_code == 401
    wrong = ops.http.request(method, path, json=body, headers={"x-functions-key": "nope"})
    assert wrong.status_code == 401
    answered = ops.call(method, path, json=body)
    assert answered.status_code not in (401, 500), answered.text
    as_query = ops.call(method, path, key=False, json=body, params={"code": ops.key})
    assert as_query.status_code == answered.status_code
    assert ops.instances() == before


BAD_STARTS = [
    ("payroll_sync", {}, 404, "UnknownFlow", "known: reference_sync, actuals_load"),
    ("actuals_load", {"mode": "period", "periods": ["2025-13"]}, 400, "BadPeriod", "2025-13"),
    ("actuals_load", {"mode": "period", "periods": ["March"]}, 400, "BadPeriod", "YYYY-MM"),
    ("actuals_load", {"mode": "period"}, 400, "BadRequest", "needs 'periods'"),
    ("actuals_load", {"mode": "incremental", "periods": ["2025-03"]}, 400, "BadRequest", "only"),
    ("actuals_load", {"mode": "weekly"}, 400, "BadRequest", "'mode'"),
    ("plan_writeback", {}, 400, "BadRequest", "'version'"),
    ("plan_writeback", {"version": "B", "policy": "yolo"}, 400, "BadRequest", "'policy'"),
    ("reference_sync", {"pipeline": "sales"}, 400, "UnknownPipeline", "known: fpa"),
    ("employees_load", {"colour": "red"}, 400, "BadRequest", "unknown field(s)"),
]


@pytest.mark.parametrize(("flow", "body", "status", "code", "words"), BAD_STARTS)
def test_a_bad_start_is_refused_with_the_reason_and_starts_nothing(
    ops: OpsApp, flow: str, body: dict[str, object], status: int, code: str, words: str
) -> None:
    before, runs = ops.instances(), run_ids(ops)
    answer = ops.call("POST", f"/api/runs/{flow}", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and words in error["message"], error
    assert ops.instances() == before and run_ids(ops) == runs


def test_bodies_that_are_not_small_json_objects_are_refused(ops: OpsApp) -> None:
    before = ops.instances()
    cases = [
        (b"{not json", "InvalidJson"),
        (b"[1, 2]", "InvalidJson"),
        (json.dumps({"version": "x" * 20_000}).encode(), "BodyTooLarge"),
    ]
    for content, code in cases:
        for path in ("/api/runs/plan_writeback", f"/api/runs/{UNKNOWN}/terminate"):
            answer = ops.call("POST", path, content=content)
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["error"]["code"] == code
    assert ops.instances() == before


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"flow": "nope"}, "unknown flow"),
        ({"state": "sleeping"}, "unknown state"),
        ({"since": "yesterday"}, "ISO 8601"),
        ({"limit": "0"}, "'limit'"),
        ({"limit": "5000"}, "'limit'"),
        ({"colour": "red"}, "unknown field(s)"),
    ],
)
def test_bad_run_list_filters_are_refused(ops: OpsApp, params: dict[str, str], words: str) -> None:
    answer = ops.call("GET", "/api/runs", params=params)
    assert answer.status_code == 400 and words in answer.json()["error"]["message"]


@pytest.mark.parametrize("suffix", ["", "/report", "/rerun", "/replay", "/terminate"])
def test_an_unknown_run_is_404(ops: OpsApp, suffix: str) -> None:
    method = "GET" if suffix in ("", "/report") else "POST"
    answer = ops.call(method, f"/api/runs/{UNKNOWN}{suffix}", json={} if method == "POST" else None)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "UnknownRun"
    assert "reference:nope@" in answer.json()["error"]["message"]


def test_bad_lock_releases_are_refused(ops: OpsApp) -> None:
    workspace, model = lock_key(ops).split(":")
    other_model = "A" * 32
    before = ops.c.host.read_entity_state("ModelLock", lock_key(ops))
    cases = [
        (f"/api/locks/x/{model}/release", {"by": "a", "reason": "r"}, 400, "BadId"),
        (f"/api/locks/{workspace}/{other_model}/release", {"by": "a", "reason": "r"}, 404, ""),
        (f"/api/locks/{workspace}/{model}/release", {"by": "ana"}, 400, "'reason'"),
        (f"/api/locks/{workspace}/{model}/release", {"reason": "stuck"}, 400, "'by'"),
    ]
    for path, body, status, words in cases:
        answer = ops.call("POST", path, json=body)
        assert answer.status_code == status, answer.text
        assert words in json.dumps(answer.json())
    assert ops.c.host.read_entity_state("ModelLock", lock_key(ops)) == before


def test_health_is_cheap_and_tells_no_secrets(ops: OpsApp) -> None:
    answer = ops.ok("GET", "/api/health")
    assert answer == {"status": "ok", "pipelines": ["fpa"]}


def test_ping_resolves_everything_and_names_what_is_missing(ops: OpsApp) -> None:
    ping = ops.ok("GET", "/api/ping")
    assert ping["ok"] and ping["missing"] == []
    names = {(c["check"], c["name"]) for c in ping["checks"]}
    assert ("Anaplan import", "Import GL Actuals") in names
    assert ("Anaplan export", "Export Approved Budget") in names
    assert ("BC journal batch", "PLAN") in names
    assert ("Anaplan list", "Cost Centers") in names
    ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/archive")
    try:
        archived = ops.ok("GET", "/api/ping")
    finally:
        ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/unlock")
    assert not archived["ok"]
    missing = {c["check"]: c["detail"] for c in archived["missing"]}
    assert "archived" in missing["Anaplan model"]
    assert missing["Anaplan import"].startswith("skipped: Anaplan model failed")
    assert all(c["ok"] for c in archived["checks"] if c["system"] == "bc")


def test_a_started_run_is_listed_and_shown_with_steps_and_status(ops: OpsApp) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    started = ops.call("POST", "/api/runs/reference_sync", json={})
    assert started.status_code == 202
    body = started.json()
    instance = body["id"]
    assert instance.startswith("reference:") and body["workKey"] == instance.split("@")[0]
    assert started.headers["Location"] == body["statusQueryGetUri"]
    assert body["reportUri"].endswith(f"/api/runs/{quote(instance, safe='')}/report")
    assert ops.wait(instance).runtime_status == "Completed"
    shown = ops.ok("GET", f"/api/runs/{quote(instance, safe='')}")
    assert shown["run"]["state"] == "succeeded" and shown["run"]["trigger"] == "ops"
    assert shown["runtime"]["runtime_status"] == "Completed"
    assert {s["step_id"] for s in shown["steps"]} >= {"compare:accounts", "import:accounts"}
    assert shown["counts"]["drift_missing"] == 3 and shown["records"]["member_change"] == 5
    listed = ops.ok("GET", "/api/runs", params={"flow": "reference_sync", "since": since})
    assert [r["run_id"] for r in listed["runs"]] == [instance]
    future = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert ops.ok("GET", "/api/runs", params={"since": future})["runs"] == []
    assert ops.ok("GET", "/api/runs", params={"state": "failed"})["runs"] == []
    newest = ops.ok("GET", "/api/runs", params={"limit": "1"})
    assert newest["count"] == 1 and newest["runs"][0]["run_id"] == instance
    assert newest["truncated"] is (len(run_ids(ops)) > 1)


def test_running_work_is_not_started_twice_then_terminated_and_its_lock_released(
    ops: OpsApp,
) -> None:
    ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/hold", {"enabled": True})
    try:
        body = {"mode": "period", "periods": ["2025-03"]}
        instance = ops.start("actuals_load", body)
        path = f"/api/runs/{quote(instance, safe='')}"
        deadline = time.monotonic() + 60
        holder = None
        while time.monotonic() < deadline and not holder:
            exists, state = ops.c.host.read_entity_state("ModelLock", lock_key(ops))
            holder = state.get("holder") if exists and state else None
            time.sleep(0.1)
        assert holder and holder.startswith(f"{instance}:")  # the import holds the model
        again = ops.call("POST", "/api/runs/actuals_load", json=body)
        assert again.status_code == 409 and again.json()["error"]["instanceId"] == instance
        for action in ("rerun", "replay"):
            refused = ops.call("POST", f"{path}/{action}", json={})
            assert refused.status_code == 409 and refused.json()["error"]["code"] == "StillRunning"
        ended = ops.ok("POST", f"{path}/terminate", 202, json={"reason": "stuck in a test"})
        assert ended["terminated"][0] == instance and holder in ended["terminated"]
        assert ended["lock"]["holder"] == holder
        assert ops.wait(instance).runtime_status == "Terminated"
        run = ops.ok("GET", path)["run"]
        assert run["state"] == "terminated" and run["error"] == "stuck in a test"
        again = ops.call("POST", f"{path}/terminate", json={})
        assert again.status_code == 409 and again.json()["error"]["code"] == "NotRunning"
        # the terminated import never released the model: the operator does, with a reason
        workspace, model = lock_key(ops).split(":")
        released = ops.ok(
            "POST",
            f"/api/locks/{workspace.upper()}/{model.lower()}/release",
            202,
            json={"by": "ana@example.com", "reason": "import terminated"},
        )
        assert released["previousHolder"] == holder and released["model"] == model
        deadline = time.monotonic() + 30
        while ops.c.host.read_entity_state("ModelLock", lock_key(ops))[1]["holder"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/hold", {"enabled": False})
    events = list(ops.c.rt.audit.records(instance, "event"))
    released_event = next(e for e in events if e.key == "lock-force-released")
    assert released_event.data["by"] == "ana@example.com"
    assert "import terminated" in released_event.reason
    ops_events = [e for e in ops.c.rt.audit.records("ops", "event") if "lock-release" in e.key]
    assert len(ops_events) == 1 and ops_events[0].data["previous"]["holder"] == holder


def test_the_cli_speaks_to_the_same_api(
    ops: OpsApp, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    base = ["--url", ops.url, "--key", ops.key]
    assert cli.main([*base, "runs", "--flow", "reference_sync"]) == 0
    table = capsys.readouterr().out
    assert "reference_sync" in table and "succeeded" in table and "run(s)" in table
    assert cli.main([*base, "start", "payroll_sync"]) == 1
    assert "UnknownFlow" in capsys.readouterr().err
    assert cli.main([*base, "start", "actuals_load", "--input", "{nope"]) == 2
    assert cli.main([*base, "show", "reference:nope@1"]) == 1
    assert "HTTP 404 UnknownRun" in capsys.readouterr().err
    workspace, model = lock_key(ops).split(":")
    assert cli.main([*base, "release-lock", workspace, model, "--reason", "cli test"]) == 0
    assert json.loads(capsys.readouterr().out)["released"] is True
    assert cli.main([*base, "health"]) == 0
    assert json.loads(capsys.readouterr().out) == {"status": "ok", "pipelines": ["fpa"]}
    assert cli.main(["--url", ops.url, "--key", "nope", "health"]) == 1
    assert "HTTP 401" in capsys.readouterr().err
    assert cli.main(["runs"]) == 2  # neither --url/--key nor the environment variables
    result = subprocess.run(
        [sys.executable, "-m", "bc_anaplan", "ops", "ping"],
        cwd=REPO_ROOT,
        env={**ops.c.env, cli.URL_ENV: ops.url, cli.KEY_ENV: ops.key},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True
