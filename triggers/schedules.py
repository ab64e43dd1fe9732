"""Timer triggers: the nightly reference sync, actuals load and employee load.

Schedules are six-field NCRONTAB expressions from app settings (``%ACTUALS_SCHEDULE%`` etc.),
in UTC unless ``WEBSITE_TIME_ZONE`` says otherwise. Each timer starts its flow once per pipeline,
as a singleton per unit of work (``triggers.starting``): a night whose previous load is still
running does not start a second one. A timer can be switched off with the standard app setting
``AzureWebJobs.<function name>.Disabled = true``.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from bc_anaplan import workkeys
from bc_anaplan.runtime import get_runtime
from triggers.starting import start_unless_running

bp = df.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%REFERENCE_SYNC_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def nightly_reference_sync(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    for pipeline in get_runtime().settings.pipelines:
        await start_unless_running(
            client,
            "reference_sync",
            workkeys.reference_sync(pipeline),
            {"pipeline": pipeline.name, "trigger": "timer"},
        )


@bp.timer_trigger(arg_name="timer", schedule="%ACTUALS_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def nightly_actuals_load(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    for pipeline in get_runtime().settings.pipelines:
        await start_unless_running(
            client,
            "actuals_load",
            workkeys.actuals_load(pipeline),
            {"pipeline": pipeline.name, "mode": "incremental", "trigger": "timer"},
        )


@bp.timer_trigger(arg_name="timer", schedule="%EMPLOYEES_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def nightly_employees_load(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    for pipeline in get_runtime().settings.pipelines:
        if pipeline.employees is None:
            continue
        await start_unless_running(
            client,
            "employees_load",
            workkeys.employees_load(pipeline),
            {"pipeline": pipeline.name, "trigger": "timer"},
        )


@bp.timer_trigger(arg_name="timer", schedule="%WRITEBACK_WATCH_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def approval_watch_timer(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    settings = get_runtime().settings
    if not settings.writeback_watch_enabled:
        return
    for pipeline in settings.pipelines:
        if pipeline.writeback is None or not pipeline.writeback.status_export_action:
            continue
        await start_unless_running(
            client,
            "approval_watch",
            workkeys.approval_watch(pipeline),
            {"pipeline": pipeline.name, "trigger": "timer"},
        )


@bp.timer_trigger(arg_name="timer", schedule="%SUBSCRIPTIONS_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def subscription_renewal(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    for pipeline in get_runtime().settings.pipelines:
        await start_unless_running(
            client,
            "renew_subscriptions",
            workkeys.renew_subscriptions(pipeline),
            {"pipeline": pipeline.name, "trigger": "timer"},
        )


@bp.timer_trigger(arg_name="timer", schedule="%POLL_SCHEDULE%")
@bp.durable_client_input(client_name="client")
async def change_poll(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    for pipeline in get_runtime().settings.pipelines:
        await start_unless_running(
            client,
            "poll_changes",
            workkeys.poll_changes(pipeline),
            {"pipeline": pipeline.name, "trigger": "timer"},
        )
