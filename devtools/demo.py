"""``make demo``: the connector's main job, end to end, on its embedded default runtime.

Starts the sandbox at ``demo`` scale (a manufacturer with ~100,000 G/L entries over 24 months,
and an FP&A model with deliberate drift), then runs the real app on the local host against it,
with the Functions-style app settings the sandbox hands out:

1. reference sync -- fixes the drift between BC dimension values/accounts and Anaplan lists;
2. actuals load -- the first, full load of every period;
3. BC posts new entries; a second, incremental load recomputes only the touched period;
4. employee load -- the Employees list and head count per department;
5. the planners approve the budget; the writeback under the default all-or-nothing policy
   stops before BC is touched (some plan lines use a cost center BC no longer has), then, with
   the ``continue`` policy, writes the valid lines as drafts into BC's PLAN journal and
   reconciles them with the export; the same writeback once more is ``unchanged``.

Then it prints what happened: runs, counts, drift fixed, quarantined entries with reasons, and
per period the net income BC's trial balance shows next to what Anaplan now holds (read through
the sandbox's inspection endpoint, not through the connector). Run records stay in Azurite
(``.demo/azurite``) for ``make demo-status``.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from devtools.environment import connector_environment
from devtools.processes import read_ready_line, stop

REPO_ROOT = Path(__file__).resolve().parent.parent
TASK_HUB = "bcanaplandemo"
INCOME_STATEMENT = ("Income", "Cost of Goods Sold", "Expense")


@contextmanager
def sandbox(scale: str) -> Iterator[dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--scale", scale],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = read_ready_line(process, timeout_s=120)
        if ready is None:
            raise RuntimeError("the sandbox did not start within 120 s")
        yield ready
    finally:
        stop(process)


def say(text: str = "") -> None:
    print(text, flush=True)


class Demo:
    def __init__(self, info: dict[str, Any], storage: str) -> None:
        import function_app
        from bc_anaplan.runtime import use_environment
        from local_host import LocalHost, RealClock

        self.info = info
        self.env = connector_environment(info, storage, TASK_HUB)
        self.rt = use_environment(self.env)
        self.http = httpx.Client(
            verify=ssl.create_default_context(cafile=info["ca_bundle"]), timeout=120
        )
        self.host = LocalHost(
            function_app.app,
            connection_string=storage,
            task_hub=TASK_HUB,
            clock=RealClock(),
            env=self.env,
        )
        self.runs: list[dict[str, Any]] = []

    def run(self, flow: str, flow_input: dict[str, Any], label: str) -> dict[str, Any]:
        from bc_anaplan import workkeys

        pipeline = self.rt.settings.pipeline()
        key = {
            "reference_sync": workkeys.reference_sync(pipeline),
            "actuals_load": workkeys.actuals_load(pipeline, flow_input.get("periods")),
            "employees_load": workkeys.employees_load(pipeline),
            "plan_writeback": workkeys.plan_writeback(pipeline, str(flow_input.get("version"))),
        }[flow]
        instance = workkeys.instance_id(key, datetime.now(UTC))
        started = time.monotonic()
        say(f"\n== {label}")
        self.host.start_new(flow, {**flow_input, "trigger": "cli"}, instance_id=instance)
        status = self.host.wait_for(instance, timeout_s=600)
        elapsed = time.monotonic() - started
        if status.runtime_status != "Completed":
            raise RuntimeError(f"{flow} ended {status.runtime_status}: {status.output}")
        output = status.output
        self.runs.append(
            {
                "label": label,
                "flow": flow,
                "run_id": instance,
                "state": output["state"],
                "seconds": elapsed,
                "output": output,
            }
        )
        say(f"   {flow} {output['state']} in {elapsed:.1f} s  (run {instance})")
        return dict(output)

    def post(self, service: str, path: str, body: Any) -> Any:
        response = self.http.post(self.info[service] + path, json=body)
        response.raise_for_status()
        return response.json()

    def anaplan_cells(self, module: str) -> list[dict[str, Any]]:
        url = (
            f"{self.info['anaplan_api']}/_sandbox/anaplan/models/{self.info['model_id']}"
            f"/modules/{quote(module)}/cells"
        )
        response = self.http.get(url)
        response.raise_for_status()
        return list(response.json())


def drift_table(result: dict[str, Any]) -> None:
    say("   drift fixed (list: added / changed / flagged as gone):")
    for entry in result["lists"]:
        d = entry["drift"]
        say(
            f"     {entry['list']:<14} {d['missing']:>3} / {d['changed']:>3} / {d['gone']:>3}"
            f"   ({d['unchanged']} unchanged)"
        )


def load_summary(demo: Demo, result: dict[str, Any]) -> None:
    summary = result["summary"]
    counts = result["counts"]
    say(
        f"   periods recomputed: {', '.join(summary['periods']) or 'none'}"
        + (
            f"; closing balances re-sent for {', '.join(summary['closing_periods'])}"
            if summary.get("closing_periods")
            else ""
        )
    )
    say(
        f"   entries read {counts.get('entries_read', 0):,}, cells sent "
        f"{counts.get('cells_sent', 0):,}, quarantined {counts.get('quarantined', 0)}, "
        f"rejected by Anaplan {counts.get('anaplan_rejected', 0)}"
    )
    mismatched = [
        r["period"]
        for r in summary["reconciliation"]
        if not (r["balanced"] and r["trial_balance"]["matches"])
    ]
    say(
        f"   every period balanced and matched BC's trial balance: {not mismatched}"
        + (f" (mismatched: {mismatched})" if mismatched else "")
    )
    reasons: dict[str, int] = {}
    for record in demo.rt.audit.records(result["run_id"], "quarantined"):
        reasons[record.reason] = reasons.get(record.reason, 0) + 1
    for reason, count in sorted(reasons.items()):
        say(f"   quarantined: {count} x {reason}")


def writeback(demo: Demo) -> None:
    version = "Budget FY27"
    demo.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": version})
    say(f"\n   the planners approve {version!r} in Anaplan")
    stopped = demo.run(
        "plan_writeback", {"version": version}, "5. writeback, policy all-or-nothing (the default)"
    )
    validation = stopped["summary"]["validation"]
    say(
        f"   {validation['lines_exported']:,} lines exported, {validation['invalid_lines']} "
        "invalid:"
    )
    for item in validation["invalid_reasons"]:
        say(f"     {item['lines']} x {item['reason']}")
    say(f"   -> {stopped['summary'].get('stopped', stopped['state'])}")
    written = demo.run(
        "plan_writeback",
        {"version": version, "policy": "continue"},
        "6. writeback again, policy continue (finance's call)",
    )
    result = written["summary"]["written"]
    say(
        f"   {result['lines_in_bc']:,} draft lines in BC's PLAN batch, never posted; "
        f"{validation['invalid_lines']} lines reported, not written"
    )
    rec = result["reconciliation"]
    say(
        f"   plan total {Decimal(rec['plan_total']):,.2f} = BC drafts total "
        f"{Decimal(rec['bc_total']):,.2f} over {rec['accounts']} accounts: "
        f"{'reconciled' if rec['matches'] else 'MISMATCH'}"
    )
    plan_lines(demo)
    again = demo.run(
        "plan_writeback",
        {"version": version, "policy": "continue"},
        "7. the same writeback once more",
    )
    say(f"   -> {again['state']}: the same approved figures are never written twice")


def plan_lines(demo: Demo) -> None:
    """The PLAN journal batch as BC shows it (read straight from the API)."""
    from bc_anaplan.bc import streams

    bc = demo.rt.bc()
    journal = streams.find_journal(bc, "PLAN")
    totals: dict[str, Decimal] = {}
    count = 0
    for line in streams.iter_journal_lines(bc, journal.id):
        count += 1
        totals[line.account_number] = totals.get(line.account_number, Decimal(0)) + line.amount
    say(f"   BC journal PLAN: {count:,} lines; largest accounts:")
    for account, total in sorted(totals.items(), key=lambda kv: -abs(kv[1]))[:5]:
        say(f"     {account}  {total:>16,.2f}")


def reconciliation(demo: Demo) -> None:
    """Net income per period: BC's trial balance next to Anaplan's GL Actuals."""
    from bc_anaplan.bc import streams
    from bc_anaplan.periods import Period, PeriodNaming, months

    bc = demo.rt.bc()
    income = {
        a.number
        for a in streams.iter_accounts(bc)
        if a.category in INCOME_STATEMENT and a.account_type == "Posting"
    }
    naming = PeriodNaming("MMM YY")
    anaplan: dict[str, Decimal] = {}
    for cell in demo.anaplan_cells("GL Actuals"):
        account = cell["dimensions"]["GL Accounts"].split(" ", 1)[0]
        if cell["lineItem"] == "Amount" and account in income:
            period = cell["dimensions"]["Time"]
            anaplan[period] = anaplan.get(period, Decimal(0)) + Decimal(str(cell["value"]))
    say("\n== reconciliation: net income per period (negative = profit, BC's sign)")
    say(f"   {'period':<8} {'BC trial balance':>18} {'Anaplan':>18}  match")
    all_match = True
    for period in months(Period(2025, 1), Period(2026, 12)):
        bc_net = sum(
            (
                row.total_debit - row.total_credit
                for row in streams.iter_trial_balance(bc, period.first_day, period.last_day)
                if row.number in income
            ),
            Decimal(0),
        )
        name = naming.name(period)
        ours = anaplan.get(name, Decimal(0))
        all_match &= ours == bc_net
        say(f"   {name:<8} {bc_net:>18,.2f} {ours:>18,.2f}  {'yes' if ours == bc_net else 'NO'}")
    say(f"   all periods reconcile to the cent: {'yes' if all_match else 'NO'}")


def main() -> int:
    storage = os.environ.get("AzureWebJobsStorage")  # noqa: SIM112 (the Functions setting)
    if not storage:
        print("demo: run it through `make demo` (Azurite must be up)", file=sys.stderr)
        return 2
    started = time.monotonic()
    say("starting the sandbox (demo scale: ~100,000 G/L entries, 24 months) ...")
    with sandbox("demo") as info:
        demo = Demo(info, storage)
        with demo.host:
            drift_table(demo.run("reference_sync", {}, "1. reference sync: align lists"))
            first = demo.run(
                "actuals_load", {"mode": "incremental"}, "2. actuals: first, full load"
            )
            load_summary(demo, first)
            posted = demo.post(
                "bc", "/_sandbox/bc/post-entries", {"count": 200, "period": "2026-12"}
            )
            say(f"\n   BC posts {posted['count']} new entries in 2026-12")
            second = demo.run(
                "actuals_load", {"mode": "incremental"}, "3. actuals: incremental load"
            )
            load_summary(demo, second)
            employees = demo.run("employees_load", {}, "4. employees and head count")
            say(f"   Employees: {employees['summary']['employees']['drift']}")
            writeback(demo)
        reconciliation(demo)
    say("\n== runs (kept in Azurite: `make demo-status` lists them)")
    for run in demo.runs:
        say(f"   {run['state']:<20} {run['seconds']:6.1f} s  {run['label']}")
    say(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
