"""``POST /api/writeback``: write an approved plan version back to BC (function key required).

Body: ``{"version": "Budget FY27", "policy"?: "all-or-nothing"|"continue", "pipeline"?}``.
The same as ``POST /api/runs/plan_writeback`` of the ops API (``triggers.ops_runs``), kept at
this address for the callers it already has: 202 with the instance id and the Durable status
URLs, 409 if the same version is already being written back (the running instance is named),
400 naming what is wrong. "Already being written back" covers writebacks the approval watch
started too: it names them by the same work key (``workkeys.plan_writeback``); and a writeback
started some other way (a replay) is refused by the run's own claim on the version
(``flows.writeback_state.WritebackState.claim``).
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from bc_anaplan.ops.requests import start_spec
from bc_anaplan.runtime import get_runtime
from triggers.ops_http import body_of, handle
from triggers.ops_runs import launch

bp = df.Blueprint()


@bp.route(route="writeback", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_writeback(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await handle(lambda: _start(req, client))


async def _start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    spec = start_spec(get_runtime().settings, "plan_writeback", body_of(req))
    return await launch(req, client, spec.flow, spec.work_key, spec.input)
