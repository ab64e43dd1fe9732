"""The beginning and end of every run: the run record, and the plan an orchestrator follows.

Orchestrators may not read configuration (they are replayed), so ``begin_run`` reads it for
them and returns the small plan they sequence: which pipeline, workspace and model, which lists
and actions, which limits. ``end_run`` decides the final state from what the steps recorded --
quarantined or rejected records make a run *partially succeeded*, an error makes it *failed*, and
so do figures that do not reconcile (``reconciliation mismatch`` in the error, the periods or
accounts in the summary) -- and writes the summary onto the run record, then announces the run if
its state calls for it (``bc_anaplan.ops.notify``; best effort).
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from bc_anaplan.flows.reference import employee_list, reference_lists
from bc_anaplan.ops.notify import notify_run_end
from bc_anaplan.pipeline import Pipeline
from bc_anaplan.runtime import Runtime

ZERO = Decimal(0)

FLOWS = (
    "reference_sync",
    "actuals_load",
    "employees_load",
    "plan_writeback",
    "approval_watch",
    "commitments_load",
    "webhook_apply",
    "renew_subscriptions",
    "retention",
    "poll_changes",
)
TRIGGERS = ("timer", "webhook", "ops", "cli", "parent", "replay")
log = logging.getLogger("bc_anaplan.flows.runs")
IMPORT_DEADLINE_S = 2 * 3600


def pipeline_plan(pipeline: Pipeline, poll_s: float = 5.0) -> dict[str, Any]:
    """Everything about a pipeline an orchestrator needs, as a small dict."""
    plan: dict[str, Any] = {
        "pipeline": pipeline.name,
        "workspace_id": pipeline.anaplan_workspace_id,
        "model_id": pipeline.anaplan_model_id,
        "lists": [s.to_dict() for s in reference_lists(pipeline)],
        "actuals_import": pipeline.actuals.import_action,
        "deadline_s": IMPORT_DEADLINE_S,
        "poll_s": poll_s,
    }
    if pipeline.employees is not None:
        plan["employee_list"] = employee_list(pipeline).to_dict()
        plan["headcount_import"] = pipeline.employees.headcount_import
    if pipeline.commitments is not None:
        plan["commitments_import"] = pipeline.commitments.import_action
    if pipeline.writeback is not None:
        plan["writeback_export"] = pipeline.writeback.export_action
        plan["status_export"] = pipeline.writeback.status_export_action
    return plan


def begin_run(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    flow, trigger = request["flow"], request.get("trigger") or "cli"
    if flow not in FLOWS:
        raise ValueError(f"unknown flow {flow!r}; known: {', '.join(FLOWS)}")
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; known: {', '.join(TRIGGERS)}")
    pipeline = rt.settings.pipeline(request.get("pipeline"))
    rt.audit.start_run(request["run_id"], flow, trigger, pipeline.name, request.get("input") or {})
    return pipeline_plan(pipeline, rt.settings.anaplan.poll_s)


LEFT_OUT = ("quarantined", "anaplan_rejected", "bc_rejected", "invalid_lines")


def decide_state(
    error: str, requested: str | None, totals: dict[str, int], mismatch: dict[str, Any] | None
) -> tuple[str, str]:
    """The final state and error of a run.

    An error fails it; records left out make it partially succeeded (or the state the
    orchestrator chose). Figures that do not reconcile -- beyond what the left-out records
    explain -- fail it whatever else happened: what landed cannot be trusted to match BC, and
    ``failed`` is what operators (and ``NOTIFY_ON``) look at.
    """
    if error:
        state = "failed"
    elif requested in ("unchanged", "failed", "partially_succeeded"):
        state = requested
    elif any(totals.get(k, 0) for k in LEFT_OUT):
        state = "partially_succeeded"
    else:
        state = "succeeded"
    if mismatch is not None:
        error = "; ".join(filter(None, [error, f"reconciliation mismatch: {mismatch['detail']}"]))
        state = "failed"
    return state, error


def reconciliation_mismatch(
    rt: Runtime, run_id: str, summary: dict[str, Any]
) -> dict[str, Any] | None:
    """Where the run's figures do not reconcile, or None.

    Actuals: a period whose BC net change is not cells sent + quarantined, or whose net change
    per account differs from BC's trial balance. Writeback: an account whose BC draft lines do
    not add up to the plan, beyond the lines BC refused (those are rejected records already; a
    copied or edited draft is not).
    """
    periods = []
    for line in summary.get("reconciliation") or []:
        if not isinstance(line, dict):
            continue
        trial = line.get("trial_balance") or {}
        if line.get("balanced") is False:
            periods.append(f"{line.get('period')} (entries read do not equal sent + quarantined)")
        elif trial.get("matches") is False:
            accounts = ", ".join(str(m.get("account")) for m in trial.get("mismatches") or [])
            periods.append(
                f"{line.get('period')} (BC's trial balance differs for accounts {accounts})"
            )
    if periods:
        return {"periods": [p.split(" ", 1)[0] for p in periods], "detail": "; ".join(periods)}
    written = summary.get("written")
    reconciliation = written.get("reconciliation") if isinstance(written, dict) else None
    if not isinstance(reconciliation, dict) or reconciliation.get("matches") is not False:
        return None
    refused: dict[str, Decimal] = {}
    for record in rt.audit.records(run_id, "rejected"):
        if "stage" in record.data:  # a line BC refused (validation failures were never written)
            account = str(record.data.get("account"))
            refused[account] = refused.get(account, ZERO) + _decimal(record.data.get("amount"))
    # plan = BC drafts + refused lines (+ rows finance posted earlier, left out of the write)
    unexplained = [
        m
        for m in reconciliation.get("mismatches") or []
        if _decimal(m.get("plan")) - _decimal(m.get("posted_earlier")) - _decimal(m.get("bc"))
        != refused.get(str(m.get("account")), ZERO)
    ]
    gap = (
        _decimal(reconciliation.get("plan_total"))
        - _decimal(reconciliation.get("posted_earlier_total"))
        - _decimal(reconciliation.get("bc_total"))
    )
    copies = int(reconciliation.get("duplicate_lines") or 0)
    if not unexplained and gap == sum(refused.values(), ZERO) and not copies:
        return None
    differing = [str(m.get("account")) for m in unexplained]
    detail = (
        "BC's draft lines differ from the plan"
        + (f" for accounts {', '.join(differing)}" if differing else "")
        + f" (plan {reconciliation.get('plan_total')}, BC {reconciliation.get('bc_total')}"
        + (f", {copies} copied draft lines" if copies else "")
        + ")"
    )
    return {"accounts": differing, "detail": detail}


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else ZERO
    except InvalidOperation:
        return ZERO


def end_run(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    run_id = request["run_id"]
    summary = dict(request.get("summary") or {})
    totals = rt.audit.step_totals(run_id)
    mismatch = reconciliation_mismatch(rt, run_id, summary)
    if mismatch is not None:
        summary["reconciliation_mismatch"] = mismatch
    state, error = decide_state(request.get("error") or "", request.get("state"), totals, mismatch)
    full = rt.audit.finish_run(run_id, state, summary, error=error)
    try:
        notify_run_end(rt, run_id, state)
    except Exception:  # best effort: a notification never fails the run
        log.exception("run %s: notifying its end failed", run_id)
    return {"run_id": run_id, "state": state, "counts": full["counts"]}
