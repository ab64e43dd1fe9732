"""Values on the wire exactly as BC encodes them (reference §3.3)."""

from __future__ import annotations

import re

from tests.sandbox.test_bc_kit import DATETIME, GUID, BcKit, bc

__all__ = ["bc"]

ETAG = re.compile(r'^W/"[A-Za-z0-9+/=]+"$')
DOCUMENT_TYPES = {
    "_x0020_",
    "Payment",
    "Invoice",
    "Credit_x0020_Memo",
    "Finance_x0020_Charge_x0020_Memo",
    "Reminder",
    "Refund",
}


def test_guids_dates_and_datetimes(bc: BcKit) -> None:
    entries = bc.values("/generalLedgerEntries", **{"$top": "200"})
    for entry in entries:
        assert GUID.match(entry["id"]) and GUID.match(entry["accountId"])
        assert re.match(r"^\d{4}-\d{2}-\d{2}$", entry["postingDate"])
        stamp = entry["lastModifiedDateTime"]
        assert DATETIME.match(stamp), stamp
        if "." in stamp:
            fraction = stamp[stamp.index(".") + 1 : -1]
            assert not fraction.endswith("0"), stamp  # trailing zeros trimmed
            assert fraction.ljust(3, "0")[-1] in "037", stamp  # SQL datetime precision


def test_blank_date_is_0001_01_01(bc: BcKit) -> None:
    active = bc.values("/employees", **{"$filter": "status eq 'Active'", "$top": "3"})
    assert {e["terminationDate"] for e in active} == {"0001-01-01"}


def test_decimals_are_json_numbers_and_zero_is_0(bc: BcKit) -> None:
    entries = bc.values("/generalLedgerEntries", **{"$top": "50"})
    for entry in entries:
        assert isinstance(entry["debitAmount"], int | float)
        assert (entry["debitAmount"] == 0) != (entry["creditAmount"] == 0)
        zero = entry["creditAmount"] if entry["debitAmount"] else entry["debitAmount"]
        assert zero == 0 and isinstance(zero, int)
        assert entry["additionalCurrencyDebitAmount"] == 0


def test_enum_values_are_escaped(bc: BcKit) -> None:
    entries = bc.values("/generalLedgerEntries", **{"$expand": "dimensionSetLines"})
    assert {e["documentType"] for e in entries} <= DOCUMENT_TYPES
    assert "_x0020_" in {e["documentType"] for e in entries}
    assert {line["parentType"] for e in entries[:20] for line in e["dimensionSetLines"]} == {
        "General_x0020_Ledger_x0020_Entry"
    }
    types = {a["accountType"] for a in bc.values("/accounts")}
    assert types == {"Posting", "Heading", "Begin_x002D_Total", "End_x002D_Total"}
    categories = {a["category"] for a in bc.values("/accounts")}
    assert {"_x0020_", "Cost_x0020_of_x0020_Goods_x0020_Sold", "Assets"} <= categories


def test_every_entity_has_its_own_etag_including_expanded_children(bc: BcKit) -> None:
    entries = bc.values("/generalLedgerEntries", **{"$top": "5", "$expand": "dimensionSetLines"})
    assert len({e["@odata.etag"] for e in entries}) == 5
    for entry in entries:
        assert ETAG.match(entry["@odata.etag"])
        assert entry["dimensionSetLines"]
        for line in entry["dimensionSetLines"]:
            assert ETAG.match(line["@odata.etag"])
            assert line["parentId"] == entry["id"]


def test_odata_context(bc: BcKit) -> None:
    body = bc.get("/accounts", **{"$top": "1"}).json()
    assert body["@odata.context"] == f"{bc.root}/$metadata#companies({bc.company_id})/accounts"
    account = body["value"][0]
    single = bc.get(f"/accounts({account['id']})").json()
    assert single["@odata.context"] == (
        f"{bc.root}/$metadata#companies({bc.company_id})/accounts/$entity"
    )


def test_metadata_document_is_served(bc: BcKit) -> None:
    response = bc.get("~/$metadata")
    assert response.status_code == 200
    assert '<EntityType Name="generalLedgerEntry">' in response.text
    assert '<EntitySet Name="journalLines"' in response.text
