"""BC to Anaplan end to end: reference sync, actuals, employees, through the local host.

One private sandbox for the module (the tests change its data, in order), the real app on the
local host, Azurite for state. What landed in Anaplan is read through the sandbox's inspection
endpoints and compared with Business Central's own trial balance, not with the connector's
bookkeeping.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from bc_anaplan.bc import streams
from bc_anaplan.periods import Period, PeriodNaming
from tests.support.connector import ConnectorUnderTest, amounts_by_account_period, connector
from tests.support.processes import running_sandbox

NAMING = PeriodNaming("MMM YY")
BLANK = date(1, 1, 1)  # how BC's API shows a date that is not set


@pytest.fixture(scope="module")
def app(azurite: str) -> Iterator[ConnectorUnderTest]:
    with running_sandbox("--scale", "small", "--fast") as info, connector(info, azurite) as c:
        yield c


def bc_amount(text: str) -> Decimal:
    """An amount of BC's trial balance, formatted as en-US text ("72,893.84"; "" on headings),
    read here independently of the connector's own decoder."""
    cleaned = text.replace(",", "").strip()
    return Decimal(cleaned) if cleaned else Decimal(0)


def trial_balance(c: ConnectorUnderTest, period: Period) -> dict[str, dict[str, Decimal]]:
    bc = c.rt.bc()
    params = {"$filter": f"dateFilter ge {period.first_day} and dateFilter le {period.last_day}"}
    rows = bc.get(
        bc.company_url("trialBalances"), params=params, headers={"Accept-Language": "en-US"}
    ).json()["value"]
    return {
        r["number"]: {
            "net": bc_amount(r["totalDebit"]) - bc_amount(r["totalCredit"]),
            "balance": bc_amount(r["balanceAtDateDebit"]) - bc_amount(r["balanceAtDateCredit"]),
        }
        for r in rows
        if r["accountType"] == "Posting"
    }


def assert_reconciled(c: ConnectorUnderTest, periods: list[Period]) -> None:
    """Anaplan's GL Actuals equal BC's trial balance, per account and period, to the cent."""
    cells = c.sandbox.cells("GL Actuals")
    amounts = amounts_by_account_period(cells, "Amount")
    closing = amounts_by_account_period(cells, "Closing Balance")
    categories = {a.number: a.category for a in streams.iter_accounts(c.rt.bc())}
    for period in periods:
        name = NAMING.name(period)
        for account, figures in trial_balance(c, period).items():
            assert amounts.get((account, name), Decimal(0)) == figures["net"], (account, name)
            if categories[account] in ("Assets", "Liabilities", "Equity"):
                assert closing.get((account, name), Decimal(0)) == figures["balance"], (
                    "closing",
                    account,
                    name,
                )


def employees_in_bc(c: ConnectorUnderTest) -> list[dict[str, Any]]:
    """Every employee exactly as BC lists it (raw JSON), with its default dimensions."""
    bc = c.rt.bc()
    url: str | None = bc.company_url("employees")
    params: dict[str, str] | None = {"$expand": "defaultDimensions"}
    employees: list[dict[str, Any]] = []
    while url:
        page = bc.get(url, params=params).json()
        employees.extend(page["value"])
        url, params = page.get("@odata.nextLink"), None
    return employees


def employed_at_month_end(employees: list[dict[str, Any]], period: Period) -> Counter[str]:
    """Head count per BC department at the last day of ``period``: employed on or before it
    and not terminated by then (terminated on the last day: gone; BC writes no date as
    0001-01-01, and a terminated employee without a date is gone)."""
    end = period.last_day
    counts: Counter[str] = Counter()
    for employee in employees:
        department = next(
            (
                d["dimensionValueCode"]
                for d in employee.get("defaultDimensions") or []
                if d["dimensionCode"] == "DEPARTMENT"
            ),
            None,
        )
        hired, left = (
            date.fromisoformat(employee[f]) for f in ("employmentDate", "terminationDate")
        )
        if department is None or hired == BLANK or hired > end:
            continue
        still_there = left > end if left != BLANK else employee["status"] != "Terminated"
        if still_there:
            counts[department] += 1
    return counts


