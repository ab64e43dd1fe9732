"""The actions a model builder defined in the FP&A model: imports, exports, processes, deletes.

These are declarations, not behaviour: ``imports.py``, ``exports.py`` and ``deletes.py`` run
them, ``api_actions.py`` describes them. Each import names its target (a list or a module), its
data source file and the source columns its mapping uses; every mapped column must be present in
an uploaded file, any other column is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HIERARCHY_DATA = "HIERARCHY_DATA"
MODULE_DATA = "MODULE_DATA"
TABULAR_MULTI_COLUMN = "TABULAR_MULTI_COLUMN"
DELETE_BY_SELECTION = "DELETE_BY_SELECTION"


@dataclass(frozen=True)
class ImportDefinition:
    id: str
    name: str
    import_type: str  # HIERARCHY_DATA or MODULE_DATA
    target: str  # list name or module name
    file_id: str
    columns: tuple[str, ...]  # every mapped source column, in the sample file's order

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "importDataSourceId": self.file_id,
            "importType": self.import_type,
        }


@dataclass(frozen=True)
class ExportDefinition:
    id: str  # the export's output file has the same id
    name: str
    source: str  # "approved_budget" or "plan_status": which renderer builds the rows
    columns: tuple[str, ...]
    list_names: tuple[str, ...]  # per column, the list it names members of ("" otherwise)
    data_types: tuple[str, ...]  # per column: ENTITY, NUMBER, BOOLEAN, TEXT

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "exportType": TABULAR_MULTI_COLUMN,
            "exportFormat": "text/csv",
            "encoding": "UTF-8",
            "layout": TABULAR_MULTI_COLUMN,
        }


@dataclass(frozen=True)
class DeleteDefinition:
    id: str
    name: str
    list_name: str
    flag_property: str  # items whose boolean property is true are deleted

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "actionType": DELETE_BY_SELECTION}


@dataclass(frozen=True)
class ProcessDefinition:
    id: str
    name: str
    action_ids: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


Definition = ImportDefinition | ExportDefinition | DeleteDefinition | ProcessDefinition
