"""The ops API for runs: function key required, JSON in and out, ``{error: {code, message}}``.

========================================  =======================================================
``POST /api/runs/{flow}``                 start a flow: 202 with the instance id and status URLs;
                                          409 while the same work runs
``GET  /api/runs``                        recent runs from the audit trail (``flow``, ``state``,
                                          ``since``, ``limit`` ≤ 500), newest first
``GET  /api/runs/{id}``                   one run: record, steps, counts, reconciliation, record
                                          totals and the Durable runtime status
``GET  /api/runs/{id}/report``            the run report (self-contained HTML)
``POST /api/runs/{id}/rerun``             the same flow with the recorded input, new instance id
``POST /api/runs/{id}/replay``            the ``replay`` orchestration: re-send what it left out;
                                          409 when it left nothing out (or nothing replayable)
``POST /api/runs/{id}/terminate``         terminate the run and its sub-runs (``{"reason"?}``)
========================================  =======================================================

Validation lives in ``bc_anaplan.ops.requests``; nothing starts or changes before it passed.
Storage reads run in a worker thread so the event loop that serves the durable client stays free.
"""

from __future__ import annotations

import asyncio
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from bc_anaplan import workkeys
from bc_anaplan.audit import utc_now
from bc_anaplan.flows.replay import NothingToReplay, NotReplayable, replay_request
from bc_anaplan.ops import report, requests, views
from bc_anaplan.ops.notify import notify_run_end
from bc_anaplan.ops.requests import OpsError, StartSpec
from bc_anaplan.runtime import Runtime, get_runtime
from triggers import starting
from triggers.ops_http import (
    ACTIVE,
    accepted,
    body_of,
    durable_status,
    handle,
    json_response,
    lock_state,
    run_links,
)
from triggers.starting import start_unless_running

bp = df.Blueprint()


