"""The simulated ledger: balanced documents with 2-3 dimensions over 24 periods, history from
before the blocking of an account and a cost center, and paging that stays exact while new
entries are posted."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from sandbox.bc.history import History
from sandbox.masterdata import master_data
from tests.sandbox.test_bc_kit import BcKit, bc, bc_error, bc_private, moment

__all__ = ["bc", "bc_private"]


@pytest.fixture(scope="module")
def ledger(bc: BcKit) -> list[dict[str, Any]]:
    return bc.values("/generalLedgerEntries", **{"$expand": "dimensionSetLines"})


@pytest.fixture(scope="module")
def categories(bc: BcKit) -> dict[str, str]:
    return {a["number"]: a["category"] for a in bc.values("/accounts")}


def test_scale_small_is_a_few_thousand_entries(ledger: list[dict[str, Any]]) -> None:
    assert len(ledger) == 3000
    assert [e["entryNumber"] for e in ledger] == list(range(1, 3001))


def test_every_document_balances(ledger: list[dict[str, Any]]) -> None:
    balance: dict[tuple[str, str], float] = defaultdict(float)
    for entry in ledger:
        balance[(entry["documentNumber"], entry["postingDate"])] += (
            entry["debitAmount"] - entry["creditAmount"]
        )
    assert len(balance) > 500
    assert all(abs(v) < 0.005 for v in balance.values())


def test_dimension_sets(ledger: list[dict[str, Any]], categories: dict[str, str]) -> None:
    for entry in ledger:
        codes = [line["code"] for line in entry["dimensionSetLines"]]
        assert {"COSTCENTER", "DEPARTMENT"} <= set(codes)
        revenue_or_cogs = categories[entry["accountNumber"]] in (
            "Income",
            "Cost_x0020_of_x0020_Goods_x0020_Sold",
        )
        assert ("PRODUCTLINE" in codes) == revenue_or_cogs, entry
        assert 2 <= len(codes) <= 3


def test_spread_over_the_24_periods(ledger: list[dict[str, Any]]) -> None:
    periods = {e["postingDate"][:7] for e in ledger}
    assert len(periods) == 24
    assert min(periods) == "2025-01" and max(periods) == "2026-12"


def test_last_modified_follows_posting_order(ledger: list[dict[str, Any]]) -> None:
    stamps = [moment(e["lastModifiedDateTime"]) for e in ledger]
    assert stamps == sorted(stamps)


def test_history_from_before_blocking(ledger: list[dict[str, Any]]) -> None:
    blocked_accounts = [e for e in ledger if e["accountNumber"] in ("11040", "41080")]
    blocked_cost_center = [
        e for e in ledger if any(line["valueCode"] == "CC130" for line in e["dimensionSetLines"])
    ]
    assert {e["accountNumber"] for e in blocked_accounts} == {"11040", "41080"}
    assert len(blocked_cost_center) >= 3
    assert all(e["postingDate"] < "2025-03-01" for e in blocked_accounts + blocked_cost_center)


@pytest.mark.parametrize("entries", [3, 1474, 2000, 2919])
def test_small_custom_scales_generate_balanced_chunks(entries: int) -> None:
    """Chunks of three entries on a day with a pre-blocking document (``--scale 1474`` to
    ``2919``, or 3) once left a one-line document behind."""
    history = History(master_data(7), 7, entries, horizon_s=2e9)
    total = 0
    for chunk in range(history.chunks):
        lines = history.generate(chunk)
        assert len(lines) == history.start(chunk + 1) - history.start(chunk)
        documents: dict[str, int] = defaultdict(int)
        for number, _, _, _, amount, _ in lines:
            documents[number] += amount
        assert all(v == 0 for v in documents.values()), chunk
        total += len(lines)
    assert total == entries


def test_general_ledger_entries_are_read_only(bc: BcKit, ledger: list[dict[str, Any]]) -> None:
    entry = ledger[0]
    bc_error(
        bc.post("/generalLedgerEntries", {"description": "x"}), 405, "BadRequest_MethodNotAllowed"
    )
    bc_error(
        bc.patch(f"/generalLedgerEntries({entry['id']})", {"description": "x"}),
        405,
        "BadRequest_MethodNotAllowed",
    )
    bc_error(bc.delete(f"/generalLedgerEntries({entry['id']})"), 405, "BadRequest_MethodNotAllowed")


def test_paging_while_entries_are_posted_never_skips_or_repeats(bc_private: BcKit) -> None:
    kit = bc_private
    pages = kit.pages("/generalLedgerEntries", page_size=500)
    seen = [e["id"] for e in next(pages)["value"]]
    posted = kit.control("bc/post-entries", {"count": 40, "period": "2025-06"})
    assert posted["count"] == 40 and posted["firstEntryNumber"] == 3001
    for page in pages:
        seen += [e["id"] for e in page["value"]]
    assert len(seen) == len(set(seen)) == 3040
    everything = kit.values("/generalLedgerEntries")
    assert [e["id"] for e in everything] == seen
    history_end = everything[2999]["lastModifiedDateTime"]
    new = kit.values(
        "/generalLedgerEntries", **{"$filter": f"lastModifiedDateTime gt {history_end}"}
    )
    assert [e["entryNumber"] for e in new] == list(range(3001, 3041))
    assert all(e["postingDate"].startswith("2025-06") for e in new)
    june = kit.values(
        "/generalLedgerEntries",
        **{"$filter": "postingDate ge 2025-06-01 and postingDate le 2025-06-30"},
    )
    assert {e["entryNumber"] for e in new} <= {e["entryNumber"] for e in june}
