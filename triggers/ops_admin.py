"""Ops API for the connector as a whole (function key required), and the retention timer.

=================================================  ==============================================
``POST /api/locks/{workspace}/{model}/release``    force-release a model's lock (``{"by",
                                                   "reason"}``), audited
``GET  /api/ping``                                 sign in to BC and Anaplan and resolve every
                                                   configured name (reads only)
``POST /api/retention``                            run the retention purge now
                                                   (``{"older_than_days"?}``)
timer ``retention_timer``                          the same on ``RETENTION_SCHEDULE``
=================================================  ==============================================

Retention in two halves: this trigger purges the Durable instance history (only the durable
client can), in windows of one day going back from the cutoff and then everything older in one
call, so no single purge request has to delete years of instances; it then starts the
``retention`` orchestration, which purges the audit trail and staged files in batches
(``bc_anaplan.ops.retention``). Only finished instances are purged, never running ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import azure.functions as func

from bc_anaplan.audit import AuditRecord, instant, utc_now
from bc_anaplan.config import ConfigError
from bc_anaplan.ops import ping as fit_check
from bc_anaplan.ops import requests
from bc_anaplan.ops.requests import LockRelease, OpsError
from bc_anaplan.ops.retention import OPS_PARTITION, cutoff_for
from bc_anaplan.runtime import Runtime, get_runtime
from entities.model_lock import ENTITY_NAME
from triggers.ops_http import accepted, body_of, handle, json_response, lock_state
from triggers.starting import Started, running_instance, start_unless_running

bp = df.Blueprint()
log = logging.getLogger("triggers.ops")

RETENTION_WORK_KEY = "retention"
DAILY_WINDOWS = 31
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
FINISHED = [
    df.OrchestrationRuntimeStatus.Completed,
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
    df.OrchestrationRuntimeStatus.Canceled,
]


@bp.route(route="locks/{workspace}/{model}/release", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def release_lock(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await handle(lambda: _release(req, client))


async def _release(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    rt = get_runtime()
    release = requests.lock_release(
        rt.settings, req.route_params.get("workspace", ""), req.route_params.get("model", ""),
        body_of(req),
    )  # fmt: skip
    previous = await lock_state(client, release.entity_key)
    await client.signal_entity(
        df.EntityId(ENTITY_NAME, release.entity_key),
        "force_release",
        {"by": release.by, "reason": release.reason},
    )
    holder = previous.get("holder")
    log.warning(
        "model lock %s force-released by %s (held by %s): %s",
        release.entity_key, release.by, holder, release.reason,
    )  # fmt: skip
    await asyncio.to_thread(_audit_release, rt, release, previous)
    return json_response(
        {
            "workspace": release.workspace_id,
            "model": release.model_id,
            "released": True,
            "previousHolder": holder,
            "previous": previous,
            "by": release.by,
            "reason": release.reason,
        },
        202,
    )


def _audit_release(rt: Runtime, release: LockRelease, previous: dict[str, object]) -> None:
    """One ``event`` row in the ``ops`` partition, and one in the holder's run if it had one."""
    data = {
        "workspace": release.workspace_id,
        "model": release.model_id,
        "by": release.by,
        "reason": release.reason,
        "previous": previous,
    }
    text = f"model lock force-released by {release.by}: {release.reason}"
    rt.audit.record(OPS_PARTITION, [AuditRecord("event", f"{utc_now()}:lock-release", text, data)])
    run = _run_holding(rt, previous.get("holder"))
    if run is not None:
        rt.audit.record(run, [AuditRecord("event", "lock-force-released", text, data)])


def _run_holding(rt: Runtime, holder: object) -> str | None:
    """The run whose audit trail gets the event: the holder, or the run it is a sub-run of.

    The lock is held by the ``anaplan_import``/``anaplan_export`` sub-orchestration
    (``<run>:import:<step>``), which writes into its parent's audit trail.
    """
    if not isinstance(holder, str) or not holder:
        return None
    candidate = holder
    while True:
        if rt.audit.get_run(candidate) is not None:
            return candidate
        if ":" not in candidate.split("@", 1)[-1]:
            return None
        candidate = candidate.rsplit(":", 1)[0]


@bp.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest) -> func.HttpResponse:
    """Synchronous: it waits on BC and Anaplan, so it runs in the worker's thread pool."""
    try:
        return json_response(fit_check.ping(get_runtime()))
    except Exception as exc:  # the configuration itself did not load, or worse
        status = 503 if isinstance(exc, ConfigError) else 500
        log.exception("ping failed")
        return json_response(
            {"error": {"code": "PingFailed", "message": f"{type(exc).__name__}: {exc}"[:600]}},
            status,
        )


# --- retention -----------------------------------------------------------------------------------


@bp.route(route="retention", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def run_retention(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await handle(lambda: _retention(req, client))


async def _retention(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    days = requests.retention_age(body_of(req), get_runtime().settings.retention_days)
    started = await start_retention(client, days, "ops")
    if not started.started:
        raise OpsError(
            409, "AlreadyRunning", f"retention is already running as {started.instance_id}",
            instanceId=started.instance_id,
        )  # fmt: skip
    return accepted(client, req, started.instance_id, olderThanDays=days)


@bp.timer_trigger(arg_name="timer", schedule="%RETENTION_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def retention_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await start_retention(client, get_runtime().settings.retention_days, "timer")


async def start_retention(
    client: df.DurableOrchestrationClient, days: int, trigger: str
) -> Started:
    """Purge finished Durable instances older than ``days``, then start the audit purge."""
    existing = await running_instance(client, RETENTION_WORK_KEY)
    if existing is not None:
        return Started(existing, False)
    cutoff = cutoff_for(days)
    began, purged_at = time.monotonic(), utc_now()
    purged = await purge_history(client, cutoff)
    request = {
        "cutoff": instant(cutoff),
        "older_than_days": days,
        "instances_purged": purged,
        "purged_at": purged_at,
        "purge_ms": int((time.monotonic() - began) * 1000),
        "trigger": trigger,
    }
    return await start_unless_running(client, "retention", RETENTION_WORK_KEY, request)


async def purge_history(client: df.DurableOrchestrationClient, cutoff: datetime) -> int:
    deleted, end = 0, cutoff
    for _ in range(DAILY_WINDOWS):
        start = end - timedelta(days=1)
        result = await client.purge_instance_history_by(start, end, FINISHED)
        deleted += int(result.instances_deleted or 0)
        end = start
    result = await client.purge_instance_history_by(EPOCH, end, FINISHED)
    return deleted + int(result.instances_deleted or 0)
