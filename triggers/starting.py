"""Start an orchestration for a unit of work unless that work is already running.

Used by every trigger (timers, the webhook endpoint, the ops API). The work key
(``bc_anaplan.workkeys``) names the work; running instances are found by their id prefix, and a
start is refused -- the running instance is returned instead -- while one runs. The check and
the start are two calls, so two triggers in the same instant could both start; the model lock
then serialises their Anaplan tasks and the cursor's optimistic commit keeps the second from
moving state backwards, so the worst case is duplicated effort, never duplicated data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df

from bc_anaplan import workkeys

log = logging.getLogger("triggers.starting")

ACTIVE = [df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending]


@dataclass(frozen=True)
class Started:
    instance_id: str
    started: bool  # False: the work was already running under instance_id


async def running_instance(client: df.DurableOrchestrationClient, work_key: str) -> str | None:
    statuses = await client.get_status_by(runtime_status=ACTIVE, instance_id_prefix=f"{work_key}@")
    for status in statuses:
        if status.instance_id and workkeys.work_key_of(status.instance_id) == work_key:
            return str(status.instance_id)
    return None


async def start_unless_running(
    client: df.DurableOrchestrationClient,
    orchestration: str,
    work_key: str,
    orchestration_input: dict[str, Any],
) -> Started:
    existing = await running_instance(client, work_key)
    if existing is not None:
        log.info("%s is already running as %s; not starting it again", work_key, existing)
        return Started(existing, False)
    instance = workkeys.instance_id(work_key, datetime.now(UTC))
    await client.start_new(orchestration, instance, orchestration_input)
    log.info("started %s as %s", orchestration, instance)
    return Started(instance, True)
