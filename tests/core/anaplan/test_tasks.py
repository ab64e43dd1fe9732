"""Tasks against the sandbox: upload and import, counts, dumps, safe starts, cancel, 429, states.

Waiting uses ``wait_for_task`` with an injected sleep: the client still asks for at least five
seconds between polls (asserted), the test just does not spend them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import pytest

from bc_anaplan.anaplan import (
    AnaplanClient,
    DumpGoneError,
    ImportAction,
    ModelArchivedError,
    ModelBusyError,
    ModelLockedError,
    TaskDeadlineError,
    TaskHandle,
    TaskStartError,
    TaskStatus,
)
from bc_anaplan.anaplan.tasks import CANCELLED, CANCELLING, COMPLETE, MIN_POLL_S
from tests.core.anaplan.conftest import MODEL_ROUTE, RequestDelta, Sandbox

START_ROUTE = MODEL_ROUTE + "/imports/{importId}/tasks"
COST_CENTER_HEADER = ["Code", "Name", "Blocked", "Deleted in BC"]


class Naps:
    """An injected sleep: records what the client asked for, naps briefly, can act once."""

    def __init__(self, first: Callable[[], None] | None = None) -> None:
        self.asked: list[float] = []
        self._first = first

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        if self._first is not None:
            action, self._first = self._first, None
            action()
        time.sleep(0.05)


def run(client: AnaplanClient, handle: TaskHandle, naps: Naps | None = None) -> TaskStatus:
    naps = naps or Naps()
    status = client.wait_for_task(handle.action, handle.task_id, deadline_s=60, sleep=naps)
    assert all(s >= MIN_POLL_S for s in naps.asked)
    return status


def cost_centers(control: Sandbox) -> dict[str, str]:
    return {item["code"]: item["name"] for item in control.inspect("lists/Cost Centers")}


def test_upload_then_import_lands_in_the_model(client: AnaplanClient, control: Sandbox) -> None:
    action = client.find_import("Import Cost Centers")
    rows = [["CC701", "CC701 Test Lab", False, False], ["CC702", "CC702 Pilot Line", "", ""]]
    uploaded = client.upload(action, rows, header=COST_CENTER_HEADER)
    text = "Code,Name,Blocked,Deleted in BC\nCC701,CC701 Test Lab,false,false\n"
    text += "CC702,CC702 Pilot Line,,\n"
    assert (uploaded.rows, uploaded.chunks, uploaded.bytes) == (2, 1, len(text))
    assert uploaded.sha256 == hashlib.sha256(text.encode()).hexdigest()
    status = run(client, client.start_task(action))
    assert status.succeeded and status.result is not None
    assert status.result.counts.succeeded == 2 and status.result.counts.failed == 0
    assert status.to_dict()["counts"]["processed"] == 2
    assert {"CC701", "CC702"} <= cost_centers(control).keys()
    assert client.rejected_rows(status).total == 0


def test_uploaded_personal_data_can_be_removed_after_the_import(
    client: AnaplanClient, control: Sandbox
) -> None:
    action = client.find_import("Import Employees")
    header = ["Code", "Name", "Department", "Job Title", "Status", "Start Date", "End Date",
              "Deleted in BC"]  # fmt: skip
    row = ["E9001", "E9001 Test Person", "ADMIN", "Clerk", "Active", "2024-01-01", "", "false"]
    client.upload(action, [row], header=header)
    assert run(client, client.start_task(action)).succeeded
    with RequestDelta(control) as api:
        client.delete_upload(action)
    assert api.count("DELETE", "/files/{fileId}", 204) == 1
    path = client.api.path("files", client.catalog.source_file(action).id)
    assert b"E9001" not in client.api.get_bytes(path).content  # the model's sample is back
    assert "E9001" in {i["code"] for i in control.inspect("lists/Employees")}


def test_rejected_rows_come_from_the_failure_dump(client: AnaplanClient, control: Sandbox) -> None:
    action = client.find_import("Import Cost Centers")
    rows = [
        ["CC711", "CC711 Good", "false", "false"],
        ["", "No Code", "false", "false"],
        ["CC712", "CC712 Odd Flag", "maybe", "false"],
    ]
    client.upload(action, rows, header=COST_CENTER_HEADER)
    status = run(client, client.start_task(action))
    assert status.succeeded and status.result is not None
    assert status.result.failure_dump_available
    assert status.result.counts.failed == 2
    with RequestDelta(control) as api:
        rejected = client.rejected_rows(status)
    assert api.count("GET", "/imports/{importId}/tasks/{taskId}/dump/chunks", 200) == 1
    assert api.count("GET", "/imports/{importId}/tasks/{taskId}/dump/chunks/{chunkId}", 200) == 1
    assert rejected.total == 2 and not rejected.truncated
    assert [(r.line, r.values["Name"]) for r in rejected.rows] == [
        (3, "No Code"),
        (4, "CC712 Odd Flag"),
    ]
    assert "Code is blank" in rejected.rows[0].errors[0]
    assert "Blocked" in rejected.rows[1].errors[0]


def test_a_dump_replaced_by_the_next_run_is_reported_gone(client: AnaplanClient) -> None:
    action = client.find_import("Import Cost Centers")
    client.upload(action, [["", "No Code", "false", "false"]], header=COST_CENTER_HEADER)
    earlier = run(client, client.start_task(action))
    assert earlier.result is not None and earlier.result.failure_dump_available
    client.upload(action, [["CC741", "CC741 Fine", "false", "false"]], header=COST_CENTER_HEADER)
    later = run(client, client.start_task(action))
    assert later.succeeded and client.rejected_rows(later).total == 0
    with pytest.raises(DumpGoneError, match="is gone .* cannot be recovered"):
        client.rejected_rows(earlier)


def test_a_process_dump_is_fetched_per_failed_step(client: AnaplanClient) -> None:
    departments = client.find_import("Import Departments")
    clean = [["CC701", "CC701 Test Lab", "false", "false"]]  # earlier tests left bad rows
    client.upload(client.find_import("Import Cost Centers"), clean, header=COST_CENTER_HEADER)
    client.upload(departments, [["", "Nameless", "false", "false"]],
                  header=["Code", "Name", "Blocked", "Deleted in BC"])  # fmt: skip
    process = client.find_process("Sync Lists from BC")
    status = run(client, client.start_task(process))
    assert status.state == COMPLETE and status.result is not None
    failed = [n for n in status.result.nested if n.failure_dump_available]
    assert [n.object_id for n in failed] == [departments.id]
    rejected = client.rejected_rows(status)
    assert rejected.total == 1 and rejected.rows[0].values["Name"] == "Nameless"


def test_a_start_whose_answer_is_lost_does_not_start_a_second_import(
    client: AnaplanClient, control: Sandbox
) -> None:
    action = client.find_import("Import Cost Centers")
    client.upload(action, [["CC721", "CC721 Once", "false", "false"]], header=COST_CENTER_HEADER)
    before = {t.task_id for t in client.list_tasks(action)}
    control.faults({"rules": [{"service": "anaplan_api", "kind": "drop", "method": "POST",
                               "route": START_ROUTE, "count": 1}]})  # fmt: skip
    with RequestDelta(control) as api:
        handle = client.start_task(action)
    new = [t.task_id for t in client.list_tasks(action) if t.task_id not in before]
    assert new == [handle.task_id] and handle.adopted
    assert api.count("POST", "/imports/{importId}/tasks") == 1  # the one the server processed
    assert run(client, handle).succeeded


def watermark(client: AnaplanClient, action: ImportAction) -> int:
    """The newest task creation time, on Anaplan's clock, as ``task_watermark`` records it."""
    return max((t.creation_time_ms or 0 for t in client.list_tasks(action)), default=0)


