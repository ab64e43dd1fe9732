"""The five benchmarks of issue 12, each a function that returns its result (a JSON-able dict).

A ``Session`` is one sandbox process plus one task hub in Azurite: the connector's state
(mappings, snapshots, cursor) carries from one benchmark to the next exactly as it carries from
one night to the next, so ``all`` loads the million entries once and runs the baseline and the
incremental load on top of that load. Every measured unit of work runs in its own process
(``bench.runner`` for the connector, ``bench/baseline.py`` for the baseline), measured from the
outside by ``bench.measure.run_child``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import ProcessWatch, azurite_pid, load_avg, run_child
from bench.sandbox import REPO_ROOT, SERVICES, Sandbox, route_count, totals

RESULTS_DIR = REPO_ROOT / "bench" / "results"
PAGE = 20_000  # BC's server page size (rows)
BATCH_OPS = 100  # operations per BC $batch
ANAPLAN_CHUNK_BYTES = 50 * 1024 * 1024  # Anaplan's largest upload chunk
CSV_ROW_BYTES = 100  # generous upper bound of one actuals CSV row, for the minimum chunk count
# bc_anaplan/flows/actuals.py `_everything`: on a first load, `plan` asks BC for the first and
# last posting date (within the planning horizon), whether anything lies beyond the horizon, and
# the newest lastModifiedDateTime (four `$top=1` requests on generalLedgerEntries); they are
# overhead, not entry pages.
FIRST_LOAD_PROBES = 4
VERSION = "Budget FY27"


@dataclass
class Options:
    storage: str
    results_dir: Path = RESULTS_DIR
    fast: bool = False  # sandbox --fast (see README: not used for the figures)
    clock: str = "real"  # "skipping" only in the smoke test
    baseline_poll_s: float = 5.0
    verbose: bool = True
    azurite: int | None = field(default=None)

    def __post_init__(self) -> None:
        if self.azurite is None:
            self.azurite = azurite_pid(self.storage)


def say(opts: Options, text: str) -> None:
    if opts.verbose:
        print(text, flush=True)


class BenchError(RuntimeError):
    pass


class Session:
    """One sandbox and one task hub (see the module docstring)."""

    def __init__(self, opts: Options, scale: int | str) -> None:
        self.opts = opts
        self.scale = scale
        self.sandbox = Sandbox(scale, fast=opts.fast)
        self.task_hub = "bench" + uuid.uuid4().hex[:10]
        self.aligned = False  # reference sync done (lists match BC)
        self.full_load: dict[str, Any] | None = None  # the connector's full-load figures

    def __enter__(self) -> Session:
        say(self.opts, f"  sandbox --scale {self.scale}{' --fast' if self.opts.fast else ''} ...")
        self.sandbox.__enter__()
        say(self.opts, f"  sandbox up in {self.sandbox.startup_s:.1f} s")
        return self

    def __exit__(self, *exc: object) -> None:
        self.sandbox.__exit__(*exc)

    @property
    def info(self) -> dict[str, Any]:
        return self.sandbox.info

    def sandbox_meta(self) -> dict[str, Any]:
        return {
            "scale": self.info.get("scale"),
            "entries": self.info.get("entries"),
            "fast": self.opts.fast,
            "startup_s": round(self.sandbox.startup_s, 2),
        }

    def connector(
        self,
        steps: list[dict[str, Any]],
        env: dict[str, str] | None = None,
        durable_task: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run ``steps`` in a fresh connector process; its own figures plus the process's."""
        spec = {
            "app": "function_app:app",
            "info": self.info,
            "storage": self.opts.storage,
            "task_hub": self.task_hub,
            "env": env or {},
            "durable_task": durable_task or {},
            "clock": self.opts.clock,
            "watch": {"sandbox": self.sandbox.pid, "azurite": self.opts.azurite},
            "steps": steps,
        }
        return run_runner(spec, self.opts)


