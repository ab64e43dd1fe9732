"""The seeded FP&A model, its exports and the sandbox controls that drive the demo."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

import pytest

from sandbox.masterdata import master_data
from tests.sandbox.test_anaplan_kit import AnaplanKit, anaplan

__all__ = ["anaplan"]


@pytest.fixture(autouse=True)
def fresh(anaplan: AnaplanKit) -> Iterator[None]:
    anaplan.reset()
    yield


def _export(kit: AnaplanKit, name: str) -> list[dict[str, str]]:
    _, task = kit.run("exports", name)
    assert task["result"] == {
        "failureDumpAvailable": False,
        "objectId": kit.find("exports", name)["id"],
        "successful": True,
    }
    text = kit.download(kit.find("exports", name)["id"]).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_lists_are_seeded_from_bc_with_the_demo_drift(anaplan: AnaplanKit) -> None:
    data = master_data(anaplan.info["seed"])
    accounts = {m["code"]: m for m in anaplan.members("GL Accounts")}
    assert set(accounts) == {a.number for a in data.posting_accounts}
    outdated = [
        a for a in data.posting_accounts if accounts[a.number]["name"] != f"{a.number} {a.name}"
    ]
    assert [a.name for a in outdated] == ["Software Subscriptions"]
    assert accounts[outdated[0].number]["name"].endswith("Software Licences")
    salaries = next(a for a in data.posting_accounts if a.name == "Salaries")
    assert accounts[salaries.number]["properties"] == {
        "Category": "Expense",
        "Account Group": "Personnel",
        "Blocked": False,
        "Deleted in BC": False,
    }
    bc_centers = {v.code: v for v in data.dimension("COSTCENTER").values}
    centers = {m["code"]: m for m in anaplan.members("Cost Centers")}
    assert sorted(set(bc_centers) - set(centers)) == sorted(
        v.code for v in bc_centers.values() if v.name in ("Controls Software", "Supplier Quality")
    )
    assert set(centers) - set(bc_centers) == {"CC990"}
    assert centers["CC990"]["name"] == "CC990 Old Warehouse"
    reception = next(v for v in bc_centers.values() if v.name == "Reception")
    assert centers[reception.code]["properties"]["Blocked"] is True
    products = {m["code"] for m in anaplan.members("Product Lines")}
    assert {v.code for v in data.dimension("PRODUCTLINE").values} - products == {"SERVICE"}
    departments = anaplan.members("Departments")
    assert [d["name"] for d in departments][:2] == ["ADMIN Administration", "FINANCE Finance"]
    employees = anaplan.members("Employees")
    assert len(employees) == len(data.employees)
    first = data.employees[0]
    assert employees[0]["name"] == f"{first.number} {first.given_name} {first.surname}"
    assert employees[0]["properties"]["Department"] == first.department_code
    assert [v["name"] for v in anaplan.members("Versions")] == [
        "Actual",
        "Budget FY27",
        "Forecast FY27",
    ]


def test_budget_is_plausible_and_follows_the_cost_center_departments(anaplan: AnaplanKit) -> None:
    data = master_data(anaplan.info["seed"])
    department_of = {v.code: v.parent_code for v in data.dimension("COSTCENTER").values}
    department_of["CC990"] = "LOGISTICS"
    cells = anaplan.cells("Budget")
    assert 5_000 < len(cells) < 20_000
    months = set()
    for cell in cells:
        dims = cell["dimensions"]
        cc = dims["Cost Centers"].split()[0]
        assert dims["Departments"].split()[0] == department_of[cc]
        assert dims["Versions"] == "Budget FY27"
        months.add(dims["Time"])
        assert Decimal(str(cell["value"])) != 0
    assert months == {
        f"{m} 27"
        for m in (
            "Jan",
            "Feb",
            "Mar",
            "Apr",
            "May",
            "Jun",
            "Jul",
            "Aug",
            "Sep",
            "Oct",
            "Nov",
            "Dec",
        )
    }
    revenue = [c for c in cells if c["dimensions"]["GL Accounts"].startswith("41")]
    assert revenue and all(c["value"] < 0 for c in revenue)  # BC sign: income is a credit
    assert any(c["dimensions"]["Cost Centers"].startswith("CC990") for c in cells)


def test_plan_status_export_follows_approval(anaplan: AnaplanKit) -> None:
    rows = _export(anaplan, "Export Plan Status")
    assert rows == [
        {"Versions": "Actual", "Approved": "false", "Approved At": ""},
        {"Versions": "Budget FY27", "Approved": "false", "Approved At": ""},
        {"Versions": "Forecast FY27", "Approved": "false", "Approved At": ""},
    ]
    approved = anaplan.control("/approve", {"version": "Budget FY27"})
    assert approved["approved"] is True
    rows = _export(anaplan, "Export Plan Status")
    assert rows[1]["Approved"] == "true"
    assert rows[1]["Approved At"] == approved["approvedAt"]
    assert rows[1]["Approved At"].endswith("Z")
    status = anaplan.cells("Version Status")
    assert {(c["lineItem"], c["value"]) for c in status} == {
        ("Approved", True),
        ("Approved At", approved["approvedAt"]),
    }


def test_approved_budget_export_renders_only_approved_versions(anaplan: AnaplanKit) -> None:
    assert _export(anaplan, "Export Approved Budget") == []
    export_id = anaplan.find("exports", "Export Approved Budget")["id"]
    assert anaplan.download(export_id).decode() == (
        "GL Accounts,Cost Centers,Departments,Time,Versions,Amount\n"
    )
    anaplan.control("/approve", {"version": "Budget FY27"})
    rows = _export(anaplan, "Export Approved Budget")
    cells = anaplan.cells("Budget")
    assert len(rows) == len(cells)
    assert sum(Decimal(r["Amount"]) for r in rows) == sum(Decimal(str(c["value"])) for c in cells)
    first = rows[0]
    assert first["GL Accounts"].isdigit() and first["Cost Centers"].startswith("CC")
    assert first["Time"].endswith(" 27") and first["Versions"] == "Budget FY27"
    assert all("E" not in r["Amount"] and "," not in r["Amount"] for r in rows)
    metadata = anaplan.ok("GET", f"/exports/{export_id}")["exportMetadata"]
    assert metadata["rowCount"] == len(rows)
    anaplan.control("/approve", {"version": "Budget FY27", "approved": False})
    assert _export(anaplan, "Export Approved Budget") == []


def test_budget_control_regenerates_an_exact_number_of_rows(anaplan: AnaplanKit) -> None:
    body = anaplan.control("/budget", {"version": "Forecast FY27", "rows": 10_000})
    assert body == {"version": "Forecast FY27", "cells": 10_000}
    anaplan.control("/approve", {"version": "Forecast FY27"})
    rows = _export(anaplan, "Export Approved Budget")
    assert len(rows) == 10_000
    assert {r["Versions"] for r in rows} == {"Forecast FY27"}
    again = anaplan.control("/budget", {"version": "Forecast FY27", "rows": 10_000})
    assert again["cells"] == 10_000
    assert _export(anaplan, "Export Approved Budget") == rows  # deterministic
    response = anaplan.http.post(
        anaplan.url("/_sandbox/anaplan/budget"), json={"version": "Forecast FY27", "rows": 10**7}
    )
    assert response.status_code == 400
    unknown = anaplan.http.post(anaplan.url("/_sandbox/anaplan/approve"), json={"version": "X"})
    assert unknown.status_code == 400


def test_inspection_endpoints(anaplan: AnaplanKit) -> None:
    member = anaplan.members("Departments")[0]
    assert member == {
        "name": "ADMIN Administration",
        "code": "ADMIN",
        "parent": None,
        "properties": {"Blocked": False, "Deleted in BC": False},
    }
    cell = anaplan.cells("Budget")[0]
    assert set(cell) == {"dimensions", "lineItem", "value"}
    assert list(cell["dimensions"]) == [
        "GL Accounts",
        "Cost Centers",
        "Departments",
        "Versions",
        "Time",
    ]
    base = anaplan.url(f"/_sandbox/anaplan/models/{anaplan.model}")
    assert anaplan.http.get(f"{base}/lists/Nope").status_code == 404
    assert anaplan.http.get(f"{base}/modules/Nope/cells").status_code == 404
    wrong_case = anaplan.url(f"/_sandbox/anaplan/models/{anaplan.model.lower()}/lists/Versions")
    assert anaplan.http.get(wrong_case).status_code == 404


def test_calendar_runs_from_the_first_booked_month_to_the_budget_year(anaplan: AnaplanKit):
    _, _, task = anaplan.import_csv(
        "Import Headcount",
        "Departments,Time,Headcount\nHR,Jan 25,1\nHR,Dec 27,2\nHR,Dec 24,3\nHR,Jan 28,4\n",
    )
    values = task["result"]["details"][0]["values"]
    counts = dict(zip(values[::2], values[1::2], strict=True))
    assert (counts["successRowCount"], counts["failedCount"]) == ("2", "2")


def test_reset_restores_the_seeded_model(anaplan: AnaplanKit) -> None:
    before = anaplan.members("Cost Centers")
    anaplan.import_csv(
        "Import Cost Centers", "Code,Name,Blocked,Deleted in BC\nCC1,CC1 A,false,false\n"
    )
    assert len(anaplan.members("Cost Centers")) == len(before) + 1
    anaplan.control("/reset")
    assert anaplan.members("Cost Centers") == before


def test_cells_can_be_filtered_and_totalled(anaplan: AnaplanKit) -> None:
    cells = anaplan.cells("Budget")
    jan = anaplan.inspect("/modules/Budget/cells", Time="Jan 27", **{"Cost Centers": "CC990"})
    expected = [
        c
        for c in cells
        if c["dimensions"]["Time"] == "Jan 27"
        and c["dimensions"]["Cost Centers"].startswith("CC990")
    ]
    assert jan == expected and jan
    totals = anaplan.inspect("/modules/Budget/totals")
    assert totals["Amount"]["cells"] == len(cells)
    assert Decimal(str(totals["Amount"]["sum"])) == sum(Decimal(str(c["value"])) for c in cells)
    response = anaplan.http.get(
        anaplan.url(f"/_sandbox/anaplan/models/{anaplan.model}/modules/Budget/cells"),
        params={"Colour": "red"},
    )
    assert response.status_code == 400
