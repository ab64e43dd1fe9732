"""Integration API conventions and metadata: envelope, paging, ids, workspaces, models, objects."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.sandbox.test_anaplan_kit import AnaplanKit, anaplan

__all__ = ["anaplan"]


def _api(kit: AnaplanKit, path: str, **params: str):
    return kit.request("GET", kit.url("/2/0" + path), params=params)


def test_workspaces_envelope_and_details(anaplan: AnaplanKit) -> None:
    body = _api(anaplan, "/workspaces").json()
    assert body["status"] == {"code": 200, "message": "Success"}
    assert body["meta"]["paging"] == {"currentPageSize": 1, "offset": 0, "totalSize": 1}
    assert body["meta"]["schema"].endswith("/2/0/objects/workspace")
    (workspace,) = body["workspaces"]
    assert workspace["id"] == anaplan.ws and workspace["active"] is True
    assert "currentSize" not in workspace
    detailed = _api(anaplan, "/workspaces", tenantDetails="true").json()["workspaces"][0]
    assert detailed["currentSize"] <= detailed["sizeAllowance"]
    single = _api(anaplan, f"/workspaces/{anaplan.ws}").json()
    assert single["workspace"]["id"] == anaplan.ws


def test_models_and_the_405_on_the_workspace_form(anaplan: AnaplanKit) -> None:
    (model,) = _api(anaplan, "/models").json()["models"]
    assert model["id"] == anaplan.model and model["name"] == "FP&A"
    assert model["activeState"] == "UNLOCKED"
    assert model["currentWorkspaceId"] == anaplan.ws
    assert "modelTransactionRunning" not in model
    scoped = _api(anaplan, f"/workspaces/{anaplan.ws}/models").json()["models"]
    assert [m["id"] for m in scoped] == [anaplan.model]
    single = _api(anaplan, f"/models/{anaplan.model}", modelDetails="true").json()["model"]
    assert single["modelTransactionRunning"] is False
    assert {"lastModified", "memoryUsage", "isoCreationDate"} <= set(single)
    not_allowed = _api(anaplan, f"/workspaces/{anaplan.ws}/models/{anaplan.model}")
    assert not_allowed.status_code == 405
    assert not_allowed.json()["status"]["code"] == 405


def test_sort_needs_a_direction_and_a_sortable_field(anaplan: AnaplanKit) -> None:
    for sort in ("name", "+colour", "-colour"):
        response = _api(anaplan, "/models", sort=sort)
        assert response.status_code == 400, sort
        assert response.json()["status"]["message"] == f"Bad sort order format: {sort}"
    for sort in ("+name", "-name", "-activeState"):
        assert _api(anaplan, "/models", sort=sort).status_code == 200
    assert _api(anaplan, "/workspaces", sort="-sizeAllowance").status_code == 200


def test_model_status_is_bare_when_idle(anaplan: AnaplanKit) -> None:
    body = anaplan.get("/status").json()
    assert set(body) == {"requestStatus"}
    assert body["requestStatus"]["currentStep"] == "Open"
    posted = anaplan.request("POST", anaplan.model_url("/status")).json()
    assert posted["status"]["code"] == 200 and posted["requestStatus"]["taskId"] is None


def test_paging_with_limit_and_offset(anaplan: AnaplanKit) -> None:
    first = anaplan.ok("GET", "/imports", params={"limit": "3"})
    paging = first["meta"]["paging"]
    assert paging["currentPageSize"] == 3 and paging["totalSize"] == 8 and paging["offset"] == 0
    assert "previous" not in paging
    next_url = urlsplit(paging["next"])
    assert next_url.geturl().startswith(anaplan.model_url("/imports"))
    assert parse_qs(next_url.query) == {"limit": ["3"], "offset": ["3"]}
    middle = anaplan.ok("GET", "/imports", params={"limit": "3", "offset": "3"})
    assert parse_qs(urlsplit(middle["meta"]["paging"]["previous"]).query)["offset"] == ["0"]
    last = anaplan.ok("GET", "/imports", params={"limit": "3", "offset": "6"})
    assert last["meta"]["paging"]["currentPageSize"] == 2 and "next" not in last["meta"]["paging"]
    names = [i["name"] for b in (first, middle, last) for i in b["imports"]]
    assert names == [i["name"] for i in anaplan.ok("GET", "/imports")["imports"]]
    capped = anaplan.ok("GET", "/imports", params={"limit": "100000"})
    assert capped["meta"]["paging"]["currentPageSize"] == 8
    for bad in ({"limit": "abc"}, {"limit": "0"}, {"offset": "-1"}):
        response = anaplan.get("/imports", params=bad)
        assert response.status_code == 400, bad


def test_empty_collections_omit_their_key(anaplan: AnaplanKit) -> None:
    action = anaplan.find("actions", "Delete Cost Centers Deleted in BC")
    body = anaplan.ok("GET", f"/actions/{action['id']}/tasks")
    assert "tasks" not in body
    assert body["meta"]["paging"]["totalSize"] == 0
    beyond = anaplan.ok("GET", "/imports", params={"offset": "50"})
    assert "imports" not in beyond and beyond["meta"]["paging"]["totalSize"] == 8
    unknown_parent = anaplan.ok("GET", "/imports/112999999999/tasks")
    assert "tasks" not in unknown_parent


def test_ids_are_case_sensitive_and_unknown_ids_are_404(anaplan: AnaplanKit) -> None:
    ws, model = anaplan.ws, anaplan.model
    paths = [
        f"/workspaces/{ws.upper()}",
        f"/workspaces/{ws.upper()}/models",
        f"/workspaces/{ws.upper()}/models/{model}/imports",
        f"/models/{model.lower()}",
        f"/models/{model.lower()}/imports",
        f"/workspaces/{ws}/models/{model.lower()}/files",
        f"/models/{model}/imports/112999999999",
        f"/models/{model}/lists/101999999999",
        f"/models/{model}/files/113999999999/chunks",
        f"/models/{model}/exports/112000000001",
        f"/models/{model}/nothing-here",
    ]
    for path in paths:
        response = _api(anaplan, path)
        assert response.status_code == 404, path
        body = response.json()
        assert body["status"] == {"code": 404, "message": "Not Found"}, path
        assert body["path"] == "/2/0" + path
        assert body["timestamp"].endswith("Z")


def test_both_path_forms_serve_the_same_resources(anaplan: AnaplanKit) -> None:
    short = _api(anaplan, f"/models/{anaplan.model}/imports").json()
    long = _api(anaplan, f"/workspaces/{anaplan.ws}/models/{anaplan.model}/imports").json()
    assert short["imports"] == long["imports"]


def test_lists_metadata_and_items(anaplan: AnaplanKit) -> None:
    lists = anaplan.ok("GET", "/lists")["lists"]
    names = [entry["name"] for entry in lists]
    assert names == [
        "GL Accounts",
        "Departments",
        "Cost Centers",
        "Product Lines",
        "Employees",
        "Versions",
    ]
    assert all(entry["id"].startswith("101") and len(entry["id"]) == 12 for entry in lists)
    employees = next(entry for entry in lists if entry["name"] == "Employees")
    metadata = anaplan.ok("GET", f"/lists/{employees['id']}")["metadata"]
    assert metadata["itemCount"] == 600 and metadata["numberedList"] is False
    assert [p["name"] for p in metadata["properties"]] == [
        "Department",
        "Job Title",
        "Status",
        "Start Date",
        "End Date",
        "Deleted in BC",
    ]
    items = anaplan.ok("GET", f"/lists/{employees['id']}/items")["listItems"]
    assert len(items) == 600
    assert set(items[0]) == {"id", "name", "code", "listId", "listName"}
    full = anaplan.ok("GET", f"/lists/{employees['id']}/items", params={"includeAll": "true"})
    first = full["listItems"][0]
    assert first["code"] == "E0001" and first["name"].startswith("E0001 ")
    assert first["properties"]["Deleted in BC"] == "false"
    assert first["properties"]["Start Date"].count("-") == 2
    as_csv = anaplan.get(f"/lists/{employees['id']}/items", headers={"Accept": "text/csv"})
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0].startswith("Name,Code,Department")


def test_modules_and_line_items(anaplan: AnaplanKit) -> None:
    modules = anaplan.ok("GET", "/modules")["modules"]
    assert [m["name"] for m in modules] == [
        "GL Actuals",
        "Budget",
        "Version Status",
        "Commitments",
        "Headcount",
    ]
    gl = modules[0]
    items = anaplan.ok("GET", f"/modules/{gl['id']}/lineItems")["items"]
    assert [i["name"] for i in items] == ["Amount", "Closing Balance"]
    assert all(i["id"].startswith("206") for i in items)
    everything = anaplan.ok("GET", "/lineItems")["items"]
    assert len(everything) == 7


def test_imports_exports_processes_and_actions(anaplan: AnaplanKit) -> None:
    imports = anaplan.ok("GET", "/imports")["imports"]
    by_name = {i["name"]: i for i in imports}
    assert by_name["Import Employees"]["importType"] == "HIERARCHY_DATA"
    assert by_name["Import GL Actuals"]["importType"] == "MODULE_DATA"
    for item in imports:
        assert item["id"].startswith("112") and item["importDataSourceId"].startswith("113")
    metadata = anaplan.ok("GET", f"/imports/{by_name['Import Headcount']['id']}")["importMetadata"]
    assert metadata["type"] == "FILE"
    assert metadata["source"]["headerNames"] == ["Departments", "Time", "Headcount"]
    assert metadata["source"]["columnSeparator"] == "," and metadata["source"]["headerRow"] == 1
    exports = anaplan.ok("GET", "/exports")["exports"]
    assert [e["name"] for e in exports] == ["Export Approved Budget", "Export Plan Status"]
    assert all(e["exportType"] == "TABULAR_MULTI_COLUMN" for e in exports)
    export_meta = anaplan.ok("GET", f"/exports/{exports[0]['id']}")["exportMetadata"]
    assert export_meta["headerNames"] == [
        "GL Accounts",
        "Cost Centers",
        "Departments",
        "Time",
        "Versions",
        "Amount",
    ]
    assert export_meta["separator"] == "," and export_meta["delimiter"] == '"'
    (process,) = anaplan.ok("GET", "/processes")["processes"]
    assert process["id"].startswith("118")
    process_meta = anaplan.ok(
        "GET", f"/processes/{process['id']}", params={"showImportDataSource": "true"}
    )["processMetadata"]
    assert [a["name"] for a in process_meta["actions"]] == [
        "Import GL Accounts",
        "Import Departments",
        "Import Cost Centers",
        "Import Product Lines",
        "Import Employees",
    ]
    assert process_meta["actions"][0]["importDataSource"]["type"] == "FILE"
    (action,) = anaplan.ok("GET", "/actions")["actions"]
    assert action["id"].startswith("117") and action["actionType"] == "DELETE_BY_SELECTION"
    assert anaplan.ok("GET", f"/actions/{action['id']}")["actionMetadata"]["id"] == action["id"]
