"""Running a delete action: remove the list items a boolean property selects, and their cells.

The model builder's ``Delete Cost Centers Deleted in BC`` deletes every cost center whose
``Deleted in BC`` property is true. Deleting a member removes its cells from every module
dimensioned by that list, as Anaplan does.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.anaplan.definitions import DeleteDefinition
from sandbox.anaplan.model import PlanModel


def plan_delete(model: PlanModel, action: DeleteDefinition) -> tuple[int, Callable[[], int]]:
    """How many items the action selects now, and the commit that deletes them."""
    plan_list = model.lists[action.list_name]
    doomed = [item for item in plan_list.items() if item.properties.get(action.flag_property)]

    def commit() -> int:
        cells = 0
        for item in doomed:
            for module in model.modules.values():
                cells += module.clear_where(plan_list.name, item.position)
            plan_list.remove(item)
        return cells

    return len(doomed), commit
