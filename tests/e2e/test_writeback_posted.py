"""Impossible to double-post: rows finance posted are never written again.

Finance posts plan drafts through BC's own API. ``Microsoft.NAV.post`` posts a whole batch, so
a finance team posting *part* of a plan moves those lines into a batch of its own (with a
balancing account, or the document would not balance) and posts that batch; the G/L entries
keep the lines' document number and description. Then the plan changes and is written back
again: rows posted from any earlier revision stay out, still-draft rows are replaced, rows
finance merely deleted are written again, and the run reports what it left out. The tests run
in order on one sandbox and build on each other.

The last tests drive the writeback's activities one by one (as the orchestrator does) so that
finance can post *between* them: while a run writes, and while another run of the same version
tries to begin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bc_anaplan.bc import streams
from bc_anaplan.bc.journal import delete_lines, plan_document_number
from bc_anaplan.bc.records import JournalLine
from bc_anaplan.flows import writeback
from bc_anaplan.flows.writeback import WritebackState, plan_version_key
from tests.support.connector import ConnectorUnderTest, connector
from tests.support.processes import running_sandbox

VERSION = "Budget FY27"
FAST_BC = {"BC_RATE_LIMIT_PER_MINUTE": "3000"}
POSTING_BATCH = "PLANPOST"


@pytest.fixture(scope="module")
def app(azurite: str) -> Iterator[ConnectorUnderTest]:
    with running_sandbox("--scale", "small", "--fast") as info:
        info = {**info, "connector_env": {**info["connector_env"], **FAST_BC}}
        with connector(info, azurite) as c:
            c.run("reference_sync")
            yield c


# --- what finance does in BC ---------------------------------------------------------------------


def balancing_account(c: ConnectorUnderTest) -> str:
    bc = c.rt.bc()
    return next(
        a.number
        for a in streams.iter_accounts(bc)
        if a.account_type == "Posting" and a.direct_posting and not a.blocked
        if a.number.startswith("1")
    )


def post_through_bc(c: ConnectorUnderTest, lines: list[JournalLine]) -> None:
    """Finance moves these drafts into a posting batch and posts it with BC's post action."""
    bc = c.rt.bc()
    try:
        batch = streams.find_journal(bc, POSTING_BATCH).id
    except Exception:  # first time: finance creates its posting batch
        body = {"code": POSTING_BATCH, "displayName": "Plan lines to post"}
        batch = bc.send("POST", bc.company_url("journals"), body).json()["id"]
    balancing = balancing_account(c)
    for line in lines:
        assert line.posting_date is not None
        body = {
            "accountNumber": line.account_number,
            "postingDate": line.posting_date.isoformat(),
            "documentNumber": line.document_number,
            "externalDocumentNumber": line.external_document_number,
            "amount": line.amount,
            "description": line.description,
            "balancingAccountNumber": balancing,
        }
        url = bc.company_url(f"journals({batch})/journalLines")
        created = bc.send("POST", url, body).json()
        for dimension in line.dimensions:
            bc.send(
                "POST",
                bc.company_url(
                    f"journals({batch})/journalLines({created['id']})/dimensionSetLines"
                ),
                {"code": dimension.code, "valueCode": dimension.value_code},
            )
    assert all(delete_lines(bc, lines).values())
    bc.send("POST", bc.company_url(f"journals({batch})/Microsoft.NAV.post"))


# --- what the tests read back --------------------------------------------------------------------


def row_of(line: JournalLine | dict[str, Any]) -> str:
    description = line["description"] if isinstance(line, dict) else line.description
    return str(description)[len(VERSION) + 1 :]


def plan_batch(c: ConnectorUnderTest) -> list[JournalLine]:
    bc = c.rt.bc()
    return list(streams.iter_journal_lines(bc, streams.find_journal(bc, "PLAN").id))


def current_lines(c: ConnectorUnderTest) -> dict[str, JournalLine]:
    state = WritebackState(c.rt).get("fpa", VERSION)
    document = plan_document_number(plan_version_key(VERSION, state["CurrentRevision"]))
    lines = [line for line in plan_batch(c) if line.document_number == document]
    by_row = {row_of(line): line for line in lines}
    assert len(by_row) == len(lines)
    return by_row


def ledger(c: ConnectorUnderTest) -> list[dict[str, Any]]:
    """Every G/L entry exactly as BC lists it: raw JSON from BC's API, no connector decoding,
    no filter (the company's whole ledger is a few thousand entries here)."""
    bc = c.rt.bc()
    url: str | None = bc.company_url("generalLedgerEntries")
    params: dict[str, str] | None = {
        "$select": "entryNumber,accountNumber,postingDate,documentNumber,description"
    }
    entries: list[dict[str, Any]] = []
    while url:
        page = json.loads(bc.get(url, params=params).content, parse_float=Decimal)
        entries.extend(page["value"])
        url, params = page.get("@odata.nextLink"), None
    return entries