@bp.route(route="runs/{flow}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await handle(lambda: _start(req, client))


@bp.route(route="runs", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def list_runs(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await handle(lambda: _list(req))


@bp.route(route="runs/{id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def show_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await handle(lambda: _show(req, client))


@bp.route(route="runs/{id}/report", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def run_report(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await handle(lambda: _report(req, client))


@bp.route(route="runs/{id}/rerun", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def rerun_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await handle(lambda: _rerun(req, client))


@bp.route(route="runs/{id}/replay", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def replay_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await handle(lambda: _replay(req, client))


@bp.route(route="runs/{id}/terminate", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def terminate_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await handle(lambda: _terminate(req, client))


# --- starting ------------------------------------------------------------------------------------


async def _start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = body_of(req)
    spec = requests.start_spec(get_runtime().settings, req.route_params.get("flow", ""), body)
    return await launch(req, client, spec.flow, spec.work_key, spec.input)


async def launch(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    orchestration: str,
    work_key: str,
    orchestration_input: dict[str, Any],
    **extra: Any,
) -> func.HttpResponse:
    started = await start_unless_running(client, orchestration, work_key, orchestration_input)
    if not started.started:
        raise OpsError(
            409,
            "AlreadyRunning",
            f"the same work ({work_key}) is already running as {started.instance_id}",
            instanceId=started.instance_id,
        )
    return accepted(client, req, started.instance_id, workKey=work_key, **extra)


# --- reading -------------------------------------------------------------------------------------


async def _list(req: func.HttpRequest) -> func.HttpResponse:
    filters = requests.run_filters(dict(req.params))
    page = await asyncio.to_thread(views.list_page, get_runtime(), filters)
    return json_response(page)


async def _known_run(
    rt: Runtime, client: df.DurableOrchestrationClient, req: func.HttpRequest
) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
    """The run id of the route, its run record and its Durable status; 404 if neither exists."""
    run_id = requests.run_id(req.route_params.get("id", ""))
    run = await asyncio.to_thread(rt.audit.get_run, run_id)
    status = await durable_status(client, run_id)
    if run is None and status is None:
        raise OpsError(404, "UnknownRun", f"no run {run_id!r} in the audit trail or task hub")
    return run_id, run, status


async def _show(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    rt = get_runtime()
    run_id, _, status = await _known_run(rt, client, req)
    detail = await asyncio.to_thread(views.run_detail, rt, run_id)
    body = detail or {"run": None, "steps": [], "counts": {}, "reconciliation": None}
    return json_response({**body, "runtime": status, "links": run_links(client, req, run_id)})


async def _report(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    rt = get_runtime()
    run_id, run, status = await _known_run(rt, client, req)
    if run is None:
        raise OpsError(404, "NoRunRecord", f"run {run_id} has not written its run record yet")
    data = await asyncio.to_thread(views.report_data, rt, run_id, status)
    if data is None:
        raise OpsError(404, "UnknownRun", f"no run {run_id!r} in the audit trail")
    page = await asyncio.to_thread(report.render, data, utc_now())
    return func.HttpResponse(
        page,
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": report.CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


# --- acting on a run -----------------------------------------------------------------------------


def _refuse_while_running(run_id: str, status: dict[str, Any] | None, what: str) -> None:
    if status is not None and status["runtime_status"] in ACTIVE:
        raise OpsError(
            409,
            "StillRunning",
            f"run {run_id} is {status['runtime_status']}; {what} once it has ended "
            "(or terminate it first)",
            instanceId=run_id,
        )


async def _rerun(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    rt = get_runtime()
    requests.expect_fields(body_of(req), set(), "a re-run")
    run_id, run, status = await _known_run(rt, client, req)
    if run is None:
        raise OpsError(404, "NoRunRecord", f"run {run_id} has no run record with its input")
    _refuse_while_running(run_id, status, "re-run it")
    spec = requests.rerun_spec(rt.settings, run)
    return await launch(req, client, spec.flow, spec.work_key, spec.input, rerunOf=run_id)


async def _replay(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    rt = get_runtime()
    requests.expect_fields(body_of(req), set(), "a replay")
    run_id, run, status = await _known_run(rt, client, req)
    if run is None:
        raise OpsError(404, "NoRunRecord", f"run {run_id} has no run record to replay")
    _refuse_while_running(run_id, status, "replay it")
    try:
        plan = await asyncio.to_thread(replay_request, rt, {"run_id": run_id})
    except NothingToReplay as exc:
        raise OpsError(409, "NothingToReplay", str(exc)) from None
    except (NotReplayable, ValueError) as exc:
        raise OpsError(409, "NotReplayable", str(exc)) from None
    work_key = _replay_work_key(rt, plan, run_id)
    response = await launch(
        req,
        client,
        "replay",
        work_key,
        {"run_id": run_id, "trigger": "ops"},
        replayOf=run_id,
        scope=plan["scope"],
        notReplayed=plan["not_replayed"],
    )
    return response


def _replay_work_key(rt: Runtime, plan: dict[str, Any], run_id: str) -> str:
    """The work key of what the replay will do, so it cannot overlap the same work."""
    flow_input = {k: v for k, v in plan["input"].items() if k not in requests.START_FIELDS}
    if plan["flow"] == "commitments_load":  # not startable from the API, but the same work
        return workkeys.commitments_load(rt.settings.pipeline(flow_input.get("pipeline") or None))
    try:
        spec: StartSpec = requests.start_spec(rt.settings, plan["flow"], flow_input)
    except OpsError:
        return f"replay:{workkeys.work_key_of(run_id)}"
    return spec.work_key


async def _terminate(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Terminate the run and its sub-runs, found by their ids (``<run id>:...``).

    Work a run starts under its own work key -- a poll's actuals and commitments loads, an
    approval watch's writebacks -- is not a sub-run: it keeps running (it guards itself against
    a second start of that work) and is terminated by its own id.
    """
    rt = get_runtime()
    reason = requests.terminate_reason(body_of(req))
    run_id, run, status = await _known_run(rt, client, req)
    if status is None or status["runtime_status"] not in ACTIVE:
        state = status["runtime_status"] if status else "unknown to the task hub"
        raise OpsError(409, "NotRunning", f"run {run_id} is not running ({state})")
    children = await client.get_status_by(
        instance_id_prefix=f"{run_id}:", runtime_status=starting.ACTIVE
    )
    ended = [run_id, *(str(c.instance_id) for c in children if c.instance_id)]
    for instance in ended:
        await client.terminate(instance, reason)
    await asyncio.to_thread(_close_records, rt, ended, reason)
    lock = await _lock_of(rt, client, run, set(ended))
    return json_response({"terminated": ended, "reason": reason, "lock": lock}, 202)


def _close_records(rt: Runtime, instances: list[str], reason: str) -> None:
    """Terminated runs never reach ``end_run``: close their run records here."""
    for instance in instances:
        record = rt.audit.get_run(instance)
        if record is not None and record["state"] == "running":
            rt.audit.finish_run(
                instance, "terminated", {"terminated": {"reason": reason}}, error=reason
            )
            notify_run_end(rt, instance, "terminated")


async def _lock_of(
    rt: Runtime,
    client: df.DurableOrchestrationClient,
    run: dict[str, Any] | None,
    owners: set[str],
) -> dict[str, Any] | None:
    """If a terminated instance holds its model's lock, say so and how to release it."""
    if run is None:
        return None
    pipeline = rt.settings.pipeline(run["pipeline"] or None)
    key = f"{pipeline.anaplan_workspace_id}:{pipeline.anaplan_model_id}"
    holder = (await lock_state(client, key)).get("holder")
    if holder not in owners:
        return None
    return {
        "holder": holder,
        "note": "the lease expires on its own (2 h); to free the model now, POST "
        f"/api/locks/{pipeline.anaplan_workspace_id}/{pipeline.anaplan_model_id}/release",
    }
