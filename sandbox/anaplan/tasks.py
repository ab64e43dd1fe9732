"""Tasks and the per-model queue that runs them one at a time, first come first served.

Imports, exports, processes and write actions take the model exclusively. Anaplan accepts a task
started while another runs and leaves it ``NOT_STARTED`` until the model is free, so the queue
never rejects. Metadata calls that need the model wait their turn behind every task submitted
before them (``wait_turn``), which is the documented "calls wait for the model to become
available again". A cancel moves a task to ``CANCELLING`` and then ``CANCELLED``; the runner
rolls back whatever it staged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.anaplan.ids import new_task_id
from sandbox.anaplan.pace import Pace, TaskCancelled
from sandbox.common.context import SandboxContext

NOT_STARTED = "NOT_STARTED"
IN_PROGRESS = "IN_PROGRESS"
COMPLETE = "COMPLETE"
CANCELLING = "CANCELLING"
CANCELLED = "CANCELLED"
TASKS_KEPT_PER_ACTION = 500
QUEUED_CANCEL_S = 0.5  # how long a queued task shows CANCELLING (real seconds, before --fast)

log = logging.getLogger(__name__)


@dataclass
class Task:
    id: str
    object_id: str
    kind: str  # "imports", "exports", "actions" or "processes"
    user: str  # user guid
    user_login: str
    creation_ms: int
    sequence: int
    state: str = NOT_STARTED
    progress: float = 0.0
    current_step: str = "Queued."
    result: dict[str, Any] | None = None
    started_ms: int | None = None
    finished_ms: int | None = None
    # per action of a process: (start, duration) in ms, for ?includeProcessDetails=true
    step_timings: list[tuple[int, int]] = field(default_factory=list)
    cancel: asyncio.Event = field(default_factory=asyncio.Event)

    def summary(self) -> dict[str, Any]:
        return {"taskId": self.id, "taskState": self.state, "creationTime": self.creation_ms}

    def describe(self, process_details: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "taskInformation",
            "taskId": self.id,
            "currentStep": self.current_step,
            "progress": self.progress,
            "creationTime": self.creation_ms,
            "taskState": self.state,
        }
        if self.result is not None and self.state == COMPLETE:
            body["result"] = self.result
            if process_details and "nestedResults" in self.result:
                nested = [
                    {**child, "startTime": start, "duration": duration}
                    for child, (start, duration) in zip(
                        self.result["nestedResults"], self.step_timings, strict=False
                    )
                ]
                body["result"] = {**self.result, "nestedResults": nested}
        return body


Execute = Callable[[Task, Pace], Awaitable[dict[str, Any]]]


class ModelTasks:
    def __init__(self, ctx: SandboxContext, execute: Execute) -> None:
        self._ctx = ctx
        self._execute = execute
        self._by_object: dict[str, list[Task]] = {}
        self._queue: deque[Task] = deque()
        self._unfinished: set[int] = set()
        self._sequence = 0
        self._finished = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        self._worker: asyncio.Task[None] | None = None
        self.running: Task | None = None
        self._failing: dict[str, int] = {}  # object id -> tasks still to fail (a test control)

    # -- submitting and finding ------------------------------------------------------------
    def submit(self, kind: str, object_id: str, user: str, user_login: str) -> Task:
        self._sequence += 1
        task = Task(
            id=new_task_id(),
            object_id=object_id,
            kind=kind,
            user=user,
            user_login=user_login,
            creation_ms=int(self._ctx.clock.time() * 1000),
            sequence=self._sequence,
        )
        tasks = self._by_object.setdefault(object_id, [])
        tasks.append(task)
        del tasks[:-TASKS_KEPT_PER_ACTION]
        self._queue.append(task)
        self._unfinished.add(task.sequence)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        return task

    def tasks_of(self, object_id: str) -> list[Task]:
        return list(self._by_object.get(object_id, ()))

    def all_tasks(self) -> list[Task]:
        return sorted((t for ts in self._by_object.values() for t in ts), key=lambda t: t.sequence)

    def find(self, object_id: str, task_id: str) -> Task | None:
        return next((t for t in self._by_object.get(object_id, ()) if t.id == task_id), None)

    @property
    def busy(self) -> bool:
        return bool(self._unfinished)

    # -- waiting ---------------------------------------------------------------------------
    async def wait_turn(self) -> None:
        """Return once every task submitted before this call has finished."""
        before = self._sequence
        while any(s <= before for s in self._unfinished):
            await self._finished.wait()

    # -- holding (tests) and cancelling ----------------------------------------------------
    @property
    def held(self) -> bool:
        return not self._released.is_set()

    def hold(self, held: bool) -> None:
        if held:
            self._released.clear()
        else:
            self._released.set()

    def fail_next(self, object_id: str, count: int) -> None:
        """The next ``count`` tasks of ``object_id`` end ``COMPLETE`` with ``successful: false``.

        What Anaplan reports when an action fails on its side (``currentStep`` "Failed."); for
        an export, no new file is produced, so the file holds what the previous run left.
        """
        if count > 0:
            self._failing[object_id] = count
        else:
            self._failing.pop(object_id, None)

    def _take_failure(self, object_id: str) -> bool:
        left = self._failing.get(object_id, 0)
        if left <= 0:
            return False
        if left == 1:
            del self._failing[object_id]
        else:
            self._failing[object_id] = left - 1
        return True

    def cancel(self, task: Task) -> None:
        if task.state == NOT_STARTED:
            task.state = CANCELLING
            task.current_step = "Cancelling."
            delay = self._ctx.wait(QUEUED_CANCEL_S)
            asyncio.get_running_loop().call_later(delay, self._cancelled_in_queue, task)
        elif task.state == IN_PROGRESS:
            task.state = CANCELLING
            task.current_step = "Cancelling."
            task.cancel.set()

    def _cancelled_in_queue(self, task: Task) -> None:
        if task in self._queue:
            self._queue.remove(task)
        task.state = CANCELLED
        task.current_step = "Cancelled."
        task.finished_ms = int(self._ctx.clock.time() * 1000)
        self._done(task)

    # -- the worker ------------------------------------------------------------------------
    def _done(self, task: Task) -> None:
        self._unfinished.discard(task.sequence)
        finished, self._finished = self._finished, asyncio.Event()
        finished.set()

    async def _work(self) -> None:
        try:
            while self._queue:
                task = self._queue.popleft()
                if task.state != NOT_STARTED:
                    continue
                await self._run(task)
                await asyncio.sleep(0)  # calls waiting for the model go before the next task
        finally:
            self._worker = None

    async def _run(self, task: Task) -> None:
        self.running = task
        task.state = IN_PROGRESS
        task.current_step = "Processing ..."
        task.started_ms = int(self._ctx.clock.time() * 1000)

        def progress(value: float) -> None:
            task.progress = value

        pace = Pace(task.cancel, lambda: self._released, self._ctx.wait, progress)
        started = time.monotonic()
        try:
            if self._take_failure(task.object_id):
                task.result = {
                    "failureDumpAvailable": False,
                    "objectId": task.object_id,
                    "successful": False,
                }
            else:
                task.result = await self._execute(task, pace)
            task.state = COMPLETE
            task.progress = 1.0
            task.current_step = "Complete." if task.result.get("successful") else "Failed."
        except TaskCancelled:
            task.state = CANCELLED
            task.current_step = "Cancelled."
        except Exception:
            log.exception("task %s of %s failed inside the simulator", task.id, task.object_id)
            task.result = {
                "failureDumpAvailable": False,
                "objectId": task.object_id,
                "successful": False,
            }
            task.state = COMPLETE
            task.progress = 1.0
            task.current_step = "Failed."
        finally:
            task.finished_ms = int(self._ctx.clock.time() * 1000)
            log.debug("task %s ran %.2fs", task.id, time.monotonic() - started)
            self.running = None
            self._done(task)

    def reset(self) -> None:
        """Forget every finished task (the sandbox's reset control; refused while busy)."""
        assert not self.busy
        self._by_object.clear()
        self._failing.clear()
