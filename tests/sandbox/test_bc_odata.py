"""OData as BC implements it: $filter literals and operators, $select/$expand/$orderby/$top/$skip,
server-driven paging, and BC's errors for what it does not accept."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.sandbox.test_bc_kit import BcKit, bc, bc_error, moment

__all__ = ["bc"]


def test_comparison_operators_on_dates_numbers_and_strings(bc: BcKit) -> None:
    entries = bc.values(
        "/generalLedgerEntries",
        **{
            "$filter": "postingDate ge 2025-03-01 and postingDate lt 2025-04-01"
            " and entryNumber gt 10"
        },
    )
    assert entries
    assert all("2025-03-01" <= e["postingDate"] < "2025-04-01" for e in entries)
    assert all(e["entryNumber"] > 10 for e in entries)
    one = bc.values("/accounts", **{"$filter": "number eq '66010'"})
    assert [a["number"] for a in one] == ["66010"]
    others = bc.values("/accounts", **{"$filter": "number ne '66010' and number le '10140'"})
    assert others and all(a["number"] != "66010" and a["number"] <= "10140" for a in others)


def test_datetimes_and_guids_are_unquoted(bc: BcKit) -> None:
    first = bc.values("/generalLedgerEntries", **{"$top": "50"})
    stamp = first[24]["lastModifiedDateTime"]
    later = bc.values(
        "/generalLedgerEntries", **{"$filter": f"lastModifiedDateTime gt {stamp}", "$top": "5"}
    )
    assert later and all(moment(e["lastModifiedDateTime"]) > moment(stamp) for e in later)
    assert later[0]["entryNumber"] == 26
    account_id = first[0]["accountId"]
    same = bc.values("/generalLedgerEntries", **{"$filter": f"accountId eq {account_id}"})
    assert same and {e["accountId"] for e in same} == {account_id}


def test_a_quoted_guid_is_an_incompatible_type(bc: BcKit) -> None:
    account_id = bc.values("/accounts", **{"$top": "1"})[0]["id"]
    message = bc_error(
        bc.get("/accounts", **{"$filter": f"id eq '{account_id}'"}), 400, "BadRequest"
    )
    assert "incompatible types" in message and "'Edm.Guid' and 'Edm.String'" in message


def test_a_quoted_date_is_an_incompatible_type(bc: BcKit) -> None:
    response = bc.get("/generalLedgerEntries", **{"$filter": "postingDate ge '2025-01-01'"})
    assert "incompatible types" in bc_error(response, 400, "BadRequest")


def test_enums_filter_escaped_or_plain(bc: BcKit) -> None:
    escaped = bc.values(
        "/accounts", **{"$filter": "category eq 'Cost_x0020_of_x0020_Goods_x0020_Sold'"}
    )
    plain = bc.values("/accounts", **{"$filter": "category eq 'Cost of Goods Sold'"})
    assert escaped == plain and escaped
    assert {a["category"] for a in escaped} == {"Cost_x0020_of_x0020_Goods_x0020_Sold"}


def test_or_on_one_field_works_but_not_across_fields(bc: BcKit) -> None:
    both = bc.values("/accounts", **{"$filter": "number eq '66010' or number eq '66020'"})
    assert sorted(a["number"] for a in both) == ["66010", "66020"]
    message = bc_error(
        bc.get("/accounts", **{"$filter": "number eq '66010' or blocked eq true"}),
        400,
        "BadRequest",
    )
    assert message == "The 'OR' operator is not supported on distinct fields on an OData filter."


def test_substring_is_supported(bc: BcKit) -> None:
    accounts = bc.values("/accounts")
    expected = sorted(a["number"] for a in accounts if a["number"][1:3] == "60")
    assert expected
    for expression in ("substring(number, 1, 2) eq '60'", "startswith(substring(number, 1), '60')"):
        found = bc.values("/accounts", **{"$filter": expression})
        assert sorted(a["number"] for a in found) == expected, expression
    tail = bc.values("/accounts", **{"$filter": "tolower(substring(displayName, 2)) ne ''"})
    assert sorted(a["number"] for a in tail) == sorted(
        a["number"] for a in accounts if a["displayName"][2:]
    )
    for wrong in ("substring(number) eq '6'", "substring(blocked, 1) eq 'x'"):
        assert "No function signature for the function with name 'substring'" in bc_error(
            bc.get("/accounts", **{"$filter": wrong}), 400, "BadRequest"
        )


def test_not_is_refused(bc: BcKit) -> None:
    message = bc_error(
        bc.get("/accounts", **{"$filter": "not (number eq '66010')"}), 400, "BadRequest"
    )
    assert message == "The 'NOT' operator is not supported on an OData filter."


@pytest.mark.parametrize("option", ["$filter", "$select", "$orderby"])
def test_unknown_property_is_bcs_400(bc: BcKit, option: str) -> None:
    value = {"$filter": "balance gt 0", "$select": "number,balance", "$orderby": "balance"}[option]
    message = bc_error(bc.get("/accounts", **{option: value}), 400, "BadRequest")
    assert message == "Could not find a property named 'balance' on type 'Microsoft.NAV.account'."


def test_unsupported_query_option(bc: BcKit) -> None:
    assert bc.get("/accounts", **{"$count": "true"}).status_code == 400


def test_select_keeps_etag_and_context(bc: BcKit) -> None:
    body = bc.get("/accounts", **{"$select": "number,displayName", "$top": "2"}).json()
    assert body["@odata.context"].endswith("/accounts(number,displayName)")
    for account in body["value"]:
        assert set(account) == {"@odata.etag", "number", "displayName"}


def test_expand_with_nested_select_and_filter(bc: BcKit) -> None:
    entries = bc.values(
        "/generalLedgerEntries",
        **{
            "$top": "3",
            "$expand": "dimensionSetLines($select=code,valueCode;$filter=code eq 'DEPARTMENT')",
        },
    )
    for entry in entries:
        lines = entry["dimensionSetLines"]
        assert len(lines) == 1
        assert set(lines[0]) == {"@odata.etag", "code", "valueCode"}
    bc_error(bc.get("/accounts", **{"$expand": "dimensionSetLines"}), 400, "BadRequest")


def test_orderby_top_and_skip(bc: BcKit) -> None:
    ordered = bc.values("/accounts", **{"$orderby": "displayName desc", "$top": "5", "$skip": "2"})
    names = [a["displayName"] for a in ordered]
    assert len(names) == 5 and names == sorted(names, reverse=True)
    everything = bc.values("/accounts", **{"$orderby": "displayName desc"})
    assert names == [a["displayName"] for a in everything][2:7]


def test_server_driven_paging_follows_the_key_order(bc: BcKit) -> None:
    pages = list(bc.pages("/generalLedgerEntries", page_size=1000))
    numbers = [e["entryNumber"] for p in pages for e in p["value"]]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) >= 3000
    link = pages[0]["@odata.nextLink"]
    query = parse_qs(urlsplit(link).query)
    assert query["aid"] == ["FIN"]
    assert query["$skiptoken"] == [pages[0]["value"][-1]["id"]]
    assert "@odata.nextLink" not in pages[-1]


def test_maxpagesize_is_applied_and_echoed(bc: BcKit) -> None:
    response = bc.get("/generalLedgerEntries", headers={"Prefer": "odata.maxpagesize=7"})
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=7"
    assert len(response.json()["value"]) == 7
    assert "@odata.nextLink" in response.json()


def test_top_within_a_page_has_no_next_link(bc: BcKit) -> None:
    body = bc.get("/generalLedgerEntries", **{"$top": "20"}).json()
    assert len(body["value"]) == 20 and "@odata.nextLink" not in body
    paged = bc.get(
        "/generalLedgerEntries", headers={"Prefer": "odata.maxpagesize=10"}, **{"$top": "25"}
    ).json()
    assert len(paged["value"]) == 10
    query = parse_qs(urlsplit(paged["@odata.nextLink"]).query)
    assert query["$top"] == ["15"]
    rest = [
        e
        for p in bc.pages("/generalLedgerEntries", page_size=10, **{"$top": "25"})
        for e in p["value"]
    ]
    assert [e["entryNumber"] for e in rest] == list(range(1, 26))


def test_filtered_paging_keeps_the_filter(bc: BcKit) -> None:
    flt = "postingDate ge 2026-01-01 and postingDate le 2026-01-31"
    pages = list(bc.pages("/generalLedgerEntries", page_size=40, **{"$filter": flt}))
    entries = [e for p in pages for e in p["value"]]
    assert len(pages) > 1
    assert all("2026-01-01" <= e["postingDate"] <= "2026-01-31" for e in entries)
    assert len({e["id"] for e in entries}) == len(entries)
    single = bc.values("/generalLedgerEntries", **{"$filter": flt})
    assert [e["id"] for e in single] == [e["id"] for e in entries]


def test_single_entity_by_key(bc: BcKit) -> None:
    entry = bc.values("/generalLedgerEntries", **{"$top": "1", "$skip": "99"})[0]
    response = bc.get(f"/generalLedgerEntries({entry['id']})", **{"$expand": "dimensionSetLines"})
    body = response.json()
    assert body["@odata.context"].endswith("/generalLedgerEntries/$entity")
    assert body["entryNumber"] == 100 and response.headers["ETag"] == body["@odata.etag"]
    missing = bc.get("/generalLedgerEntries(00000000-0000-0000-0000-000000000001)")
    bc_error(missing, 404, "Internal_RecordNotFound")
    bc_error(bc.get("/generalLedgerEntries(12)"), 404, "BadRequest_NotFound")


def test_orderby_on_the_ledger_pages_in_sorted_order(bc: BcKit) -> None:
    options = {"$orderby": "postingDate desc", "$filter": "postingDate ge 2026-06-01"}
    pages = list(bc.pages("/generalLedgerEntries", page_size=300, **options))
    entries = [e for p in pages for e in p["value"]]
    assert len(pages) > 2
    dates = [e["postingDate"] for e in entries]
    assert dates == sorted(dates, reverse=True) and dates[-1] >= "2026-06-01"
    assert len({e["id"] for e in entries}) == len(entries)
    assert len(entries) == len(
        bc.values("/generalLedgerEntries", **{"$filter": options["$filter"]})
    )
