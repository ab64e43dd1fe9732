"""The environment that points the connector at a running sandbox and Azurite.

Shared by the demo, the end-to-end tests and the benchmarks, so that all three configure the
connector exactly as an operator would: app settings in the environment, nothing patched.
"""

from __future__ import annotations

import os
from typing import Any


def connector_environment(info: dict[str, Any], storage: str, task_hub: str) -> dict[str, str]:
    """``os.environ`` without BC/Anaplan settings, plus the sandbox's ``connector_env`` (which is
    complete: endpoints, ids, the Key Vault identity and the timer schedules), plus storage."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "ANAPLAN_"))}
    env.update(info["connector_env"])
    env.update({"AzureWebJobsStorage": storage, "TASK_HUB_NAME": task_hub})
    return env