def posted_by_row(c: ConnectorUnderTest) -> dict[str, list[dict[str, Any]]]:
    """BC's G/L entries of the version's plan rows (plan document, the version's description),
    on the rows' own accounts (not finance's balancing account), by row key."""
    balancing = balancing_account(c)
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in ledger(c):
        if (
            entry["documentNumber"].startswith("PLAN-")
            and entry["description"].startswith(VERSION + " ")
            and entry["accountNumber"] != balancing
        ):
            found.setdefault(row_of(entry), []).append(entry)
    return found


def assert_no_row_posted_and_drafted(c: ConnectorUnderTest) -> None:
    posted = posted_by_row(c)
    drafts = {row_of(line) for line in plan_batch(c) if line.description.startswith(VERSION)}
    assert not posted.keys() & drafts
    assert all(len(entries) == 1 for entries in posted.values())  # none posted twice


def change_plan(c: ConnectorUnderTest, amounts: dict[str, Decimal], version: str = VERSION) -> None:
    """A planner retypes some cells (row key -> new amount) and approves the version again."""
    cells = []
    for row_key, amount in amounts.items():
        account, department, cost_center, month = row_key.split("|")  # connector.toml order
        assert cost_center.startswith("CC"), row_key
        cells.append(
            {
                "GL Accounts": account,
                "Cost Centers": cost_center,
                "Departments": department,
                "Time": month,
                "amount": str(amount),
            }
        )
    c.sandbox.post(
        "anaplan_api", "/_sandbox/anaplan/budget/cells", {"version": version, "cells": cells}
    )
    c.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": version})


def posted_audit(c: ConnectorUnderTest, run_id: str, prefix: str) -> dict[str, list[str]]:
    records = c.rt.audit.records(run_id, "journal_line")
    return {
        line[0]: line
        for record in records
        if record.key.startswith(prefix + ":")
        for line in record.data["lines"]
    }


def run_writeback(c: ConnectorUnderTest, version: str = VERSION) -> dict[str, Any]:
    result: dict[str, Any] = c.run("plan_writeback", {"version": version, "trigger": "cli"})
    return result


# --- the tests -----------------------------------------------------------------------------------

FIRST: dict[str, JournalLine] = {}
POSTED_FIRST: list[str] = []


def test_finance_posts_part_of_the_plan_and_deletes_some_drafts(app: ConnectorUnderTest) -> None:
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/budget", {"version": VERSION, "rows": 120})
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})
    first = run_writeback(app)
    assert first["state"] == "succeeded", first
    assert first["summary"]["written"]["posted_earlier"] == 0
    FIRST.update(current_lines(app))
    assert len(FIRST) == 120
    rows = sorted(FIRST)
    POSTED_FIRST.extend(rows[:12])
    post_through_bc(app, [FIRST[r] for r in POSTED_FIRST])
    delete_lines(app.rt.bc(), [FIRST[r] for r in rows[12:18]])  # deleted, not posted
    assert set(posted_by_row(app)) == set(POSTED_FIRST)
    assert len(current_lines(app)) == 120 - 18


def test_a_new_revision_leaves_posted_rows_out_and_replaces_the_rest(
    app: ConnectorUnderTest,
) -> None:
    rows = sorted(FIRST)
    changed = [*POSTED_FIRST[:4], *rows[30:34]]
    change_plan(app, {r: FIRST[r].amount + 1000 for r in changed})
    result = run_writeback(app)
    assert result["state"] == "succeeded", result
    written = result["summary"]["written"]
    assert written["posted_earlier"] == 12 and written["posted_during_run"] == 0
    assert "12 rows were already posted" in written["posted_note"]
    assert "not rewritten" in written["posted_note"]
    assert written["lines_to_write"] == 108 == written["lines_in_bc"] and written["complete"]
    second = current_lines(app)
    # still-draft rows replaced, deleted rows written again, posted rows left out
    assert set(second) == set(rows) - set(POSTED_FIRST)
    assert all(second[r].amount == FIRST[r].amount + 1000 for r in rows[30:34])
    old_document = FIRST[rows[0]].document_number
    assert not any(line.document_number == old_document for line in plan_batch(app))
    retired = written["retired_previous"]
    assert retired["drafts_found"] == 102 == retired["deleted"] and retired["kept"] == 0
    assert retired["removed"] == 6 and retired["posted_rows"] == 12
    assert retired["posted_during_run"] == 0 and retired["posted_twice"] == 0
    # the audit trail: row key, posted amount, new plan amount, difference
    audit = posted_audit(app, result["run_id"], "posted")
    assert set(audit) == set(POSTED_FIRST)
    for row_key, (_, account, posted, plan, difference) in audit.items():
        old = FIRST[row_key].amount
        new = old + 1000 if row_key in changed else old
        assert account == FIRST[row_key].account_number
        assert (Decimal(posted), Decimal(plan), Decimal(difference)) == (old, new, new - old)
    # plan total = drafts written + posted earlier, and BC's drafts match the lines meant
    reconciliation = written["reconciliation"]
    assert reconciliation["matches"], reconciliation
    plan_total = sum((FIRST[r].amount for r in rows), Decimal(0)) + 1000 * len(changed)
    assert Decimal(reconciliation["plan_total"]) == plan_total
    assert Decimal(reconciliation["bc_total"]) == sum(line.amount for line in second.values())
    assert Decimal(reconciliation["bc_total"]) + Decimal(
        reconciliation["posted_earlier_total"]
    ) == Decimal(reconciliation["plan_total"])
    assert Decimal(reconciliation["posted_earlier_bc_total"]) == sum(
        FIRST[r].amount for r in POSTED_FIRST
    )
    assert result["counts"]["posted_earlier"] == 12  # the run's counts say so too
    assert_no_row_posted_and_drafted(app)


