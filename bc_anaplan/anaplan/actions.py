"""Runtime discovery: the model's imports, exports, processes, actions, files and lists, by name.

A model builder names the actions; ids are the model's business and may differ between a test
and a production model, so the pipeline file holds names and the client looks the ids up from
the paged list endpoints -- once per ``Catalog`` (one per client object, i.e. per run or
activity), never per call. A name the model does not have fails with the list of names it does
have, which is usually all an administrator needs to fix the pipeline file.

Files get one more guard. ``POST /files/{id}`` with an id that is not a file of the model does
not fail: Anaplan creates a new, empty file. So the uploader only ever writes to a file this
catalog saw in the model's own file list (``Catalog.file``), and checks the id Anaplan echoes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from bc_anaplan.anaplan.api import ModelApi
from bc_anaplan.anaplan.errors import FileGuardError, UnknownNameError
from bc_anaplan.anaplan.ids import object_id


@dataclass(frozen=True)
class Action:
    """Something that runs as a task: an import, an export, a process or another action."""

    kind: ClassVar[str] = ""  # the path segment: imports, exports, processes, actions
    label: ClassVar[str] = ""  # how errors name it
    id: str
    name: str

    def to_dict(self) -> dict[str, Any]:
        """A small JSON-able reference (for orchestration inputs and outputs)."""
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class ImportAction(Action):
    kind: ClassVar[str] = "imports"
    label: ClassVar[str] = "import"
    import_type: str = ""  # MODULE_DATA, HIERARCHY_DATA, ... (an open set)
    data_source_id: str | None = None  # the 113... file to upload; None if not a file


@dataclass(frozen=True)
class ExportAction(Action):
    kind: ClassVar[str] = "exports"
    label: ClassVar[str] = "export"
    export_type: str = ""
    export_format: str = ""
    encoding: str = ""

    @property
    def file_id(self) -> str:
        """An export writes its output to the file whose id is the export's id."""
        return self.id


@dataclass(frozen=True)
class ProcessAction(Action):
    kind: ClassVar[str] = "processes"
    label: ClassVar[str] = "process"


@dataclass(frozen=True)
class ModelAction(Action):
    """Other actions (delete by selection, optimizer...)."""

    kind: ClassVar[str] = "actions"
    label: ClassVar[str] = "action"
    action_type: str = ""


ACTION_TYPES: dict[str, type[Action]] = {
    cls.kind: cls for cls in (ImportAction, ExportAction, ProcessAction, ModelAction)
}


