"""Draft journal lines through $batch on the shared sandbox: counts, crashes, rejections, storms.

Every test writes its own plan version into the PLAN batch and deletes its lines afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from bc_anaplan.bc import (
    BcClient,
    DraftJournalWriter,
    PlanLine,
    delete_draft_lines,
    find_journal,
    iter_accounts,
    iter_journal_lines,
)
from bc_anaplan.bc.records import JournalLine, dimension_map
from tests.core.bc.conftest import API, Controls, delta, make_client
from tests.support.processes import running_sandbox

JOURNAL = "PLAN"
BATCH = ("POST", API + "/$batch", 200)
LINES = API + "/companies({id})/journals({id})/journalLines"
DIMS = LINES + "({id})/dimensionSetLines"
DEPARTMENTS = ("ADMIN", "FINANCE", "HR", "IT", "SALES")
COST_CENTERS = ("CC100", "CC110", "CC120", "CC140")  # CC130 is blocked in the sandbox


class Killed(Exception):
    """Stands in for the worker dying mid-write."""


@pytest.fixture
def version(bc: BcClient) -> Iterator[str]:
    """A fresh plan version; its draft lines are removed after the test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    mine = [line.external_document_number for line in lines_of(bc, name)]
    if mine:
        delete_draft_lines(bc, JOURNAL, mine)


@pytest.fixture(scope="module")
def accounts(sandbox: dict[str, Any]) -> list[str]:
    usable = [
        a.number
        for a in iter_accounts(make_client(sandbox))
        if a.account_type == "Posting" and a.direct_posting and not a.blocked
    ]
    return usable[:20]


def plan(version: str, accounts: list[str], n: int) -> list[PlanLine]:
    return [
        PlanLine(
            version,
            f"row-{i:05d}",
            accounts[i % len(accounts)],
            date(2027, 1 + i % 12, 1),
            Decimal(i * 7919 % 1_000_000) / 100 - Decimal("2500.01"),
            (("DEPARTMENT", DEPARTMENTS[i % 5]), ("COSTCENTER", COST_CENTERS[i % 4])),
        )
        for i in range(n)
    ]


def lines_of(client: BcClient, version: str) -> list[JournalLine]:
    """The journal lines of one plan version (they share its document number)."""
    journal = find_journal(client, JOURNAL)
    document = PlanLine(version, "", "", date(2027, 1, 1), Decimal(0)).body()["documentNumber"]
    return [
        line for line in iter_journal_lines(client, journal.id) if line.document_number == document
    ]


def assert_written(client: BcClient, lines: list[PlanLine]) -> None:
    """Exactly one journal line per plan line, with the plan's amount and dimensions."""
    found = lines_of(client, lines[0].plan_version)
    by_key = {line.external_document_number: line for line in found}
    assert len(found) == len(by_key) == len(lines)
    for line in lines:
        written = by_key[line.key]
        assert (written.account_number, written.amount) == (line.account_number, line.amount)
        assert dimension_map(written.dimensions) == dict(line.dimensions)


def test_a_thousand_lines_in_thirty_batches(
    bc: BcClient, controls: Controls, version: str, accounts: list[str]
) -> None:
    lines = plan(version, accounts, 1000)
    before = controls.requests()
    report = DraftJournalWriter(bc, JOURNAL).write(lines)
    used = delta(before, controls.requests())
    assert len(report.created) == 1000 and not report.failures
    assert (report.batch_requests, report.read_requests) == (10 + 20, 2)
    assert used[BATCH] == 30
    assert used[("POST", LINES, 201)] == 1000 and used[("POST", DIMS, 201)] == 2000
    assert not any("Microsoft.NAV" in route for _, route, _ in used)  # never posted
    assert_written(bc, lines)
    again = DraftJournalWriter(bc, JOURNAL).write(lines)
    assert len(again.already_present) == 1000 and again.batch_requests == 0


@pytest.mark.slow
def test_ten_thousand_lines_with_two_dimensions_need_about_three_hundred_requests() -> None:
    with running_sandbox("--scale", "100", "--fast") as info:
        # the request count is the point here, not the 600/minute budget's pacing
        client = make_client(info, BC_RATE_LIMIT_PER_MINUTE="12000")
        controls = Controls(info)
        numbers = [
            a.number
            for a in iter_accounts(client)
            if a.account_type == "Posting" and a.direct_posting and not a.blocked
        ]
        lines = plan("ten-thousand", numbers[:20], 10_000)
        controls.reset_requests()
        report = DraftJournalWriter(client, JOURNAL).write(lines)
        used = controls.requests()
    assert len(report.created) == 10_000 and not report.failures
    assert (report.batch_requests, report.read_requests) == (100 + 200, 2)
    outer = {k: n for k, n in used.items() if k[1] == BATCH[1] or k[0] == "GET"}
    assert sum(outer.values()) == 302  # 300 $batch + journal lookup + existing-lines read


