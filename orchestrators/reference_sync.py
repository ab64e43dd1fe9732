"""``reference_sync``: align Anaplan lists with BC accounts and dimension values.

For each list, in order (dimension lists, then accounts): compare and stage the changes, import
them under the model lock if there are any, then refresh the mapping table from what Anaplan now
holds. Input: ``{"pipeline"?: name, "trigger"?: "timer"|"ops"|"cli"|"parent"|...}``.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.anaplan_tasks import action_spec
from orchestrators.waiting import Steps

bp = df.Blueprint()

ACTIVITY_BEGIN_RUN = "begin_run"
ACTIVITY_END_RUN = "end_run"
ACTIVITY_PREPARE_LIST = "prepare_list_sync"
ACTIVITY_FINISH_LIST = "finish_list_sync"
IMPORT_ORCHESTRATION = "anaplan_import"


def begin(context: df.DurableOrchestrationContext, flow: str) -> Steps:
    request = context.get_input() or {}
    plan = yield context.call_activity(
        ACTIVITY_BEGIN_RUN,
        {
            "run_id": context.instance_id,
            "flow": flow,
            "trigger": request.get("trigger") or "cli",
            "pipeline": request.get("pipeline"),
            "input": request,
        },
    )
    return request, plan


def import_staged(
    context: df.DurableOrchestrationContext,
    plan: dict[str, Any],
    action_name: str,
    staged_blob: str,
    step: str,
) -> Steps:
    """Run one import of a staged file under the model lock (a sub-orchestration)."""
    spec = action_spec(context, plan, action_name, f"import:{step}", staged_blob=staged_blob)
    result = yield context.call_sub_orchestrator(
        IMPORT_ORCHESTRATION, spec, instance_id=f"{context.instance_id}:import:{step}"
    )
    return result


def sync_list(
    context: df.DurableOrchestrationContext, plan: dict[str, Any], spec: dict[str, Any]
) -> Steps:
    run_id, key = context.instance_id, spec["key"]
    request = {"run_id": run_id, "pipeline": plan["pipeline"], "list_key": key}
    prepared = yield context.call_activity(
        ACTIVITY_PREPARE_LIST, {**request, "step_id": f"compare:{key}"}
    )
    imported = None
    if prepared["rows"]:
        imported = yield from import_staged(
            context, plan, spec["import"], prepared["staged_blob"], key
        )
    mapping = yield context.call_activity(ACTIVITY_FINISH_LIST, request)
    return {
        "list": spec["list"],
        "drift": prepared["drift"],
        "rows_sent": prepared["rows"],
        "import": _import_summary(imported),
        "mapping": mapping,
    }


def _import_summary(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "state": result.get("state"),
        "successful": result.get("successful"),
        "rejected": result.get("rejected", 0),
        "counts": result.get("counts"),
    }


def sync_lists(
    context: df.DurableOrchestrationContext, plan: dict[str, Any], specs: list[dict[str, Any]]
) -> Steps:
    results = []
    for index, spec in enumerate(specs):
        context.set_custom_status(
            {"step": f"align {spec['list']}", "done": index, "total": len(specs)}
        )
        results.append((yield from sync_list(context, plan, spec)))
    return results


def finish(
    context: df.DurableOrchestrationContext, summary: dict[str, Any], state: str | None = None
) -> Steps:
    result = yield context.call_activity(
        ACTIVITY_END_RUN, {"run_id": context.instance_id, "summary": summary, "state": state}
    )
    context.set_custom_status({"step": "done", "state": result["state"]})
    return result


def fail(context: df.DurableOrchestrationContext, error: Exception) -> Steps:
    yield context.call_activity(
        ACTIVITY_END_RUN, {"run_id": context.instance_id, "error": str(error)[:2000]}
    )


@bp.orchestration_trigger(context_name="context")
def reference_sync(context: df.DurableOrchestrationContext) -> Steps:
    _, plan = yield from begin(context, "reference_sync")
    try:
        lists = yield from sync_lists(context, plan, plan["lists"])
    except Exception as exc:
        yield from fail(context, exc)
        raise
    result = yield from finish(context, {"lists": lists})
    return {**result, "lists": lists}
