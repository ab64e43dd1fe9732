"""The run report of real runs, rendered by a real browser (Debian's chromium, headless).

The runs are an actuals load with quarantined entries (a BC cost center renamed to a code whose
name Anaplan already uses), a plan writeback under ``continue``, and a writeback of a "version"
whose name is an HTML injection attempt. Each report is loaded from the front door by chromium;
the page must render (title, chart), report no console error (an unescaped value or any external
asset would: the page's Content-Security-Policy allows nothing to load), and is kept as a
screenshot under ``tests/ops/artifacts/``.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest

from bc_anaplan.ops import cli
from bc_anaplan.periods import Period, PeriodNaming
from tests.ops.browser import Chromium, PageLoad
from tests.ops.conftest import OpsApp

ARTIFACTS = Path(__file__).parent / "artifacts"
VERSION = "Budget FY27"
FACTS = {
    "chart": "!!document.querySelector('#reconciliation-chart')",
    "bars": "document.querySelectorAll('#reconciliation-chart rect.bar').length",
    "plan_bars": "document.querySelectorAll('#plan-chart rect.bar').length",
    "timeline": "!!document.querySelector('#timeline-chart')",
    "images": "document.images.length",
    "scripts": "document.scripts.length",
    "text": "document.body.innerText",
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium() as chromium:
        yield chromium


def render(ops: OpsApp, browser: Chromium, run_id: str, name: str, steps: bool = True) -> PageLoad:
    url = f"{ops.url}/api/runs/{quote(run_id, safe='')}/report?code={ops.key}"
    page = browser.load(url, FACTS)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.png").write_bytes(page.screenshot)
    assert page.screenshot.startswith(b"\x89PNG") and len(page.screenshot) > 10_000
    assert page.problems == [], page.problems
    assert run_id in page.title and page.facts["timeline"] is steps
    assert page.facts["images"] == 0 and page.facts["scripts"] == 0
    return page


def quarantine_a_cost_center(ops: OpsApp) -> None:
    """BC renames CC110 to CC995 while Anaplan already has a member named like it.

    The reference sync cannot add CC995 (its name is taken), so the entries that carry it are
    quarantined, and with them those of any other cost center the sync could not add.
    """
    client = ops.c.rt.anaplan()
    action = client.find_import("Import Cost Centers")
    client.upload(
        action,
        [["X995", "CC995 Night Shift", "false", "false"]],
        header=["Code", "Name", "Blocked", "Deleted in BC"],
    )
    task = client.start_task(action).task_id
    assert client.wait_for_task(action, task, sleep=lambda s: time.sleep(0.2)).succeeded
    ops.c.sandbox.post(
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


def test_an_actuals_report_renders_with_its_reconciliation_chart(
    ops: OpsApp, browser: Chromium, tmp_path: Path
) -> None:
    quarantine_a_cost_center(ops)
    shown = ops.run("actuals_load", {"mode": "period", "periods": ["2025-03", "2025-04"]})
    run = shown["run"]
    assert run["state"] == "partially_succeeded" and shown["records"]["quarantined"] > 0
    page = render(ops, browser, run["run_id"], "actuals-report")
    periods = len(run["summary"]["reconciliation"])
    assert page.facts["chart"] and page.facts["bars"] == 3 * periods
    text = page.facts["text"]
    assert "COSTCENTER value CC995 has no Anaplan member" in text
    assert "Reconciliation per period" in text and "2025-03" in text
    assert f"Quarantined records ({shown['records']['quarantined']:,})" in text
    assert "List drift fixed" in text and "CC995" in text
    # the CLI saves the same page
    out = tmp_path / "report.html"
    command = ["--url", ops.url, "--key", ops.key, "report", run["run_id"], "--out", str(out)]
    assert cli.main(command) == 0
    saved = out.read_text()
    assert saved.startswith("<!DOCTYPE html>") and 'id="reconciliation-chart"' in saved
    assert re.findall(r'(?:src|href)="([^"]*)"', saved) == ["data:,"]  # loads nothing


def test_a_writeback_report_shows_plan_totals_against_bc_drafts(
    ops: OpsApp, browser: Chromium
) -> None:
    ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/budget", {"version": VERSION, "rows": 250})
    ops.c.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})
    cells = ops.c.sandbox.cells("Budget", Versions=VERSION)
    used = Counter(c["dimensions"]["Cost Centers"].split(" ", 1)[0] for c in cells)
    block = {"dimension": "COSTCENTER", "code": min(used, key=lambda c: (used[c], c))}
    ops.c.sandbox.post("bc", "/_sandbox/bc/dimension-values", {"action": "block", **block})
    try:
        shown = ops.run("plan_writeback", {"version": VERSION, "policy": "continue"})
    finally:
        ops.c.sandbox.post("bc", "/_sandbox/bc/dimension-values", {"action": "unblock", **block})
    run = shown["run"]
    assert run["state"] == "partially_succeeded", run
    mismatches = run["summary"]["written"]["reconciliation"]["mismatches"]
    assert mismatches  # BC lacks the refused lines
    page = render(ops, browser, run["run_id"], "writeback-report")
    assert page.facts["plan_bars"] > 0
    text = page.facts["text"]
    assert "Plan totals by account vs BC draft journal lines" in text
    assert "matches" in text and "differs" in text
    assert "Rejected records" in text and "blocked" in text


def test_values_from_the_run_are_escaped(ops: OpsApp, browser: Chromium) -> None:
    version = '<img src=x onerror="console.error(1)"><script>console.error(2)</script>'
    shown = ops.run("plan_writeback", {"version": version})
    run = shown["run"]
    assert run["state"] == "failed" and "<img" in run["error"]
    page = render(ops, browser, run["run_id"], "escaped-report", steps=bool(shown["steps"]))
    assert version in page.facts["text"]  # shown as text, neither loaded nor run


def test_a_replay_sends_what_the_load_quarantined_once_bc_is_fixed(ops: OpsApp) -> None:
    loads = ops.c.rt.audit.list_runs(flow="actuals_load", state="partially_succeeded")
    original = loads[-1]["run_id"]  # the load of the first test
    quarantined = list(ops.c.rt.audit.records(original, "quarantined"))
    expected: dict[tuple[str, str], Decimal] = {}
    for record in quarantined:
        key = (record.data["dimensions"]["COSTCENTER"], record.period)
        expected[key] = expected.get(key, Decimal(0)) + Decimal(record.data["amount"])
    # the fix, in BC: the renamed cost center gets a name no Anaplan member has
    ops.c.sandbox.post(
        "bc",
        "/_sandbox/bc/dimension-values",
        {"action": "rename", "dimension": "COSTCENTER", "code": "CC995", "name": "Night Team"},
    )
    replay = ops.ok("POST", f"/api/runs/{quote(original, safe='')}/replay", 202, json={})
    assert ops.wait(replay["id"]).runtime_status == "Completed"
    replayed = ops.c.rt.audit.get_run(f"{replay['id']}:actuals_load")
    assert replayed is not None and replayed["state"] == "succeeded", replayed
    assert replayed["summary"]["periods"] == sorted({period for _, period in expected})
    naming = PeriodNaming("MMM YY")
    for (cost_center, period), amount in expected.items():
        cells = ops.c.sandbox.cells(
            "GL Actuals", **{"Cost Centers": cost_center, "Time": naming.name(Period.parse(period))}
        )
        amounts = [Decimal(str(c["value"])) for c in cells if c["lineItem"] == "Amount"]
        assert sum(amounts, Decimal(0)) == amount, (cost_center, period)
