"""What a task does: run the import, export, delete action or process it was started for.

Each kind of action first *stages* its work (reading the file, validating, rendering), paced to
the simulated duration, and only then commits to the model, so a cancel before the end leaves no
trace. A process runs its actions in order, committing each (later actions see earlier ones'
changes, as in Anaplan); if it is cancelled half-way, the lists and modules its earlier actions
changed are restored from snapshots taken before they were first touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.anaplan.definitions import (
    DeleteDefinition,
    ExportDefinition,
    ImportDefinition,
    ProcessDefinition,
)
from sandbox.anaplan.deletes import plan_delete
from sandbox.anaplan.dumps import DumpStore
from sandbox.anaplan.exports import render_export
from sandbox.anaplan.imports import detail, run_import
from sandbox.anaplan.model import PlanModel
from sandbox.anaplan.pace import Pace, TaskCancelled
from sandbox.anaplan.tasks import Task
from sandbox.common.clock import SimClock


@dataclass
class StepOutcome:
    result: dict[str, Any]
    commit: Callable[[], None]
    dump: bytes | None = None
    rows: int = 0
    touches: list[str] = field(default_factory=list)  # names of lists/modules it changes


class TaskRunner:
    def __init__(self, model: PlanModel, dumps: DumpStore, clock: SimClock) -> None:
        self.model = model
        self.dumps = dumps
        self.clock = clock

    async def execute(self, task: Task, pace: Pace) -> dict[str, Any]:
        definition = self.model.definition(task.object_id)
        if isinstance(definition, ProcessDefinition):
            return await self._process(task, definition, pace)
        assert definition is not None
        outcome = await self._step(task.user, definition, pace)
        outcome.commit()
        if isinstance(definition, ImportDefinition):
            parts = {definition.id: outcome.dump} if outcome.dump else {}
            self.dumps.record(task.user, definition.id, task.id, parts)
        return outcome.result

    async def _step(
        self,
        user: str,
        definition: ImportDefinition | ExportDefinition | DeleteDefinition | ProcessDefinition,
        pace: Pace,
    ) -> StepOutcome:
        if isinstance(definition, ImportDefinition):
            return await self._import(user, definition, pace)
        if isinstance(definition, ExportDefinition):
            return await self._export(user, definition, pace)
        if isinstance(definition, DeleteDefinition):
            return await self._delete(definition, pace)
        raise TypeError(f"a process cannot contain process {definition.id}")

    async def _import(self, user: str, definition: ImportDefinition, pace: Pace) -> StepOutcome:
        content = self.model.files.current(user, definition.file_id)
        outcome = await run_import(self.model, definition, content, pace)

        def commit() -> None:
            outcome.commit()
            self._touch()

        result = {
            "details": outcome.details,
            "failureDumpAvailable": outcome.dump is not None,
            "objectId": definition.id,
            "successful": outcome.successful,
        }
        return StepOutcome(result, commit, outcome.dump, outcome.rows, [definition.target])

    async def _export(self, user: str, definition: ExportDefinition, pace: Pace) -> StepOutcome:
        data, rows = render_export(self.model, definition)
        await pace.step(rows, 0.5)
        await pace.finish(rows)
        result = {"failureDumpAvailable": False, "objectId": definition.id, "successful": True}

        def commit() -> None:
            self.model.files.store_output(user, definition.id, data)

        return StepOutcome(result, commit, rows=rows)

    async def _delete(self, definition: DeleteDefinition, pace: Pace) -> StepOutcome:
        count, delete = plan_delete(self.model, definition)
        await pace.finish(count)
        text = f"{definition.list_name}: {count} items deleted"
        values = ["listName", definition.list_name, "deletedCount", str(count)]
        result = {
            "details": [detail("itemsDeleted", text, values)],
            "failureDumpAvailable": False,
            "objectId": definition.id,
            "successful": True,
        }

        def commit() -> None:
            delete()
            self._touch()

        touched = [definition.list_name, *self.model.modules]
        return StepOutcome(result, commit, rows=count, touches=touched)

    async def _process(self, task: Task, process: ProcessDefinition, pace: Pace) -> dict[str, Any]:
        snapshots: dict[str, Any] = {}
        nested: list[dict[str, Any]] = []
        dumps: dict[str, bytes] = {}
        rows_done = 0
        try:
            for action_id in process.action_ids:
                definition = self.model.definition(action_id)
                assert definition is not None and not isinstance(definition, ProcessDefinition)
                pace.restart_schedule(rows_done)
                started_ms = int(self.clock.time() * 1000)
                outcome = await self._step(task.user, definition, pace)
                for name in outcome.touches:
                    if name not in snapshots:
                        snapshots[name] = self._snapshot(name)
                outcome.commit()
                rows_done += outcome.rows
                child: dict[str, Any] = {
                    key: outcome.result[key]
                    for key in ("details", "failureDumpAvailable", "objectId", "successful")
                    if key in outcome.result
                }
                nested.append(child)
                task.step_timings.append((started_ms, int(self.clock.time() * 1000) - started_ms))
                if outcome.dump:
                    dumps[definition.id] = outcome.dump
        except TaskCancelled:
            for name, snapshot in snapshots.items():
                self._restore(name, snapshot)
            raise
        self.dumps.record(task.user, process.id, task.id, dumps)
        return {
            "failureDumpAvailable": bool(dumps),
            "nestedResults": nested,
            "objectId": process.id,
            "successful": all(child["successful"] for child in nested),
        }

    def _snapshot(self, name: str) -> Any:
        if name in self.model.lists:
            return self.model.lists[name].snapshot()
        return self.model.modules[name].snapshot()

    def _restore(self, name: str, snapshot: Any) -> None:
        if name in self.model.lists:
            self.model.lists[name].restore(snapshot)
        else:
            self.model.modules[name].restore(snapshot)

    def _touch(self) -> None:
        self.model.last_modified_ms = int(self.clock.time() * 1000)
