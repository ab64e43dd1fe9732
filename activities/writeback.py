"""Activities of the plan writeback (see flows/writeback)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from bc_anaplan.flows import writeback
from bc_anaplan.runtime import get_runtime

bp = df.Blueprint()


@bp.activity_trigger(input_name="request")
def validate_plan(request: dict[str, Any]) -> dict[str, Any]:
    return writeback.validate(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def begin_plan_revision(request: dict[str, Any]) -> dict[str, Any]:
    return writeback.begin(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def write_plan_chunk(request: dict[str, Any]) -> dict[str, Any]:
    return writeback.write_chunk(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def roll_back_plan_revision(request: dict[str, Any]) -> dict[str, Any]:
    return writeback.roll_back(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def retire_previous_revision(request: dict[str, Any]) -> dict[str, Any]:
    return writeback.retire(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def commit_plan_revision(request: dict[str, Any]) -> dict[str, Any]:
    return writeback.commit(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def newly_approved_versions(request: dict[str, Any]) -> dict[str, Any]:
    return writeback.newly_approved(get_runtime(), request)