def test_reference_sync_fixes_the_seeded_drift(app: ConnectorUnderTest) -> None:
    before = {m["code"] for m in app.sandbox.members("Cost Centers")}
    result = app.run("reference_sync")
    assert result["state"] == "succeeded"
    drift = {entry["list"]: entry["drift"] for entry in result["lists"]}
    assert sum(d["missing"] for d in drift.values()) == 3
    assert drift["Cost Centers"]["gone"] == 1
    members = {m["code"]: m for m in app.sandbox.members("Cost Centers")}
    assert set(members) > before
    gone = [code for code, m in members.items() if m["properties"].get("Deleted in BC") is True]
    assert gone == ["CC990"]
    changes = list(app.rt.audit.records(result["run_id"], "member_change"))
    assert {r.data["change"] for r in changes} == {"added", "changed", "gone"}
    again = app.run("reference_sync")
    assert all(entry["rows_sent"] == 0 for entry in again["lists"])
    mapped = app.rt.mappings.mapped("fpa", "Cost Centers")
    assert "CC990" not in mapped and len(mapped) == 38


def test_full_load_reconciles_with_bc_to_the_cent(app: ConnectorUnderTest) -> None:
    result = app.run("actuals_load", {"mode": "incremental", "trigger": "cli"})
    assert result["state"] == "succeeded", result
    summary = result["summary"]
    assert summary["first_load"] and len(summary["periods"]) == 24
    for period in summary["reconciliation"]:
        assert period["balanced"] and period["trial_balance"]["matches"], period
    assert summary["import"]["rejected"] == 0 and summary["committed"]["cursor_committed"]
    assert_reconciled(app, [Period.parse(p) for p in summary["periods"]])
    run = app.rt.audit.get_run(result["run_id"])
    assert run is not None and run["state"] == "succeeded"
    assert run["summary"]["counts"]["entries_read"] == 3000
    batches = list(app.rt.audit.records(result["run_id"], "batch"))
    assert sum(b.data["rows"] for b in batches) == summary["file"]["rows"]


def staged_periods(app: ConnectorUnderTest, run_id: str) -> dict[str, int]:
    rows = app.rt.staging.read(f"fpa/{run_id}/actuals.csv.gz")
    header = next(rows)
    time_at = header.index("Time")
    periods: dict[str, int] = {}
    for row in rows:
        periods[row[time_at]] = periods.get(row[time_at], 0) + 1
    return periods


def test_incremental_load_recomputes_only_the_touched_period(app: ConnectorUnderTest) -> None:
    app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 40, "period": "2026-12"})
    result = app.run("actuals_load", {"mode": "incremental", "trigger": "cli"})
    assert result["state"] == "succeeded", result
    assert result["summary"]["periods"] == ["2026-12"]
    assert set(staged_periods(app, result["run_id"])) == {"Dec 26"}
    assert_reconciled(app, [Period(2026, 12)])
    quiet = app.run("actuals_load", {"mode": "incremental", "trigger": "cli"})
    assert quiet["summary"]["periods"] == []


def test_backdated_entries_resend_later_closing_balances(app: ConnectorUnderTest) -> None:
    app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 20, "period": "2026-10"})
    result = app.run("actuals_load", {"mode": "incremental", "trigger": "cli"})
    summary = result["summary"]
    assert summary["periods"] == ["2026-10"]
    assert summary["closing_periods"] == ["2026-11", "2026-12"]
    sent = staged_periods(app, result["run_id"])
    assert set(sent) == {"Oct 26", "Nov 26", "Dec 26"}
    assert_reconciled(app, [Period(2026, 10), Period(2026, 11), Period(2026, 12)])


def test_history_before_the_model_moves_opening_balances_only(app: ConnectorUnderTest) -> None:
    app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 10, "period": "2024-12"})
    result = app.run("actuals_load", {"mode": "incremental", "trigger": "cli"})
    assert result["state"] == "succeeded", result
    summary = result["summary"]
    assert summary["periods"] == [] and summary["opening_before"] == "2025-01"
    assert len(summary["closing_periods"]) == 24
    assert "Dec 24" not in staged_periods(app, result["run_id"])
    assert_reconciled(app, [Period(2025, 1), Period(2025, 6), Period(2026, 12)])


