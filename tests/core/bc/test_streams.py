"""Every stream against the shared sandbox over HTTPS: typed records, faults ridden out."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from bc_anaplan.bc import (
    BcClient,
    BcError,
    Cursor,
    iter_accounts,
    iter_companies,
    iter_dimension_values,
    iter_dimensions,
    iter_employees,
    iter_gl_entries,
    iter_journals,
    iter_purchase_orders,
)
from bc_anaplan.bc.paging import Resource, iter_pages
from bc_anaplan.bc.records import decode_dimension
from bc_anaplan.bc.streams import TRIAL_BALANCES, iter_trial_balance
from tests.core.bc.conftest import Controls, count, make_client

GL = "/companies({id})/generalLedgerEntries"


def test_companies_and_master_data(bc: BcClient, sandbox: dict[str, Any]) -> None:
    assert [c.id for c in iter_companies(bc)] == [sandbox["company_id"]]
    accounts = list(iter_accounts(bc))
    assert {a.category for a in accounts} >= {"Assets", "Cost of Goods Sold", " "}
    assert {a.account_type for a in accounts} >= {"Posting", "Begin-Total", "End-Total"}
    assert any(a.blocked for a in accounts)
    dimensions = {d.code: d for d in iter_dimensions(bc)}
    assert {"DEPARTMENT", "COSTCENTER", "PRODUCTLINE"} <= dimensions.keys()
    cost_centers = list(iter_dimension_values(bc, dimensions["COSTCENTER"].id))
    assert cost_centers and {v.dimension_id for v in cost_centers} == {dimensions["COSTCENTER"].id}
    assert len(list(iter_dimension_values(bc))) > len(cost_centers)


def test_gl_entries_carry_their_dimensions(bc: BcClient, sandbox: dict[str, Any]) -> None:
    entries = list(iter_gl_entries(bc))
    assert len(entries) >= sandbox["entries"]
    assert len({e.id for e in entries}) == len(entries)
    assert sum(e.amount for e in entries) == 0  # balanced ledger, summed exactly
    assert all(e.dimensions for e in entries[:100])
    assert {e.document_type for e in entries} <= {
        " ", "Payment", "Invoice", "Credit Memo", "Finance Charge Memo", "Reminder", "Refund"
    }  # fmt: skip


def test_employees_without_personal_data_unless_asked(bc: BcClient) -> None:
    employees = list(iter_employees(bc))
    assert employees and all(e.personal == {} for e in employees)
    assert any(e.dimension("DEPARTMENT") for e in employees)
    assert {e.status for e in employees} <= {"Active", "Inactive", "Terminated"}
    with_birth = next(iter_employees(bc, personal_fields=("birthDate",)))
    assert set(with_birth.personal) == {"birthDate"}


def test_purchase_orders_with_lines_and_journals(bc: BcClient) -> None:
    orders = list(iter_purchase_orders(bc))
    assert orders and all(o.lines for o in orders)
    assert any(o.dimensions for o in orders)
    assert {o.status for o in orders} <= {"Draft", "In Review", "Open"}
    assert "PLAN" in {j.code for j in iter_journals(bc)}


def test_a_wrong_path_fails_fast_with_bc_code_and_message(bc: BcClient, controls: Controls) -> None:
    before = controls.requests()
    typo = Resource("dimensionz", ("id",), decode_dimension)
    with pytest.raises(BcError) as caught:
        next(iter_pages(bc, typo))
    error = caught.value
    assert (error.status, error.code) == (404, "BadRequest_ResourceNotFound")
    assert error.message == "Resource not found for the segment 'dimensionz'."
    assert error.correlation_id
    after = controls.requests()
    assert (
        count(after, "GET", "/companies({id})/dimensionz", 404)
        - count(before, "GET", "/companies({id})/dimensionz", 404)
        == 1
    )  # not retried


def test_429_and_503_storms_lose_and_duplicate_nothing(
    storm_bc: BcClient, restore_faults: Controls
) -> None:
    calm = [e.id for e in iter_gl_entries(storm_bc)]
    before = restore_faults.requests()
    restore_faults.faults({"spec": "bc:429=0.25,503=0.1,retry_after=0"})
    stormy = [e.id for e in iter_gl_entries(storm_bc)]
    restore_faults.clear_faults()
    after = restore_faults.requests()
    assert stormy == calm  # same records, same order, none twice
    throttled = count(after, "GET", GL, 429) - count(before, "GET", GL, 429)
    unavailable = count(after, "GET", GL, 503) - count(before, "GET", GL, 503)
    assert throttled > 0 and unavailable > 0


def test_a_cursor_on_a_field_the_resource_does_not_declare_is_refused(bc: BcClient) -> None:
    with pytest.raises(ValueError, match="cannot be read incrementally"):
        next(iter_accounts(bc, Cursor(field="postingDate").open()))


def test_the_trial_balance_is_paged_like_any_resource_and_asked_for_in_en_us(
    sandbox: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, last = date(2000, 1, 1), date(2099, 12, 31)
    client = make_client(sandbox, page_size=5)
    window = {"$filter": f"dateFilter ge {first} and dateFilter le {last}"}
    whole = client.get(
        client.company_url("trialBalances"), params=window, headers={"Accept-Language": "en-US"}
    ).json()["value"]
    sent: list[tuple[dict[str, str], dict[str, str]]] = []
    real_get = client.get

    def recording_get(url: str, *, params: Any = None, headers: Any = None) -> Any:
        sent.append((dict(params or {}), dict(headers or {})))
        return real_get(url, params=params, headers=headers)

    monkeypatch.setattr(client, "get", recording_get)
    rows = list(iter_trial_balance(client, first, last))

    assert [r.number for r in rows] == [raw["number"] for raw in whole]
    posting = next(r for r in rows if r.account_type == "Posting" and r.total_debit)
    raw = next(w for w in whole if w["number"] == posting.number)
    assert posting.total_debit == Decimal(raw["totalDebit"].replace(",", ""))
    assert len(sent) == -(-len(whole) // 5) + (len(whole) % 5 == 0)  # 5 a page, + an empty one
    assert sent[0][0] == {**window, "$select": ",".join(TRIAL_BALANCES.select)}
    assert all(params == {} for params, _ in sent[1:])  # the next links carry the query
    for _, headers in sent:
        assert headers["Accept-Language"] == "en-US"
        assert headers["Prefer"] == "odata.maxpagesize=5"
