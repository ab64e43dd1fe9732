"""Activities that upload, start, watch and finish Anaplan tasks (see flows/anaplan_steps)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from bc_anaplan.flows import anaplan_steps
from bc_anaplan.runtime import get_runtime

bp = df.Blueprint()


@bp.activity_trigger(input_name="spec")
def anaplan_upload_and_start(spec: dict[str, Any]) -> dict[str, Any]:
    return anaplan_steps.upload_and_start(get_runtime(), spec)


@bp.activity_trigger(input_name="spec")
def anaplan_start_export(spec: dict[str, Any]) -> dict[str, Any]:
    return anaplan_steps.start_export(get_runtime(), spec)


@bp.activity_trigger(input_name="task")
def anaplan_task_status(task: dict[str, Any]) -> dict[str, Any]:
    return anaplan_steps.task_status(get_runtime(), task, task.get("pipeline"))


@bp.activity_trigger(input_name="task")
def anaplan_cancel_task(task: dict[str, Any]) -> dict[str, Any]:
    return anaplan_steps.cancel_task(get_runtime(), task, task.get("pipeline"))


@bp.activity_trigger(input_name="spec")
def anaplan_task_result(spec: dict[str, Any]) -> dict[str, Any]:
    return anaplan_steps.task_result(get_runtime(), spec)


@bp.activity_trigger(input_name="spec")
def anaplan_download_export(spec: dict[str, Any]) -> dict[str, Any]:
    return anaplan_steps.download_export(get_runtime(), spec)


@bp.activity_trigger(input_name="spec")
def anaplan_task_watermark(spec: dict[str, Any]) -> dict[str, Any]:
    return anaplan_steps.task_watermark(get_runtime(), spec)