def test_a_start_given_a_watermark_adopts_the_task_created_after_it(
    client: AnaplanClient, control: Sandbox
) -> None:
    """With the orchestration's watermark no task list is read before the POST; after a lost
    answer one read finds the task created after the watermark."""
    action = client.find_import("Import Cost Centers")
    client.upload(action, [["CC722", "CC722 Once", "false", "false"]], header=COST_CENTER_HEADER)
    after_ms = watermark(client, action)
    before = {t.task_id for t in client.list_tasks(action)}
    control.faults({"rules": [{"service": "anaplan_api", "kind": "drop", "method": "POST",
                               "route": START_ROUTE, "count": 1}]})  # fmt: skip
    with RequestDelta(control) as api:
        handle = client.start_task(action, after_ms=after_ms)
    new = [t.task_id for t in client.list_tasks(action) if t.task_id not in before]
    assert new == [handle.task_id] and handle.adopted
    assert api.count("POST", "/imports/{importId}/tasks") == 1  # the one the server processed
    assert api.count("GET", "/imports/{importId}/tasks") == 1  # after the loss only
    assert run(client, handle).succeeded
    with RequestDelta(control) as api:
        again = client.start_task(action, after_ms=watermark(client, action))
    assert not again.adopted and again.task_id != handle.task_id
    assert api.count("GET", "/imports/{importId}/tasks") == 1  # the watermark's, not the start's
    run(client, again)


def test_a_start_given_a_watermark_that_never_arrived_is_sent_once_more(
    client: AnaplanClient, control: Sandbox
) -> None:
    action = client.find_import("Import Cost Centers")
    after_ms = watermark(client, action)
    before = {t.task_id for t in client.list_tasks(action)}
    control.faults({"rules": [{"service": "anaplan_api", "kind": "503", "method": "POST",
                               "route": START_ROUTE, "count": 1}]})  # fmt: skip
    with RequestDelta(control) as api:
        handle = client.start_task(action, after_ms=after_ms)
    assert not handle.adopted
    assert api.count("POST", "/imports/{importId}/tasks", 503) == 1
    assert api.count("POST", "/imports/{importId}/tasks", 200) == 1
    new = [t.task_id for t in client.list_tasks(action) if t.task_id not in before]
    assert new == [handle.task_id]
    run(client, handle)


