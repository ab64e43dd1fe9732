"""Discovery once per run: listings shared by the run's activities, re-discovered after a 404.

Each activity of a run makes its own ``AnaplanClient`` (``Runtime.anaplan()``); these tests run
the import steps of ``flows.anaplan_steps`` as the activities would, one after the other in one
process, and count what reaches the sandbox. The sandbox cannot recreate an action (its model's
definitions are fixed), so a recreated action is staged the way it shows up in the connector: a
remembered listing that holds an id the model no longer has.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from bc_anaplan.anaplan import AnaplanClient, AnaplanNotFoundError, ImportAction
from bc_anaplan.anaplan.actions import CATALOG_LIFETIME_S, Catalog
from bc_anaplan.anaplan.errors import UnknownNameError
from bc_anaplan.config import load_settings
from bc_anaplan.flows import anaplan_steps
from bc_anaplan.runtime import Runtime
from tests.core.anaplan.conftest import AUTHENTICATE, RequestDelta, Sandbox, anaplan_env

IMPORT = "Import Cost Centers"
# ids the sandbox's model does not have
GONE_IMPORT_ID, GONE_EXPORT_ID, GONE_LIST_ID = "112000000999", "116000000999", "101000000999"


@pytest.fixture
def runtime(anaplan_sandbox: dict[str, Any], azurite: str) -> Runtime:
    env = anaplan_env(anaplan_sandbox, AzureWebJobsStorage=azurite)
    return Runtime(load_settings(env), env)


def import_spec(rt: Runtime, rows: list[list[str]]) -> dict[str, Any]:
    run_id = uuid.uuid4().hex
    blob = f"fpa/{run_id}/cost-centers.csv.gz"
    rt.staging.write(blob, ["Code", "Name", "Blocked", "Deleted in BC"], rows)
    return {
        "pipeline": "fpa",
        "action_name": IMPORT,
        "run_id": run_id,
        "step_id": "cost-centers",
        "staged_blob": blob,
        "kind": "import",
    }


def finish(rt: Runtime, spec: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    """Poll as the orchestration would (one-shot reads), then collect the result."""
    deadline = time.monotonic() + 60
    while anaplan_steps.task_status(rt, task, "fpa")["state"] not in ("COMPLETE", "CANCELLED"):
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.2)
    return anaplan_steps.task_result(rt, {**spec, "task": task})


def remember_instead(client: AnaplanClient, kind: str, swap: Callable[[Any], Any]) -> None:
    """Make the process remember ``kind``'s listing with ``swap`` applied to it, as a listing
    taken before the model builder recreated an action would be."""
    listed = getattr(client.catalog, kind)()
    listing = client.catalog._model.listings[kind]
    listing.items = [swap(item) for item in listed]


def test_the_activities_of_an_import_run_discover_once_and_share_one_token(
    runtime: Runtime, control: Sandbox, fresh_tokens: None
) -> None:
    """Before: the watermark listed the imports, upload_and_start the imports and the files again
    (and every activity could have logged in). Now: one listing of each per run, one login."""
    for run, code in enumerate(("CC781", "CC782"), start=1):
        spec = import_spec(runtime, [[code, f"{code} Run {run}", "false", "false"]])
        with RequestDelta(control) as api, RequestDelta(control, "anaplan_auth") as auth:
            spec["after_ms"] = anaplan_steps.task_watermark(runtime, spec)["after_ms"]
            started = anaplan_steps.upload_and_start(runtime, spec)
        assert api.count("GET", "/imports") == 1  # the watermark's fresh listing only
        # the watermark's task list and the retry check's; the start reads none before posting
        assert api.count("GET", "/imports/{importId}/tasks") == 2
        assert api.count("GET", "/files") == (1 if run == 1 else 0)  # remembered in run 2
        assert auth.count(*AUTHENTICATE) == (1 if run == 1 else 0)
        assert not started["adopted"] and started["upload"]["rows"] == 1
        result = finish(runtime, spec, started["task"])
        assert result["successful"] and result["counts"]["succeeded"] == 1
    codes = {item["code"] for item in control.inspect("lists/Cost Centers")}
    assert {"CC781", "CC782"} <= codes


def test_listings_are_shared_by_clients_for_a_bounded_time(
    client_factory: Callable[..., AnaplanClient], control: Sandbox
) -> None:
    now = [1000.0]
    first, second = client_factory(), client_factory()
    for client in (first, second):
        client.catalog = Catalog(client.api, now=lambda: now[0])
    with RequestDelta(control) as api:
        first.find_export("Export Plan Status")
        second.find_export("Export Plan Status")
    assert api.count("GET", "/exports") == 1
    now[0] += CATALOG_LIFETIME_S  # a run later, the model builder may have changed things
    with RequestDelta(control) as api:
        second.find_export("Export Plan Status")
        first.find_export("Export Plan Status")
        first.find_export("Export Plan Status", fresh=True)
    assert api.count("GET", "/exports") == 2


def test_a_recreated_export_is_found_again_after_a_404(
    client: AnaplanClient, control: Sandbox
) -> None:
    real = client.find_export("Export Plan Status")
    remember_instead(client, "exports", lambda e: dataclasses.replace(e, id=GONE_EXPORT_ID))
    stale = client.find_export("Export Plan Status")
    assert stale.id == GONE_EXPORT_ID
    with RequestDelta(control) as api:
        handle = client.start_task(stale)
    assert api.count("POST", "/exports/{exportId}/tasks", 404) == 1
    assert api.count("GET", "/exports") == 1  # re-discovered once
    assert api.count("POST", "/exports/{exportId}/tasks", 200) == 1
    assert handle.action.id == real.id and client.find_export(real.name).id == real.id
    status = client.wait_for_task(handle.action, handle.task_id, deadline_s=60, sleep=time.sleep)
    with client.download_export(status) as export:
        assert export.records().__next__() == ["Versions", "Approved", "Approved At"]


def test_an_action_gone_from_the_model_fails_with_the_names_it_has(
    client: AnaplanClient, control: Sandbox
) -> None:
    """A 404 for a remembered id whose name the model no longer lists: nothing is retried."""
    remember_instead(
        client,
        "exports",
        lambda e: (
            dataclasses.replace(e, id=GONE_EXPORT_ID, name="Export Old Plan")
            if e.name == "Export Plan Status"
            else e
        ),
    )
    stale = client.find_export("Export Old Plan")
    with RequestDelta(control) as api, pytest.raises(UnknownNameError) as caught:
        client.start_task(stale)
    assert "no export named 'Export Old Plan'" in str(caught.value)
    assert "'Export Plan Status'" in str(caught.value)
    assert isinstance(caught.value.__context__, AnaplanNotFoundError)
    assert api.count("POST", "/exports/{exportId}/tasks") == 1


def test_a_recreated_import_that_reads_another_file_is_fed_again(
    runtime: Runtime, control: Sandbox
) -> None:
    """The stale import read another file: its upload went there, so the flow uploads again
    into the file the recreated import reads, then starts that import (once)."""
    spec = import_spec(runtime, [["CC783", "CC783 Recreated", "false", "false"]])
    client = runtime.anaplan("fpa")
    real = client.find_import(IMPORT)
    other_file = client.find_import("Import Departments").data_source_id
    spec["after_ms"] = anaplan_steps.task_watermark(runtime, spec)["after_ms"]

    def recreated(action: ImportAction) -> ImportAction:
        if action.name != IMPORT:
            return action
        return dataclasses.replace(action, id=GONE_IMPORT_ID, data_source_id=other_file)

    remember_instead(client, "imports", recreated)
    with RequestDelta(control) as api:
        started = anaplan_steps.upload_and_start(runtime, spec)
    assert api.count("POST", "/imports/{importId}/tasks", 404) == 1
    assert api.count("POST", "/imports/{importId}/tasks", 200) == 1
    # uploaded twice: into the file the stale import read, then into the one it reads now
    assert api.count("POST", "/files/{fileId}/complete", 200) == 2
    assert started["task"]["action"]["id"] == real.id
    assert started["upload"]["file_id"] == real.data_source_id
    assert finish(runtime, spec, started["task"])["successful"]
    assert "CC783" in {item["code"] for item in control.inspect("lists/Cost Centers")}
    client.delete_upload(client.find_import("Import Departments"))  # its sample file again


def test_a_recreated_list_is_found_again_after_a_404(
    client: AnaplanClient, control: Sandbox
) -> None:
    expected = [item["code"] for item in control.inspect("lists/Departments")]
    remember_instead(
        client,
        "lists",
        lambda model_list: (
            dataclasses.replace(model_list, id=GONE_LIST_ID)
            if model_list.name == "Departments"
            else model_list
        ),
    )
    with RequestDelta(control) as api:
        items = client.list_items("Departments")
        metadata = client.list_metadata("Departments")
    assert [item.code for item in items] == expected
    assert metadata.name == "Departments" and metadata.id != GONE_LIST_ID
    assert api.count("GET", "/lists/{listId}/items", 404) == 1
    assert api.count("GET", "/lists") == 1
