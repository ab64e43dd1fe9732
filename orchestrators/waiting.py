"""Waiting, durably: the model lock lease and the Anaplan task monitor.

Both are sub-generators used with ``yield from`` inside orchestrators, so they obey the replay
rules: time comes from ``context.current_utc_datetime``, waits are durable timers (never a sleep),
and nothing here reads configuration -- limits arrive in the orchestration input.

* ``acquire_model_lock``: ask the ``ModelLock`` entity for the lease; while another run holds it,
  wait with a timer that grows from 5 s to 60 s, up to a deadline.
* ``wait_for_task``: the monitor pattern for an Anaplan task -- read its state (one-shot
  activity), and if it is not finished, wait on a timer and read again. Anaplan asks for no more
  than one poll per 5 seconds: 5 s for the first minute, then 15 s, 30 s, and 60 s (the client's
  ``tasks.poll_interval``, scaled by the plan's ``poll_s``). The lease is
  renewed on every poll; at the deadline the task is cancelled and the wait fails.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from bc_anaplan.anaplan.tasks import poll_interval

LOCK_ENTITY = "ModelLock"
LOCK_TTL_S = 2 * 3600  # longer than any upload + import; renewed while a task runs
ACTIVITY_TASK_STATUS = "anaplan_task_status"
ACTIVITY_CANCEL_TASK = "anaplan_cancel_task"

Steps = Generator[Any, Any, Any]


class LockTimeout(Exception):
    pass


class TaskDeadlineExceeded(Exception):
    pass


def lock_entity(workspace_id: str, model_id: str) -> df.EntityId:
    return df.EntityId(LOCK_ENTITY, f"{workspace_id}:{model_id}")


def _now_s(context: df.DurableOrchestrationContext) -> float:
    return float(context.current_utc_datetime.timestamp())


def acquire_model_lock(
    context: df.DurableOrchestrationContext,
    workspace_id: str,
    model_id: str,
    purpose: str,
    max_wait_s: float = 6 * 3600,
) -> Steps:
    entity = lock_entity(workspace_id, model_id)
    started = _now_s(context)
    delay = 5.0
    while True:
        now = _now_s(context)
        lease = yield context.call_entity(
            entity,
            "acquire",
            {"owner": context.instance_id, "now": now, "ttl_s": LOCK_TTL_S, "purpose": purpose},
        )
        if lease["acquired"]:
            return lease
        if now - started >= max_wait_s:
            raise LockTimeout(
                f"model {model_id} stayed locked by {lease['holder']} for {max_wait_s:.0f} s"
            )
        context.set_custom_status({"waiting_for_model_lock": lease["holder"], "purpose": purpose})
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
        delay = min(delay * 2, 60.0)


def release_model_lock(
    context: df.DurableOrchestrationContext, workspace_id: str, model_id: str
) -> None:
    context.signal_entity(
        lock_entity(workspace_id, model_id), "release", {"owner": context.instance_id}
    )


def wait_for_task(
    context: df.DurableOrchestrationContext,
    task_ref: dict[str, Any],
    deadline_s: float,
    lock: tuple[str, str] | None = None,
    poll_s: float = 5.0,
) -> Steps:
    """Poll an Anaplan task until it is COMPLETE or CANCELLED; returns its last status."""
    started = _now_s(context)
    polls = 0
    while True:
        status = yield context.call_activity(ACTIVITY_TASK_STATUS, task_ref)
        polls += 1
        if status["terminal"]:
            status["polls"] = polls
            context.set_custom_status(
                {
                    "anaplan_task": task_ref.get("action_name"),
                    "state": status.get("state"),
                    "successful": status.get("successful"),
                }
            )
            return status
        elapsed = _now_s(context) - started
        if elapsed >= deadline_s:
            yield context.call_activity(ACTIVITY_CANCEL_TASK, task_ref)
            raise TaskDeadlineExceeded(
                f"Anaplan task {task_ref.get('task_id')} of {task_ref.get('action_name')} did "
                f"not finish within {deadline_s:.0f} s; it was cancelled"
            )
        if lock is not None:
            yield context.call_entity(
                lock_entity(*lock),
                "acquire",
                {"owner": context.instance_id, "now": _now_s(context), "ttl_s": LOCK_TTL_S},
            )
        context.set_custom_status(
            {
                "anaplan_task": task_ref.get("action_name"),
                "state": status.get("state"),
                "progress": status.get("progress"),
            }
        )
        wake = context.current_utc_datetime + timedelta(seconds=poll_interval(elapsed, poll_s))
        yield context.create_timer(wake)
