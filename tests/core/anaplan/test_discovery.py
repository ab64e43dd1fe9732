"""Ids and names: normalised ids, clear errors before any call, discovery by name, paging, lists."""

from __future__ import annotations

from typing import Any

import pytest

from bc_anaplan.anaplan import AnaplanClient, AnaplanNotFoundError, InvalidIdError
from bc_anaplan.anaplan.actions import ModelFile
from bc_anaplan.anaplan.errors import FileGuardError, UnknownNameError
from bc_anaplan.anaplan.files import upload_rows
from bc_anaplan.secrets import SecretStore
from tests.core.anaplan.conftest import (
    MODEL_ROUTE,
    RequestDelta,
    Sandbox,
    anaplan_env,
    make_client,
    settings_for,
)


def test_ids_in_the_wrong_case_still_reach_the_model(
    anaplan_sandbox: dict[str, Any], control: Sandbox
) -> None:
    client = make_client(
        anaplan_sandbox,
        ANAPLAN_WORKSPACE_ID=anaplan_sandbox["workspace_id"].upper(),
        ANAPLAN_MODEL_ID=anaplan_sandbox["model_id"].lower(),
    )
    with RequestDelta(control) as api:
        assert client.find_import("Import Departments").data_source_id == "113000000002"
    assert api.count("GET", "/imports", 200) == 1
    assert client.model.workspace_id == anaplan_sandbox["workspace_id"]
    assert client.model.model_id == anaplan_sandbox["model_id"]


def test_malformed_ids_fail_before_any_request(
    anaplan_sandbox: dict[str, Any], control: Sandbox
) -> None:
    env = anaplan_env(anaplan_sandbox)
    settings = settings_for(anaplan_sandbox)
    secrets = SecretStore(settings, environ=env)
    refused = pytest.raises(InvalidIdError, match="anaplan_model_id must be 32 hex digits")
    with RequestDelta(control) as api, RequestDelta(control, "anaplan_auth") as auth, refused:
        AnaplanClient(settings, secrets, anaplan_sandbox["workspace_id"], "F111-not-an-id")
    assert api.total == 0 and auth.total == 0


def test_an_unknown_model_explains_the_likely_causes(anaplan_sandbox: dict[str, Any]) -> None:
    env = anaplan_env(anaplan_sandbox)
    settings = settings_for(anaplan_sandbox)
    client = AnaplanClient(
        settings, SecretStore(settings, environ=env), anaplan_sandbox["workspace_id"], "F" * 32
    )
    with pytest.raises(AnaplanNotFoundError, match="wrong case.*no access"):
        client.find_import("Import Departments")


def test_names_are_resolved_once_and_unknown_ones_list_the_choices(
    client: AnaplanClient, control: Sandbox
) -> None:
    with RequestDelta(control) as api:
        departments = client.find_import("Import Departments")
        actuals = client.find_import("Import GL Actuals")
    assert api.count("GET", "/imports") == 1
    # a name the remembered listing lacks is asked for once more (it may just have been added)
    with RequestDelta(control) as api, pytest.raises(UnknownNameError) as caught:
        client.find_import("Import Gl Actuals")
    assert api.count("GET", "/imports") == 1
    assert departments.import_type == "HIERARCHY_DATA" and actuals.import_type == "MODULE_DATA"
    message = str(caught.value)
    assert "did you mean 'Import GL Actuals'" in message and "'Import Headcount'" in message
    assert client.find_process("Sync Lists from BC").kind == "processes"
    assert client.find_action("Delete Cost Centers Deleted in BC").action_type
    with pytest.raises(UnknownNameError, match="no export named 'Budget'.*Export Plan Status"):
        client.find_export("Budget")


def test_collections_are_paged_by_total_size(client: AnaplanClient, control: Sandbox) -> None:
    everything = client.catalog.files()
    with RequestDelta(control) as api:
        paged = list(client.api.collection(client.api.path("files"), "files", page_size=3))
    assert [f["id"] for f in paged] == [f.id for f in everything]
    assert api.count("GET", "/files", 200) == -(-len(everything) // 3)


def test_uploads_only_go_to_files_the_model_listed(client: AnaplanClient, control: Sandbox) -> None:
    stranger = ModelFile("113000000999", "Not a model file.csv")
    with RequestDelta(control) as api, pytest.raises(FileGuardError, match="not one of"):
        client.catalog.file(stranger.id)
    assert api.counts.keys() == {("GET", MODEL_ROUTE + "/files", 200)}  # listed, nothing sent
    # the lower-level function trusts its caller but still checks the id Anaplan echoes
    with RequestDelta(control) as api, pytest.raises(FileGuardError, match="created or chose"):
        upload_rows(client.api, stranger, [["a"]], header=["Code"])
    assert api.count("POST", "/files/{fileId}", 200) == 1
    assert api.count("PUT", "/files/{fileId}/chunks/{chunkId}") == 0


def test_list_items_come_with_code_name_and_properties(
    client: AnaplanClient, control: Sandbox
) -> None:
    items = list(client.list_items("Cost Centers"))
    expected = control.inspect("lists/Cost Centers")
    assert [(i.code, i.name) for i in items] == [(e["code"], e["name"]) for e in expected]
    retired = next(i for i in items if i.code == "CC990")
    assert retired.name == "CC990 Old Warehouse"
    assert retired.properties["Deleted in BC"] == "false" and retired.parent is None
    with pytest.raises(UnknownNameError, match="'Cost Centers'"):
        client.list_items("Cost Centres")
