"""JSON ``$batch``: at most 100 operations, run in order; the first failure stops the batch unless
``Prefer: odata.continue-on-error`` asks for every operation to run and answer with its own
status; ``Isolation: snapshot`` rolls the whole batch back when one operation fails."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.test_bc_kit import BcKit, bc, bc_error

__all__ = ["bc"]


@pytest.fixture(scope="module")
def plan(bc: BcKit) -> dict[str, Any]:
    return next(j for j in bc.values("/journals") if j["code"] == "PLAN")


CONTINUE = "odata.continue-on-error"
ROOT = "/v2.0/{tenant}/{environment}/api/v2.0"
LINES_ROUTE = f"{ROOT}/companies({{id}})/journals({{id}})/journalLines"


def _line(
    plan: dict[str, Any], request_id: str, account: str, company_id: str, document: str = "BATCH"
) -> dict[str, Any]:
    return {
        "id": request_id,
        "method": "POST",
        "url": f"companies({company_id})/journals({plan['id']})/journalLines",
        "headers": {"Content-Type": "application/json"},
        "body": {
            "accountNumber": account,
            "postingDate": "2026-12-31",
            "documentNumber": document,
            "amount": 5,
        },
    }


def _documents(bc: BcKit, plan: dict[str, Any]) -> list[str]:
    return [line["documentNumber"] for line in bc.values(f"/journals({plan['id']})/journalLines")]


def _reset_log(bc: BcKit) -> None:
    assert bc.http.delete(f"{bc.info['bc']}/_sandbox/requests").status_code in (200, 204)


def _logged(bc: BcKit, method: str, route: str) -> dict[int, int]:
    """Request counts by status for one method and route template since the last reset."""
    return {
        r["status"]: r["count"]
        for r in bc.requests_log()
        if r["method"] == method and r["route"] == route
    }


def _batch(bc: BcKit, requests: list[dict[str, Any]], **headers: str) -> Any:
    response = bc.post("~/$batch", {"requests": requests}, **headers)
    return response


def test_continue_on_error_runs_every_operation_with_its_own_status(
    bc: BcKit, plan: dict[str, Any]
) -> None:
    _reset_log(bc)
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
        Prefer=CONTINUE,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Preference-Applied"] == CONTINUE
    by_id = {r["id"]: r for r in response.json()["responses"]}
    assert list(by_id) == ["good", "bad", "read", "missing"]
    assert by_id["good"]["status"] == 201
    assert by_id["good"]["body"]["documentNumber"] == "BATCH"
    assert by_id["bad"]["status"] == 400
    assert by_id["bad"]["body"]["error"]["code"] == "Application_DialogException"
    assert by_id["read"]["status"] == 200 and by_id["read"]["body"]["value"]
    assert by_id["missing"]["status"] == 404
    line_id = by_id["good"]["body"]["id"]
    assert bc.delete(f"/journalLines({line_id})").status_code == 204
    routes = {(r["method"], r["route"], r["status"]) for r in bc.requests_log()}
    assert ("POST", f"{ROOT}/$batch", 200) in routes
    assert ("POST", LINES_ROUTE, 201) in routes
    assert ("POST", LINES_ROUTE, 400) in routes
    assert ("GET", f"{ROOT}/journals", 200) in routes


def test_without_the_preference_the_first_failure_stops_the_batch(
    bc: BcKit, plan: dict[str, Any]
) -> None:
    """BC's default (OData 4.0): the failed operation is the last one answered; the operations
    after it are not executed and get no response; the batch itself is still 200."""
    _reset_log(bc)
    response = _batch(
        bc,
        [
            _line(plan, "first", "66010", bc.company_id, "STOP1"),
            _line(plan, "bad", "99999", bc.company_id, "STOP2"),
            _line(plan, "after", "66010", bc.company_id, "STOP3"),
            {"id": "read", "method": "GET", "url": f"companies({bc.company_id})/journals"},
        ],
    )
    assert response.status_code == 200, response.text
    assert "Preference-Applied" not in response.headers
    answers = response.json()["responses"]
    assert [(r["id"], r["status"]) for r in answers] == [("first", 201), ("bad", 400)]
    message = answers[1]["body"]["error"]["message"]
    assert message.startswith('The "accountNumber" does not match to an Account.')
    documents = _documents(bc, plan)
    assert "STOP1" in documents and "STOP3" not in documents
    assert _logged(bc, "POST", LINES_ROUTE) == {201: 1, 400: 1}
    assert _logged(bc, "GET", f"{ROOT}/companies({{id}})/journals") == {}
    line_id = answers[0]["body"]["id"]
    assert bc.delete(f"/journalLines({line_id})").status_code == 204


def test_a_batch_without_failures_runs_everything_either_way(
    bc: BcKit, plan: dict[str, Any]
) -> None:
    for headers in ({}, {"Prefer": CONTINUE}):
        response = _batch(
            bc,
            [_line(plan, str(i), "66010", bc.company_id, f"OK{i}") for i in range(3)],
            **headers,
        )
        answers = response.json()["responses"]
        assert [r["status"] for r in answers] == [201, 201, 201]
        assert response.headers.get("Preference-Applied") == headers.get("Prefer")
        for answer in answers:
            assert bc.delete(f"/journalLines({answer['body']['id']})").status_code == 204


@pytest.mark.parametrize(
    ("prefer", "continues"),
    [
        ("odata.continue-on-error", True),
        ("odata.continue-on-error=true", True),
        ("odata.maxpagesize=10, ODATA.Continue-On-Error", True),
        ("odata.continue-on-error=false", False),
        ("continue-on-error", False),  # OData 4.01 spelling: not honoured (strictest reading)
        ("return=minimal", False),
    ],
)
def test_which_preferences_continue_on_error(
    bc: BcKit, plan: dict[str, Any], prefer: str, continues: bool
) -> None:
    _reset_log(bc)
    response = _batch(
        bc,
        [
            {"id": "bad", "method": "GET", "url": f"companies({bc.company_id})/nothing"},
            {"id": "read", "method": "GET", "url": f"companies({bc.company_id})/journals"},
        ],
        Prefer=prefer,
    )
    assert response.status_code == 200, response.text
    answers = response.json()["responses"]
    assert [r["id"] for r in answers] == (["bad", "read"] if continues else ["bad"])
    assert answers[0]["status"] == 404
    assert response.headers.get("Preference-Applied") == (CONTINUE if continues else None)
    executed = _logged(bc, "GET", f"{ROOT}/companies({{id}})/journals")
    assert executed == ({200: 1} if continues else {})


def test_snapshot_isolation_rolls_back_everything(bc: BcKit, plan: dict[str, Any]) -> None:
    lines = f"/journals({plan['id']})/journalLines"
    before = bc.values(lines)
    operations = [
        _line(plan, "a", "66010", bc.company_id),
        _line(plan, "b", "60000", bc.company_id),
        _line(plan, "c", "66010", bc.company_id),
    ]
    stopped = _batch(bc, operations, Isolation="snapshot")
    assert [(r["id"], r["status"]) for r in stopped.json()["responses"]] == [("a", 201), ("b", 400)]
    assert bc.values(lines) == before
    continued = _batch(bc, operations, Isolation="snapshot", Prefer=CONTINUE)
    assert [r["status"] for r in continued.json()["responses"]] == [201, 400, 201]
    assert continued.headers["Preference-Applied"] == CONTINUE
    assert bc.values(lines) == before


def test_at_most_100_operations(bc: BcKit) -> None:
    read = {"method": "GET", "url": f"companies({bc.company_id})/journals"}
    ok = _batch(bc, [dict(read, id=str(i)) for i in range(100)])
    assert ok.status_code == 200 and len(ok.json()["responses"]) == 100
    bc_error(_batch(bc, [dict(read, id=str(i)) for i in range(101)]), 400, "BadRequest")


def test_the_wire_log_counts_a_batch_once(bc: BcKit, plan: dict[str, Any]) -> None:
    """``/_sandbox/requests?wire=1`` leaves out the operations executed inside a ``$batch``."""
    _reset_log(bc)
    requests = [_line(plan, str(i), "66010", bc.company_id, f"WIRE{i}") for i in range(3)]
    assert _batch(bc, requests).status_code == 200
    everything = bc.requests_log()
    wire = bc.http.get(f"{bc.info['bc']}/_sandbox/requests", params={"wire": "1"}).json()
    assert sum(r["count"] for r in everything) - sum(r["count"] for r in wire) == 3
    assert [(r["method"], r["route"]) for r in wire] == [("POST", f"{ROOT}/$batch")]
