"""Activities of the ``retention`` orchestration (see ``bc_anaplan.ops.retention``)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from bc_anaplan.ops import retention
from bc_anaplan.runtime import get_runtime

bp = df.Blueprint()


@bp.activity_trigger(input_name="request")
def retention_begin(request: dict[str, Any]) -> dict[str, Any]:
    return retention.begin(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def retention_purge_runs(request: dict[str, Any]) -> dict[str, Any]:
    return retention.purge_step(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def retention_sweep_files(request: dict[str, Any]) -> dict[str, Any]:
    return retention.sweep_step(get_runtime(), request)
