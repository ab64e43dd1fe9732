"""History events in the Durable extension's JSON shape, as the Python SDK reads them.

The SDK only understands PascalCase events with ``EventType``, ``EventId``, ``IsPlayed`` and a
``Timestamp`` in its own format; everything the host records goes through :func:`event` so the
shape is decided in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

EXECUTION_STARTED, EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_TERMINATED = 0, 1, 2, 3
TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 4, 5, 6
SUB_CREATED, SUB_COMPLETED, SUB_FAILED = 7, 8, 9
TIMER_CREATED, TIMER_FIRED = 10, 11
ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED = 12, 13
EVENT_SENT, EVENT_RAISED, CONTINUE_AS_NEW = 14, 15, 16

# Events that answer a scheduled task, and the field naming the task they answer.
COMPLETIONS = {
    TASK_COMPLETED: "TaskScheduledId",
    TASK_FAILED: "TaskScheduledId",
    SUB_COMPLETED: "TaskScheduledId",
    SUB_FAILED: "TaskScheduledId",
    TIMER_FIRED: "TimerId",
}

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the SDK's DATETIME_STRING_FORMAT
Event = dict[str, Any]


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TS_FORMAT)


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def event(etype: int, now: datetime, event_id: int = -1, **fields: Any) -> Event:
    """A new (not yet played) history event."""
    return {
        "EventType": etype,
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": timestamp(now),
        **fields,
    }


def completed_task_ids(events: list[Event]) -> set[int]:
    """Sequence numbers whose task, timer or sub-orchestration already has its answer."""
    return {e[COMPLETIONS[e["EventType"]]] for e in events if e["EventType"] in COMPLETIONS}
