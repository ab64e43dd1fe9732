"""Activities that open and close a run record (see flows/runs)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from bc_anaplan.flows import replay, runs
from bc_anaplan.runtime import get_runtime

bp = df.Blueprint()


@bp.activity_trigger(input_name="request")
def begin_run(request: dict[str, Any]) -> dict[str, Any]:
    return runs.begin_run(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def end_run(request: dict[str, Any]) -> dict[str, Any]:
    return runs.end_run(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def replay_request(request: dict[str, Any]) -> dict[str, Any]:
    return replay.replay_request(get_runtime(), request)


@bp.activity_trigger(input_name="request")
def forget_replay_mark(request: dict[str, Any]) -> dict[str, Any]:
    return replay.forget_mark(get_runtime(), request)
