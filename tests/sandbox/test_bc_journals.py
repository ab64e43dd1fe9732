"""Journals and journal lines as the APIV2 pages run them: scoping, CRUD with ETags, account and
dimension validation with BC's messages, and posting into the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.test_bc_kit import BcKit, bc_error, bc_private, moment

__all__ = ["bc_private"]


@pytest.fixture(scope="module")
def kit(bc_private: BcKit) -> BcKit:
    return bc_private


@pytest.fixture(scope="module")
def journals(kit: BcKit) -> dict[str, dict[str, Any]]:
    return {j["code"]: j for j in kit.values("/journals")}


def _lines(kit: BcKit, journal: dict[str, Any]) -> str:
    return f"/journals({journal['id']})/journalLines"


def _new_line(kit: BcKit, journal: dict[str, Any], **body: Any) -> dict[str, Any]:
    values = {
        "accountNumber": "66010",
        "postingDate": "2026-11-30",
        "documentNumber": "T1",
        "amount": 10.0,
        **body,
    }
    response = kit.post(_lines(kit, journal), values)
    assert response.status_code == 201, response.text
    return response.json()


def test_default_and_plan_journals(journals: dict[str, dict[str, Any]]) -> None:
    assert set(journals) >= {"DEFAULT", "PLAN"}
    assert journals["PLAN"]["templateDisplayName"] == "GENERAL"


def test_journal_lines_only_through_a_journal(kit: BcKit, journals: dict[str, Any]) -> None:
    message = bc_error(kit.get("/journalLines"), 400, "Application_DialogException")
    assert message == "You must specify a journal batch ID or a journal ID to get a journal line."
    scoped = kit.get("/journalLines", **{"$filter": f"journalId eq {journals['PLAN']['id']}"})
    assert scoped.status_code == 200


def test_line_crud_with_etags(kit: BcKit, journals: dict[str, Any]) -> None:
    plan = journals["PLAN"]
    first = _new_line(kit, plan)
    second = _new_line(kit, plan, amount=-10.0)
    assert (first["lineNumber"], second["lineNumber"]) == (10000, 20000)
    assert first["accountType"] == "G_x002F_L_x0020_Account"
    assert first["description"] == "Office Supplies"
    assert first["journalId"] == plan["id"] and first["journalDisplayName"] == "PLAN"
    path = f"{_lines(kit, plan)}({first['id']})"
    bc_error(kit.patch(path, {"amount": 12.5}, etag=None), 400, "BadRequest_InvalidToken")
    changed = kit.patch(path, {"amount": 12.5}, etag=first["@odata.etag"])
    assert changed.status_code == 200, changed.text
    assert changed.json()["amount"] == 12.5
    assert changed.json()["@odata.etag"] != first["@odata.etag"]
    assert moment(changed.json()["lastModifiedDateTime"]) >= moment(first["lastModifiedDateTime"])
    bc_error(
        kit.patch(path, {"amount": 13}, etag=first["@odata.etag"]), 409, "Request_EntityChanged"
    )
    bc_error(kit.delete(path, etag=first["@odata.etag"]), 409, "Request_EntityChanged")
    assert kit.delete(path, etag=changed.json()["@odata.etag"]).status_code == 204
    bc_error(kit.get(path), 404, "Internal_RecordNotFound")
    assert kit.delete(f"/journalLines({second['id']})", etag="*").status_code == 204


@pytest.mark.parametrize(
    ("number", "code", "message"),
    [
        (
            "99999",
            "Application_DialogException",
            'The "accountNumber" does not match to an Account.',
        ),
        (
            "60000",
            "Application_FieldValidationException",
            "Account Type must be equal to 'Posting'  in G/L Account: No.=60000. Current value is "
            "'Begin-Total'.",
        ),
        (
            "41080",
            "Application_FieldValidationException",
            "Blocked must be equal to 'No'  in G/L Account: No.=41080. Current value is 'Yes'.",
        ),
        (
            "12010",
            "Application_FieldValidationException",
            "Direct Posting must be equal to 'Yes'  in G/L Account: No.=12010. Current value "
            "is 'No'.",
        ),
    ],
)
def test_account_validation(
    kit: BcKit, journals: dict[str, Any], number: str, code: str, message: str
) -> None:
    response = kit.post(_lines(kit, journals["DEFAULT"]), {"accountNumber": number, "amount": 1})
    assert bc_error(response, 400, code) == message


def test_body_validation(kit: BcKit, journals: dict[str, Any]) -> None:
    lines = _lines(kit, journals["DEFAULT"])
    assert "does not exist on type 'Microsoft.NAV.journalLine'" in bc_error(
        kit.post(lines, {"accountNo": "66010"}), 400, "BadRequest"
    )
    bc_error(
        kit.post(lines, {"lastModifiedDateTime": "2026-01-01T00:00:00Z"}),
        400,
        "BadRequest_InvalidOperation",
    )
    bc_error(kit.post(lines, {"description": "x" * 101}), 400, "Application_StringExceededLength")
    bc_error(kit.post(lines, {"postingDate": "2026-13-01"}), 400, "BadRequest")
    bc_error(kit.post(lines, {"accountType": "Planet"}), 400, "BadRequest")
    assert kit.values(lines) == []


def test_dimension_set_lines_of_a_journal_line(kit: BcKit, journals: dict[str, Any]) -> None:
    line = _new_line(kit, journals["DEFAULT"], documentNumber="DIMS")
    dims = f"{_lines(kit, journals['DEFAULT'])}({line['id']})/dimensionSetLines"
    created = kit.post(dims, {"code": "DEPARTMENT", "valueCode": "SALES"})
    assert created.status_code == 201, created.text
    body = created.json()
    department = kit.values("/dimensions", **{"$filter": "code eq 'DEPARTMENT'"})[0]
    assert body["id"] == department["id"] and body["parentId"] == line["id"]
    assert body["parentType"] == "Journal_x0020_Line" and body["valueCode"] == "SALES"
    assert "already exists" in bc_error(
        kit.post(dims, {"code": "DEPARTMENT", "valueCode": "IT"}),
        400,
        "Application_DialogException",
    )
    cases = [
        ({"code": "REGION", "valueCode": "X"}, 'The "code" does not match to a Dimension.'),
        (
            {"code": "COSTCENTER", "valueCode": "CC999"},
            'The "valueCode" does not match to a Dimension Value.',
        ),
        (
            {"code": "COSTCENTER", "valueCode": "CC130"},
            "Dimension Value COSTCENTER - CC130 is blocked.",
        ),
        ({"valueCode": "CC100"}, 'The "id" or "code" field must be filled in.'),
        ({"code": "COSTCENTER"}, 'The "valueId" or "valueCode" field must be filled in.'),
    ]
    for body_, message in cases:
        assert bc_error(kit.post(dims, body_), 400, "Application_DialogException") == message
    one = f"{dims}({department['id']})"
    changed = kit.patch(one, {"valueCode": "IT"}, etag=body["@odata.etag"])
    assert changed.status_code == 200, changed.text
    assert changed.json()["valueCode"] == "IT"
    assert bc_error(kit.patch(one, {"code": "COSTCENTER"}), 400, "Application_DialogException") == (
        'The "id" and "code" fields cannot be modified.'
    )
    # the same lines under companies(...)/journalLines({id})
    other_route = kit.values(f"/journalLines({line['id']})/dimensionSetLines")
    assert [d["valueCode"] for d in other_route] == ["IT"]
    assert kit.delete(one).status_code == 204
    assert kit.values(dims) == []
    assert kit.delete(f"/journalLines({line['id']})").status_code == 204


def test_dimension_set_lines_need_a_parent_and_are_read_only_under_entries(kit: BcKit) -> None:
    message = bc_error(kit.get("/dimensionSetLines"), 400, "Application_DialogException")
    assert message == "You must get to the parent first to get to the dimension set line."
    entry = kit.values("/generalLedgerEntries", **{"$top": "1"})[0]
    response = kit.post(
        f"/generalLedgerEntries({entry['id']})/dimensionSetLines",
        {"code": "DEPARTMENT", "valueCode": "SALES"},
    )
    assert bc_error(response, 400, "Application_DialogException") == (
        f"Parent with ID {entry['id']} does not exist or dimension set lines are read only for "
        "parent type General Ledger Entry."
    )


@pytest.mark.parametrize(
    "entity_set", ["accounts", "dimensions", "dimensionValues", "trialBalances"]
)
def test_read_only_sets_reject_writes(kit: BcKit, entity_set: str) -> None:
    bc_error(kit.post(f"/{entity_set}", {}), 405, "BadRequest_MethodNotAllowed")
    if entity_set != "trialBalances":
        row = kit.values(f"/{entity_set}", **{"$top": "1"})[0]
        bc_error(kit.patch(f"/{entity_set}({row['id']})", {}), 405, "BadRequest_MethodNotAllowed")
        bc_error(kit.delete(f"/{entity_set}({row['id']})"), 405, "BadRequest_MethodNotAllowed")


def test_posting_rules(kit: BcKit, journals: dict[str, Any]) -> None:
    journal = kit.post("/journals", {"code": "TESTPOST", "displayName": "Posting test"}).json()
    post = f"/journals({journal['id']})/Microsoft.NAV.post"
    assert (
        bc_error(kit.post(post), 400, "Application_DialogException") == "There is nothing to post."
    )
    line = _new_line(kit, journal, documentNumber="D0001", amount=100.0)
    assert bc_error(kit.post(post), 400, "Application_DialogException") == (
        "Document D0001 is out of balance by 100."
    )
    _new_line(kit, journal, documentNumber="D0001", amount=-100.0, accountNumber="66020")
    kit.post(
        f"/journalLines({line['id']})/dimensionSetLines",
        {"code": "COSTCENTER", "valueCode": "CC140"},
    )
    before = kit.values("/generalLedgerEntries", **{"$orderby": "entryNumber desc", "$top": "1"})[0]
    assert kit.post(post).status_code == 204
    assert kit.values(_lines(kit, journal)) == []
    new = kit.values(
        "/generalLedgerEntries",
        **{"$filter": f"entryNumber gt {before['entryNumber']}", "$expand": "dimensionSetLines"},
    )
    assert [e["accountNumber"] for e in new] == ["66010", "66020"]
    assert [e["debitAmount"] for e in new] == [100, 0] and new[1]["creditAmount"] == 100
    assert new[0]["documentNumber"] == "D0001" and new[0]["documentType"] == "_x0020_"
    assert [d["valueCode"] for d in new[0]["dimensionSetLines"]] == ["CC140"]
    assert all(
        moment(e["lastModifiedDateTime"]) > moment(before["lastModifiedDateTime"]) for e in new
    )


def test_posting_refuses_a_value_blocked_after_the_line_was_written(
    kit: BcKit, journals: dict[str, Any]
) -> None:
    journal = kit.post("/journals", {"code": "BLOCKTEST"}).json()
    line = _new_line(kit, journal, documentNumber="B1", balancingAccountNumber="66020")
    kit.post(
        f"/journalLines({line['id']})/dimensionSetLines",
        {"code": "COSTCENTER", "valueCode": "CC150"},
    )
    kit.control(
        "bc/dimension-values", {"action": "block", "dimension": "COSTCENTER", "code": "CC150"}
    )
    try:
        message = bc_error(
            kit.post(f"/journals({journal['id']})/Microsoft.NAV.post"),
            400,
            "Application_DialogException",
        )
        assert "Dimension Value COSTCENTER - CC150 is blocked." in message
    finally:
        kit.control(
            "bc/dimension-values", {"action": "unblock", "dimension": "COSTCENTER", "code": "CC150"}
        )
    assert kit.post(f"/journals({journal['id']})/Microsoft.NAV.post").status_code == 204


def _post_in_batches(
    kit: BcKit, journal: dict[str, Any], bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    url = f"companies({kit.company_id})/journals({journal['id']})/journalLines"
    created: list[dict[str, Any]] = []
    for start in range(0, len(bodies), 100):
        requests = [
            {
                "id": str(i),
                "method": "POST",
                "url": url,
                "headers": {"Content-Type": "application/json"},
                "body": body,
            }
            for i, body in enumerate(bodies[start : start + 100])
        ]
        response = kit.post("~/$batch", {"requests": requests}, Prefer="odata.continue-on-error")
        assert response.status_code == 200, response.text
        for answer in response.json()["responses"]:
            assert answer["status"] == 201, answer
            created.append(answer["body"])
    return created


def test_thousands_of_lines_keep_their_numbering_and_order(kit: BcKit) -> None:
    """Line numbers: last + 10000 by default, explicit ones anywhere, never twice; reads in
    line number order, paged by key; all of it unchanged by the per-journal line index."""
    journal = kit.post("/journals", {"code": "BULK"}).json()
    lines = _lines(kit, journal)
    body = {"accountNumber": "66010", "postingDate": "2026-11-30", "documentNumber": "B"}
    created = _post_in_batches(kit, journal, [dict(body, amount=i % 7) for i in range(3000)])
    expected = [10_000 * (i + 1) for i in range(3000)]
    assert [line["lineNumber"] for line in created] == expected

    for number in (5000, 15_000, 29_995_000):
        assert _new_line(kit, journal, lineNumber=number)["lineNumber"] == number
        expected.append(number)
    taken = "The Gen. Journal Line already exists. Identification fields and values: Journal "
    taken += "Template Name='GENERAL',Journal Batch Name='BULK',Line No.='{}'"
    message = bc_error(
        kit.post(lines, dict(body, lineNumber=20_000)), 400, "Internal_EntityWithSameKeyExists"
    )
    assert message == taken.format(20_000)

    # deleting the last line: the next default follows the new highest number
    assert kit.delete(f"/journalLines({created[-1]['id']})").status_code == 204
    expected.remove(30_000_000)
    assert _new_line(kit, journal)["lineNumber"] == 30_005_000
    expected.append(30_005_000)

    # renumbering: onto a taken number is refused, past the end moves the next default
    moved = f"{lines}({created[1000]['id']})"
    message = bc_error(
        kit.patch(moved, {"lineNumber": 15_000}), 400, "Internal_EntityWithSameKeyExists"
    )
    assert message == taken.format(15_000)
    assert kit.patch(moved, {"lineNumber": 40_000_000}).json()["lineNumber"] == 40_000_000
    expected.remove(10_010_000)
    expected.append(40_000_000)
    assert _new_line(kit, journal)["lineNumber"] == 40_010_000
    expected.append(40_010_000)
    for line in created[10:20]:
        assert kit.delete(f"{lines}({line['id']})").status_code == 204
        expected.remove(line["lineNumber"])
    expected.sort()

    paged = [r["lineNumber"] for page in kit.pages(lines, page_size=700) for r in page["value"]]
    assert paged == expected
    by_filter = kit.pages("/journalLines", 999, **{"$filter": f"journalId eq {journal['id']}"})
    assert [r["lineNumber"] for page in by_filter for r in page["value"]] == expected
    # a $skiptoken naming a deleted line resumes after the place it had
    after_deleted = kit.values(lines, **{"$skiptoken": created[15]["id"], "$top": "3"})
    assert [r["lineNumber"] for r in after_deleted] == [210_000, 220_000, 230_000]
    last = kit.values(lines, **{"$orderby": "lineNumber desc", "$top": "2"})
    assert [r["lineNumber"] for r in last] == [40_010_000, 40_000_000]

    assert kit.delete(f"/journals({journal['id']})").status_code == 204
    assert kit.values("/journalLines", **{"$filter": f"journalId eq {journal['id']}"}) == []