def kill_after(phase: str, batches: int) -> Any:
    def progress(current: str, sent: int) -> None:
        if current == phase and sent >= batches:
            raise Killed(f"killed after {sent} batches in phase {current}")

    return progress


def test_killed_writer_rerun_finds_exactly_a_thousand_lines(
    bc: BcClient, version: str, accounts: list[str]
) -> None:
    lines = plan(version, accounts, 1000)
    with pytest.raises(Killed):
        DraftJournalWriter(bc, JOURNAL, progress=kill_after("lines", 5)).write(lines)
    assert len(lines_of(bc, version)) == 500  # half the lines, none with dimensions yet
    with pytest.raises(Killed):  # the rerun dies too, this time while adding dimensions
        DraftJournalWriter(bc, JOURNAL, progress=kill_after("dimensions", 12)).write(lines)
    report = DraftJournalWriter(bc, JOURNAL).write(lines)
    assert not report.failures
    assert len(report.created) == 0 and len(report.repaired) > 0
    assert len(report.already_present) + len(report.repaired) == 1000
    assert_written(bc, lines)


def test_rejected_lines_are_reported_with_bc_messages_and_the_rest_written(
    bc: BcClient, version: str, accounts: list[str]
) -> None:
    good = plan(version, accounts, 40)
    unknown = PlanLine(version, "unknown-account", "99999", date(2027, 1, 1), Decimal("10"))
    blocked = PlanLine(
        version, "blocked-cc", accounts[0], date(2027, 1, 1), Decimal("10"),
        (("DEPARTMENT", "SALES"), ("COSTCENTER", "CC130")),
    )  # fmt: skip
    report = DraftJournalWriter(bc, JOURNAL).write([*good[:20], unknown, blocked, *good[20:]])
    assert len(report.created) == 40
    line_failure, dims_failure = report.failures[unknown.key], report.failures[blocked.key]
    assert (line_failure.stage, line_failure.status, line_failure.code) == (
        "line", 400, "Application_DialogException",
    )  # fmt: skip
    assert line_failure.message == 'The "accountNumber" does not match to an Account.'
    assert line_failure.correlation_id
    assert (dims_failure.stage, dims_failure.code) == ("dimensions", "Application_DialogException")
    assert dims_failure.message == "Dimension Value COSTCENTER - CC130 is blocked."
    assert dims_failure.removed  # not left half-written in the journal
    assert_written(bc, good)


def test_a_lost_answer_is_reconciled_not_repeated(
    bc: BcClient, restore_faults: Controls, version: str, accounts: list[str]
) -> None:
    lines = plan(version, accounts, 150)
    # the first $batch is processed, then the connection drops before the answer
    before = restore_faults.requests()
    restore_faults.faults(
        {"rules": [{"service": "bc", "kind": "drop", "method": "POST", "route": BATCH[1]}]}
    )
    report = DraftJournalWriter(bc, JOURNAL).write(lines)
    used = delta(before, restore_faults.requests())
    assert used[("POST", BATCH[1], 0)] == 1  # processed, answer lost
    assert used[("POST", LINES, 201)] == 150  # and still every line created exactly once
    assert len(report.created) == 150 and not report.failures
    assert report.rounds == 2
    assert_written(bc, lines)


def test_write_rides_out_429_and_503_storms(
    storm_bc: BcClient, restore_faults: Controls, version: str, accounts: list[str]
) -> None:
    lines = plan(version, accounts, 300)
    restore_faults.faults({"spec": "bc:429=0.2,503=0.15,retry_after=0"})
    report = DraftJournalWriter(storm_bc, JOURNAL).write(lines)
    restore_faults.clear_faults()
    assert not report.failures and len(report.created) == 300
    assert report.rounds > 1  # a 503 on a creating $batch was reconciled, not blindly retried
    assert_written(storm_bc, lines)


def test_delete_by_key(bc: BcClient, version: str, accounts: list[str]) -> None:
    lines = plan(version, accounts, 30)
    DraftJournalWriter(bc, JOURNAL).write(lines)
    gone = [line.key for line in lines[:10]]
    report = delete_draft_lines(bc, JOURNAL, [*gone, "AP1-0000000000000000000000000000"])
    assert report.deleted == set(gone) and not report.kept
    assert report.not_found == {"AP1-0000000000000000000000000000"}
    assert_written(bc, lines[10:])
