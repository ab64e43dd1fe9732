"""Sandbox controls that stand in for users of BC (dimension values, employees, purchase orders),
and the entities they change: employees with default dimensions, purchase orders with lines and
dimensions, trial balances."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.sandbox.test_bc_kit import BcKit, bc, bc_error, bc_private, moment

__all__ = ["bc", "bc_private"]

AMOUNT = re.compile(r"^\d{1,3}(,\d{3})*\.\d{2}$")


def _value(kit: BcKit, dimension: str, code: str) -> list[dict[str, Any]]:
    dim = kit.values("/dimensions", **{"$filter": f"code eq '{dimension}'"})[0]
    return kit.values(
        f"/dimensions({dim['id']})/dimensionValues", **{"$filter": f"code eq '{code}'"}
    )


def test_master_data_matches_the_shared_master_data(bc: BcKit) -> None:
    assert len(bc.values("/accounts")) == 233
    counts = {
        d["code"]: len(bc.values(f"/dimensions({d['id']})/dimensionValues"))
        for d in bc.values("/dimensions")
    }
    assert counts == {"DEPARTMENT": 10, "COSTCENTER": 38, "PRODUCTLINE": 8}
    assert len(bc.values("/dimensionValues")) == 56
    assert len(bc.values("/employees")) == 600


def test_dimension_value_create_rename_block(bc_private: BcKit) -> None:
    kit = bc_private
    created = kit.control(
        "bc/dimension-values",
        {"action": "create", "dimension": "COSTCENTER", "code": "CC900", "name": "Digital Lab"},
    )
    assert [v["id"] for v in _value(kit, "COSTCENTER", "CC900")] == [created["id"]]
    kit.control(
        "bc/dimension-values",
        {
            "action": "rename",
            "dimension": "COSTCENTER",
            "code": "CC900",
            "newCode": "CC910",
            "name": "Digital",
        },
    )
    renamed = _value(kit, "COSTCENTER", "CC910")
    assert renamed[0]["id"] == created["id"] and renamed[0]["displayName"] == "Digital"
    assert moment(renamed[0]["lastModifiedDateTime"]) >= moment(created["lastModifiedDateTime"])
    kit.control(
        "bc/dimension-values", {"action": "block", "dimension": "COSTCENTER", "code": "CC910"}
    )
    plan = next(j for j in kit.values("/journals") if j["code"] == "PLAN")
    line = kit.post(f"/journals({plan['id']})/journalLines", {"accountNumber": "66010"}).json()
    response = kit.post(
        f"/journalLines({line['id']})/dimensionSetLines",
        {"code": "COSTCENTER", "valueCode": "CC910"},
    )
    assert bc_error(response, 400, "Application_DialogException") == (
        "Dimension Value COSTCENTER - CC910 is blocked."
    )
    kit.delete(f"/journalLines({line['id']})")


def test_employees_with_default_dimensions(bc: BcKit) -> None:
    employees = bc.values("/employees", **{"$top": "5", "$expand": "defaultDimensions"})
    for employee in employees:
        assert employee["displayName"] == f"{employee['givenName']} {employee['surname']}"
        (default,) = employee["defaultDimensions"]
        assert default["dimensionCode"] == "DEPARTMENT" and default["parentType"] == "Employee"
        assert default["parentId"] == employee["id"]
        assert default["postingValidation"] == "_x0020_"
    statuses = {e["status"] for e in bc.values("/employees")}
    assert statuses == {"Active", "Inactive", "Terminated"}


def test_hire_change_terminate(bc_private: BcKit) -> None:
    kit = bc_private
    hired = kit.control(
        "bc/employees",
        {
            "action": "hire",
            "givenName": "Ada",
            "surname": "Byron",
            "jobTitle": "Controller",
            "department": "FINANCE",
        },
    )
    employee = kit.get(f"/employees({hired['id']})", **{"$expand": "defaultDimensions"}).json()
    assert employee["number"] == "E0601" and employee["status"] == "Active"
    assert employee["defaultDimensions"][0]["dimensionValueCode"] == "FINANCE"
    kit.control("bc/employees", {"action": "change", "number": "E0601", "department": "IT"})
    moved = kit.get(f"/employees({hired['id']})", **{"$expand": "defaultDimensions"}).json()
    assert moved["defaultDimensions"][0]["dimensionValueCode"] == "IT"
    assert moment(moved["lastModifiedDateTime"]) >= moment(employee["lastModifiedDateTime"])
    kit.control(
        "bc/employees", {"action": "terminate", "number": "E0601", "terminationDate": "2026-12-31"}
    )
    gone = kit.get(f"/employees({hired['id']})").json()
    assert gone["status"] == "Terminated" and gone["terminationDate"] == "2026-12-31"


def test_purchase_orders_with_lines_and_dimensions(bc: BcKit) -> None:
    orders = bc.values("/purchaseOrders", **{"$expand": "purchaseOrderLines,dimensionSetLines"})
    assert 24 <= len(orders) <= 60
    assert {o["status"] for o in orders} == {"Draft", "Open"}
    assert any(o["fullyReceived"] for o in orders)
    for order in orders:
        assert order["purchaseOrderLines"]
        assert {d["code"] for d in order["dimensionSetLines"]} == {"DEPARTMENT", "COSTCENTER"}
        total = sum(line["amountExcludingTax"] for line in order["purchaseOrderLines"])
        assert abs(total - order["totalAmountExcludingTax"]) < 0.01
        for line in order["purchaseOrderLines"]:
            assert line["lineType"] == "Account" and line["documentId"] == order["id"]
            assert re.match(r"^\d{5}$", line["lineObjectNumber"])
            assert line["receivedQuantity"] <= line["quantity"]
    bc_error(bc.post("/purchaseOrders", {}), 405, "BadRequest_MethodNotAllowed")
    message = bc_error(bc.get("/purchaseOrderLines"), 400, "Application_DialogException")
    assert message == "You must specify an Id or a Document Id to get the lines."


def test_purchase_order_control_bumps_last_modified(bc_private: BcKit) -> None:
    kit = bc_private
    created = kit.control(
        "bc/purchase-orders",
        {
            "action": "create",
            "vendorNumber": "V10030",
            "department": "PROD",
            "costCenter": "CC320",
            "lines": [
                {
                    "accountNumber": "53010",
                    "quantity": 4,
                    "directUnitCost": 250,
                    "expectedReceiptDate": "2026-12-15",
                }
            ],
        },
    )
    order = kit.get(f"/purchaseOrders({created['id']})", **{"$expand": "purchaseOrderLines"}).json()
    assert order["totalAmountExcludingTax"] == 1000 and order["status"] == "Open"
    assert order["purchaseOrderLines"][0]["expectedReceiptDate"] == "2026-12-15"
    kit.control(
        "bc/purchase-orders", {"action": "change", "number": order["number"], "receiveAll": True}
    )
    received = kit.get(f"/purchaseOrders({created['id']})").json()
    assert received["fullyReceived"] is True
    assert moment(received["lastModifiedDateTime"]) >= moment(order["lastModifiedDateTime"])
    assert received["@odata.etag"] != order["@odata.etag"]
    since = kit.values(
        "/purchaseOrders", **{"$filter": f"lastModifiedDateTime ge {order['lastModifiedDateTime']}"}
    )
    assert created["id"] in {o["id"] for o in since}


def test_a_purchase_order_is_deleted_with_its_lines(bc_private: BcKit) -> None:
    kit = bc_private
    created = kit.control("bc/purchase-orders", {"action": "create"})
    path = f"/purchaseOrders({created['id']})"
    bc_error(kit.delete(path, etag=None), 400, "BadRequest_InvalidToken")  # If-Match required
    assert kit.delete(path, etag=kit.get(path).json()["@odata.etag"]).status_code == 204
    assert kit.get(path).status_code == 404
    assert created["id"] not in {o["id"] for o in kit.values("/purchaseOrders")}
    lines = kit.values("/purchaseOrderLines", **{"$filter": f"documentId eq {created['id']}"})
    assert lines == []


def test_a_late_commit_keeps_the_time_it_wrote_at(bc_private: BcKit) -> None:
    kit = bc_private
    first = kit.control("bc/purchase-orders", {"action": "create"})
    kit.advance_clock(10)
    second = kit.control("bc/purchase-orders", {"action": "create"})
    written = (
        moment(first["lastModifiedDateTime"])
        + (moment(second["lastModifiedDateTime"]) - moment(first["lastModifiedDateTime"])) / 2
    )
    late = {"action": "change", "number": first["number"], "stampedAt": written.isoformat()}
    changed = kit.control("bc/purchase-orders", {**late, "receiveAll": True})
    assert changed["fullyReceived"] is True
    assert abs(moment(changed["lastModifiedDateTime"]) - written) < timedelta(milliseconds=4)
    assert moment(changed["lastModifiedDateTime"]) < moment(second["lastModifiedDateTime"])
    before = kit.http.post(
        f"{kit.info['bc']}/_sandbox/bc/purchase-orders",
        json={**late, "stampedAt": first["lastModifiedDateTime"]},  # not after its own last change
    )
    assert before.status_code == 400


@pytest.mark.parametrize("period", [("2025-01-01", "2025-12-31"), ("2026-03-01", "2026-03-31")])
def test_trial_balance_for_a_period(bc: BcKit, period: tuple[str, str]) -> None:
    rows = bc.values(
        "/trialBalances", **{"$filter": f"dateFilter ge {period[0]} and dateFilter le {period[1]}"}
    )
    posting = [r for r in rows if r["accountType"] == "Posting"]
    assert len(posting) == 165
    assert all(
        AMOUNT.match(r["totalDebit"]) and AMOUNT.match(r["balanceAtDateCredit"]) for r in posting
    )
    assert {r["totalDebit"] for r in rows if r["accountType"] == "Heading"} == {""}
    assert {r["dateFilter"] for r in rows} == {period[1]}

    def cents(text: str) -> int:
        return int(text.replace(",", "").replace(".", ""))

    debit = sum(cents(r["totalDebit"]) for r in posting)
    credit = sum(cents(r["totalCredit"]) for r in posting)
    assert debit == credit > 0
    balance = sum(cents(r["balanceAtDateDebit"]) - cents(r["balanceAtDateCredit"]) for r in posting)
    assert balance == 0


def test_trial_balance_pages_resume_after_the_skiptoken(bc: BcKit) -> None:
    period = {"$filter": "dateFilter ge 2025-01-01 and dateFilter le 2025-12-31"}
    unpaged = bc.values("/trialBalances", **period)
    assert len(unpaged) > 7
    pages = []
    for page in bc.pages("/trialBalances", page_size=7, **period):
        pages.append(page["value"])
        assert len(pages) <= len(unpaged) // 7 + 1, "next links keep returning pages"
    assert all(len(p) == 7 for p in pages[:-1])
    assert [row for p in pages for row in p] == unpaged


def test_trial_balance_has_no_last_modified(bc: BcKit) -> None:
    response = bc.get(
        "/trialBalances", **{"$filter": "lastModifiedDateTime gt 2025-01-01T00:00:00Z"}
    )
    assert bc_error(response, 400, "BadRequest") == (
        "Could not find a property named 'lastModifiedDateTime' on type "
        "'Microsoft.NAV.trialBalance'."
    )
