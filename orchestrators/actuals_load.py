"""``actuals_load``: G/L actuals into Anaplan, master data first, exactly once per change.

Input: ``{"mode": "incremental"}`` (default) or ``{"mode": "period", "periods": ["2025-03"]}``
(with ``"opening": true`` also the opening balances before ``actuals.first_period``), plus
optional ``pipeline`` and ``trigger``. Reads like the process: align the lists, decide the
periods, read and aggregate them (one stream per run of contiguous months), assemble one import
file, import it under the model lock, and only if Anaplan accepted every row, make it the new
baseline and move the cursor.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.anaplan_tasks import import_staged
from orchestrators.runs import begin, fail, finish, import_summary
from orchestrators.waiting import Steps

bp = df.Blueprint()

ACTIVITY_PLAN = "plan_actuals"
ACTIVITY_STAGE_PERIODS = "stage_actuals_periods"
ACTIVITY_ASSEMBLE = "assemble_actuals"
ACTIVITY_COMMIT = "commit_actuals"
ACTIVITY_STAGE_OPENING = "stage_actuals_opening"
ACTIVITY_STAGE_BEYOND = "stage_actuals_beyond_horizon"


def align_reference_data(context: df.DurableOrchestrationContext, plan: dict[str, Any]) -> Steps:
    context.set_custom_status({"step": "align reference data"})
    result = yield context.call_sub_orchestrator(
        "reference_sync",
        {"pipeline": plan["pipeline"], "trigger": "parent"},
        instance_id=f"{context.instance_id}:reference",
    )
    return {"run_id": f"{context.instance_id}:reference", "state": result["state"]}


def load(
    context: df.DurableOrchestrationContext, plan: dict[str, Any], request: dict[str, Any]
) -> Steps:
    run = {"run_id": context.instance_id, "pipeline": plan["pipeline"]}
    work = yield context.call_activity(
        ACTIVITY_PLAN,
        {
            **run,
            "mode": request.get("mode", "incremental"),
            "periods": request.get("periods"),
            "opening": bool(request.get("opening")),
        },
    )
    recompute = bool(work["periods"] or work["closing_periods"] or work["opening_before"])
    if not (recompute or work["beyond_horizon"]):
        return {"periods": [], "reconciliation": [], "import": None}, None
    staged = yield from read_bc(context, run, work)
    reconciliation = [r for s in staged for r in s.get("reconciliation", [])]
    summary: dict[str, Any] = {
        "periods": work["periods"],
        "closing_periods": work["closing_periods"],
        "first_load": work["first_load"],
        "opening_before": work["opening_before"],
        "beyond_horizon": work["beyond_horizon"],
        "reconciliation": reconciliation,
        "import": None,
    }
    accepted = True
    if recompute:
        imported, assembled = yield from send_to_anaplan(context, plan, run, work)
        accepted = bool(imported.get("successful")) and not imported.get("rejected")
        summary["file"] = {key: assembled[key] for key in ("rows", "sha256", "amount_sum")}
        summary["import"] = import_summary(imported)
    summary["committed"] = None
    if accepted:
        summary["committed"] = yield context.call_activity(
            ACTIVITY_COMMIT,
            {
                **run,
                **_periods(work),
                "cursor": work["cursor"],
                "cursor_version": work["cursor_version"],
            },
        )
    imported_ok = summary["import"] is None or summary["import"]["successful"]
    state = None if accepted else ("partially_succeeded" if imported_ok else "failed")
    return summary, state


def read_bc(
    context: df.DurableOrchestrationContext, run: dict[str, Any], work: dict[str, Any]
) -> Steps:
    """Read and aggregate: one activity per run of contiguous months, in parallel."""
    context.set_custom_status({"step": "read BC", "periods": len(work["periods"])})
    reads = [
        context.call_activity(
            ACTIVITY_STAGE_PERIODS, {**run, "periods": months, "step_id": f"read:{months[0]}"}
        )
        for months in work["runs"]
    ]
    if work["opening_before"]:
        opening = {**run, "before": work["opening_before"], "step_id": "read:opening"}
        reads.append(context.call_activity(ACTIVITY_STAGE_OPENING, opening))
    if work["beyond_horizon"]:
        beyond = {**run, "after": work["beyond_horizon"], "step_id": "read:beyond-horizon"}
        reads.append(context.call_activity(ACTIVITY_STAGE_BEYOND, beyond))
    staged = yield context.task_all(reads)
    return staged


def send_to_anaplan(
    context: df.DurableOrchestrationContext,
    plan: dict[str, Any],
    run: dict[str, Any],
    work: dict[str, Any],
) -> Steps:
    context.set_custom_status({"step": "assemble import file"})
    assembled = yield context.call_activity(
        ACTIVITY_ASSEMBLE, {**run, **_periods(work), "step_id": "assemble"}
    )
    context.set_custom_status({"step": "import into Anaplan", "rows": assembled["rows"]})
    imported = yield from import_staged(
        context, plan, plan["actuals_import"], assembled["staged_blob"], "actuals"
    )
    return imported, assembled


def _periods(work: dict[str, Any]) -> dict[str, Any]:
    return {
        "periods": work["periods"],
        "closing_periods": work["closing_periods"],
        "opening_before": work["opening_before"],
    }


@bp.orchestration_trigger(context_name="context")
def actuals_load(context: df.DurableOrchestrationContext) -> Steps:
    request, plan = yield from begin(context, "actuals_load")
    try:
        reference = yield from align_reference_data(context, plan)
        summary, state = yield from load(context, plan, request)
    except Exception as exc:
        yield from fail(context, exc)
        raise
    result = yield from finish(context, {**summary, "reference_sync": reference}, state)
    return {**result, "summary": summary}