def test_a_start_that_never_arrived_is_sent_once_more(
    client: AnaplanClient, control: Sandbox
) -> None:
    action = client.find_import("Import Cost Centers")
    before = {t.task_id for t in client.list_tasks(action)}
    control.faults({"rules": [{"service": "anaplan_api", "kind": "503", "method": "POST",
                               "route": START_ROUTE, "count": 1}]})  # fmt: skip
    with RequestDelta(control) as api:
        handle = client.start_task(action)
    assert not handle.adopted
    assert api.count("POST", "/imports/{importId}/tasks", 503) == 1
    assert api.count("POST", "/imports/{importId}/tasks", 200) == 1
    new = [t.task_id for t in client.list_tasks(action) if t.task_id not in before]
    assert new == [handle.task_id]
    run(client, handle)


def test_two_unknown_outcomes_without_a_task_give_up_without_a_third_post(
    client: AnaplanClient, control: Sandbox
) -> None:
    action = client.find_import("Import Cost Centers")
    before = {t.task_id for t in client.list_tasks(action)}
    control.faults({"rules": [{"service": "anaplan_api", "kind": "reset", "method": "POST",
                               "route": START_ROUTE, "count": 3}]})  # fmt: skip
    with RequestDelta(control) as api, pytest.raises(TaskStartError, match="two attempts"):
        client.start_task(action)
    assert sum(n for (m, r, _), n in api.counts.items() if m == "POST" and r == START_ROUTE) == 2
    assert {t.task_id for t in client.list_tasks(action)} == before


def test_a_cancelled_task_ends_the_wait_and_changes_nothing(
    client: AnaplanClient, control: Sandbox
) -> None:
    action = client.find_import("Import Cost Centers")
    client.upload(action, [["CC731", "CC731 Never", "false", "false"]], header=COST_CENTER_HEADER)
    control.control("hold", {"enabled": True})  # the task cannot finish until released
    handle = client.start_task(action)
    naps = Naps(first=lambda: client.cancel_task(action, handle.task_id))
    status = run(client, handle, naps)
    assert status.state == CANCELLED and status.is_terminal and not status.succeeded
    assert "CC731" not in cost_centers(control)


def test_the_wait_cancels_the_task_at_its_deadline(client: AnaplanClient, control: Sandbox) -> None:
    action = client.find_import("Import Cost Centers")
    control.control("hold", {"enabled": True})
    handle = client.start_task(action)
    with pytest.raises(TaskDeadlineError, match="cancellation requested"):
        client.wait_for_task(action, handle.task_id, deadline_s=0.2, sleep=Naps())
    assert client.get_task(action, handle.task_id).state in (CANCELLING, CANCELLED)
    control.control("hold", {"enabled": False})
    assert run(client, handle).state == CANCELLED


def test_a_429_storm_is_ridden_out_honouring_retry_after(
    client_factory: Callable[..., AnaplanClient], control: Sandbox
) -> None:
    slept: list[float] = []
    client = client_factory(sleep=slept.append)  # backoff recorded; the limiter pause is real
    action = client.find_import("Import Cost Centers")
    control.faults({"spec": "anaplan_api:429=0.4,retry_after=1"})
    started = time.monotonic()
    with RequestDelta(control) as api:
        for _ in range(8):
            client.list_tasks(action)
    elapsed = time.monotonic() - started
    rejected = api.count("GET", "/imports/{importId}/tasks", 429)
    assert api.count("GET", "/imports/{importId}/tasks", 200) == 8
    assert rejected >= 2 and len(slept) == rejected
    assert all(s >= 1.0 for s in slept)  # never sooner than Retry-After
    assert elapsed >= rejected * 1.0  # every client call waited out the pause


def test_model_states_become_distinct_errors(client: AnaplanClient, control: Sandbox) -> None:
    action = client.find_import("Import Cost Centers")
    control.control("lock")
    with pytest.raises(ModelLockedError, match="locked"):
        client.start_task(action)
    control.control("archive")
    with pytest.raises(ModelArchivedError, match="unarchive"):
        client.list_tasks(action)
    control.control("unlock")
    control.control("busy", {"enabled": True})
    control.control("hold", {"enabled": True})
    handle = client.start_task(action)
    with pytest.raises(ModelBusyError, match="busy"):
        list(client.list_items("Cost Centers"))
    client.cancel_task(action, handle.task_id)


def test_orchestrations_can_poll_with_one_shot_reads(client: AnaplanClient) -> None:
    action = client.find_import("Import Cost Centers")
    after_ms = watermark(client, action)  # taken with the lease, on Anaplan's clock
    assert client.task_started_since(action, after_ms) is None  # the newest is not after itself
    started = client.start_task(action, after_ms=after_ms)
    retried = client.task_started_since(action, after_ms)  # a retried activity finds it
    assert retried is not None and retried.task_id == started.task_id and retried.adopted
    handle = TaskHandle.from_dict(started.to_dict())
    deadline = time.monotonic() + 30
    status = client.get_task(handle.action, handle.task_id)
    while not status.is_terminal and time.monotonic() < deadline:
        time.sleep(0.05)
        status = client.get_task(handle.action, handle.task_id)
    assert status.state == COMPLETE