def test_period_outside_anaplan_time_is_rejected_with_its_dump_rows(
    app: ConnectorUnderTest,
) -> None:
    app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 6, "period": "2028-01"})
    app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 6, "period": "2026-12"})
    result = app.run("actuals_load", {"mode": "incremental", "trigger": "cli"})
    assert result["state"] == "partially_succeeded"
    assert result["summary"]["periods"] == ["2026-12", "2028-01"]
    assert result["summary"]["committed"] is None  # the cursor did not move
    rejected = list(app.rt.audit.records(result["run_id"], "rejected"))
    assert rejected and all(r.data["values"]["Time"] == "Jan 28" for r in rejected)
    assert all("Jan 28" in r.reason for r in rejected)
    again = app.run("actuals_load", {"mode": "incremental", "trigger": "cli"})
    assert "2028-01" in again["summary"]["periods"]  # still pending until Anaplan accepts it


def test_unmapped_value_is_quarantined_then_replayed(app: ConnectorUnderTest) -> None:
    # An Anaplan member created by hand holds the name the BC value will need.
    client = app.rt.anaplan()
    action = client.find_import("Import Cost Centers")
    client.upload(
        action,
        [["X995", "CC995 Night Shift", "false", "false"]],
        header=["Code", "Name", "Blocked", "Deleted in BC"],
    )
    status = client.wait_for_task(
        action, client.start_task(action).task_id, sleep=lambda s: time.sleep(0.2)
    )
    assert status.succeeded
    # BC renames a used cost center: its entries now carry CC995, whose name clashes.
    app.sandbox.post(
        "bc",
        "/_sandbox/bc/dimension-values",
        {
            "action": "rename",
            "dimension": "COSTCENTER",
            "code": "CC110",
            "newCode": "CC995",
            "name": "Night Shift",
        },
    )
    result = app.run(
        "actuals_load", {"mode": "period", "periods": ["2025-03", "2025-04"], "trigger": "cli"}
    )
    assert result["state"] == "partially_succeeded"
    quarantined = list(app.rt.audit.records(result["run_id"], "quarantined"))
    assert quarantined
    assert {q.reason for q in quarantined} == {"COSTCENTER value CC995 has no Anaplan member"}
    reconciliation = {r["period"]: r for r in result["summary"]["reconciliation"]}
    assert all(r["balanced"] for r in reconciliation.values())
    # The cause is fixed in BC; a replay sends exactly the periods that were left out.
    app.sandbox.post(
        "bc",
        "/_sandbox/bc/dimension-values",
        {
            "action": "rename",
            "dimension": "COSTCENTER",
            "code": "CC995",
            "name": "Night Shift Team",
        },
    )
    replayed = app.run("replay", {"run_id": result["run_id"]})
    inner = replayed["result"]
    assert inner["state"] == "succeeded", inner
    assert sorted(inner["summary"]["periods"]) == sorted({q.period for q in quarantined})
    cells = app.sandbox.cells("GL Actuals", **{"Cost Centers": "CC995"})
    assert cells, "the replayed entries reached Anaplan"
    assert_reconciled(app, [Period.parse(p) for p in inner["summary"]["periods"]])


def test_employee_load_sends_no_personal_data(app: ConnectorUnderTest) -> None:
    result = app.run("employees_load")
    assert result["state"] in ("succeeded", "partially_succeeded"), result
    members = app.sandbox.members("Employees")
    assert len(members) >= 600
    sample = next(m for m in members if m["code"] == "E0001")
    assert set(sample["properties"]) <= {
        "Department",
        "Job Title",
        "Status",
        "Start Date",
        "End Date",
        "Deleted in BC",
    }
    headcount = app.sandbox.cells("Headcount")
    assert headcount and all(Decimal(str(c["value"])) >= 0 for c in headcount)
    # three of the months loaded, each against a count made from BC's own employee records
    loaded = sorted({NAMING.parse(c["dimensions"]["Time"]) for c in headcount})
    employees = employees_in_bc(app)
    for period in (loaded[0], loaded[len(loaded) // 2], loaded[-1]):
        in_anaplan = {
            c["dimensions"]["Departments"].split(" ", 1)[0]: Decimal(str(c["value"]))
            for c in app.sandbox.cells("Headcount", Time=NAMING.name(period))
        }
        expected = employed_at_month_end(employees, period)
        assert sum(expected.values()) > 0, period
        assert in_anaplan == {d: Decimal(expected.get(d, 0)) for d in in_anaplan}, period
        assert set(expected) <= set(in_anaplan), (period, set(expected) - set(in_anaplan))
    leftovers = list(
        app.rt.staging.container.list_blobs(
            name_starts_with=f"fpa/{result['run_id']}/list-employees"
        )
    )
    assert leftovers == []
