"""The Azure Functions entry point: create the Durable Functions app and register blueprints.

Each trigger, orchestrator, activity and entity lives in its own package and registers itself
on a ``df.Blueprint``; this module only collects them, and does the start-up work of the worker
process once, when the worker imports it:

* switches on secret redaction for every log record and registers every secret value in the
  environment for masking (``configure_logging``);
* validates the configuration (``load_settings``: every app setting and ``connector.toml``). On
  failure it logs one ERROR naming every missing or invalid setting (``CONFIG_ERROR`` keeps it).

It does not raise on a bad configuration, on purpose. An exception while the worker imports this
module makes the Functions host index no functions at all: ``/api/health`` disappears, the
Durable management API cannot even report on existing instances, and the portal shows only a
generic indexing failure. Instead every function is indexed, the ERROR above is the first thing
in the log stream and Application Insights, ``GET /api/health`` answers 503 with the same message,
and every trigger that needs the configuration fails with the same ``ConfigError`` instead of
doing anything. (The host itself also refuses a timer whose ``%X_SCHEDULE%`` setting is unset,
whatever this module does; the ERROR above names those settings too.)

``startup_check`` is for hosts that validate before serving (the local host, which then exits 2
with the one-line message).
"""

import logging

import azure.durable_functions as df
import azure.functions as func

from activities import actuals, anaplan_tasks, employees, reference, runs, webhooks, writeback
from activities import ops as ops_activities
from bc_anaplan.config import ConfigError, load_settings
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

log = logging.getLogger("function_app")


def _validate_configuration() -> ConfigError | None:
    """Validate once, when the worker loads the app; log every problem as one ERROR line."""
    configure_logging()  # before anything else can log: redaction and environment secrets
    try:
        settings = load_settings()
    except ConfigError as exc:
        log.error("configuration error (every run fails until it is fixed): %s", exc)
        return exc
    configure_logging(settings.log_level)
    return None


CONFIG_ERROR = _validate_configuration()

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

    Called by the local host before it serves anything. The same validation ran when this
    module was imported; this runs it again (cached once it succeeded) so that the caller gets
    the exception, not only the log line.
    """
    settings = load_settings()
    configure_logging(settings.log_level)
