"""Timer triggers: the nightly loads, the approval watch, subscription renewal and polling.

Schedules are six-field NCRONTAB expressions from app settings (``%ACTUALS_SCHEDULE%`` etc.),
in UTC unless ``WEBSITE_TIME_ZONE`` says otherwise. Each timer starts its flow once per pipeline,
as a singleton per unit of work (``triggers.starting``): a night whose previous load is still
running does not start a second one. A timer can be switched off with the standard app setting
``AzureWebJobs.<function name>.Disabled = true``.
"""

from __future__ import annotations

from collections.abc import Callable

import azure.durable_functions as df
import azure.functions as func

from bc_anaplan import workkeys
from bc_anaplan.pipeline import Pipeline
from bc_anaplan.runtime import get_runtime
from triggers.starting import start_unless_running

bp = df.Blueprint()


async def start_per_pipeline(
    client: df.DurableOrchestrationClient,
    flow: str,
    work_key: Callable[[Pipeline], str],
    applies: Callable[[Pipeline], bool] = lambda pipeline: True,
    **flow_input: str,
) -> None:
    """Start ``flow`` for every pipeline it applies to, unless that work is running already."""
    for pipeline in get_runtime().settings.pipelines:
        if applies(pipeline):
            await start_unless_running(
                client,
                flow,
                work_key(pipeline),
                {"pipeline": pipeline.name, "trigger": "timer", **flow_input},
            )


@bp.timer_trigger(arg_name="timer", schedule="%REFERENCE_SYNC_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def nightly_reference_sync(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    await start_per_pipeline(client, "reference_sync", workkeys.reference_sync)


@bp.timer_trigger(arg_name="timer", schedule="%ACTUALS_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def nightly_actuals_load(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    await start_per_pipeline(client, "actuals_load", workkeys.actuals_load, mode="incremental")


@bp.timer_trigger(arg_name="timer", schedule="%EMPLOYEES_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def nightly_employees_load(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    await start_per_pipeline(
        client, "employees_load", workkeys.employees_load, lambda p: p.employees is not None
    )


@bp.timer_trigger(arg_name="timer", schedule="%WRITEBACK_WATCH_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def approval_watch_timer(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    if get_runtime().settings.writeback_watch_enabled:
        await start_per_pipeline(
            client,
            "approval_watch",
            workkeys.approval_watch,
            lambda p: p.writeback is not None and bool(p.writeback.status_export_action),
        )


@bp.timer_trigger(arg_name="timer", schedule="%SUBSCRIPTIONS_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def subscription_renewal(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    await start_per_pipeline(client, "renew_subscriptions", workkeys.renew_subscriptions)


@bp.timer_trigger(arg_name="timer", schedule="%POLL_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def change_poll(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await start_per_pipeline(client, "poll_changes", workkeys.poll_changes)
