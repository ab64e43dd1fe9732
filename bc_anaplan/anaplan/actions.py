"""Runtime discovery: the model's imports, exports, processes, actions, files and lists, by name.

A model builder names the actions; ids are the model's business and may differ between a test
and a production model, so the pipeline file holds names and the client looks the ids up from
the paged list endpoints. A name the model does not have fails with the list of names it does
have, which is usually all an administrator needs to fix the pipeline file.

**Once per run, not once per activity.** Every activity makes its own ``AnaplanClient``, so a
catalog per client object would list the imports again in each step of a run. The listings are
kept process-wide instead, per API host, workspace and model, each kind (imports, files...) for at
most ``CATALOG_LIFETIME_S``, about a run's length. Staleness is bounded three ways: the step
that opens each Anaplan action of a run (the task watermark, under the model lock) asks for a
``fresh`` listing, so the id it records is current; a name or file id missing from a remembered
listing is looked up in a new listing before anything is refused; and a 404 for a remembered id
re-discovers it once by name (``AnaplanClient``), since an action the model builder recreated
has a new id. Ids are always discovered, never assumed.

Files get one more guard. ``POST /files/{id}`` with an id that is not a file of the model does
not fail: Anaplan creates a new, empty file. So the uploader only ever writes to a file this
catalog saw in the model's own file list (``Catalog.file``), and checks the id Anaplan echoes.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
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

CATALOG_LIFETIME_S = 300.0  # about one run; a listing older than this is fetched again


def _name_of(item: Any) -> str:
    return str(item.name)


@dataclass
class _Listing:
    items: list[Any]
    fetched_at: float  # on the catalog's monotonic clock, read before the request


class _ModelListings:
    """The remembered listings of one model, with a lock per kind (no stampede of listings).

    A lock per kind, not per model: Anaplan holds a read of ``lists`` while a task runs, and
    that wait must not hold up an activity that only needs the imports.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kind_locks: dict[str, threading.Lock] = {}
        self.listings: dict[str, _Listing] = {}

    def lock(self, kind: str) -> threading.Lock:
        with self._lock:
            return self._kind_locks.setdefault(kind, threading.Lock())


_models: dict[tuple[str, str, str], _ModelListings] = {}
_models_lock = threading.Lock()


def _listings_of(key: tuple[str, str, str]) -> _ModelListings:
    with _models_lock:
        listings = _models.get(key)
        if listings is None:
            listings = _models[key] = _ModelListings()
        return listings


def forget_all_catalogs() -> None:
    """Drop every remembered listing of the process (tests; a run never needs to)."""
    with _models_lock:
        _models.clear()


class Catalog:
    """The model's definitions, listed on first use and shared by the process for a while."""

    def __init__(
        self,
        api: ModelApi,
        *,
        lifetime_s: float = CATALOG_LIFETIME_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._lifetime_s = lifetime_s
        self._now = now
        model = api.model
        self._model = _listings_of((api.http.spec.base_url, model.workspace_id, model.model_id))

    def _listing(
        self, key: str, parse: Callable[[Mapping[str, Any]], T], fresh: bool
    ) -> tuple[list[T], bool]:
        """The items of ``key``, and True if they were remembered rather than listed now."""
        model = self._model
        with model.lock(key):
            listing = model.listings.get(key)
            now = self._now()
            if not fresh and listing is not None and now - listing.fetched_at < self._lifetime_s:
                return list(listing.items), True
            items = [parse(item) for item in self._api.collection(self._api.path(key), key)]
            model.listings[key] = _Listing(items, now)
            return list(items), False

    def _find(
        self,
        key: str,
        parse: Callable[[Mapping[str, Any]], T],
        matches: Callable[[Any], bool],
        fresh: bool,
    ) -> tuple[T | None, list[T]]:
        """The first item that ``matches``; a miss in a remembered listing is asked again."""
        items, remembered = self._listing(key, parse, fresh)
        hits = [item for item in items if matches(item)]
        if not hits and remembered:
            items, _ = self._listing(key, parse, True)
            hits = [item for item in items if matches(item)]
        return (hits[0] if hits else None), items

    def _named(
        self, kind: str, key: str, parse: Callable[[Mapping[str, Any]], T], name: str, fresh: bool
    ) -> T:
        found, items = self._find(key, parse, lambda item: _name_of(item) == name, fresh)
        if found is None:
            raise UnknownNameError(kind, name, [_name_of(item) for item in items])
        return found

    def imports(self, *, fresh: bool = False) -> list[ImportAction]:
        return self._listing("imports", parse_import, fresh)[0]

    def exports(self, *, fresh: bool = False) -> list[ExportAction]:
        return self._listing("exports", parse_export, fresh)[0]

    def processes(self, *, fresh: bool = False) -> list[ProcessAction]:
        return self._listing("processes", parse_process, fresh)[0]

    def actions(self, *, fresh: bool = False) -> list[ModelAction]:
        return self._listing("actions", parse_action, fresh)[0]

    def files(self, *, fresh: bool = False) -> list[ModelFile]:
        return self._listing("files", parse_file, fresh)[0]

    def lists(self, *, fresh: bool = False) -> list[ModelList]:
        return self._listing("lists", parse_list, fresh)[0]

    def import_named(self, name: str, *, fresh: bool = False) -> ImportAction:
        return self._named("import", "imports", parse_import, name, fresh)

    def export_named(self, name: str, *, fresh: bool = False) -> ExportAction:
        return self._named("export", "exports", parse_export, name, fresh)

    def process_named(self, name: str, *, fresh: bool = False) -> ProcessAction:
        return self._named("process", "processes", parse_process, name, fresh)

    def action_named(self, name: str, *, fresh: bool = False) -> ModelAction:
        return self._named("action", "actions", parse_action, name, fresh)

    def list_named(self, name: str, *, fresh: bool = False) -> ModelList:
        return self._named("list", "lists", parse_list, name, fresh)

    def current(self, action: Action) -> Action:
        """The model's action of ``action``'s kind and name as listed now (its id may be new)."""
        finders: dict[str, Callable[..., Action]] = {
            "imports": self.import_named,
            "exports": self.export_named,
            "processes": self.process_named,
            "actions": self.action_named,
        }
        return finders[action.kind](action.name, fresh=True)

    def file(self, file_id: str) -> ModelFile:
        """The listed file with this id; ``FileGuardError`` if the model has no such file."""
        found, _ = self._find("files", parse_file, lambda listed: listed.id == file_id, False)
        if found is None:
            raise FileGuardError(
                f"file {file_id} is not one of the model's files; refusing to upload to it "
                "(Anaplan would create a new file instead of failing)"
            )
        return found

    def source_file(self, action: ImportAction) -> ModelFile:
        """The data source file an import reads, which must be a listed file of the model."""
        if action.data_source_id is None:
            raise FileGuardError(
                f"import {action.name!r} does not read a file (no importDataSourceId); "
                "it cannot be fed by an upload"
            )
        return self.file(action.data_source_id)
