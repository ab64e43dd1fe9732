"""Imports really apply the file: module data and list (hierarchy) data, rejects, dumps."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.sandbox.test_anaplan_kit import AnaplanKit, anaplan

__all__ = ["anaplan"]

GL_HEADER = "GL Accounts,Cost Centers,Departments,Time,Amount,Closing Balance"


@pytest.fixture(autouse=True)
def fresh(anaplan: AnaplanKit) -> Iterator[None]:
    anaplan.reset()
    yield


def _counts(task: dict[str, Any]) -> dict[str, str]:
    values = task["result"]["details"][0]["values"]
    return dict(zip(values[::2], values[1::2], strict=True))


def _amounts(kit: AnaplanKit, module: str = "GL Actuals", line_item: str = "Amount") -> dict:
    out = {}
    for cell in kit.cells(module, line_item):
        dims = cell["dimensions"]
        key = tuple(
            dims[d].split(" ")[0] if d not in ("Time", "Versions") else dims[d] for d in dims
        )
        out[key] = Decimal(str(cell["value"]))
    return out


def _dump(kit: AnaplanKit, import_id: str, task_id: str) -> list[list[str]]:
    response = kit.get(f"/imports/{import_id}/tasks/{task_id}/dump")
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.text)))


def test_module_import_maps_columns_by_name_and_ignores_extras(anaplan: AnaplanKit) -> None:
    text = (
        "Note,Time,Closing Balance,Amount,Departments,Cost Centers,GL Accounts\n"
        "hello,Jan 26,100.00,12.345,ADMIN,CC100,61010\n"
        "x,Feb 26,,-0.5,ADMIN,CC100,61010\n"
    )
    _, _, task = anaplan.import_csv("Import GL Actuals", text)
    assert task["result"]["successful"] is True
    counts = _counts(task)
    assert counts["successRowCount"] == "2" and counts["failedCount"] == "0"
    amounts = _amounts(anaplan)
    assert amounts[("61010", "CC100", "ADMIN", "Jan 26")] == Decimal("12.345")
    assert amounts[("61010", "CC100", "ADMIN", "Feb 26")] == Decimal("-0.5")
    closing = _amounts(anaplan, line_item="Closing Balance")
    assert closing == {("61010", "CC100", "ADMIN", "Jan 26"): Decimal("100")}
    raw = anaplan.http.get(
        anaplan.url(f"/_sandbox/anaplan/models/{anaplan.model}/modules/GL Actuals/cells")
    ).text
    assert "12.345" in raw and "12.3450000" not in raw  # exact JSON numbers


def test_duplicates_are_summed_blanks_leave_cells_and_zero_clears(anaplan: AnaplanKit) -> None:
    anaplan.import_csv(
        "Import GL Actuals",
        f"{GL_HEADER}\n61010,CC100,ADMIN,Jan 26,10.10,1\n61010,CC100,ADMIN,Jan 26,5.05,2\n"
        "61020,CC100,ADMIN,Jan 26,7,7\n",
    )
    amounts = _amounts(anaplan)
    assert amounts[("61010", "CC100", "ADMIN", "Jan 26")] == Decimal("15.15")
    _, _, task = anaplan.import_csv(
        "Import GL Actuals",
        f"{GL_HEADER}\n61010,CC100,ADMIN,Jan 26,,9\n61020,CC100,ADMIN,Jan 26,0,0\n,,,,,\n",
    )
    counts = _counts(task)
    assert counts["successRowCount"] == "2" and counts["ignoredCount"] == "1"
    amounts = _amounts(anaplan)
    assert amounts[("61010", "CC100", "ADMIN", "Jan 26")] == Decimal("15.15")  # blank: unchanged
    assert ("61020", "CC100", "ADMIN", "Jan 26") not in amounts  # zero: cleared
    closing = _amounts(anaplan, line_item="Closing Balance")
    assert closing[("61010", "CC100", "ADMIN", "Jan 26")] == Decimal("9")


def test_rows_with_unknown_members_or_bad_values_are_rejected_into_the_dump(anaplan: AnaplanKit):
    rows = [
        "61010,CC100,ADMIN,Jan 26,1,1",  # line 2: fine
        "99999,CC100,ADMIN,Jan 26,1,1",  # unknown account
        "61010,CC410,RND,Jan 26,1,1",  # cost center BC has but Anaplan lacks
        "61010,CC100,admin,Jan 26,1,1",  # codes are case sensitive
        "61010,CC100,ADMIN,Jan 2026,1,1",  # not a period name
        "61010,CC100,ADMIN,Jan 28,1,1",  # beyond the calendar
        '61010,CC100,ADMIN,Jan 26,"1,234.50",1',  # thousands separator
        "61010,CC100,ADMIN,Jan 26, 12,1",  # surrounding space
        "61010,CC100,ADMIN,Jan 26,1e3,1",  # exponent
        "61010,CC100,ADMIN",  # short row
    ]
    import_id, task_id, task = anaplan.import_csv(
        "Import GL Actuals", GL_HEADER + "\n" + "\n".join(rows) + "\n"
    )
    result = task["result"]
    assert result["successful"] is True and result["failureDumpAvailable"] is True
    counts = _counts(task)
    assert (counts["successRowCount"], counts["failedCount"], counts["totalRowCount"]) == (
        "1",
        "9",
        "10",
    )
    assert result["details"][0]["type"] == "moduleRowsProcessedWithFailures"
    dump = _dump(anaplan, import_id, task_id)
    assert dump[0] == ["_Status_", "_Line_", "_Error_1_", *GL_HEADER.split(",")]
    assert [r[1] for r in dump[1:]] == [str(n) for n in range(3, 12)]
    assert all(r[0] == "E" for r in dump[1:])
    assert dump[1][2] == "Item not located in GL Accounts list: 99999"
    assert dump[2][2] == "Item not located in Cost Centers list: CC410"
    assert dump[4][2] == "Invalid time period: Jan 2026"
    assert dump[6][2] == "Invalid number: 1,234.50"
    assert dump[1][3:] == rows[1].split(",")
    assert _amounts(anaplan) == {("61010", "CC100", "ADMIN", "Jan 26"): Decimal("1")}


def test_import_whose_rows_all_fail_is_unsuccessful(anaplan: AnaplanKit) -> None:
    _, _, task = anaplan.import_csv("Import Headcount", "Departments,Time,Headcount\nXX,Jan 26,1\n")
    assert task["currentStep"] == "Failed."
    assert task["result"]["successful"] is False
    assert task["result"]["failureDumpAvailable"] is True


def test_missing_mapped_column_fails_the_import_with_a_clear_detail(anaplan: AnaplanKit) -> None:
    import_id, task_id, task = anaplan.import_csv(
        "Import GL Actuals",
        "GL Accounts,Cost Centers,Departments,Time,Amount\n61010,CC100,ADMIN,Jan 26,1\n",
    )
    result = task["result"]
    assert result["successful"] is False and result["failureDumpAvailable"] is False
    assert "Closing Balance" in result["details"][0]["localMessageText"]
    assert anaplan.get(f"/imports/{import_id}/tasks/{task_id}/dump").status_code == 204
    assert _amounts(anaplan) == {}


def test_file_format_problems_fail_the_whole_import(anaplan: AnaplanKit) -> None:
    definition = anaplan.find("imports", "Import Headcount")
    anaplan.upload(
        definition["importDataSourceId"], b"Departments,Time,Headcount\nHR,Jan 26,\xff\n"
    )
    task = anaplan.wait("imports", definition["id"], anaplan.start("imports", definition["id"]))
    assert task["result"]["successful"] is False
    assert "UTF-8" in task["result"]["details"][0]["localMessageText"]
    bom_crlf = "\ufeffDepartments,Time,Headcount\r\nHR,Jan 26,3\r\n".encode()
    anaplan.upload(definition["importDataSourceId"], bom_crlf)
    task = anaplan.wait("imports", definition["id"], anaplan.start("imports", definition["id"]))
    assert task["result"]["successful"] is True
    assert [c["value"] for c in anaplan.cells("Headcount")] == [3]


def test_dumps_are_replaced_by_the_next_run_of_the_same_import(anaplan: AnaplanKit) -> None:
    bad = "Departments,Time,Headcount\nXX,Jan 26,1\nHR,Jan 26,2\n"
    import_id, first, _ = anaplan.import_csv("Import Headcount", bad)
    assert anaplan.get(f"/imports/{import_id}/tasks/{first}/dump").status_code == 200
    _, second, _ = anaplan.import_csv("Import Headcount", bad)
    gone = anaplan.get(f"/imports/{import_id}/tasks/{first}/dump")
    assert gone.status_code == 404 and gone.json()["status"]["code"] == 404
    assert anaplan.task("imports", import_id, first)["result"]["failureDumpAvailable"] is True
    assert anaplan.get(f"/imports/{import_id}/tasks/{second}/dump/chunks").status_code == 200
    _, third, _ = anaplan.import_csv(
        "Import Headcount", "Departments,Time,Headcount\nHR,Jan 26,2\n"
    )
    assert anaplan.get(f"/imports/{import_id}/tasks/{second}/dump").status_code == 404
    assert anaplan.get(f"/imports/{import_id}/tasks/{third}/dump").status_code == 204


def test_list_import_adds_and_updates_by_code_and_never_deletes(anaplan: AnaplanKit) -> None:
    before = {m["code"]: m for m in anaplan.members("Cost Centers")}
    text = (
        "Code,Name,Blocked,Deleted in BC\n"
        "CC410,CC410 Controls Software,false,false\n"
        "CC100,CC100 Executive Board,true,false\n"
    )
    _, _, task = anaplan.import_csv("Import Cost Centers", text)
    counts = _counts(task)
    assert task["result"]["details"][0]["type"] == "hierarchyRowsProcessed"
    assert (counts["successCreateCount"], counts["successUpdateCount"]) == ("1", "1")
    assert counts["renamedCount"] == "1"
    text = task["result"]["details"][0]["localMessageText"]
    assert text == "Cost Centers: 2 (1/1) rows successful, 0 ignored "
    after = {m["code"]: m for m in anaplan.members("Cost Centers")}
    assert set(after) == set(before) | {"CC410"}  # nothing deleted
    assert after["CC100"] == {
        "name": "CC100 Executive Board",
        "code": "CC100",
        "parent": None,
        "properties": {"Blocked": True, "Deleted in BC": False},
    }
    assert list(after)[-1] == "CC410"


def test_list_import_rejections(anaplan: AnaplanKit) -> None:
    long_name = "CC500 " + "x" * 60
    rows = [
        "CC500,CC500 New Centre,false,false",  # 2: created
        "CC500,CC500 Again,false,false",  # 3: duplicate code, first occurrence wins
        "CC501,CC110 Legal,false,false",  # 4: name of another item
        "CC502,cc100 executive office,false,false",  # 5: names compare case-insensitively
        f"CC503,{long_name},false,false",  # 6: name too long
        "CC504,CC504 Yes,yes,false",  # 7: not a boolean
        ",No Code,false,false",  # 8: blank code
        "CC505,,false,false",  # 9: blank name
    ]
    import_id, task_id, task = anaplan.import_csv(
        "Import Cost Centers", "Code,Name,Blocked,Deleted in BC\n" + "\n".join(rows) + "\n"
    )
    assert task["result"]["details"][0]["type"] == "hierarchyRowsProcessedWithFailures"
    assert _counts(task)["failedCount"] == "7"
    dump = _dump(anaplan, import_id, task_id)
    assert [r[1] for r in dump[1:]] == ["3", "4", "5", "6", "7", "8", "9"]
    assert dump[1][2].startswith("Duplicate code")
    assert "CC110" in dump[2][2]
    assert "60 characters" in dump[4][2]
    assert dump[5][2] == "Invalid boolean value for Blocked: yes"
    members = {m["code"]: m["name"] for m in anaplan.members("Cost Centers")}
    assert members["CC500"] == "CC500 New Centre"
    assert "CC501" not in members


def test_employee_import_parses_dates_and_keeps_properties(anaplan: AnaplanKit) -> None:
    header = "Code,Name,Department,Job Title,Status,Start Date,End Date,Deleted in BC"
    rows = [
        "E0601,E0601 Nora Quist,FINANCE,FP&A Analyst,Active,2026-03-01,,false",
        "E0001,E0001 Maya Yilmaz,PROD,Technician,Terminated,2024-03-18,2026-01-31,false",
        "E0602,E0602 Bad Date,HR,Recruiter,Active,01/03/2026,,false",
    ]
    import_id, task_id, task = anaplan.import_csv(
        "Import Employees", header + "\n" + "\n".join(rows) + "\n"
    )
    assert _counts(task)["successRowCount"] == "2"
    assert "YYYY-MM-DD" in _dump(anaplan, import_id, task_id)[1][2]
    members = {m["code"]: m for m in anaplan.members("Employees")}
    assert len(members) == 601
    assert members["E0601"]["properties"]["Start Date"] == "2026-03-01"
    assert members["E0601"]["properties"]["End Date"] is None
    assert members["E0001"]["properties"]["End Date"] == "2026-01-31"
    assert members["E0001"]["properties"]["Status"] == "Terminated"
