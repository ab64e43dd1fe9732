"""The Azure Functions entry point: create the Durable Functions app and register blueprints.

Each trigger, orchestrator, activity and entity lives in its own package and registers itself
on a ``df.Blueprint``; this module only collects them, switches on secret redaction for every log
record of the worker, and offers ``startup_check`` to hosts that validate before serving.
"""

import azure.durable_functions as df
import azure.functions as func

from activities import actuals, anaplan_tasks, employees, reference, runs, webhooks, writeback
from activities import ops as ops_activities
from bc_anaplan import redaction
from bc_anaplan.config import load_settings
from bc_anaplan.logs import configure_logging
from entities import model_lock
from orchestrators import (
    actuals_load,
    approval_watch,
    employees_load,
    plan_writeback,
    reference_sync,
    replay,
    retention,
)
from orchestrators import anaplan_tasks as anaplan_task_flows
from orchestrators import webhooks as webhook_flows
from triggers import health, notifications, ops_admin, ops_runs, schedules, writeback_http

redaction.install()

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

BLUEPRINTS = (
    health.bp,
    schedules.bp,
    writeback_http.bp,
    notifications.bp,
    ops_runs.bp,
    ops_admin.bp,
    model_lock.bp,
    anaplan_task_flows.bp,
    reference_sync.bp,
    actuals_load.bp,
    employees_load.bp,
    replay.bp,
    plan_writeback.bp,
    approval_watch.bp,
    webhook_flows.bp,
    retention.bp,
    runs.bp,
    reference.bp,
    actuals.bp,
    employees.bp,
    writeback.bp,
    webhooks.bp,
    anaplan_tasks.bp,
    ops_activities.bp,
)

for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)


def startup_check() -> None:
    """Validate settings and the pipeline file; raises ``ConfigError`` with a one-line message.

    Called by the local host before it serves anything. In Azure the same validation runs on
    the first use of the configuration (``load_settings`` is cached per worker process).
    """
    settings = load_settings()
    configure_logging(settings.log_level)