def test_rows_posted_from_any_earlier_revision_stay_out(app: ConnectorUnderTest) -> None:
    second = current_lines(app)
    posted_second = sorted(second)[:5]
    post_through_bc(app, [second[r] for r in posted_second])
    change_plan(app, {r: second[r].amount + 7 for r in sorted(second)[40:42]})
    result = run_writeback(app)
    assert result["state"] == "succeeded", result
    written = result["summary"]["written"]
    assert written["posted_earlier"] == 17 and written["lines_in_bc"] == 103
    third = current_lines(app)
    assert set(third) == set(FIRST) - set(POSTED_FIRST) - set(posted_second)
    assert len(WritebackState(app.rt).get("fpa", VERSION)["Revisions"]) == 3
    assert written["retired_previous"]["posted_rows"] == 17
    assert written["reconciliation"]["matches"]
    assert_no_row_posted_and_drafted(app)
    again = run_writeback(app)
    assert again["state"] == "unchanged"  # the same plan: nothing looked up, nothing written


def stage_export(c: ConnectorUnderTest, blob: str) -> None:
    """What the run's export step leaves in Blob Storage, for driving the activities by hand."""
    client = c.rt.anaplan()
    with client.run_export(client.find_export("Export Approved Budget")) as export:
        records = export.records()
        header = next(records)
        c.rt.staging.write(blob, header, records, key_columns=len(header))


def test_rows_posted_while_a_run_writes_lose_their_new_draft(app: ConnectorUnderTest) -> None:
    third = current_lines(app)
    change_plan(app, {r: third[r].amount + 11 for r in sorted(third)[50:53]})
    run_id, crashed = "posted-meanwhile", "crashed-before"
    blob = f"fpa/{run_id}/export.csv.gz"
    stage_export(app, blob)
    base = {"run_id": run_id, "pipeline": "fpa", "version": VERSION}
    checked = writeback.validate(
        app.rt, {**base, "staged_blob": blob, "policy": None, "step_id": "validate"}
    )
    run = {**base, "revision": checked["revision"], "lines_blob": checked["lines_blob"]}
    # a run of this revision began and crashed: its claim is taken over, not honoured forever
    app.rt.audit.start_run(crashed, "plan_writeback", "cli", "fpa", {"version": VERSION})
    assert "busy" not in writeback.begin(app.rt, {**run, "run_id": crashed})
    app.rt.audit.finish_run(crashed, "failed", {}, error="host lost")
    app.rt.audit.start_run(run_id, "plan_writeback", "cli", "fpa", {"version": VERSION})
    started = writeback.begin(app.rt, run)
    assert "busy" not in started and started["posted_earlier"] == 17
    # while it runs, a second writeback of the version (any trigger) is refused at begin
    other = "second-writeback"
    app.rt.audit.start_run(other, "plan_writeback", "cli", "fpa", {"version": VERSION})
    assert writeback.begin(app.rt, {**run, "run_id": other}) == {"busy": run_id}
    app.rt.audit.finish_run(other, "failed", {}, error="refused")
    chunk_run = {**run, "lines_blob": started["lines_blob"], "journal_id": started["journal_id"]}
    for chunk in range(started["chunks"]):
        writeback.write_chunk(app.rt, {**chunk_run, "chunk": chunk})
    # finance posts four drafts of the previous revision while the new one is being written
    late = sorted(third)[:4]
    post_through_bc(app, [third[r] for r in late])
    retired = writeback.retire(
        app.rt, {**run, "earlier": started["earlier"], "previous": started["previous"]}
    )
    assert retired["posted_during_run"] == 4 == retired["withdrawn"]
    assert retired["not_withdrawn"] == 0 and retired["deleted"] == 103 - 4
    committed = writeback.commit(app.rt, run)
    assert committed["complete"] and committed["posted_left_out"] == 21
    assert committed["reconciliation"]["matches"], committed["reconciliation"]
    assert committed["lines_in_bc"] == 120 - 21
    audit = posted_audit(app, run_id, "posted-during-run")
    assert set(audit) == set(late)
    assert all(Decimal(line[2]) == third[r].amount for r, line in audit.items())
    app.rt.audit.finish_run(run_id, "succeeded", {})
    fourth = current_lines(app)
    assert not set(fourth) & set(late)
    assert_no_row_posted_and_drafted(app)


