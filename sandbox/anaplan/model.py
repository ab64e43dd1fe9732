"""The FP&A model as data: lists, modules, action definitions, files and the model's state.

Behaviour lives elsewhere (imports, exports, tasks, the API); this is what those act on, and
what ``/_sandbox/anaplan/...`` inspects. ``dataset.py`` builds one from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.anaplan.definitions import (
    Definition,
)
from sandbox.anaplan.files import FileStore
from sandbox.anaplan.lists import PlanList
from sandbox.anaplan.modules import Module

UNLOCKED = "UNLOCKED"
LOCKED = "LOCKED"
ARCHIVED = "ARCHIVED"


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    size_allowance: int


class PlanModel:
    def __init__(
        self,
        model_id: str,
        name: str,
        workspace: Workspace,
        lists: list[PlanList],
        modules: list[Module],
        definitions: list[Definition],
        files: FileStore,
        cost_center_departments: dict[str, str],
    ) -> None:
        self.id = model_id
        self.name = name
        self.workspace = workspace
        self.lists = {pl.name: pl for pl in lists}
        self.modules = {m.name: m for m in modules}
        self.definitions = {d.id: d for d in definitions}
        self.files = files
        # the model builder's mapping of cost centers to departments, used for the budget
        self.cost_center_departments = cost_center_departments
        self.active_state = UNLOCKED
        self.last_modified_ms = 0

    def list_by_id(self, list_id: str) -> PlanList | None:
        return next((pl for pl in self.lists.values() if pl.id == list_id), None)

    def module_by_id(self, module_id: str) -> Module | None:
        return next((m for m in self.modules.values() if m.id == module_id), None)

    def definition(self, object_id: str) -> Definition | None:
        return self.definitions.get(object_id)