def run_runner(spec: dict[str, Any], opts: Options) -> dict[str, Any]:
    child = run_child(
        [sys.executable, "-m", "bench.runner"],
        cwd=str(REPO_ROOT),
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        input_text=json.dumps(spec),
    )
    lines = child.stdout.strip().splitlines()
    if child.returncode != 0 or not lines:
        raise BenchError(
            f"the connector process exited with {child.returncode}:\n{child.stderr[-4000:]}"
        )
    result = json.loads(lines[-1])
    for step in result["steps"]:
        if step["runtime_status"] != "Completed":
            raise BenchError(f"{step['flow']} ended {step['runtime_status']}: {step['output']}")
    result["process"] = {
        "wall_s": round(child.wall_s, 2),
        "cpu_s": round(child.cpu_s, 2),
        "peak_rss_mb": round(child.peak_rss_mb, 1),
        "ready_rss_mb": result["ready"]["rss_mb"],
        "rss_timeline_mb": _thin(child.rss_samples),
    }
    return result


def _thin(samples: list[tuple[float, float]], points: int = 120) -> list[tuple[float, float]]:
    """At most ``points`` samples, keeping each stretch's maximum (peaks survive thinning)."""
    if len(samples) <= points:
        return samples
    size = math.ceil(len(samples) / points)
    return [
        (samples[i][0], max(s[1] for s in samples[i : i + size]))
        for i in range(0, len(samples), size)
    ]


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip()
    except OSError:
        return ""


# what the figures depend on: uncommitted changes there make a result differ from its commit
MEASURED_CODE = (
    "bc_anaplan", "orchestrators", "activities", "entities", "triggers", "function_app.py",
    "host.json", "connector.toml", "local_host", "sandbox", "bench",
)  # fmt: skip