def test_a_plan_written_back_again_keeps_every_posted_row_out(app: ConnectorUnderTest) -> None:
    """After all that, a changed plan still leaves each of the 21 posted rows out."""
    fourth = current_lines(app)
    change_plan(app, {r: fourth[r].amount - 3 for r in sorted(fourth)[:2]})
    result = run_writeback(app)
    assert result["state"] == "succeeded", result
    assert result["summary"]["written"]["posted_earlier"] == 21
    assert len(current_lines(app)) == 120 - 21
    assert_no_row_posted_and_drafted(app)


def test_ten_thousand_posted_rows_are_found_in_a_few_requests(app: ConnectorUnderTest) -> None:
    """Finance posts the whole batch (balanced by one offset line per date and document); the
    changed plan is then entirely posted already: nothing is written, 10,000 rows reported."""
    version = "Forecast FY27"
    app.sandbox.post(
        "anaplan_api", "/_sandbox/anaplan/budget", {"version": version, "rows": 10_000}
    )
    app.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": version})
    first = run_writeback(app, version)
    assert first["state"] == "succeeded" and first["summary"]["written"]["lines_in_bc"] == 10_000
    bc = app.rt.bc()
    batch = streams.find_journal(bc, "PLAN").id
    offsets: dict[tuple[str, str], Decimal] = {}
    rows: dict[str, Decimal] = {}
    for line in plan_batch(app):
        assert line.posting_date is not None
        group = (line.posting_date.isoformat(), line.document_number)
        offsets[group] = offsets.get(group, Decimal(0)) - line.amount
        if line.description.startswith(version):
            rows[line.description[len(version) + 1 :]] = line.amount
    balancing = balancing_account(app)
    for (posting_date, document), amount in offsets.items():
        body = {
            "accountNumber": balancing,
            "postingDate": posting_date,
            "documentNumber": document,
            "amount": amount,
            "description": "Plan offset",
        }
        bc.send("POST", bc.company_url(f"journals({batch})/journalLines"), body)
    bc.send("POST", bc.company_url(f"journals({batch})/Microsoft.NAV.post"))
    assert plan_batch(app) == []
    changed = sorted(rows)[:2]
    change_plan(app, {r: rows[r] + 5 for r in changed}, version)
    app.sandbox.http.delete(app.sandbox.info["bc"] + "/_sandbox/requests")
    result = run_writeback(app, version)
    assert result["state"] == "succeeded", result
    written = result["summary"]["written"]
    assert written["posted_earlier"] == 10_000 and written["lines_to_write"] == 0
    assert written["lines_in_bc"] == 0 and written["complete"]
    reconciliation = written["reconciliation"]
    assert reconciliation["matches"] and Decimal(reconciliation["bc_total"]) == 0
    assert Decimal(reconciliation["posted_earlier_total"]) == sum(rows.values()) + 10
    assert Decimal(reconciliation["posted_earlier_bc_total"]) == sum(rows.values())
    # the offset entries share the plan documents but name no row: reported, not guessed
    document = plan_document_number(
        plan_version_key(version, first["summary"]["validation"]["revision"])
    )
    ours = sum(1 for _, d in offsets if d == document)  # one per month; the rest: Budget FY27
    assert ours == 12 and written["retired_previous"]["unmatched_posted_entries"] == ours
    steps = {s["step_id"]: s for s in app.rt.audit.steps(result["run_id"])}
    lookup = steps["begin"]["counts"]["bc_requests"]  # the journal lookup + the G/L pages
    recheck = steps["retire"]["counts"]["bc_requests"]
    total = sum(r["count"] for r in app.sandbox.requests("bc", wire=True))
    print(
        f"posted-row lookup for 10,000 rows: begin {lookup} requests "
        f"({steps['begin']['duration_ms']} ms), retire {recheck}, whole run {total}"
    )
    assert lookup <= 3 and recheck <= 2 and total <= 25, (lookup, recheck, total)
