"""``reference_sync``: align Anaplan lists with BC accounts and dimension values.

For each list, in order (dimension lists, then accounts): compare and stage the changes, import
them under the model lock if there are any, then refresh the mapping table from what Anaplan now
holds. Input: ``{"pipeline"?: name, "trigger"?: "timer"|"ops"|"cli"|"parent"|...}``.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.anaplan_tasks import import_staged
from orchestrators.runs import begin, fail, finish, import_summary
from orchestrators.waiting import Steps

bp = df.Blueprint()

ACTIVITY_PREPARE_LIST = "prepare_list_sync"
ACTIVITY_FINISH_LIST = "finish_list_sync"


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
        "import": import_summary(imported),
        "mapping": mapping,
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
