"""Sub-orchestrations that run one Anaplan action under the model lock.

``anaplan_import``: take the lease, upload a staged file into the import's data source and
start the import (one activity, which adopts a task it already started if it is retried), wait
for the task with durable timers, collect the result and any failure dump, and release the lease
in ``finally`` -- also when anything fails. ``anaplan_export``: the same for an export, whose file
is downloaded completely into Blob Storage before the lease is released.

Every flow that touches Anaplan goes through these two, so "one task per model at a time" holds
in exactly one place. Input (a small dict, built by the calling flow's activities):
``run_id, pipeline, workspace_id, model_id, action_name, step_id, deadline_s`` and, for imports,
``staged_blob``.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.waiting import (
    Steps,
    acquire_model_lock,
    release_model_lock,
    wait_for_task,
)

bp = df.Blueprint()

ACTIVITY_UPLOAD_AND_START = "anaplan_upload_and_start"
ACTIVITY_TASK_RESULT = "anaplan_task_result"
ACTIVITY_START_EXPORT = "anaplan_start_export"
ACTIVITY_DOWNLOAD_EXPORT = "anaplan_download_export"
ACTIVITY_WATERMARK = "anaplan_task_watermark"
DEFAULT_DEADLINE_S = 3600.0
IMPORT_ORCHESTRATION = "anaplan_import"


def _held(context: df.DurableOrchestrationContext, spec: dict[str, Any], kind: str) -> Steps:
    """The spec plus the action's newest task time, read once the lease is held: any task of
    the action created after it can only be this run's (see ``task_watermark``)."""
    mark = yield context.call_activity(ACTIVITY_WATERMARK, {**spec, "kind": kind})
    return {**spec, "kind": kind, "after_ms": mark["after_ms"]}


def action_spec(
    context: df.DurableOrchestrationContext,
    plan: dict[str, Any],
    action_name: str,
    step: str,
    **extra: Any,
) -> dict[str, Any]:
    """The small input of ``anaplan_import``/``anaplan_export`` for one action of a run."""
    return {
        "run_id": context.instance_id,
        "pipeline": plan["pipeline"],
        "workspace_id": plan["workspace_id"],
        "model_id": plan["model_id"],
        "action_name": action_name,
        "step_id": step,
        "deadline_s": plan["deadline_s"],
        "poll_s": plan.get("poll_s", 5.0),
        **extra,
    }


def export_file(
    context: df.DurableOrchestrationContext, plan: dict[str, Any], action_name: str, step: str
) -> Steps:
    """Run an export under the model lock; its file staged in Blob Storage (a sub-orchestration)."""
    result = yield context.call_sub_orchestrator(
        "anaplan_export",
        action_spec(context, plan, action_name, step),
        instance_id=f"{context.instance_id}:{step}",
    )
    return result


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


def run_action(
    context: df.DurableOrchestrationContext, kind: str, start: str, finish: str
) -> Steps:
    """Lease, start (adopting a task a retried start already made), wait, finish, release.

    ``start`` and ``finish`` are the activities that differ between imports and exports; the
    lease is released in ``finally``, also when any step fails.
    """
    spec = context.get_input()
    workspace, model = spec["workspace_id"], spec["model_id"]
    yield from acquire_model_lock(
        context, workspace, model, f"{spec['action_name']} ({spec['run_id']})"
    )
    try:
        held = yield from _held(context, spec, kind)
        started = yield context.call_activity(start, held)
        deadline = float(spec.get("deadline_s") or DEFAULT_DEADLINE_S)
        poll_s = float(spec.get("poll_s") or 5)
        status = yield from wait_for_task(
            context, started["task"], deadline, (workspace, model), poll_s
        )
        finished = yield context.call_activity(
            finish, {**spec, "task": started["task"], "status": status}
        )
        return {**finished, **started, "status": status}
    finally:
        release_model_lock(context, workspace, model)


@bp.orchestration_trigger(context_name="context")
def anaplan_import(context: df.DurableOrchestrationContext) -> Steps:
    result = yield from run_action(
        context, "import", ACTIVITY_UPLOAD_AND_START, ACTIVITY_TASK_RESULT
    )
    return result


@bp.orchestration_trigger(context_name="context")
def anaplan_export(context: df.DurableOrchestrationContext) -> Steps:
    result = yield from run_action(
        context, "export", ACTIVITY_START_EXPORT, ACTIVITY_DOWNLOAD_EXPORT
    )
    return result