def action_from_dict(data: Mapping[str, Any]) -> Action:
    """The inverse of ``Action.to_dict``; ids are checked again."""
    cls = ACTION_TYPES.get(str(data.get("kind")))
    if cls is None:
        raise ValueError(f"not an Anaplan action reference: {dict(data)!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    values["id"] = object_id(values.get("id", ""), f"{cls.label} id")
    return cls(**values)


@dataclass(frozen=True)
class ModelFile:
    """A file of the model with the options an import reads it with."""

    id: str
    name: str
    separator: str = ","
    delimiter: str = '"'
    encoding: str = "UTF-8"
    header_row: int = 1  # 1-based; 0 or -1 = no header row
    first_data_row: int = 2  # 1-based
    format: str = "txt"
    chunk_count: int = 0


@dataclass(frozen=True)
class ModelList:
    """A list of the model (its members are read with ``lists.list_items``)."""

    id: str
    name: str


def _text(item: Mapping[str, Any], key: str, default: str = "") -> str:
    value = item.get(key)
    return value if isinstance(value, str) else default


def _number(item: Mapping[str, Any], key: str, default: int) -> int:
    value = item.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def parse_import(item: Mapping[str, Any]) -> ImportAction:
    source = _text(item, "importDataSourceId").strip()
    return ImportAction(
        id=str(item["id"]),
        name=_text(item, "name"),
        import_type=_text(item, "importType"),
        data_source_id=source or None,
    )


def parse_export(item: Mapping[str, Any]) -> ExportAction:
    return ExportAction(
        id=str(item["id"]),
        name=_text(item, "name"),
        export_type=_text(item, "exportType") or _text(item, "layout"),
        export_format=_text(item, "exportFormat"),
        encoding=_text(item, "encoding"),
    )


def parse_process(item: Mapping[str, Any]) -> ProcessAction:
    return ProcessAction(id=str(item["id"]), name=_text(item, "name"))


def parse_action(item: Mapping[str, Any]) -> ModelAction:
    return ModelAction(
        id=str(item["id"]), name=_text(item, "name"), action_type=_text(item, "actionType")
    )


def parse_list(item: Mapping[str, Any]) -> ModelList:
    return ModelList(id=str(item["id"]), name=_text(item, "name"))


def parse_file(item: Mapping[str, Any]) -> ModelFile:
    return ModelFile(
        id=str(item["id"]),
        name=_text(item, "name"),
        separator=_text(item, "separator", ","),
        delimiter=_text(item, "delimiter", '"'),
        encoding=_text(item, "encoding", "UTF-8"),
        header_row=_number(item, "headerRow", 1),
        first_data_row=_number(item, "firstDataRow", 2),
        format=_text(item, "format", "txt"),
        chunk_count=_number(item, "chunkCount", 0),
    )


T = TypeVar("T")


def _named(kind: str, items: Iterable[T], name: str, name_of: Callable[[T], str]) -> T:
    items = list(items)
    for item in items:
        if name_of(item) == name:
            return item
    raise UnknownNameError(kind, name, [name_of(i) for i in items])


class Catalog:
    """The model's definitions, each kind listed once on first use and then remembered."""

    def __init__(self, api: ModelApi) -> None:
        self._api = api
        self._lock = threading.Lock()
        self._cache: dict[str, list[Any]] = {}

    def _listed(self, key: str, parse: Callable[[Mapping[str, Any]], T]) -> list[T]:
        with self._lock:
            if key not in self._cache:
                items = self._api.collection(self._api.path(key), key)
                self._cache[key] = [parse(item) for item in items]
            return list(self._cache[key])

    def imports(self) -> list[ImportAction]:
        return self._listed("imports", parse_import)

    def exports(self) -> list[ExportAction]:
        return self._listed("exports", parse_export)

    def processes(self) -> list[ProcessAction]:
        return self._listed("processes", parse_process)

    def actions(self) -> list[ModelAction]:
        return self._listed("actions", parse_action)

    def files(self) -> list[ModelFile]:
        return self._listed("files", parse_file)

    def lists(self) -> list[ModelList]:
        return self._listed("lists", parse_list)

    def import_named(self, name: str) -> ImportAction:
        return _named("import", self.imports(), name, lambda a: a.name)

    def export_named(self, name: str) -> ExportAction:
        return _named("export", self.exports(), name, lambda a: a.name)

    def process_named(self, name: str) -> ProcessAction:
        return _named("process", self.processes(), name, lambda a: a.name)

    def action_named(self, name: str) -> ModelAction:
        return _named("action", self.actions(), name, lambda a: a.name)

    def file_named(self, name: str) -> ModelFile:
        return _named("file", self.files(), name, lambda f: f.name)

    def list_named(self, name: str) -> ModelList:
        return _named("list", self.lists(), name, lambda a: a.name)

    def file(self, file_id: str) -> ModelFile:
        """The listed file with this id; ``FileGuardError`` if the model has no such file."""
        for listed in self.files():
            if listed.id == file_id:
                return listed
        raise FileGuardError(
            f"file {file_id} is not one of the model's files; refusing to upload to it "
            "(Anaplan would create a new file instead of failing)"
        )

    def source_file(self, action: ImportAction) -> ModelFile:
        """The data source file an import reads, which must be a listed file of the model."""
        if action.data_source_id is None:
            raise FileGuardError(
                f"import {action.name!r} does not read a file (no importDataSourceId); "
                "it cannot be fed by an upload"
            )
        return self.file(action.data_source_id)
