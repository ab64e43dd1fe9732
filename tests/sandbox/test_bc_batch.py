"""JSON ``$batch``: each operation answered with its own status, at most 100 operations, and
``Isolation: snapshot`` rolling the whole batch back when one operation fails."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.test_bc_kit import BcKit, bc, bc_error

__all__ = ["bc"]


@pytest.fixture(scope="module")
def plan(bc: BcKit) -> dict[str, Any]:
    return next(j for j in bc.values("/journals") if j["code"] == "PLAN")


def _line(plan: dict[str, Any], request_id: str, account: str, company_id: str) -> dict[str, Any]:
    return {
        "id": request_id,
        "method": "POST",
        "url": f"companies({company_id})/journals({plan['id']})/journalLines",
        "headers": {"Content-Type": "application/json"},
        "body": {
            "accountNumber": account,
            "postingDate": "2026-12-31",
            "documentNumber": "BATCH",
            "amount": 5,
        },
    }


def _batch(bc: BcKit, requests: list[dict[str, Any]], **headers: str) -> Any:
    response = bc.post("~/$batch", {"requests": requests}, **headers)
    return response


def test_each_operation_has_its_own_status(bc: BcKit, plan: dict[str, Any]) -> None:
    bc.requests_log()
    bc.http.delete(f"{bc.info['bc']}/_sandbox/requests")
    response = _batch(
        bc,
        [
            _line(plan, "good", "66010", bc.company_id),
            _line(plan, "bad", "99999", bc.company_id),
            {
                "id": "read",
                "method": "GET",
                "url": "journals",
                "headers": {"Company": bc.company_id},
            },
            {"id": "missing", "method": "GET", "url": f"companies({bc.company_id})/nothing"},
        ],
    )
    assert response.status_code == 200, response.text
    by_id = {r["id"]: r for r in response.json()["responses"]}
    assert by_id["good"]["status"] == 201
    assert by_id["good"]["body"]["documentNumber"] == "BATCH"
    assert by_id["bad"]["status"] == 400
    assert by_id["bad"]["body"]["error"]["code"] == "Application_DialogException"
    assert by_id["read"]["status"] == 200 and by_id["read"]["body"]["value"]
    assert by_id["missing"]["status"] == 404
    line_id = by_id["good"]["body"]["id"]
    assert bc.delete(f"/journalLines({line_id})").status_code == 204
    routes = {(r["method"], r["route"], r["status"]) for r in bc.requests_log()}
    root = "/v2.0/{tenant}/{environment}/api/v2.0"
    assert ("POST", f"{root}/$batch", 200) in routes
    assert ("POST", f"{root}/companies({{id}})/journals({{id}})/journalLines", 201) in routes
    assert ("POST", f"{root}/companies({{id}})/journals({{id}})/journalLines", 400) in routes
    assert ("GET", f"{root}/journals", 200) in routes


def test_snapshot_isolation_rolls_back_everything(bc: BcKit, plan: dict[str, Any]) -> None:
    lines = f"/journals({plan['id']})/journalLines"
    before = bc.values(lines)
    response = _batch(
        bc,
        [_line(plan, "a", "66010", bc.company_id), _line(plan, "b", "60000", bc.company_id)],
        Isolation="snapshot",
    )
    statuses = [r["status"] for r in response.json()["responses"]]
    assert statuses == [201, 400]
    assert bc.values(lines) == before


def test_at_most_100_operations(bc: BcKit) -> None:
    read = {"method": "GET", "url": f"companies({bc.company_id})/journals"}
    ok = _batch(bc, [dict(read, id=str(i)) for i in range(100)])
    assert ok.status_code == 200 and len(ok.json()["responses"]) == 100
    bc_error(_batch(bc, [dict(read, id=str(i)) for i in range(101)]), 400, "BadRequest")
