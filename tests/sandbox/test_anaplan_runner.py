"""In-process checks of what HTTP cannot stop at a precise point: a process cancelled after its
first actions committed puts every list back as it was."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.anaplan.dataset import build_model
from sandbox.anaplan.dumps import DumpStore
from sandbox.anaplan.pace import Pace, TaskCancelled
from sandbox.anaplan.runner import TaskRunner
from sandbox.anaplan.tasks import Task
from sandbox.common.clock import SimClock


class CancelAtFinish(Pace):
    """A pace that cancels the task when the n-th action of a process reaches its end."""

    def __init__(self, cancel_at: int) -> None:
        self.cancel = asyncio.Event()
        released = asyncio.Event()
        released.set()
        super().__init__(self.cancel, lambda: released, lambda s: 0.0, lambda p: None)
        self.finishes = 0
        self.cancel_at = cancel_at

    async def finish(self, rows_done: int) -> None:
        self.finishes += 1
        if self.finishes == self.cancel_at:
            self.cancel.set()
        await super().finish(rows_done)


def test_cancelled_process_rolls_back_committed_actions() -> None:
    async def scenario() -> None:
        clock = SimClock()
        model = build_model(7, clock)
        user = "user-guid"
        gl_file = model.definition("112000000001").file_id  # type: ignore[union-attr]
        dept_file = model.definition("112000000002").file_id  # type: ignore[union-attr]
        model.files.put_whole(
            user,
            gl_file,
            b"Code,Name,Category,Account Group,Blocked,Deleted in BC\n"
            b"99990,99990 Brand New,Expense,Personnel,false,false\n",
        )
        model.files.put_whole(
            user, dept_file, b"Code,Name,Blocked,Deleted in BC\nNEW,NEW Department,false,false\n"
        )
        before = {name: [i.name for i in pl.items()] for name, pl in model.lists.items()}
        runner = TaskRunner(model, DumpStore(clock), clock)
        task = Task("T1", "118000000001", "processes", user, "login", 0, 1)
        pace = CancelAtFinish(cancel_at=3)  # GL Accounts and Departments have committed
        with pytest.raises(TaskCancelled):
            await runner.execute(task, pace)
        after = {name: [i.name for i in pl.items()] for name, pl in model.lists.items()}
        assert after == before
        assert model.lists["GL Accounts"].by_code("99990") is None

        committed = CancelAtFinish(cancel_at=99)
        result = await runner.execute(task, committed)
        assert result["successful"] is True
        assert model.lists["GL Accounts"].by_code("99990") is not None
        assert model.lists["Departments"].by_code("NEW") is not None

    asyncio.run(scenario())
