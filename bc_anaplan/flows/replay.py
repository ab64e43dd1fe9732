"""Replay: send again what a run could not deliver, once the cause is fixed.

A run's audit trail says what was left out and why: entries quarantined for lack of an Anaplan
member, rows Anaplan rejected, plan lines BC refused. Replaying re-runs the same flow for exactly
the affected scope -- for actuals, the periods those records belong to, recomputed completely
(so the result is the same as if nothing had ever been left out, and nothing is sent twice).
"""

from __future__ import annotations

from typing import Any

from bc_anaplan.periods import Period
from bc_anaplan.runtime import Runtime

REPLAYABLE = (
    "actuals_load",
    "reference_sync",
    "employees_load",
    "plan_writeback",
    "commitments_load",
)


class NothingToReplay(Exception):
    pass


def replay_request(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The flow and input that re-send a run's failed or quarantined records."""
    run_id = request["run_id"]
    run = rt.audit.get_run(run_id)
    if run is None:
        raise ValueError(f"run {run_id} does not exist in the audit trail")
    flow = run["flow"]
    if flow not in REPLAYABLE:
        raise ValueError(f"runs of {flow} cannot be replayed")
    base = {"pipeline": run["pipeline"], "trigger": "replay", "replay_of": run_id}
    if flow != "actuals_load":
        return {"flow": flow, "input": {**run["input"], **base}}
    periods = _affected_periods(rt, run_id, run["pipeline"])
    if not periods:
        raise NothingToReplay(f"run {run_id} left nothing out: no quarantined or rejected records")
    return {"flow": flow, "input": {**base, "mode": "period", "periods": periods}}


def _affected_periods(rt: Runtime, run_id: str, pipeline_name: str) -> list[str]:
    pipeline = rt.settings.pipeline(pipeline_name)
    periods: set[str] = set()
    for record in rt.audit.records(run_id, "quarantined"):
        if record.period:
            periods.add(record.period)
    time_column = pipeline.actuals.period_column
    for record in rt.audit.records(run_id, "rejected"):
        name = (record.data.get("values") or {}).get(time_column)
        if name:
            try:
                periods.add(pipeline.periods.parse(name).key)
            except ValueError:
                continue
    return sorted(periods, key=Period.parse)
