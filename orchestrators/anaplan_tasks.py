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


def _held(context: df.DurableOrchestrationContext, spec: dict[str, Any], kind: str) -> Steps:
    """The spec plus the action's newest task time, read once the lease is held: any task of
    the action created after it can only be this run's (see ``task_watermark``)."""
    mark = yield context.call_activity(ACTIVITY_WATERMARK, {**spec, "kind": kind})
    return {**spec, "kind": kind, "after_ms": mark["after_ms"]}


@bp.orchestration_trigger(context_name="context")
def anaplan_import(context: df.DurableOrchestrationContext) -> Steps:
    spec = context.get_input()
    workspace, model = spec["workspace_id"], spec["model_id"]
    yield from acquire_model_lock(
        context, workspace, model, f"{spec['action_name']} ({spec['run_id']})"
    )
    try:
        held = yield from _held(context, spec, "import")
        started = yield context.call_activity(ACTIVITY_UPLOAD_AND_START, held)
        deadline = float(spec.get("deadline_s") or DEFAULT_DEADLINE_S)
        status = yield from wait_for_task(
            context, started["task"], deadline, (workspace, model), float(spec.get("poll_s") or 5)
        )
        result = yield context.call_activity(
            ACTIVITY_TASK_RESULT, {**spec, "task": started["task"], "status": status}
        )
        return {**result, "upload": started["upload"], "adopted": started["adopted"]}
    finally:
        release_model_lock(context, workspace, model)


@bp.orchestration_trigger(context_name="context")
def anaplan_export(context: df.DurableOrchestrationContext) -> Steps:
    spec = context.get_input()
    workspace, model = spec["workspace_id"], spec["model_id"]
    yield from acquire_model_lock(
        context, workspace, model, f"{spec['action_name']} ({spec['run_id']})"
    )
    try:
        held = yield from _held(context, spec, "export")
        started = yield context.call_activity(ACTIVITY_START_EXPORT, held)
        deadline = float(spec.get("deadline_s") or DEFAULT_DEADLINE_S)
        status = yield from wait_for_task(
            context, started["task"], deadline, (workspace, model), float(spec.get("poll_s") or 5)
        )
        download = yield context.call_activity(
            ACTIVITY_DOWNLOAD_EXPORT, {**spec, "task": started["task"], "status": status}
        )
        return {**download, "task": started["task"], "status": status}
    finally:
        release_model_lock(context, workspace, model)
