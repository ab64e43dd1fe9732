"""One orchestration episode and one entity batch, as pure functions of state and messages.

An episode is what the extension does per batch of new events: append ``OrchestratorStarted``
and the events, hand the whole history to the SDK's orchestrator handle (the callable the Python
worker invokes), read the ``OrchestratorState`` it returns (or the ``$OutOfProcData$`` it raises),
find the new work with :class:`local_host.shim.Replay`, and close the episode with
``OrchestratorCompleted`` plus one "scheduled" event per new task. No I/O happens here: the
engine persists the result and dispatches the work.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dateutil.parser import parse as dateutil_parse

from local_host import history as h
from local_host.shim import ACTIVITY, CALL, SIGNAL, SUBORCH, TIMER, NonDeterminismError, Replay

_FAILURE_MARKER = "\n\n$OutOfProcData$:"
# What the Azure Storage backend passes; the SDK splits timers longer than 6 days into 3-day ones.
_CONTEXT_EXTRAS = {
    "upperSchemaVersion": 1,
    "upperSchemaVersionNew": 3,
    "longRunningTimerIntervalDuration": "3.00:00:00",
    "maximumShortTimerDuration": "6.00:00:00",
    "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
}
Message = dict[str, Any]


def _parse_timestamp(text: str, _slow: Callable[[str], datetime] = dateutil_parse) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return _slow(text)


# The SDK parses every history event's timestamp with dateutil (~40 µs each), which dominates a
# long orchestration's replay cost. The host only writes ISO 8601 timestamps, which the standard
# library parses to the same instant ~100x faster; anything else still goes to dateutil.
importlib.import_module(
    "azure.durable_functions.models.history.HistoryEvent"
).dt_parse = _parse_timestamp


@dataclass
class Outcome:
    """What an episode decided; the engine commits ``events`` and then acts on the rest."""

    events: list[h.Event]
    status: str  # Running, Completed, Failed, Terminated or ContinuedAsNew
    output: Any = None
    custom_status: Any = None
    next_input: str | None = None  # input of the next execution after continue-as-new
    activities: list[tuple[int, str, str | None]] = field(default_factory=list)
    timers: list[tuple[int, str]] = field(default_factory=list)
    canceled_timers: set[int] = field(default_factory=set)
    outbox: list[tuple[str, Message]] = field(default_factory=list)


def run_episode(
    handle: Callable[[str], str] | None,
    meta: dict[str, Any],
    history: list[h.Event],
    new_events: list[h.Event],
    now: datetime,
) -> Outcome:
    events = [*history, h.event(h.ORCHESTRATOR_STARTED, now), *new_events]
    if handle is None:
        error = (
            f"The function '{meta['name']}' doesn't exist, is disabled, "
            "or is not an orchestrator function."
        )
        return _finish(Outcome(events[len(history) :], "Failed"), meta, now, error=error)
    state, error = _invoke(handle, meta, events)
    outcome = Outcome(events[len(history) :], "Running", custom_status=state.get("customStatus"))
    actions = state.get("actions") or [[]]
    replay = Replay(actions[0] if actions else [])
    try:
        steps = replay.run(events)
        outcome.canceled_timers = replay.canceled_timers()
    except (NonDeterminismError, NotImplementedError) as exc:
        error, steps = str(exc), []
    outcome.events.append(h.event(h.ORCHESTRATOR_COMPLETED, now))
    for step in steps:
        outcome.events.append(_schedule(step, meta, outcome, now))
    if error is not None:
        return _finish(outcome, meta, now, error=error)
    if state.get("isDone"):
        restart = (
            next((a for a in actions[0] if a.get("actionType") == 4), None) if actions else None
        )
        if restart is not None:
            outcome.status, outcome.next_input = "ContinuedAsNew", restart.get("input")
            return outcome
        return _finish(outcome, meta, now, output=state.get("output"))
    return outcome


def terminate(meta: dict[str, Any], reason: str, now: datetime) -> Outcome:
    started = h.event(h.ORCHESTRATOR_STARTED, now)
    ended = h.event(h.EXECUTION_TERMINATED, now, Input=json.dumps(reason))
    outcome = Outcome([started, ended], "Terminated", output=reason)
    _notify_parent(outcome, meta, now, failure=f"Orchestration terminated: {reason}")
    return outcome


def _invoke(
    handle: Callable[[str], str], meta: dict[str, Any], events: list[h.Event]
) -> tuple[dict[str, Any], str | None]:
    """Call the SDK; a failing orchestrator *raises* its state after a marker."""
    parent = meta.get("parent") or {}
    context = {
        "history": events,
        "input": meta.get("input"),
        "instanceId": meta["id"],
        "isReplaying": any(e["IsPlayed"] for e in events),
        "parentInstanceId": parent.get("id"),
        **_CONTEXT_EXTRAS,
    }
    try:
        return json.loads(handle(json.dumps(context))), None
    except Exception as exc:  # the orchestrator's own exception, reported as data
        text = str(exc)
        if _FAILURE_MARKER not in text:
            return {"isDone": False, "actions": []}, f"{type(exc).__name__}: {text}"
        message, _, state_json = text.partition(_FAILURE_MARKER)
        state = json.loads(state_json)
        return state, state.get("error") or message


def _schedule(step: Any, meta: dict[str, Any], outcome: Outcome, now: datetime) -> h.Event:
    """The "scheduled" history event for a new step, and the work it stands for."""
    action, seq = step.action, step.seq
    if step.kind == ACTIVITY:
        outcome.activities.append((seq, action["functionName"], action.get("input")))
        return h.event(
            h.TASK_SCHEDULED, now, seq, Name=action["functionName"], Input=action.get("input")
        )
    if step.kind == TIMER:
        outcome.timers.append((seq, action["fireAt"]))
        return h.event(h.TIMER_CREATED, now, seq, FireAt=action["fireAt"])
    parent = {"id": meta["id"], "seq": seq, "gen": meta["gen"]}
    if step.kind == SUBORCH:
        child = action.get("instanceId") or f"{meta['id']}:{seq:04d}"
        start = {"type": "start", "name": action["functionName"], "input": action.get("input")}
        outcome.outbox.append((child, {**start, "parent": parent}))
        fields = {"Name": action["functionName"], "InstanceId": child, "Input": action.get("input")}
        return h.event(h.SUB_CREATED, now, seq, **fields)
    assert step.kind in (CALL, SIGNAL)
    request = {
        "type": "op",
        "id": str(uuid.uuid4()),
        "op": action["operation"],
        "input": action.get("input"),
        "signal": step.kind == SIGNAL,
        "parent": None if step.kind == SIGNAL else parent,
    }
    outcome.outbox.append((action["instanceId"], request))
    return h.event(h.EVENT_SENT, now, seq, InstanceId=action["instanceId"], Name="op",
                   Input=json.dumps(request))  # fmt: skip


def _finish(
    outcome: Outcome,
    meta: dict[str, Any],
    now: datetime,
    output: Any = None,
    error: str | None = None,
) -> Outcome:
    if outcome.events[-1]["EventType"] != h.ORCHESTRATOR_COMPLETED:
        outcome.events.append(h.event(h.ORCHESTRATOR_COMPLETED, now))
    if error is None:
        outcome.status, outcome.output = "Completed", output
    else:
        outcome.status = "Failed"
        outcome.output = f"Orchestrator function '{meta['name']}' failed: {error}"
    result = json.dumps(outcome.output)
    outcome.events.append(h.event(h.EXECUTION_COMPLETED, now, OrchestrationStatus=outcome.status,
                                  Result=result))  # fmt: skip
    _notify_parent(outcome, meta, now, result=result, failure=error and outcome.output)
    return outcome


def _notify_parent(
    outcome: Outcome, meta: dict[str, Any], now: datetime, result: str | None = None,
    failure: str | None = None,
) -> None:  # fmt: skip
    parent = meta.get("parent")
    if not parent:
        return
    if failure is None:
        answer = h.event(h.SUB_COMPLETED, now, TaskScheduledId=parent["seq"], Result=result)
    else:
        answer = h.event(h.SUB_FAILED, now, TaskScheduledId=parent["seq"], Reason=failure,
                         Details="")  # fmt: skip
    outcome.outbox.append((parent["id"], {"type": "event", "gen": parent["gen"], "event": answer}))


def run_entity_batch(
    handle: Callable[[str], str] | None,
    entity_id: str,
    exists: bool,
    state: str | None,
    operations: list[Message],
) -> tuple[bool, str | None, list[dict[str, Any]]]:
    """Run queued operations on one entity through the SDK; returns (exists, state, results)."""
    _, name, key = entity_id.split("@", 2)
    if handle is None:
        failure = {"isError": True, "result": json.dumps(f"entity '{name}' is not registered")}
        return exists, state, [failure for _ in operations]
    batch = [
        {
            "name": op["op"],
            "input": json.dumps(op.get("input")),
            "isSignal": op["signal"],
            "id": op["id"],
        }  # fmt: skip
        for op in operations
    ]
    context = {"self": {"name": name, "key": key}, "exists": exists, "state": state, "batch": batch}
    try:
        result = json.loads(handle(json.dumps(context)))
    except Exception as exc:  # the SDK itself failed: every operation fails, state unchanged
        failure = {"isError": True, "result": json.dumps(f"{type(exc).__name__}: {exc}")}
        return exists, state, [failure for _ in operations]
    alive = bool(result.get("entityExists"))
    return alive, result.get("entityState") if alive else None, list(result["results"])
