"""Match the SDK's actions to the history, the way the extension's out-of-process shim does.

With the V3 schema the SDK returns *every* action it has ever scheduled, one top-level action per
``yield`` (plus fire-and-forget signals), and never says which are new. The real extension finds
out by re-running that list as a sequential .NET orchestration: it awaits each top-level action in
turn, numbering tasks as it invokes them, while the Durable Task Framework replays the history
events in order. A task the history already knows keeps its number; one it does not know is new
work; a history event for a number that is now a different task is a non-deterministic
orchestrator. Retries with ``RetryOptions`` live here too: the SDK emits one retry action and only
*counts* the timers and re-attempts, so whoever replays must create them, numbered at the moment
the failure is replayed.

:class:`Replay` does the same in a few small node types. Its numbering matches the SDK's because
both assign sequence numbers in invocation order while walking the same history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from local_host import history as h

ACTIVITY, TIMER, SUBORCH, CALL, SIGNAL = "activity", "timer", "suborch", "call", "signal"
_LEAF_KINDS = {0: ACTIVITY, 2: SUBORCH, 5: TIMER, 7: CALL, 9: SIGNAL}
_RETRY_KINDS = {1: ACTIVITY, 3: SUBORCH}
_SCHEDULED_AS = {
    h.TASK_SCHEDULED: (ACTIVITY,),
    h.TIMER_CREATED: (TIMER,),
    h.SUB_CREATED: (SUBORCH,),
    h.EVENT_SENT: (CALL, SIGNAL),
}


class NonDeterminismError(Exception):
    """The orchestrator no longer does what its history says it did."""


@dataclass(eq=False)
class Node:
    """Something an orchestration can wait on; tells its parent when it is settled."""

    kind: str
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    done: bool = False
    ok: bool = True
    ready: bool = True

    def finish(self, ok: bool) -> None:
        if self.done:
            return
        self.done, self.ok = True, ok
        if self.parent is not None and self.parent.ready:
            self.parent.child_done(self)

    def child_done(self, child: Node) -> None:
        if self.kind == "any":
            self.finish(True)
        elif not child.ok:
            self.finish(False)
        elif all(c.done for c in self.children):
            self.finish(True)

    def reevaluate(self) -> None:
        self.ready = True
        settled = [c for c in self.children if c.done]
        if settled or not self.children:
            if self.kind == "any" and settled:
                self.finish(True)
            elif any(not c.ok for c in settled):
                self.finish(False)
            elif len(settled) == len(self.children):
                self.finish(True)


@dataclass(eq=False)
class Step(Node):
    """One numbered unit of work: an activity or sub-orchestration attempt, a timer, an entity
    call or signal. ``action`` is the SDK's action (or, for retry timers, ``{"fireAt": ...}``)."""

    seq: int = -1
    action: dict[str, Any] = field(default_factory=dict)
    scheduled: bool = False

    @property
    def canceled(self) -> bool:
        return self.kind == TIMER and bool(self.action.get("isCanceled"))


class Retry(Node):
    """``call_*_with_retry``: attempt, fixed-interval timer after each failure, attempt again."""

    def __init__(self, replay: Replay, action: dict[str, Any], parent: Node | None) -> None:
        super().__init__("retry", parent)
        self.replay, self.action = replay, action
        self.leaf_kind = _RETRY_KINDS[action["actionType"]]
        options = action["retryOptions"]
        self.max_attempts = int(options["maxNumberOfAttempts"])
        self.interval = timedelta(milliseconds=int(options["firstRetryIntervalInMilliseconds"]))
        self.attempts, self.waiting_on_timer = 1, False
        replay.leaf(self.leaf_kind, action, self)

    def child_done(self, child: Node) -> None:
        if self.waiting_on_timer:
            self.waiting_on_timer = False
            if self.attempts >= self.max_attempts:
                self.finish(False)
            else:
                self.attempts += 1
                self.replay.leaf(self.leaf_kind, self.action, self)
        elif child.ok:
            self.finish(True)
        else:
            # The SDK waits for this timer even after the last attempt, and so does the extension.
            self.waiting_on_timer = True
            fire_at = h.timestamp(self.replay.episode_time + self.interval)
            self.replay.leaf(TIMER, {"fireAt": fire_at}, self)