def envelope(name: str, entries: int, **fields: Any) -> dict[str, Any]:
    """The fields every result has, first, in the order the issue lists them."""
    return {
        "name": name,
        "entries": entries,
        **fields,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "git_commit": _git("rev-parse", "HEAD") or None,
        "uncommitted_changes": _git("status", "--porcelain", "--", *MEASURED_CODE).splitlines(),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def target(what: str, limit: str, measured: Any, met: bool) -> dict[str, Any]:
    return {"target": what, "limit": limit, "measured": measured, "met": bool(met)}


def _step_figures(step: dict[str, Any]) -> dict[str, Any]:
    """A runner step without the flow's full output."""
    return {k: v for k, v in step.items() if k != "output"}


# --- 1. actuals-1m ------------------------------------------------------------------------------


def full_load(session: Session) -> dict[str, Any]:
    """Reference sync (if the session's lists are not aligned yet) and the first actuals load."""
    steps: list[dict[str, Any]] = []
    if not session.aligned:
        steps.append(
            {
                "label": "reference sync (fixes the seeded drift; measured separately)",
                "flow": "reference_sync",
                "input": {"trigger": "cli"},
            }
        )
    steps.append(
        {
            "label": "full actuals load",
            "flow": "actuals_load",
            "input": {"mode": "incremental", "trigger": "cli"},
        }
    )
    say(session.opts, f"  connector: {' + '.join(s['flow'] for s in steps)} ...")
    run = session.connector(steps)
    session.aligned = True
    load = run["steps"][-1]
    output = load["output"]
    if output["state"] != "succeeded":
        raise BenchError(f"the full load ended {output['state']}: {output.get('summary')}")
    session.full_load = {"run": run, "load": load}
    return session.full_load


def actuals_figures(session: Session, loaded: dict[str, Any]) -> dict[str, Any]:
    run, load = loaded["run"], loaded["load"]
    output = load["output"]
    counts, summary = output["counts"], output["summary"]
    entries = int(counts["entries_read"])
    per_period = [int(r["entries"]) for r in summary["reconciliation"]]
    rows = int(summary["file"]["rows"])
    logs = load["requests"]
    gl_requests = route_count(logs, "bc", "generalLedgerEntries")
    entry_pages = gl_requests - (FIRST_LOAD_PROBES if summary.get("first_load") else 0)
    chunks = max(1, math.ceil(rows * CSV_ROW_BYTES / ANAPLAN_CHUNK_BYTES))
    reference = next((s for s in run["steps"] if s["flow"] == "reference_sync"), None)
    return {
        "entries": entries,
        "wall_s": load["wall_s"],
        "cpu_s": load["cpu_s"],
        "peak_rss_mb": run["process"]["peak_rss_mb"],
        "entries_per_s": round(entries / load["wall_s"]),
        "step_peak_rss_mb": load["peak_rss_mb"],
        "ready_rss_mb": run["process"]["ready_rss_mb"],
        "requests": totals(logs),
        "min_requests": {
            "bc": math.ceil(entries / PAGE) + 1,
            "entra": 0,
            "keyvault": 0,
            "anaplan_auth": 0,
            "anaplan_api": 4 + chunks,
        },
        "bc_entry_pages": {
            "measured": entry_pages,
            "ideal": math.ceil(entries / PAGE),
            "floor_with_one_read_per_period": sum(n // PAGE + 1 for n in per_period),
            "periods": len(per_period),
            "first_load_probes": gl_requests - entry_pages,
            "overhead_requests": totals(logs)["bc"] - gl_requests,
        },
        "cells_sent": rows,
        "quarantined": counts.get("quarantined", 0),
        "reconciled": all(
            r["balanced"] and r["trial_balance"]["matches"] for r in summary["reconciliation"]
        ),
        "rate_limit_wait_s": load["rate_limit_wait_s"],
        "phases": load["phases"],
        "neighbours": load["neighbours"],
        "load_avg": load["load_avg"],
        "requests_detail": logs,
        "reference_sync": _step_figures(reference) if reference else None,
        "process": run["process"],
    }


def actuals(opts: Options, entries: int, scaling: list[int] | None = None) -> dict[str, Any]:
    """``actuals-1m`` on its own sessions: ``entries``, then each size of ``scaling`` (by
    default ``entries/4``, the memory check) on a fresh sandbox."""
    with Session(opts, entries) as session:
        main = actuals_figures(session, full_load(session))
        meta = session.sandbox_meta()
    others = []
    for size in [entries // 4] if scaling is None else scaling:
        with Session(opts, size) as other_session:
            others.append(actuals_figures(other_session, full_load(other_session)))
    return actuals_result(meta, main, others)


def actuals_result(
    sandbox: dict[str, Any], main: dict[str, Any], others: list[dict[str, Any]]
) -> dict[str, Any]:
    pages = main["bc_entry_pages"]
    targets = [
        target(
            "end-to-end throughput (entries/s, full load, 2 cores)",
            ">= 25000",
            main["entries_per_s"],
            main["entries_per_s"] >= 25_000,
        ),
        target("connector peak RSS (MB)", "< 300", main["peak_rss_mb"], main["peak_rss_mb"] < 300),
        target(
            "BC entry pages vs ceil(entries/20000)",
            f"<= {pages['ideal'] * 1.05:.1f} (ideal {pages['ideal']} + 5%)",
            pages["measured"],
            pages["measured"] <= pages["ideal"] * 1.05,
        ),
        target(
            "Anaplan requests",
            "< 100",
            main["requests"]["anaplan_api"] + main["requests"]["anaplan_auth"],
            main["requests"]["anaplan_api"] + main["requests"]["anaplan_auth"] < 100,
        ),
    ]
    scaling = None
    if others:
        quarter = [run for run in others if run["entries"] == main["entries"] // 4]
        small = quarter[0] if quarter else min(others, key=lambda run: run["entries"])
        growth = main["peak_rss_mb"] - small["peak_rss_mb"]
        scaling = {
            "runs": [
                {
                    k: run[k]
                    for k in (
                        "entries",
                        "wall_s",
                        "cpu_s",
                        "entries_per_s",
                        "peak_rss_mb",
                        "step_peak_rss_mb",
                        "ready_rss_mb",
                        "requests",
                    )
                }
                for run in sorted([*others, main], key=lambda run: run["entries"])
            ],
            "peak_rss_growth_mb": round(growth, 1),
        }
        targets.append(
            target(
                f"peak RSS flat in entries ({small['entries']:,} -> {main['entries']:,})",
                "growth < 10% of the smaller run's peak",
                f"{small['peak_rss_mb']} -> {main['peak_rss_mb']} MB",
                growth < 0.1 * small["peak_rss_mb"],
            )
        )
    return envelope(
        "actuals-1m",
        main["entries"],
        wall_s=main["wall_s"],
        cpu_s=main["cpu_s"],
        peak_rss_mb=main["peak_rss_mb"],
        requests=main["requests"],
        min_requests=main["min_requests"],
        load_avg=main["load_avg"],
        entries_per_s=main["entries_per_s"],
        targets=targets,
        measured="the actuals_load orchestration (its built-in reference check included) from "
        "start to end, in a warm connector process, after a separate reference_sync run",
        sandbox=sandbox,
        scaling=scaling,
        details=main,
    )


# --- 4. baseline --------------------------------------------------------------------------------


def baseline(session: Session) -> dict[str, Any]:
    """The baseline script on the session's sandbox, right after the connector's full load."""
    opts = session.opts
    if session.full_load is None:
        full_load(session)
    assert session.full_load is not None
    connector = actuals_figures(session, session.full_load)
    info = session.info
    env = dict(
        os.environ,
        ENTRA_URL=info["entra"],
        TENANT_ID=info["tenant_id"],
        CLIENT_ID=info["client_id"],
        CLIENT_SECRET=info["client_secret"],
        BC_URL=info["bc"],
        BC_ENVIRONMENT=info["environment"],
        COMPANY_ID=info["company_id"],
        ANAPLAN_AUTH_URL=info["anaplan_auth"],
        ANAPLAN_API_URL=info["anaplan_api"],
        ANAPLAN_USER=info["anaplan_user"],
        ANAPLAN_PASSWORD=info["anaplan_password"],
        WORKSPACE_ID=info["workspace_id"],
        MODEL_ID=info["model_id"],
        CA_BUNDLE=info["ca_bundle"],
        BASELINE_POLL_S=str(opts.baseline_poll_s),
    )
    before = session.sandbox.module_totals("GL Actuals")
    session.sandbox.reset_requests()
    watches = {
        "sandbox": ProcessWatch(session.sandbox.pid),
        "azurite": ProcessWatch(opts.azurite),
    }
    for watch in watches.values():
        watch.start()
    started_load = load_avg()
    say(opts, "  baseline script ...")
    child = run_child(
        [sys.executable, str(REPO_ROOT / "bench" / "baseline.py")], cwd=str(REPO_ROOT), env=env
    )
    neighbours = {name: watch.stop() for name, watch in watches.items()}
    if child.returncode != 0:
        raise BenchError(f"the baseline script failed:\n{child.stderr[-4000:]}")
    report = json.loads(child.stdout.strip().splitlines()[-1])
    logs = session.sandbox.requests()
    after = session.sandbox.module_totals("GL Actuals")
    entries = int(report["entries"])
    chunks = int(report["chunks"])
    figures = {
        "wall_s": round(child.wall_s, 2),
        "cpu_s": round(child.cpu_s, 2),
        "peak_rss_mb": round(child.peak_rss_mb, 1),
        "entries_per_s": round(entries / child.wall_s),
    }
    return envelope(
        "baseline",
        entries,
        **figures,
        requests=totals(logs),
        min_requests={
            "bc": math.ceil(entries / PAGE) + 1,
            "entra": 1,
            "keyvault": 0,
            "anaplan_auth": 1,
            "anaplan_api": 4 + chunks,
        },
        load_avg={"start": started_load, "end": load_avg()},
        comparison={
            "connector": {
                k: connector[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "entries_per_s")
            },
            "baseline": figures,
            "connector_over_baseline": {
                "wall": round(connector["wall_s"] / child.wall_s, 2),
                "cpu": round(connector["cpu_s"] / child.cpu_s, 2),
                "peak_rss": round(connector["peak_rss_mb"] / child.peak_rss_mb, 2),
            },
            "same_cells_in_anaplan": before == after,
            "note": "the baseline runs in the same sandbox right after the connector's load; "
            "same_cells_in_anaplan compares the GL Actuals totals (cells and sums per line item) "
            "after the connector's load and after the baseline's",
        },
        script=report,
        rss_timeline_mb=_thin(child.rss_samples),
        neighbours=neighbours,
        requests_detail=logs,
        sandbox=session.sandbox_meta(),
    )


# --- 2. incremental -----------------------------------------------------------------------------


def incremental(
    session: Session, new_entries: int = 5000, period: str = "2026-12"
) -> dict[str, Any]:
    """New entries on top of the session's full load: only their period is recomputed."""
    opts = session.opts
    if session.full_load is None:
        full_load(session)
    say(opts, f"  connector: BC posts {new_entries:,} entries in {period}; incremental load ...")
    run = session.connector(
        [
            {
                "label": f"incremental load after {new_entries} new entries in {period}",
                "flow": "actuals_load",
                "input": {"mode": "incremental", "trigger": "cli"},
                "before": [
                    {
                        "service": "bc",
                        "path": "/_sandbox/bc/post-entries",
                        "body": {"count": new_entries, "period": period},
                    }
                ],
            }
        ]
    )
    load = run["steps"][0]
    output = load["output"]
    summary, counts = output["summary"], output["counts"]
    period_entries = sum(int(r["entries"]) for r in summary["reconciliation"])
    only_touched = summary["periods"] == [period] and not summary["closing_periods"]
    logs = load["requests"]
    return envelope(
        "incremental",
        new_entries,
        wall_s=load["wall_s"],
        cpu_s=load["cpu_s"],
        peak_rss_mb=run["process"]["peak_rss_mb"],
        requests=totals(logs),
        min_requests={
            # the changed entries' stamps, the touched period's entries, the accounts
            "bc": (new_entries // PAGE + 1) + math.ceil(period_entries / PAGE) + 1,
            "entra": 2,
            "keyvault": 2,
            "anaplan_auth": 1,
            "anaplan_api": 5,
        },
        load_avg=load["load_avg"],
        targets=[
            target("time (s)", "< 10", load["wall_s"], load["wall_s"] < 10),
            target(
                "only the touched period recomputed",
                f"periods == ['{period}'], no closing periods",
                {"periods": summary["periods"], "closing_periods": summary["closing_periods"]},
                only_touched,
            ),
        ],
        state=output["state"],
        dataset_entries=session.info.get("entries"),
        period=period,
        period_entries_read=period_entries,
        entries_read=counts.get("entries_read"),
        cells_sent=summary["file"]["rows"],
        step_peak_rss_mb=load["peak_rss_mb"],
        rate_limit_wait_s=load["rate_limit_wait_s"],
        phases=load["phases"],
        neighbours=load["neighbours"],
        requests_detail=logs,
        process=run["process"],
        measured="the incremental actuals_load from start to end in a fresh connector process "
        "(tokens and secrets fetched inside the run), after BC posted the new entries",
        sandbox=session.sandbox_meta(),
    )


# --- 3. writeback-10k ---------------------------------------------------------------------------


def writeback(session: Session, lines: int = 10_000, compare_budget: bool = True) -> dict[str, Any]:
    """``lines`` approved plan lines into BC under the connector's default BC request budget
    (600/min); with ``compare_budget``, the same volume again for another version in a process
    whose budget is BC's own limit (6,000 per 5 minutes = 1,200/min), to show the budget's share
    of the time."""
    opts = session.opts
    steps: list[dict[str, Any]] = []
    if not session.aligned:
        steps.append(
            {"label": "reference sync (not measured)", "flow": "reference_sync", "input": {}}
        )
    steps.append(
        {
            "label": f"writeback of {lines} approved plan lines",
            "flow": "plan_writeback",
            "input": {"version": VERSION, "policy": "continue", "trigger": "cli"},
            "before": [
                {
                    "service": "anaplan_api",
                    "path": "/_sandbox/anaplan/budget",
                    "body": {"version": VERSION, "rows": lines},
                },
                {
                    "service": "anaplan_api",
                    "path": "/_sandbox/anaplan/approve",
                    "body": {"version": VERSION},
                },
            ],
        }
    )
    say(opts, f"  connector: {' + '.join(s['flow'] for s in steps)} ({lines:,} plan lines) ...")
    run = session.connector(steps)
    session.aligned = True
    step = run["steps"][-1]
    output = step["output"]
    summary = output["summary"]
    validation = summary.get("validation") or {}
    written = summary.get("written") or {}
    in_bc = int(written.get("lines_in_bc", 0))
    logs = step["requests"]
    bc = totals(logs)["bc"]
    faster = _writeback_with_budget(session, lines, 1200) if compare_budget else None
    return envelope(
        "writeback-10k",
        lines,
        wall_s=step["wall_s"],
        cpu_s=step["cpu_s"],
        peak_rss_mb=run["process"]["peak_rss_mb"],
        requests=totals(logs),
        min_requests={
            # every line and its two dimension set lines in $batches of 100; the journal, the
            # accounts, the dimension values, the batch's existing lines, the read-back
            "bc": math.ceil(3 * in_bc / BATCH_OPS) + 4 + max(1, math.ceil(in_bc / PAGE)),
            "entra": 0,
            "keyvault": 0,
            "anaplan_auth": 0,
            "anaplan_api": 4,
        },
        load_avg=step["load_avg"],
        targets=[target("BC requests (wire)", "<= 350", bc, bc <= 350)],
        state=output["state"],
        lines_exported=validation.get("lines_exported"),
        invalid_lines=validation.get("invalid_lines"),
        invalid_reasons=validation.get("invalid_reasons"),
        lines_in_bc=in_bc,
        reconciled=(written.get("reconciliation") or {}).get("matches"),
        bc_operations=_bc_operations(session),
        with_bc_budget_1200_per_min=faster,
        step_peak_rss_mb=step["peak_rss_mb"],
        rate_limit_wait_s=step["rate_limit_wait_s"],
        phases=step["phases"],
        neighbours=step["neighbours"],
        requests_detail=logs,
        process=run["process"],
        measured="the plan_writeback orchestration (policy continue) from start to end in a "
        "warm connector process (after a reference sync in the same process); BC's default "
        "request budget of the connector (BC_RATE_LIMIT_PER_MINUTE=600) applies",
        sandbox=session.sandbox_meta(),
    )


def _writeback_with_budget(session: Session, lines: int, per_minute: int) -> dict[str, Any]:
    version = "Forecast FY27"
    say(session.opts, f"  connector: plan_writeback of {version} with BC budget {per_minute}/min")
    run = session.connector(
        [
            {
                "label": f"writeback of {lines} lines, BC budget {per_minute}/min",
                "flow": "plan_writeback",
                "input": {"version": version, "policy": "continue", "trigger": "cli"},
                "before": [
                    {
                        "service": "anaplan_api",
                        "path": "/_sandbox/anaplan/budget",
                        "body": {"version": version, "rows": lines},
                    },
                    {
                        "service": "anaplan_api",
                        "path": "/_sandbox/anaplan/approve",
                        "body": {"version": version},
                    },
                ],
            }
        ],
        env={"BC_RATE_LIMIT_PER_MINUTE": str(per_minute)},
    )
    step = run["steps"][0]
    written = step["output"]["summary"].get("written") or {}
    return {
        "state": step["output"]["state"],
        "lines_in_bc": written.get("lines_in_bc"),
        "wall_s": step["wall_s"],
        "cpu_s": step["cpu_s"],
        "requests": totals(step["requests"]),
        "rate_limit_wait_s": step["rate_limit_wait_s"],
        "load_avg": step["load_avg"],
        "note": "a fresh connector process: tokens and secrets are fetched inside the run",
    }


def _bc_operations(session: Session) -> dict[str, int]:
    """BC requests counted per operation (each operation inside a $batch counts once)."""
    rows = session.sandbox.get("bc", "/_sandbox/requests")
    out: dict[str, int] = {}
    for row in rows:
        key = f"{row['method']} {row['route']}"
        out[key] = out.get(key, 0) + int(row["count"])
    return out


# --- 5. orchestration-overhead ------------------------------------------------------------------


def orchestration_overhead(
    opts: Options, activities: int = 1000, sequential: int = 200
) -> dict[str, Any]:
    say(opts, f"  local host: {activities:,} fanned-out + {sequential} sequential activities ...")
    spec = {
        "app": "bench.trivial_app:app",
        "info": None,
        "storage": opts.storage,
        "task_hub": "benchhost" + uuid.uuid4().hex[:8],
        "clock": "real",
        "watch": {"azurite": opts.azurite},
        "steps": [
            {
                "label": f"{activities} fanned-out activities",
                "flow": "fan_out",
                "input": activities,
            },
            {
                "label": f"{sequential} sequential activities",
                "flow": "sequence",
                "input": sequential,
            },
        ],
    }
    run = run_runner(spec, opts)
    fan, seq = run["steps"]
    assert fan["output"] == sum(i * i for i in range(activities)), fan["output"]
    rate = activities / fan["wall_s"]
    return envelope(
        "orchestration-overhead",
        activities,
        wall_s=fan["wall_s"],
        cpu_s=fan["cpu_s"],
        peak_rss_mb=run["process"]["peak_rss_mb"],
        requests={},
        min_requests={},
        load_avg=fan["load_avg"],
        activities_per_s=round(rate, 1),
        sequential={
            "activities": sequential,
            "wall_s": seq["wall_s"],
            "cpu_s": seq["cpu_s"],
            "ms_per_activity": round(1000 * seq["wall_s"] / sequential, 1),
            "load_avg": seq["load_avg"],
        },
        neighbours={"fan_out": fan["neighbours"], "sequence": seq["neighbours"]},
        process=run["process"],
        note="requests: none to BC or Anaplan; the host talks only to Azurite (Table Storage)",
    )


# --- output -------------------------------------------------------------------------------------


def write(result: dict[str, Any], results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{result['name']}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'benchmark':<23}{'entries':>10}{'wall s':>9}{'cpu s':>8}{'rate/s':>9}"
        f"{'RSS MB':>8}  {'BC req (min)':<13}{'Anaplan req (min)':<18}load avg"
    )
    out = [head, "-" * len(head)]
    for r in results:
        rate = r.get("entries_per_s") or r.get("activities_per_s") or ""
        req, low = r.get("requests") or {}, r.get("min_requests") or {}
        ana = req.get("anaplan_api", 0) + req.get("anaplan_auth", 0) if req else None
        ana_min = low.get("anaplan_api", 0) + low.get("anaplan_auth", 0) if low else None
        load = r.get("load_avg") or {}
        out.append(
            f"{r['name']:<23}{r['entries']:>10,}{r['wall_s']:>9.1f}{r['cpu_s']:>8.1f}"
            f"{rate:>9}{r['peak_rss_mb']:>8.0f}  "
            f"{_pair(req.get('bc'), low.get('bc')):<13}{_pair(ana, ana_min):<18}"
            f"{load.get('start', '')} -> {load.get('end', '')}"
        )
        for t in r.get("targets") or []:
            mark = "met   " if t["met"] else "MISSED"
            out.append(f"    {mark} {t['target']}: {t['measured']} (target {t['limit']})")
        out += [f"    {note}" for note in _notes(r)]
    return "\n".join(out)


def _notes(r: dict[str, Any]) -> list[str]:
    notes = []
    if "comparison" in r:
        ratio, same = r["comparison"]["connector_over_baseline"], r["comparison"]
        notes.append(
            f"connector / baseline: wall {ratio['wall']}x, cpu {ratio['cpu']}x, peak RSS "
            f"{ratio['peak_rss']}x; same cells in Anaplan: {same['same_cells_in_anaplan']}"
        )
    if r.get("with_bc_budget_1200_per_min"):
        other = r["with_bc_budget_1200_per_min"]
        wait = r.get("rate_limit_wait_s", {}).get("bc")
        notes.append(
            f"waited {wait} s on the connector's BC budget (600/min); with 1200/min: "
            f"{other['wall_s']} s, {other['requests']['bc']} BC requests"
        )
    if "sequential" in r:
        seq = r["sequential"]
        notes.append(
            f"{seq['activities']} sequential activities: {seq['wall_s']} s "
            f"({seq['ms_per_activity']} ms each)"
        )
    if r.get("scaling"):
        runs = ", ".join(
            f"{run['entries']:,}: {run['peak_rss_mb']} MB" for run in r["scaling"]["runs"]
        )
        notes.append(f"peak RSS by dataset size: {runs}")
    return notes


def _pair(value: Any, minimum: Any) -> str:
    if value is None:
        return "-"
    return f"{value} ({minimum})"


def run_all(opts: Options, entries: int = 1_000_000) -> list[dict[str, Any]]:
    """``make bench``: everything, sharing sessions where the work builds on itself; each result
    is written as soon as it is complete."""
    started = time.monotonic()
    results: list[dict[str, Any]] = []

    def done(result: dict[str, Any]) -> None:
        write(result, opts.results_dir)
        results.append(result)

    say(opts, f"== actuals-1m, baseline, incremental, writeback-10k on {entries:,} entries")
    with Session(opts, entries) as session:
        main = actuals_figures(session, full_load(session))
        meta = session.sandbox_meta()
        done(baseline(session))
        done(incremental(session))
        done(writeback(session))
    say(opts, f"== actuals at {entries // 4:,} entries (memory must not grow with the data)")
    with Session(opts, entries // 4) as small_session:
        small = actuals_figures(small_session, full_load(small_session))
    done(actuals_result(meta, main, [small]))
    say(opts, "== orchestration-overhead")
    done(orchestration_overhead(opts))
    say(opts, f"== all benchmarks in {time.monotonic() - started:.0f} s")
    order = ["actuals-1m", "baseline", "incremental", "writeback-10k", "orchestration-overhead"]
    return sorted(results, key=lambda r: order.index(r["name"]))


__all__ = [
    "SERVICES",
    "Options",
    "Session",
    "actuals",
    "baseline",
    "incremental",
    "orchestration_overhead",
    "run_all",
    "table",
    "write",
    "writeback",
]
