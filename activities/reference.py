"""Activities of the reference data alignment (see flows/reference)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from bc_anaplan.flows import reference
from bc_anaplan.runtime import get_runtime

bp = df.Blueprint()


@bp.activity_trigger(input_name="request")
def prepare_list_sync(request: dict[str, Any]) -> dict[str, Any]:
    return reference.prepare_list(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def finish_list_sync(request: dict[str, Any]) -> dict[str, Any]:
    return reference.finish_list(get_runtime(), request)
