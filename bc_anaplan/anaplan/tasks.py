"""Running actions as tasks: a start that never runs an import twice, typed status, waiting.

**Starting.** ``POST .../{imports|exports|processes|actions}/{id}/tasks`` is the one call that
must not be repeated blindly: if the answer is lost (timeout, connection reset, a 5xx after the
request was sent), the task may well be running, and a second POST would run the import a second
time. So ``start_task`` lists the action's tasks *before* posting; when the HTTP layer reports the
outcome as unknown (``OutcomeUnknownError``) it lists them again and adopts the task that is new
-- not in the first list and created after the attempt began, less a margin for clock skew. A
caller that already holds a watermark on Anaplan's clock (``after_ms``: the orchestrations take
one under the model lock) skips the first list and adopts the task created after the watermark
(``task_started_since``). Only if there is none did the POST not take effect, and it is sent once
more; a second unknown outcome without a new task is an error, never a third POST. (A 429 is
retried by the HTTP layer: it means the request was not processed.)

**Status.** ``get_task`` is a one-shot read, for orchestrations that wait with durable timers.
States are an open set: the five documented ones, and anything else Anaplan may add is treated
as still running. ``COMPLETE`` only says the task ended; ``result.successful`` says how, and the
result's ``details`` are decoded into row counts (hierarchy and module imports report the same
keys; processes nest one result per step).

**Waiting.** ``wait_for_task`` blocks, so no flow uses it (the orchestrations wait with durable
timers); it serves tests and interactive use. It polls no more often than every 5 s, then less
often for long tasks (``poll_interval``), stops on ``COMPLETE`` *and* ``CANCELLED``, and at its
deadline asks Anaplan to cancel the task and raises. The sleep is injectable so tests run fast
against the real sandbox.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bc_anaplan.anaplan.actions import Action, action_from_dict
from bc_anaplan.anaplan.api import ModelApi, decode
from bc_anaplan.anaplan.errors import ProtocolError, TaskDeadlineError, TaskStartError
from bc_anaplan.anaplan.ids import task_id as normal_task_id
from bc_anaplan.http import ApiError, OutcomeUnknownError, TransportFailure

log = logging.getLogger("bc_anaplan.anaplan.tasks")

NOT_STARTED = "NOT_STARTED"
IN_PROGRESS = "IN_PROGRESS"
COMPLETE = "COMPLETE"
CANCELLING = "CANCELLING"
CANCELLED = "CANCELLED"
KNOWN_STATES = (NOT_STARTED, IN_PROGRESS, COMPLETE, CANCELLING, CANCELLED)
TERMINAL_STATES = frozenset({COMPLETE, CANCELLED})

START_SKEW_S = 300.0  # how far the server's clock may be behind ours when adopting a task
MIN_POLL_S = 5.0  # Anaplan: poll an import no more than once every 5 seconds


def poll_interval(elapsed_s: float, first_s: float = MIN_POLL_S) -> float:
    """Seconds to wait before the next status read of a task running for ``elapsed_s``.

    Anaplan's guidance: at most every 5 s at first, backing off for long tasks -- 5, 15, 30 and
    60 s with the default first interval, which scales the whole schedule (``ANAPLAN_POLL_SECONDS``
    for the orchestrations). Pure, so the orchestrations' task monitor uses it too.
    """
    if elapsed_s < 60:
        return first_s
    if elapsed_s < 5 * 60:
        return 3 * first_s
    if elapsed_s < 15 * 60:
        return 6 * first_s
    return 12 * first_s


# -- result details -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowCounts:
    processed: int = 0  # rows read from the source (totalRowCount)
    succeeded: int = 0
    failed: int = 0
    ignored: int = 0
    warnings: int = 0

    def __add__(self, other: RowCounts) -> RowCounts:
        return RowCounts(
            self.processed + other.processed,
            self.succeeded + other.succeeded,
            self.failed + other.failed,
            self.ignored + other.ignored,
            self.warnings + other.warnings,
        )


@dataclass(frozen=True)
class TaskDetail:
    type: str
    message: str
    values: Mapping[str, str]
    occurrences: int = 0

    @property
    def counts(self) -> RowCounts | None:
        """Row counts if this detail reports them (from ``values``, else from the message)."""
        if "successRowCount" in self.values or "totalRowCount" in self.values:
            number = _numbers(self.values)
            return RowCounts(
                processed=number("totalRowCount"),
                succeeded=number("successRowCount"),
                failed=number("failedCount"),
                ignored=number("ignoredCount"),
                warnings=number("warningsRowCount"),
            )
        if self.type.endswith(("RowsProcessed", "RowsProcessedWithFailures")):
            return _counts_from_message(self.message)
        return None


def _numbers(values: Mapping[str, str]) -> Callable[[str], int]:
    def number(key: str) -> int:
        try:
            return int(values.get(key, "0") or 0)
        except ValueError:
            return 0

    return number


_MESSAGE_COUNTS = {
    "succeeded": re.compile(r"(\d+)(?: \(\d+/\d+\))? rows? successful"),
    "failed": re.compile(r"(\d+) failed"),
    "ignored": re.compile(r"(\d+) ignored"),
    "warnings": re.compile(r"(\d+) warnings?"),
}


def _counts_from_message(message: str) -> RowCounts:
    found = {k: int(m.group(1)) for k, p in _MESSAGE_COUNTS.items() if (m := p.search(message))}
    total = sum(found.values()) - found.get("warnings", 0)
    return RowCounts(processed=total, **found)


def parse_detail(raw: Mapping[str, Any]) -> TaskDetail:
    flat = raw.get("values")
    values: dict[str, str] = {}
    if isinstance(flat, list):  # alternating key, value strings
        for key, value in zip(flat[0::2], flat[1::2], strict=False):
            values[str(key)] = str(value)
    occurrences = raw.get("occurrences")
    return TaskDetail(
        type=str(raw.get("type") or ""),
        message=str(raw.get("localMessageText") or "").strip(),
        values=values,
        occurrences=occurrences if isinstance(occurrences, int) else 0,
    )


@dataclass(frozen=True)
class TaskResult:
    successful: bool
    failure_dump_available: bool
    object_id: str | None
    details: tuple[TaskDetail, ...] = ()
    nested: tuple[TaskResult, ...] = ()  # one per step of a process

    @property
    def counts(self) -> RowCounts:
        """Row counts of this result and every nested one."""
        total = RowCounts()
        for detail in self.details:
            total += detail.counts or RowCounts()
        for child in self.nested:
            total += child.counts
        return total

    def messages(self) -> list[str]:
        texts = [d.message for d in self.details if d.message]
        for child in self.nested:
            texts.extend(child.messages())
        return texts


def parse_result(raw: Mapping[str, Any]) -> TaskResult:
    details = raw.get("details")
    nested = raw.get("nestedResults")
    object_id = raw.get("objectId")
    return TaskResult(
        successful=raw.get("successful") is True,
        failure_dump_available=raw.get("failureDumpAvailable") is True,
        object_id=str(object_id) if object_id is not None else None,
        details=tuple(parse_detail(d) for d in _dicts(details)),
        nested=tuple(parse_result(n) for n in _dicts(nested)),
    )


def _dicts(value: Any) -> Iterable[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# -- handles and status ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskHandle:
    """A task this client started: what an orchestration keeps between activities."""

    action: Action
    task_id: str
    adopted: bool = False  # found by reconciliation after the start's answer was lost

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action.to_dict(), "task_id": self.task_id, "adopted": self.adopted}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskHandle:
        return cls(
            action_from_dict(data["action"]),
            normal_task_id(str(data["task_id"])),
            bool(data.get("adopted", False)),
        )


@dataclass(frozen=True)
class TaskSummary:
    """A task as the task list shows it."""

    task_id: str
    state: str
    creation_time_ms: int | None


@dataclass(frozen=True)
class TaskStatus:
    """A task's state as the server reported it in one status read."""

    action: Action
    task_id: str
    state: str
    progress: float | None = None
    current_step: str | None = None
    creation_time_ms: int | None = None
    result: TaskResult | None = None
    raw_state: str = field(default="", compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        """Complete and successful (an import may still have rejected some rows)."""
        return self.state == COMPLETE and self.result is not None and self.result.successful

    @property
    def handle(self) -> TaskHandle:
        return TaskHandle(self.action, self.task_id)

    def to_dict(self) -> dict[str, Any]:
        """A small JSON summary for orchestration history (no bulk data)."""
        result = self.result
        counts = result.counts if result else RowCounts()
        return {
            "action": self.action.to_dict(),
            "task_id": self.task_id,
            "state": self.state,
            "terminal": self.is_terminal,
            "progress": self.progress,
            "current_step": self.current_step,
            "successful": result.successful if result else None,
            "failure_dump_available": result.failure_dump_available if result else False,
            "counts": vars(counts),
            "messages": result.messages()[:20] if result else [],
        }


def parse_status(action: Action, raw: Mapping[str, Any]) -> TaskStatus:
    raw_state = str(raw.get("taskState") or "")
    task = raw.get("taskId")
    if not isinstance(task, str):
        raise ProtocolError("Anaplan's task answer has no taskId")
    result = raw.get("result")
    progress = raw.get("progress")
    created = raw.get("creationTime")
    return TaskStatus(
        action=action,
        task_id=task,
        state=raw_state if raw_state in KNOWN_STATES else f"UNKNOWN:{raw_state}",
        progress=float(progress) if isinstance(progress, int | float) else None,
        current_step=str(raw["currentStep"]) if raw.get("currentStep") else None,
        creation_time_ms=created if isinstance(created, int) else None,
        result=parse_result(result) if isinstance(result, dict) else None,
        raw_state=raw_state,
    )


# -- calls ----------------------------------------------------------------------------------------
def tasks_path(api: ModelApi, action: Action, *parts: str) -> str:
    return api.path(action.kind, action.id, "tasks", *parts)


def list_tasks(api: ModelApi, action: Action) -> list[TaskSummary]:
    """The action's tasks, oldest first (none = an empty list)."""
    summaries = []
    for item in api.collection(tasks_path(api, action), "tasks"):
        created = item.get("creationTime")
        summaries.append(
            TaskSummary(
                str(item.get("taskId")),
                str(item.get("taskState") or ""),
                created if isinstance(created, int) else None,
            )
        )
    return summaries


def start_task(
    api: ModelApi,
    action: Action,
    *,
    locale: str = "en_US",
    mapping: Mapping[str, str] | None = None,
    after_ms: int | None = None,
    clock: Callable[[], float] = time.time,
    skew_s: float = START_SKEW_S,
) -> TaskHandle:
    """Start ``action`` once, even when the answer to the start is lost (see module docstring).

    ``after_ms`` is a watermark on Anaplan's clock (``task_started_since``) that the caller
    already holds: no snapshot of the task list is read before the POST, and on an unknown
    outcome the task created after the watermark is adopted.
    """
    body: dict[str, Any] = {"localeName": locale}  # Anaplan wants localeName first
    if mapping:
        body["mappingParameters"] = [{"entityType": k, "entityName": v} for k, v in mapping.items()]
    known: set[str] = set()
    if after_ms is None:  # without a watermark, a snapshot tells our task from earlier ones
        known = {t.task_id for t in list_tasks(api, action)}
    for attempt in (1, 2):
        began = clock()
        try:
            answer = api.send("POST", tasks_path(api, action), body, idempotent=False)
        except OutcomeUnknownError as exc:
            if after_ms is not None:
                found = task_started_since(api, action, after_ms)
                adopted = found.task_id if found is not None else None
            else:
                adopted = _started_since(api, action, known, began - skew_s)
            if adopted is not None:
                log.warning(
                    "start of %s %r: answer lost; adopted task %s",
                    action.label,
                    action.name,
                    adopted,
                )
                return TaskHandle(action, adopted, adopted=True)
            if attempt == 2:
                raise TaskStartError(
                    f"could not start {action.label} {action.name!r}: the outcome of two "
                    f"attempts was unknown and no new task exists ({exc.cause})"
                ) from exc
            log.warning(
                "start of %s %r: answer lost and no task started; starting again",
                action.label,
                action.name,
            )
            continue
        return TaskHandle(action, _task_id_of(answer))
    raise AssertionError("unreachable")


def _started_since(api: ModelApi, action: Action, known: set[str], since_s: float) -> str | None:
    """The task that appeared since the snapshot ``known`` and was created after ``since_s``."""
    new = [t for t in list_tasks(api, action) if t.task_id not in known]
    recent = [t for t in new if t.creation_time_ms is None or t.creation_time_ms >= since_s * 1000]
    if len(recent) > 1:
        log.warning("%d new tasks of %r appeared; adopting the earliest", len(recent), action.name)
    return recent[0].task_id if recent else None


def task_started_since(api: ModelApi, action: Action, after_ms: int) -> TaskHandle | None:
    """The first task of ``action`` created after ``after_ms`` (Anaplan's clock), if any.

    ``after_ms`` is a watermark read from the action's own task list (the newest
    ``creationTime`` when the caller took the model's lock). Holding the lock since then, the
    caller knows a later task can only be its own -- started by an attempt whose answer was
    lost, or by an activity that crashed and is being retried -- and adopts it rather than
    starting the import again. Comparing Anaplan's timestamps with Anaplan's (strictly later)
    leaves no clock skew to allow for, so an earlier run's task is never taken for this one.
    """
    for task in list_tasks(api, action):  # oldest first
        if task.creation_time_ms is not None and task.creation_time_ms > after_ms:
            return TaskHandle(action, task.task_id, adopted=True)
    return None


def _task_id_of(answer: Mapping[str, Any]) -> str:
    task = answer.get("task")
    raw = task.get("taskId") if isinstance(task, dict) else answer.get("taskId")
    if not isinstance(raw, str) or not raw:
        raise ProtocolError("Anaplan's answer to a task start has no task.taskId")
    return raw


def get_task(api: ModelApi, action: Action, task_id: str) -> TaskStatus:
    """One status read (never sleeps)."""
    body = api.get(tasks_path(api, action, task_id))
    task = body.get("task", body)
    if not isinstance(task, dict):
        raise ProtocolError("Anaplan's task status has no task object")
    return parse_status(action, task)


def cancel_task(api: ModelApi, action: Action, task_id: str) -> TaskStatus:
    """Ask Anaplan to cancel the task (``DELETE``); it goes CANCELLING, then CANCELLED."""
    response = api.http.request("DELETE", tasks_path(api, action, task_id))
    task = None
    if response.content:
        task = decode(response).get("task")
    if isinstance(task, dict) and isinstance(task.get("taskId"), str):
        return parse_status(action, task)
    return get_task(api, action, task_id)


def wait_for_task(
    api: ModelApi,
    action: Action,
    task_id: str,
    *,
    deadline_s: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_status: Callable[[TaskStatus], None] | None = None,
    max_poll_errors: int = 5,
    cancel_at_deadline: bool = True,
) -> TaskStatus:
    """Poll until the task is COMPLETE or CANCELLED; cancel it and raise at the deadline."""
    started, errors = clock(), 0
    while True:
        try:
            status = get_task(api, action, task_id)
        except (TransportFailure, ApiError) as exc:
            if isinstance(exc, ApiError) and not exc.transient:
                raise
            errors += 1
            if errors > max_poll_errors:
                raise
            log.warning("status read %d of task %s failed: %s", errors, task_id, exc)
        else:
            errors = 0
            if on_status is not None:
                on_status(status)
            if status.is_terminal:
                return status
        elapsed = clock() - started
        if elapsed >= deadline_s:
            _cancel_quietly(api, action, task_id, cancel_at_deadline)
            raise TaskDeadlineError(
                f"{action.label} {action.name!r} task {task_id} did not finish within "
                f"{deadline_s:.0f} s" + ("; cancellation requested" if cancel_at_deadline else "")
            )
        sleep(max(MIN_POLL_S, min(poll_interval(elapsed), deadline_s - elapsed)))


def _cancel_quietly(api: ModelApi, action: Action, task_id: str, cancel: bool) -> None:
    if not cancel:
        return
    try:
        cancel_task(api, action, task_id)
    except (TransportFailure, ApiError) as exc:
        log.warning("could not cancel task %s at its deadline: %s", task_id, exc)