class Replay:
    """Walk one instance's history with the SDK's latest action list."""

    def __init__(self, actions: list[dict[str, Any]]) -> None:
        self.top, self.cursor = actions, 0
        self.blocked: Node | None = None
        self.steps: dict[int, Step] = {}
        self.requests: dict[str, Step] = {}  # entity request id -> the call waiting for it
        self.waiters: dict[str, list[Node]] = {}  # external event name -> waiting nodes
        self.buffered: dict[str, int] = {}  # external events that arrived before a wait
        self.episode_time = datetime.min

    def run(self, events: list[h.Event]) -> list[Step]:
        """Replay ``events``; return the steps the history does not know yet, in order."""
        for e in events:
            etype = e["EventType"]
            if etype == h.ORCHESTRATOR_STARTED:
                self.episode_time = h.parse_timestamp(e["Timestamp"])
            elif etype == h.EXECUTION_STARTED:
                self.advance()
            elif etype in _SCHEDULED_AS:
                self._match(e)
            elif etype in h.COMPLETIONS:
                step = self.steps.get(e[h.COMPLETIONS[etype]])
                if step is not None and not step.done:  # else stale or duplicate: ignored
                    step.finish(etype not in (h.TASK_FAILED, h.SUB_FAILED))
                    self.advance()
            elif etype == h.EVENT_RAISED:
                self._raised(e)
                self.advance()
        return [s for _, s in sorted(self.steps.items()) if not s.scheduled]

    def canceled_timers(self) -> set[int]:
        return {seq for seq, s in self.steps.items() if s.canceled}

    def advance(self) -> None:
        """Invoke top-level actions until one that is still running must be awaited."""
        while self.cursor < len(self.top) and (self.blocked is None or self.blocked.done):
            action = self.top[self.cursor]
            self.cursor += 1
            node = self.invoke(action, None)
            self.blocked = None if node.kind == SIGNAL else node

    def invoke(self, action: dict[str, Any], parent: Node | None) -> Node:
        atype = action["actionType"]
        if atype in (11, 12):
            node = Node("any" if atype == 11 else "all", parent, ready=False)
            node.children = [self.invoke(a, node) for a in action["compoundActions"]]
            node.reevaluate()
            return node
        if atype in _RETRY_KINDS:
            return Retry(self, action, parent)
        if atype == 6:
            return self._wait(action["externalEventName"], parent)
        if atype == 4:  # continue-as-new: handled from the orchestrator state, nothing to await
            return Node(SIGNAL, parent, done=True)
        if atype not in _LEAF_KINDS:
            raise NotImplementedError(f"action type {atype} is not supported by the local host")
        step = self.leaf(_LEAF_KINDS[atype], action, parent)
        if step.canceled:  # a canceled .NET timer task completes at once
            step.finish(True)
        return step

    def leaf(self, kind: str, action: dict[str, Any], parent: Node | None) -> Step:
        seq = len(self.steps)
        step = self.steps[seq] = Step(kind, parent, seq=seq, action=action)
        return step

    def _wait(self, name: str, parent: Node | None) -> Node:
        node = Node("wait", parent)
        if self.buffered.get(name):
            self.buffered[name] -= 1
            node.done = True
        else:
            self.waiters.setdefault(name, []).append(node)
        return node

    def _raised(self, e: h.Event) -> None:
        name = e["Name"]
        if name in self.requests:
            body = json.loads(e["Input"])
            self.requests.pop(name).finish("exceptionType" not in body)
        elif self.waiters.get(name):
            self.waiters[name].pop(0).finish(True)
        else:
            self.buffered[name] = self.buffered.get(name, 0) + 1

    def _match(self, e: h.Event) -> None:
        seq, etype = e["EventId"], e["EventType"]
        step = self.steps.get(seq)
        expected = _SCHEDULED_AS[etype]
        name = e.get("Name") if etype != h.EVENT_SENT else e.get("InstanceId")
        now = _describe(step)
        if (
            step is None
            or step.kind not in expected
            or (step.kind in (ACTIVITY, SUBORCH) and step.action.get("functionName") != name)
            or (step.kind in (CALL, SIGNAL) and step.action.get("instanceId") != name)
        ):
            raise NonDeterminismError(
                f"Non-Deterministic workflow detected: the history has {expected[0]} "
                f"'{name or ''}' as task {seq}, but the orchestrator now schedules {now}"
            )
        step.scheduled = True
        if step.kind == CALL:
            self.requests[json.loads(e["Input"])["id"]] = step


def _describe(step: Step | None) -> str:
    if step is None:
        return "nothing there"
    what = step.action.get("functionName") or step.action.get("instanceId") or ""
    return f"{step.kind} '{what}'" if what else step.kind
