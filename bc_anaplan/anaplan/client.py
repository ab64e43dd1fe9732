"""``AnaplanClient``: the one object the load and writeback flows talk to Anaplan through.

It binds together, for one model: the process-wide token (``auth``), the resilient Integration
API session (``api``), and the catalog of the model's actions and files discovered at runtime
(``catalog``, whose listings the process shares for about a run, see ``actions``). Its methods
are thin: the behaviour lives in the module that owns it (``files``, ``tasks``, ``dumps``,
``exports``, ``lists``), where it is documented and tested. Create one client per activity (or
CLI run); they share the token, the connection pool and the listings, so creating one costs no
login and no discovery.

The client is where a remembered id meets the server. When Anaplan answers 404 to starting an
action or reading a list found by name, the model builder may have recreated it under the same
name with a new id: the client lists that kind again and, if the name now has another id, tries
once more with it. An import that now reads a different file is not started that way, because
the rows were uploaded into the old one (the caller uploads again, see ``flows.anaplan_steps``).

Ids are normalised and checked in the constructor, before any request is sent.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bc_anaplan.anaplan import dumps, exports, files, lists, tasks
from bc_anaplan.anaplan.actions import (
    Action,
    Catalog,
    ExportAction,
    ImportAction,
    ModelAction,
    ModelList,
    ProcessAction,
)
from bc_anaplan.anaplan.api import ModelApi
from bc_anaplan.anaplan.auth import AnaplanAuth, Credentials, credentials_from
from bc_anaplan.anaplan.csvio import Cell
from bc_anaplan.anaplan.errors import AnaplanNotFoundError
from bc_anaplan.anaplan.ids import ModelRef
from bc_anaplan.config import Settings
from bc_anaplan.secrets import SecretStore

log = logging.getLogger("bc_anaplan.anaplan.client")

MB = 1024 * 1024
R = TypeVar("R")
Item = TypeVar("Item")


class AnaplanClient:
    def __init__(
        self,
        settings: Settings,
        secrets: SecretStore,
        workspace_id: str,
        model_id: str,
        *,
        credentials: Credentials | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = ModelRef.of(workspace_id, model_id)  # raises before any call
        self.auth = AnaplanAuth(
            settings, credentials or credentials_from(settings, secrets), clock=clock
        )
        self.api = ModelApi(settings, self.auth, self.model, sleep=sleep)
        self.catalog = Catalog(self.api)
        self.upload_chunk_bytes = settings.anaplan.upload_chunk_mb * MB
        self._clock = clock

    @classmethod
    def for_pipeline(
        cls, settings: Settings, secrets: SecretStore, pipeline: str | None = None, **kwargs: Any
    ) -> AnaplanClient:
        """The client of the model a pipeline of ``connector.toml`` feeds."""
        chosen = settings.pipeline(pipeline)
        return cls(
            settings, secrets, chosen.anaplan_workspace_id, chosen.anaplan_model_id, **kwargs
        )

    # -- discovery -------------------------------------------------------------------------------
    # ``fresh=True`` lists the kind again instead of using the process's remembered listing.
    def find_import(self, name: str, *, fresh: bool = False) -> ImportAction:
        return self.catalog.import_named(name, fresh=fresh)

    def find_export(self, name: str, *, fresh: bool = False) -> ExportAction:
        return self.catalog.export_named(name, fresh=fresh)

    def find_process(self, name: str, *, fresh: bool = False) -> ProcessAction:
        return self.catalog.process_named(name, fresh=fresh)

    def find_action(self, name: str, *, fresh: bool = False) -> ModelAction:
        return self.catalog.action_named(name, fresh=fresh)

    def recreated(self, action: Action) -> Action | None:
        """The action the model now has under ``action``'s name, if its id is a new one.

        For a 404 on an id found earlier: lists the kind again (``UnknownNameError`` if the name
        is gone too) and returns None when the id is unchanged, i.e. the 404 has another cause.
        """
        current = self.catalog.current(action)
        if current.id == action.id:
            return None
        log.warning(
            "Anaplan %s %r has a new id (%s, was %s): the model builder recreated it",
            action.label,
            action.name,
            current.id,
            action.id,
        )
        return current

    def model_state(self) -> str:
        """The model's ``activeState`` (UNLOCKED, LOCKED, ARCHIVED, ... an open set)."""
        model = self.api.get(f"/models/{self.model.model_id}").get("model", {})
        return str(model.get("activeState", "")) if isinstance(model, dict) else ""

    # -- upload ----------------------------------------------------------------------------------
    def upload(
        self,
        action: ImportAction,
        rows: Iterable[Sequence[Cell]],
        *,
        header: Sequence[str] | None = None,
        chunk_bytes: int | None = None,
        compression_level: int = 6,
    ) -> files.UploadResult:
        """Stream ``rows`` into the file ``action`` imports from (see ``files.upload_rows``).

        Chunks hold ``chunk_bytes`` uncompressed, by default ``ANAPLAN_UPLOAD_CHUNK_MB``.
        """
        return files.upload_rows(
            self.api,
            self.catalog.source_file(action),
            rows,
            header=header,
            chunk_bytes=chunk_bytes or self.upload_chunk_bytes,
            compression_level=compression_level,
        )

    def delete_upload(self, action: ImportAction) -> None:
        """Remove the uploaded content of ``action``'s source file (e.g. after personal data)."""
        files.delete_content(self.api, self.catalog.source_file(action))

    # -- tasks -----------------------------------------------------------------------------------
    def start_task(
        self,
        action: Action,
        *,
        mapping: Mapping[str, str] | None = None,
        locale: str = "en_US",
        after_ms: int | None = None,
    ) -> tasks.TaskHandle:
        """Start ``action`` once (see ``tasks.start_task``); the handle names the action started.

        ``after_ms``: the caller's watermark on Anaplan's clock, which replaces the task list
        read before the start. On a 404 the action is looked up again by name; a recreated one
        is started instead, unless it is an import that now reads another file (then the 404
        is raised).
        """

        def start(chosen: Action) -> tasks.TaskHandle:
            return tasks.start_task(
                self.api,
                chosen,
                mapping=mapping,
                locale=locale,
                after_ms=after_ms,
                clock=self._clock,
            )

        try:
            return start(action)
        except AnaplanNotFoundError:
            current = self.recreated(action)
            if current is None or _reads_another_file(action, current):
                raise
            return start(current)

    def task_started_since(self, action: Action, after_ms: int) -> tasks.TaskHandle | None:
        """A task of ``action`` created after ``after_ms`` (see ``tasks.task_started_since``)."""
        return tasks.task_started_since(self.api, action, after_ms)

    def get_task(self, action: Action, task_id: str) -> tasks.TaskStatus:
        return tasks.get_task(self.api, action, task_id)

    def list_tasks(self, action: Action) -> list[tasks.TaskSummary]:
        return tasks.list_tasks(self.api, action)

    def cancel_task(self, action: Action, task_id: str) -> tasks.TaskStatus:
        return tasks.cancel_task(self.api, action, task_id)

    def wait_for_task(
        self,
        action: Action,
        task_id: str,
        *,
        deadline_s: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
        on_status: Callable[[tasks.TaskStatus], None] | None = None,
    ) -> tasks.TaskStatus:
        """Block until the task ends (see ``tasks.wait_for_task``): for tests and interactive
        use; orchestrations wait with durable timers (``orchestrators/waiting.py``)."""
        return tasks.wait_for_task(
            self.api, action, task_id, deadline_s=deadline_s, sleep=sleep, on_status=on_status
        )

    # -- results ---------------------------------------------------------------------------------
    def rejected_rows(self, status: tasks.TaskStatus, limit: int = 10_000) -> dumps.RejectedRows:
        return dumps.rejected_rows(self.api, status, limit)

    def download_export(
        self, task: tasks.TaskHandle | tasks.TaskStatus, destination: Path | None = None
    ) -> exports.ExportFile:
        return exports.download_export(self.api, task, destination)

    def run_export(
        self,
        export: ExportAction,
        destination: Path | None = None,
        *,
        deadline_s: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> exports.ExportFile:
        """Start, wait for and download an export in one blocking call.

        For tests and interactive use: no flow calls it (the orchestrations start, poll with
        durable timers and download in separate activities, see ``flows.anaplan_steps``).
        """
        handle = self.start_task(export)
        status = self.wait_for_task(
            handle.action, handle.task_id, deadline_s=deadline_s, sleep=sleep
        )
        return self.download_export(status, destination)

    def list_metadata(self, list_name: str) -> lists.ListMetadata:
        return self._on_list(list_name, lambda found: lists.list_metadata(self.api, found))

    def list_items(self, list_name: str) -> Iterator[lists.ListItem]:
        """The list's items; the first page is read now, so a 404 can re-discover the list."""
        return self._on_list(list_name, lambda found: _started(lists.list_items(self.api, found)))

    def _on_list(self, list_name: str, call: Callable[[ModelList], R]) -> R:
        found = self.catalog.list_named(list_name)
        try:
            return call(found)
        except AnaplanNotFoundError:
            current = self.catalog.list_named(list_name, fresh=True)
            if current.id == found.id:
                raise
            log.warning(
                "Anaplan list %r has a new id (%s, was %s)", list_name, current.id, found.id
            )
            return call(current)

    def logout(self) -> bool:
        """Revoke the process's token for these credentials (at shutdown)."""
        return self.auth.logout()


def _reads_another_file(old: Action, new: Action) -> bool:
    """A recreated import that reads another file than the one the caller uploaded into."""
    if not isinstance(old, ImportAction) or not isinstance(new, ImportAction):
        return False
    if new.data_source_id != old.data_source_id:
        log.warning(
            "recreated import %r reads file %s, not %s: not started with the old upload",
            new.name,
            new.data_source_id,
            old.data_source_id,
        )
        return True
    return False


def _started(items: Iterator[Item]) -> Iterator[Item]:
    """``items`` with its first element already read, so the first request's errors raise now."""
    first = next(items, None)
    return items if first is None else itertools.chain([first], items)
