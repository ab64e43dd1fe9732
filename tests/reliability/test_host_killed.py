"""The full cycle under faults and token expiry, with the host SIGKILLed three times.

The host runs as an operator runs it (``python -m local_host start``, real clock) and is killed
with SIGKILL at three points drawn from a seeded generator among moments where a crash hurts
most: right after an Anaplan task was started (was the start recorded?), in the middle of the
period reads, right after the actuals import or the export started, while journal lines or their
dimensions are being POSTed. Each time, a new host process is started on the same task hub and
resumes. ``RELIABILITY_SEED`` picks other points; the seed and the points are in every failure
message. Faults as in ``test_faults_end_to_end`` (Retry-After as an HTTP date here), a journal
``$batch`` answer lost, and the sandbox clock moved past both token lifetimes mid-read and again
as the writeback starts.

The end state is proven from the services: Anaplan equals BC's trial balance to the cent, BC's
draft lines equal the approved budget to the cent, no journal key twice, one task per action.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bc_anaplan.audit import AuditTrail
from bc_anaplan.periods import Period
from bc_anaplan.runtime import environment
from local_host.store import Store
from tests.e2e.test_load_flows import assert_reconciled
from tests.reliability.harness import (
    BC_BATCH,
    EXPORT_APPROVED_BUDGET,
    FAULTS,
    IMPORT_GL_ACTUALS,
    add_rules,
    advance_clock,
    assert_no_duplicate_lines,
    budget_by_account,
    clear_faults,
    journal_rows,
    lines_by_account,
    request_count,
    set_faults,
    statuses,
    tasks_per_action,
)
from tests.reliability.hosts import TERMINAL, HostProcess, instance_output, instance_status
from tests.support.connector import ConnectorUnderTest, Sandbox, connector_environment
from tests.support.processes import running_sandbox

SEED = int(os.environ.get("RELIABILITY_SEED", "20251126"))
VERSION = "Budget FY27"
BUDGET_ROWS = 600
KILLS = 3


@dataclass(frozen=True)
class KillPoint:
    name: str
    reached: Callable[[], bool]


def periods_read(audit: AuditTrail, run_id: str, count: int) -> Callable[[], bool]:
    def reached() -> bool:
        steps = audit.steps(run_id) if audit.get_run(run_id) else []
        return sum(s["step_id"].startswith("read:") for s in steps) >= count

    return reached


def kill_points(sandbox: Sandbox, audit: AuditTrail, actuals_id: str) -> list[KillPoint]:
    """Candidate moments, in the order a run reaches them."""

    def tasks(action: str | None = None) -> int:
        counts = tasks_per_action(sandbox)
        return sum(counts.values()) if action is None else counts[action]

    def posted(route: str, count: int) -> Callable[[], bool]:
        return lambda: request_count(sandbox, "bc", "POST", route) >= count

    return [
        KillPoint("first list import started", lambda: tasks() >= 1),
        KillPoint("third list import started", lambda: tasks() >= 3),
        KillPoint("5 periods read", periods_read(audit, actuals_id, 5)),
        KillPoint("16 periods read", periods_read(audit, actuals_id, 16)),
        KillPoint("actuals import started", lambda: tasks(IMPORT_GL_ACTUALS) >= 1),
        KillPoint("export started", lambda: tasks(EXPORT_APPROVED_BUDGET) >= 1),
        KillPoint("300 journal lines POSTed", posted("/journalLines", 300)),
        KillPoint("900 dimension set lines POSTed", posted("/dimensionSetLines", 900)),
    ]


def test_three_kills_under_faults_still_end_reconciled_and_exactly_once(
    azurite: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    with running_sandbox("--scale", "small", "--fast", "--seed", "11") as info:
        hub = "rel" + uuid.uuid4().hex[:10]
        env = connector_environment(info, azurite, hub)
        # the sandbox finishes tasks in well under a second: poll sooner than Anaplan asks
        env.setdefault("ANAPLAN_POLL_SECONDS", "1")
        store, sandbox = Store(azurite, hub), Sandbox(info)
        actuals_id, writeback_id = f"actuals-{hub}", f"writeback-{hub}"
        with environment(env) as runtime:
            candidates = kill_points(sandbox, runtime.audit, actuals_id)
            chosen = sorted(rng.sample(range(len(candidates)), KILLS))
            plan = [(candidates[i], rng.uniform(0.0, 0.3)) for i in chosen]
            where = f"seed {SEED}, kills at {[p.name for p, _ in plan]}, log {tmp_path}"
            mid_read = periods_read(runtime.audit, actuals_id, 8)
            kills: list[str] = []
            expired: list[str] = []
            host = HostProcess(env, tmp_path / "host.log").start()

            def drive(instance: str, timeout_s: float) -> None:
                """Wait for ``instance`` to end, killing the host at the planned points."""
                deadline = time.monotonic() + timeout_s
                while instance_status(store, instance) not in TERMINAL:
                    assert time.monotonic() < deadline, f"{instance} did not finish; {where}"
                    if plan and plan[0][0].reached():
                        point, delay = plan.pop(0)
                        time.sleep(delay)
                        if instance_status(store, instance) not in TERMINAL:
                            host.kill()
                            kills.append(f"{point.name} ({instance})")
                            host.start()
                    elif not expired and mid_read():
                        advance_clock(sandbox)  # both tokens die while BC is read
                        expired.append(instance)
                    time.sleep(0.05)

            set_faults(
                sandbox, FAULTS.replace("retry_after=1", "retry_after=1,retry_after_format=date")
            )
            try:
                host.start_orchestration("actuals_load", actuals_id, {"trigger": "cli"})
                drive(actuals_id, 300)
                budget = {"version": VERSION, "rows": BUDGET_ROWS}
                sandbox.post("anaplan_api", "/_sandbox/anaplan/budget", budget)
                sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})
                drop = {"service": "bc", "kind": "drop", "method": "POST", "route": BC_BATCH}
                add_rules(sandbox, drop)
                request = {"version": VERSION, "trigger": "cli"}
                host.start_orchestration("plan_writeback", writeback_id, request)
                advance_clock(sandbox)  # the tokens the host holds die again
                drive(writeback_id, 240)
            finally:
                clear_faults(sandbox)
                host.stop()

            assert len(kills) == KILLS and expired == [actuals_id], (kills, expired, where)
            for instance in (actuals_id, writeback_id):
                assert instance_status(store, instance) == "Completed", (instance, where)
            actuals, written = (
                instance_output(store, actuals_id),
                instance_output(store, writeback_id),
            )
            assert actuals["state"] == "succeeded", (actuals, where)
            assert written["state"] == "succeeded", (written, where)

            checker = ConnectorUnderTest(None, runtime, sandbox, env)
            assert_reconciled(checker, [Period.parse(p) for p in actuals["summary"]["periods"]])
            lines = journal_rows(runtime.bc())
            assert_no_duplicate_lines(lines)
            assert len(lines) == BUDGET_ROWS, where
            assert lines_by_account(lines) == budget_by_account(checker, VERSION), where
            tasks = tasks_per_action(sandbox)
            assert len(tasks) == 5 and all(n == 1 for n in tasks.values()), (tasks, kills, where)
            for service in ("bc", "anaplan_api"):
                # 401s only where a process still held a token across a clock jump: a process
                # started after one logs in afresh (test_faults_end_to_end proves the 401 path)
                seen = statuses(sandbox, service)
                assert seen[429] and seen[503] + seen[0], (service, seen, where)
