"""The environment that points the connector at a running sandbox and Azurite.

Shared by the demo, the end-to-end tests and the benchmarks, so that all three configure the
connector exactly as an operator would: app settings in the environment, nothing patched.
"""

from __future__ import annotations

import os
from typing import Any

# Timer schedules the Functions host needs resolved; the nightly defaults.
SCHEDULE_DEFAULTS = {
    "ACTUALS_SCHEDULE": "0 30 2 * * *",
    "REFERENCE_SYNC_SCHEDULE": "0 0 2 * * *",
    "EMPLOYEES_SCHEDULE": "0 0 3 * * *",
    "WRITEBACK_WATCH_SCHEDULE": "0 */15 * * * *",
    "SUBSCRIPTIONS_SCHEDULE": "0 0 */12 * * *",
    "POLL_SCHEDULE": "0 5 * * * *",
    "RETENTION_SCHEDULE": "0 0 4 * * *",
}


def connector_environment(info: dict[str, Any], storage: str, task_hub: str) -> dict[str, str]:
    """``os.environ`` without BC/Anaplan settings, plus the sandbox's ``connector_env``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "ANAPLAN_"))}
    env.update(SCHEDULE_DEFAULTS)
    env.update(info["connector_env"])
    env.update({"AzureWebJobsStorage": storage, "TASK_HUB_NAME": task_hub})
    return env
