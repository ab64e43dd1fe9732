"""Each benchmark, small: the harness runs end to end and its results carry every figure.

Figures are not asserted (they depend on the machine); what is checked is that every result
has the fields the issue lists, and, from the services' own data (never from the benchmark's or
the connector's figures): after the full load and after the incremental load, Anaplan's GL
Actuals cells equal BC's trial balance per account and month; the baseline script leaves the
same GL Actuals totals in Anaplan; after the writeback, BC's PLAN journal holds every line of
the approved version, summing per account to Anaplan's Budget cells. ``reconciled`` in the
results is the connector's own reconciliation verdict, checked as such. The sandbox runs
``--fast`` and the connector on the time-skipping clock, so Anaplan polls cost no 5 s waits
here (``make bench`` uses real time).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bc_anaplan.periods import Period
from bc_anaplan.runtime import environment
from bench import benchmarks as b
from devtools.environment import connector_environment
from tests.e2e.test_load_flows import assert_reconciled
from tests.reliability.harness import budget_by_account, journal_rows, lines_by_account
from tests.support.connector import ConnectorUnderTest, Sandbox

REQUIRED = ("name", "entries", "wall_s", "cpu_s", "peak_rss_mb", "requests", "min_requests")


def check_common(result: dict[str, Any], results_dir: Path) -> dict[str, Any]:
    path = b.write(result, results_dir)
    stored = json.loads(path.read_text())
    assert path.name == f"{result['name']}.json"
    for key in REQUIRED:
        assert key in stored, (result["name"], key)
    assert len(stored["load_avg"]["start"]) == 3 and len(stored["load_avg"]["end"]) == 3
    assert stored["wall_s"] > 0 and stored["cpu_s"] > 0 and stored["peak_rss_mb"] > 20
    return stored


@contextmanager
def checker(session: b.Session, storage: str) -> Iterator[ConnectorUnderTest]:
    """Reads of the session's BC and Anaplan made by the tests (raw BC API calls, the sandbox's
    Anaplan inspection endpoints), with a runtime of their own for BC's token."""
    env = connector_environment(session.info, storage, "benchcheck" + uuid.uuid4().hex[:8])
    with environment(env) as runtime:
        yield ConnectorUnderTest(None, runtime, Sandbox(session.info), env)


def loaded_periods(loaded: dict[str, Any]) -> list[Period]:
    reconciliation = loaded["load"]["output"]["summary"]["reconciliation"]
    return [Period.parse(r["period"]) for r in reconciliation]


def test_each_benchmark_small(azurite: str, tmp_path: Path) -> None:
    opts = b.Options(
        storage=azurite,
        results_dir=tmp_path,
        fast=True,
        clock="skipping",
        baseline_poll_s=0.1,
        verbose=False,
    )
    with b.Session(opts, 20_000) as session, checker(session, azurite) as services:
        loaded = b.full_load(session)
        main = b.actuals_figures(session, loaded)
        periods = loaded_periods(loaded)
        assert len(periods) > 1
        assert_reconciled(services, periods)  # Anaplan's cells == BC's trial balance
        base = b.baseline(session)
        inc = b.incremental(session, new_entries=500)
        assert_reconciled(services, [Period.parse(inc["period"])])
        back = b.writeback(session, lines=300)
        plan = [
            row
            for row in journal_rows(services.rt.bc())
            if row["description"].startswith(b.VERSION + " ")
        ]
        assert len(plan) == 300
        assert lines_by_account(plan) == budget_by_account(services, b.VERSION)
        meta = session.sandbox_meta()
    with b.Session(opts, 5_000) as small_session:
        small = b.actuals_figures(small_session, b.full_load(small_session))
    actuals = check_common(b.actuals_result(meta, main, [small]), tmp_path)
    assert actuals["entries"] == 20_000 and actuals["details"]["reconciled"]
    pages = actuals["details"]["bc_entry_pages"]
    # contiguous months are read as one window of full pages: the ideal plus at most the empty
    # page after an exactly full one
    assert actuals["requests"]["bc"] > pages["measured"] and pages["measured"] <= pages["ideal"] + 1
    assert actuals["min_requests"]["bc"] == 2  # one page of entries, the accounts
    assert [r["entries"] for r in actuals["scaling"]["runs"]] == [5_000, 20_000]
    assert {t["target"].split(" (")[0] for t in actuals["targets"]} >= {"connector peak RSS"}

    baseline = check_common(base, tmp_path)
    assert baseline["entries"] == 20_000 and baseline["script"]["successful"]
    assert baseline["comparison"]["same_cells_in_anaplan"], baseline["comparison"]
    assert baseline["requests"]["bc"] >= baseline["min_requests"]["bc"]

    incremental = check_common(inc, tmp_path)
    assert incremental["state"] == "succeeded"
    assert incremental["targets"][1]["met"], incremental["targets"][1]
    assert incremental["period_entries_read"] > 500

    writeback = check_common(back, tmp_path)
    assert writeback["state"] == "succeeded" and writeback["reconciled"]
    assert writeback["lines_in_bc"] == 300 and writeback["invalid_lines"] == 0
    assert writeback["requests"]["bc"] >= writeback["min_requests"]["bc"] == 14
    assert writeback["with_bc_budget_1200_per_min"]["lines_in_bc"] == 300

    overhead = check_common(b.orchestration_overhead(opts, activities=50, sequential=10), tmp_path)
    assert overhead["activities_per_s"] > 0 and overhead["sequential"]["activities"] == 10

    # the table marks each target as its result says
    table = b.table([actuals])
    assert actuals["targets"]
    for t in actuals["targets"]:
        mark, other = ("met   ", "MISSED") if t["met"] else ("MISSED", "met   ")
        assert f"    {mark} {t['target']}: " in table, (t, table)
        assert f"    {other} {t['target']}: " not in table, (t, table)
