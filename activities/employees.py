"""Activities of the employee load (see flows/employees)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from bc_anaplan.flows import employees
from bc_anaplan.runtime import get_runtime

bp = df.Blueprint()


@bp.activity_trigger(input_name="request")
def stage_headcount(request: dict[str, Any]) -> dict[str, Any]:
    return employees.stage_headcount(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def forget_personal_files(request: dict[str, Any]) -> dict[str, Any]:
    return employees.forget_personal_files(get_runtime(), request)
