"""Tasks: one at a time per model in FIFO order, blocking reads, cancel, processes, delete
actions, model states, the busy mode, the rate limit and a dropped task-start response."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from sandbox.masterdata import master_data
from tests.sandbox.test_anaplan_kit import AnaplanKit, anaplan

__all__ = ["anaplan"]

TASK_START_ROUTE = "/2/0/workspaces/{workspaceId}/models/{modelId}/imports/{importId}/tasks"
HEADCOUNT = "Departments,Time,Headcount\n"


@pytest.fixture(autouse=True)
def fresh(anaplan: AnaplanKit) -> Iterator[None]:
    anaplan.reset()
    yield
    anaplan.reset()


def _hold(kit: AnaplanKit, held: bool) -> None:
    kit.control("/hold", {"enabled": held})


def _until(kit: AnaplanKit, kind: str, object_id: str, task_id: str, state: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        task = kit.task(kind, object_id, task_id)
        if task["taskState"] == state:
            return task
        assert time.monotonic() < deadline, task
        time.sleep(0.02)


def _headcount_import(kit: AnaplanKit, rows: str) -> str:
    definition = kit.find("imports", "Import Headcount")
    kit.upload(definition["importDataSourceId"], (HEADCOUNT + rows).encode())
    return definition["id"]


def test_start_answers_not_started_and_tasks_run_one_at_a_time_in_order(anaplan: AnaplanKit):
    import_id = _headcount_import(anaplan, "HR,Jan 26,7\n")
    export_id = anaplan.find("exports", "Export Plan Status")["id"]
    _hold(anaplan, True)
    started = anaplan.ok("POST", f"/imports/{import_id}/tasks", json={"localeName": "en_US"})
    first = started["task"]
    assert set(first) == {"taskId", "taskState", "creationTime"}
    assert first["taskState"] == "NOT_STARTED" and len(first["taskId"]) == 32
    assert first["taskId"] == first["taskId"].upper()
    running = _until(anaplan, "imports", import_id, first["taskId"], "IN_PROGRESS")
    assert 0.0 <= running["progress"] < 1.0 and "result" not in running
    second = anaplan.start("imports", import_id)
    third = anaplan.start("exports", export_id)
    time.sleep(0.2)
    assert anaplan.task("imports", import_id, second)["taskState"] == "NOT_STARTED"
    assert anaplan.task("exports", export_id, third)["taskState"] == "NOT_STARTED"
    listed = anaplan.ok("GET", f"/imports/{import_id}/tasks")["tasks"]
    assert [t["taskId"] for t in listed] == [first["taskId"], second]
    assert listed[0]["creationTime"] <= listed[1]["creationTime"]
    status = anaplan.get("/status").json()["requestStatus"]
    assert status["currentStep"] == "Processing ..." and status["taskId"] == first["taskId"]
    assert "Import" in status["tooltip"]
    model = anaplan.http.get(
        anaplan.url(f"/2/0/models/{anaplan.model}"),
        params={"modelDetails": "true"},
        headers=anaplan.headers,
    ).json()["model"]
    assert model["modelTransactionRunning"] is True
    _hold(anaplan, False)
    done = anaplan.wait("exports", export_id, third)
    assert done["taskState"] == "COMPLETE" and done["currentStep"] == "Complete."
    tasks = {t["taskId"]: t for t in anaplan.inspect("/tasks")["tasks"]}
    order = [tasks[first["taskId"]], tasks[second], tasks[third]]
    for earlier, later in zip(order, order[1:], strict=False):
        assert earlier["finishedMs"] <= later["startedMs"]


def test_model_reads_wait_while_a_task_holds_the_model(anaplan: AnaplanKit) -> None:
    import_id = _headcount_import(anaplan, "HR,Jan 26,7\n")
    _hold(anaplan, True)
    task_id = anaplan.start("imports", import_id)
    _until(anaplan, "imports", import_id, task_id, "IN_PROGRESS")
    lists_url = anaplan.model_url("/lists")
    with pytest.raises(httpx.ReadTimeout):
        anaplan.http.get(lists_url, headers=anaplan.headers, timeout=0.5)
    # file reads are not in Anaplan's list of calls that stay available: they wait too
    file_id = anaplan.find("imports", "Import Headcount")["importDataSourceId"]
    for suffix in ("/files", f"/files/{file_id}", f"/files/{file_id}/chunks"):
        with pytest.raises(httpx.ReadTimeout):
            anaplan.get(suffix, timeout=0.3)
    with pytest.raises(httpx.ReadTimeout):
        anaplan.get(
            f"/files/{file_id}/chunks/0",
            headers={"Accept": "application/octet-stream"},
            timeout=0.3,
        )
    # what stays available on a busy model: action ids, tasks, model status, file uploads
    for suffix in ("/imports", f"/imports/{import_id}/tasks/{task_id}", "/status"):
        assert anaplan.get(suffix, timeout=2.0).status_code == 200, suffix
    other_file = anaplan.find("imports", "Import Commitments")["importDataSourceId"]
    upload = anaplan.request(
        "PUT",
        anaplan.model_url(f"/files/{other_file}"),
        content=b"GL Accounts,Cost Centers,Departments,Time,Amount\n",
        headers={"Content-Type": "application/octet-stream"},
        timeout=2.0,
    )
    assert upload.status_code == 204  # files are not locked
    answered: list[httpx.Response] = []
    other = AnaplanKit(anaplan.info)
    waiter = threading.Thread(
        target=lambda: answered.append(other.http.get(lists_url, headers=anaplan.headers))
    )
    waiter.start()
    time.sleep(0.3)
    assert not answered
    _hold(anaplan, False)
    waiter.join(30)
    other.close()
    assert answered and answered[0].status_code == 200
    assert anaplan.task("imports", import_id, task_id)["taskState"] == "COMPLETE"


def test_cancelling_a_running_import_rolls_it_back(anaplan: AnaplanKit) -> None:
    import_id = _headcount_import(anaplan, "HR,Jan 27,99\n")
    _hold(anaplan, True)
    task_id = anaplan.start("imports", import_id)
    _until(anaplan, "imports", import_id, task_id, "IN_PROGRESS")
    cancelled = anaplan.request(
        "DELETE", anaplan.model_url(f"/imports/{import_id}/tasks/{task_id}")
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["task"]["taskState"] == "CANCELLING"
    final = _until(anaplan, "imports", import_id, task_id, "CANCELLED")
    assert "result" not in final
    _hold(anaplan, False)
    assert not any(c["dimensions"]["Time"] == "Jan 27" for c in anaplan.cells("Headcount"))


def test_cancelling_a_queued_task(anaplan: AnaplanKit) -> None:
    import_id = _headcount_import(anaplan, "HR,Jan 27,5\n")
    _hold(anaplan, True)
    first = anaplan.start("imports", import_id)
    _until(anaplan, "imports", import_id, first, "IN_PROGRESS")
    second = anaplan.start("imports", import_id)
    url = anaplan.model_url(f"/imports/{import_id}/tasks/{second}")
    assert anaplan.request("DELETE", url).json()["task"]["taskState"] == "CANCELLING"
    _until(anaplan, "imports", import_id, second, "CANCELLED")
    _hold(anaplan, False)
    assert anaplan.wait("imports", import_id, first)["result"]["successful"] is True
    assert [c["value"] for c in anaplan.cells("Headcount")] == [5]


def test_process_runs_its_imports_in_order_with_nested_results_and_dumps(anaplan: AnaplanKit):
    seed = anaplan.info["seed"]
    missing = next(
        v for v in master_data(seed).dimension("COSTCENTER").values if v.name == "Controls Software"
    )
    cost_centers = anaplan.find("imports", "Import Cost Centers")
    rows = [
        "Code,Name,Blocked,Deleted in BC",
        f"{missing.code},{missing.code} {missing.name},false,false",
        "CC990,CC990 Old Warehouse,false,true",
        "CC999,,false,false",
    ]
    anaplan.upload(cost_centers["importDataSourceId"], ("\n".join(rows) + "\n").encode())
    process = anaplan.find("processes", "Sync Lists from BC")
    task_id, task = anaplan.run("processes", "Sync Lists from BC")
    result = task["result"]
    assert result["objectId"] == process["id"]
    assert result["successful"] is True and result["failureDumpAvailable"] is True
    nested = result["nestedResults"]
    imports = {i["name"]: i["id"] for i in anaplan.ok("GET", "/imports")["imports"]}
    expected = ["GL Accounts", "Departments", "Cost Centers", "Product Lines", "Employees"]
    assert [n["objectId"] for n in nested] == [imports[f"Import {name}"] for name in expected]
    cc_result = nested[2]
    assert cc_result["failureDumpAvailable"] is True
    assert cc_result["details"][0]["type"] == "hierarchyRowsProcessedWithFailures"
    base = f"/processes/{process['id']}/tasks/{task_id}/dumps"
    chunks = anaplan.ok("GET", f"{base}/{cost_centers['id']}/chunks")["chunks"]
    dump = b"".join(
        anaplan.get(f"{base}/{cost_centers['id']}/chunks/{c['id']}").content for c in chunks
    ).decode()
    assert dump == anaplan.get(f"{base}/{cost_centers['id']}").text
    assert dump.splitlines()[1].startswith("E,4,Name is blank,CC999")
    assert anaplan.get(f"{base}/{imports['Import GL Accounts']}").status_code == 204
    assert anaplan.get(f"{base}/{imports['Import GL Actuals']}").status_code == 404
    detailed = anaplan.ok(
        "GET",
        f"/processes/{process['id']}/tasks/{task_id}",
        params={"includeProcessDetails": "true"},
    )["task"]["result"]["nestedResults"]
    assert all(step["duration"] >= 0 and step["startTime"] > 0 for step in detailed)
    assert "startTime" not in nested[0]
    members = {m["code"]: m for m in anaplan.members("Cost Centers")}
    assert members[missing.code]["name"] == f"{missing.code} {missing.name}"
    assert members["CC990"]["properties"]["Deleted in BC"] is True


def test_delete_action_removes_flagged_members_and_their_cells(anaplan: AnaplanKit) -> None:
    anaplan.import_csv("Import Cost Centers", "Code,Name,Blocked,Deleted in BC\n"
                       "CC990,CC990 Old Warehouse,false,true\n")  # fmt: skip

    def on_cc990() -> list[dict[str, Any]]:
        return [
            c
            for c in anaplan.cells("Budget")
            if c["dimensions"]["Cost Centers"].startswith("CC990")
        ]

    assert on_cc990()
    _, task = anaplan.run("actions", "Delete Cost Centers Deleted in BC")
    assert task["result"]["successful"] is True
    assert task["result"]["details"][0]["values"][-1] == "1"
    assert "CC990" not in {m["code"] for m in anaplan.members("Cost Centers")}
    assert not on_cc990()


def test_busy_mode_answers_409_instead_of_waiting(anaplan: AnaplanKit) -> None:
    import_id = _headcount_import(anaplan, "HR,Jan 26,7\n")
    _hold(anaplan, True)
    task_id = anaplan.start("imports", import_id)
    _until(anaplan, "imports", import_id, task_id, "IN_PROGRESS")
    anaplan.control("/busy", {"enabled": True})
    refused = anaplan.request(
        "POST", anaplan.model_url(f"/imports/{import_id}/tasks"), json={"localeName": "en_US"}
    )
    assert refused.status_code == 409 and refused.json()["status"]["code"] == 409
    assert anaplan.get("/lists").status_code == 409
    assert anaplan.get("/imports").status_code == 200
    _hold(anaplan, False)
    anaplan.wait("imports", import_id, task_id)
    assert anaplan.get("/lists").status_code == 200  # idle again: busy mode has nothing to say
    assert len(anaplan.ok("GET", f"/imports/{import_id}/tasks")["tasks"]) == 1


def test_archived_model_answers_422(anaplan: AnaplanKit) -> None:
    anaplan.control("/archive")
    for method, suffix in (
        ("GET", "/lists"),
        ("GET", "/imports"),
        ("GET", "/files"),
        ("POST", "/imports/112000000001/tasks"),
    ):
        response = anaplan.request(method, anaplan.model_url(suffix), json={"localeName": "en_US"})
        assert response.status_code == 422, suffix
        assert response.json()["status"]["code"] == 422
    model = anaplan.http.get(anaplan.url(f"/2/0/models/{anaplan.model}"), headers=anaplan.headers)
    assert model.status_code == 200 and model.json()["model"]["activeState"] == "ARCHIVED"


def test_task_start_refuses_a_bad_request_body(anaplan: AnaplanKit) -> None:
    import_id = anaplan.find("imports", "Import Headcount")["id"]
    url = anaplan.model_url(f"/imports/{import_id}/tasks")
    text = '{"localeName": "en_US"}'
    cases: list[tuple[str, int, dict[str, Any]]] = [
        ("no content type", 415, {"content": text.encode()}),
        ("text/plain", 415, {"content": text, "headers": {"Content-Type": "text/plain"}}),
        ("form", 415, {"data": {"localeName": "en_US"}}),
        (
            "not JSON",
            400,
            {"content": b"{localeName", "headers": {"Content-Type": "application/json"}},
        ),
        ("empty body", 400, {"content": b"", "headers": {"Content-Type": "application/json"}}),
        ("a JSON list", 400, {"json": [{"localeName": "en_US"}]}),
        ("no localeName", 400, {"json": {}}),
        ("localeName null", 400, {"json": {"localeName": None}}),
        ("localeName a number", 400, {"json": {"localeName": 1033}}),
        ("localeName lowercase", 400, {"json": {"localeName": "en_us"}}),
        ("localeName with a dash", 400, {"json": {"localeName": "en-US"}}),
        ("localeName with a newline", 400, {"json": {"localeName": "en_US\n"}}),
        (
            "mapping a string",
            400,
            {"json": {"localeName": "en_US", "mappingParameters": "Version"}},
        ),
        ("mapping a number", 400, {"json": {"localeName": "en_US", "mappingParameters": 5}}),
        ("mapping null", 400, {"json": {"localeName": "en_US", "mappingParameters": None}}),
        (
            "mapping an object",
            400,
            {"json": {"localeName": "en_US", "mappingParameters": {"entityType": "Version"}}},
        ),
        ("mapping of strings", 400, {"json": {"localeName": "en_US", "mappingParameters": ["V"]}}),
        (
            "mapping not defined for the import",
            400,
            {
                "json": {
                    "localeName": "en_US",
                    "mappingParameters": [{"entityType": "Version", "entityName": "Actual"}],
                }
            },
        ),
    ]
    for case, status, kwargs in cases:
        response = anaplan.request("POST", url, **kwargs)
        assert response.status_code == status, (case, response.text)
        assert response.headers["Content-Type"].startswith("application/json"), case
        body = response.json()
        assert set(body) == {"status", "path", "timestamp"}, case
        assert body["status"]["code"] == status, case
        assert url.endswith(body["path"]), case
    assert "tasks" not in anaplan.ok("GET", f"/imports/{import_id}/tasks")  # none was started
    started = anaplan.ok(
        "POST", f"/imports/{import_id}/tasks", json={"localeName": "en_US", "mappingParameters": []}
    )
    assert started["task"]["taskState"] == "NOT_STARTED"


def test_locked_model_answers_423_to_writes(anaplan: AnaplanKit) -> None:
    anaplan.control("/lock")
    file_id = "113000000008"
    for method, suffix, kwargs in (
        ("POST", "/imports/112000000008/tasks", {"json": {"localeName": "en_US"}}),
        ("POST", f"/files/{file_id}", {"json": {"chunkCount": 1}}),
        (
            "PUT",
            f"/files/{file_id}",
            {"content": b"x", "headers": {"Content-Type": "application/octet-stream"}},
        ),
    ):
        response = anaplan.request(method, anaplan.model_url(suffix), **kwargs)
        assert response.status_code == 423, suffix
    assert anaplan.get("/lists").status_code == 200
    assert anaplan.get(f"/files/{file_id}").status_code == 200
    anaplan.control("/unlock")
    assert anaplan.get("/status").status_code == 200


def test_rate_limit_answers_429_with_retry_after(anaplan: AnaplanKit) -> None:
    overview = anaplan.http.get(anaplan.url("/_sandbox/anaplan")).json()
    assert overview["rateLimitPerMinute"] == 600
    anaplan.control("/rate-limit", {"per_minute": 30})
    statuses = []
    limited = None
    for _ in range(40):
        response = anaplan.http.get(anaplan.url("/2/0/workspaces"), headers=anaplan.headers)
        statuses.append(response.status_code)
        if response.status_code == 429:
            limited = response
    assert statuses[:25] == [200] * 25
    assert limited is not None
    assert limited.headers["Retry-After"] == "1"  # --fast; 10 otherwise
    assert limited.json()["status"] == {"code": 429, "message": "Too Many Requests"}
    # controls are not rate limited
    assert anaplan.http.get(anaplan.url("/_sandbox/anaplan")).status_code == 200


def test_a_dropped_task_start_still_starts_exactly_one_task(anaplan: AnaplanKit) -> None:
    import_id = _headcount_import(anaplan, "HR,Jan 26,7\n")
    rule = {
        "service": "anaplan_api",
        "kind": "drop",
        "method": "POST",
        "route": TASK_START_ROUTE,
        "count": 1,
    }
    assert (
        anaplan.http.post(anaplan.url("/_sandbox/faults"), json={"rules": [rule]}).status_code
        == 200
    )
    with pytest.raises(httpx.TransportError):
        anaplan.request(
            "POST", anaplan.model_url(f"/imports/{import_id}/tasks"), json={"localeName": "en_US"}
        )
    (task,) = anaplan.ok("GET", f"/imports/{import_id}/tasks")["tasks"]
    assert anaplan.wait("imports", import_id, task["taskId"])["result"]["successful"] is True
    log = anaplan.http.get(anaplan.url("/_sandbox/requests")).json()
    assert any(
        r["route"] == TASK_START_ROUTE and r["method"] == "POST" and r["status"] == 0 for r in log
    )


def test_duration_scales_with_the_rows(anaplan: AnaplanKit) -> None:
    rng = random.Random(5)
    accounts = ["61010", "61020", "61030", "62010"]
    centers = [("CC100", "ADMIN"), ("CC140", "FINANCE"), ("CC230", "SALES")]
    months = ["Jan 26", "Feb 26", "Mar 26", "Apr 26", "May 26", "Jun 26"]
    lines = ["GL Accounts,Cost Centers,Departments,Time,Amount,Closing Balance"]
    total = Decimal(0)
    for _ in range(200_000):
        cc, dept = rng.choice(centers)
        cents = rng.randint(-100_000, 100_000)
        total += Decimal(cents).scaleb(-2)
        lines.append(
            f"{rng.choice(accounts)},{cc},{dept},{rng.choice(months)},{Decimal(cents).scaleb(-2)},0"
        )
    definition = anaplan.find("imports", "Import GL Actuals")
    anaplan.upload(
        definition["importDataSourceId"], ("\n".join(lines) + "\n").encode(), chunk_size=3_000_000
    )
    task_id = anaplan.start("imports", definition["id"])
    task = anaplan.wait("imports", definition["id"], task_id, timeout=120)
    values = dict(
        zip(
            task["result"]["details"][0]["values"][::2],
            task["result"]["details"][0]["values"][1::2],
            strict=True,
        )
    )
    assert values["successRowCount"] == "200000" and values["failedCount"] == "0"
    timing = next(t for t in anaplan.inspect("/tasks")["tasks"] if t["taskId"] == task_id)
    assert timing["finishedMs"] - timing["startedMs"] >= 200  # 200,000 rows: 2 s, --fast 0.2 s
    landed = sum(Decimal(str(c["value"])) for c in anaplan.cells("GL Actuals", "Amount"))
    assert landed == total


def test_injected_faults_carry_the_api_error_body(anaplan: AnaplanKit) -> None:
    route = "/2/0/workspaces/{workspaceId}/models/{modelId}/files/{fileId}/chunks/{chunkId}"
    rules = [
        {"service": "anaplan_api", "kind": "503", "method": "GET", "route": route, "count": 1},
        {"service": "anaplan_auth", "kind": "429", "route": "/token/refresh", "count": 1},
    ]
    anaplan.http.post(anaplan.url("/_sandbox/faults"), json={"rules": rules})
    file_id = anaplan.find("imports", "Import Headcount")["importDataSourceId"]
    failed = anaplan.get(f"/files/{file_id}/chunks/0")
    assert failed.status_code == 503 and failed.headers["Retry-After"]
    assert failed.json()["status"] == {"code": 503, "message": "Service Unavailable"}
    assert failed.json()["path"].endswith(f"/files/{file_id}/chunks/0")
    assert anaplan.get(f"/files/{file_id}/chunks/0").status_code == 200
    refused = anaplan.http.post(anaplan.auth_url("/token/refresh"), headers=anaplan.headers)
    assert refused.status_code == 429
    assert refused.json()["status"] == "FAILURE"
    log = anaplan.http.get(anaplan.url("/_sandbox/requests")).json()
    assert ("GET", route, 503) in {(r["method"], r["route"], r["status"]) for r in log}
