"""Activities of the actuals load (see flows/actuals)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from bc_anaplan.flows import actuals
from bc_anaplan.runtime import get_runtime

bp = df.Blueprint()


@bp.activity_trigger(input_name="request")
def plan_actuals(request: dict[str, Any]) -> dict[str, Any]:
    return actuals.plan(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def stage_actuals_periods(request: dict[str, Any]) -> dict[str, Any]:
    return actuals.stage_periods(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def assemble_actuals(request: dict[str, Any]) -> dict[str, Any]:
    return actuals.assemble(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def commit_actuals(request: dict[str, Any]) -> dict[str, Any]:
    return actuals.commit(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def stage_actuals_opening(request: dict[str, Any]) -> dict[str, Any]:
    return actuals.stage_opening(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def stage_actuals_beyond_horizon(request: dict[str, Any]) -> dict[str, Any]:
    return actuals.stage_beyond_horizon(get_runtime(), request)
