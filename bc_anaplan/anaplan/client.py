"""``AnaplanClient``: the one object the load and writeback flows talk to Anaplan through.

It binds together, for one model: the process-wide token (``auth``), the resilient Integration
API session (``api``), and the catalog of the model's actions and files discovered at runtime
(``catalog``, listed once per client object). Its methods are thin: the behaviour lives in the
module that owns it (``files``, ``tasks``, ``dumps``, ``exports``, ``lists``), where it is
documented and tested. Create one client per activity (or CLI run); they share the token and the
connection pool, so creating one costs no login.

Ids are normalised and checked in the constructor, before any request is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bc_anaplan.anaplan import dumps, exports, files, lists, tasks
from bc_anaplan.anaplan.actions import (
    Action,
    Catalog,
    ExportAction,
    ImportAction,
    ModelAction,
    ProcessAction,
)
from bc_anaplan.anaplan.api import ModelApi
from bc_anaplan.anaplan.auth import AnaplanAuth, Credentials, credentials_from
from bc_anaplan.anaplan.csvio import DEFAULT_CHUNK_BYTES, Cell
from bc_anaplan.anaplan.ids import ModelRef
from bc_anaplan.config import Settings
from bc_anaplan.secrets import SecretStore


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
    def find_import(self, name: str) -> ImportAction:
        return self.catalog.import_named(name)

    def find_export(self, name: str) -> ExportAction:
        return self.catalog.export_named(name)

    def find_process(self, name: str) -> ProcessAction:
        return self.catalog.process_named(name)

    def find_action(self, name: str) -> ModelAction:
        return self.catalog.action_named(name)

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
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        compression_level: int = 6,
    ) -> files.UploadResult:
        """Stream ``rows`` into the file ``action`` imports from (see ``files.upload_rows``)."""
        return files.upload_rows(
            self.api,
            self.catalog.source_file(action),
            rows,
            header=header,
            chunk_bytes=chunk_bytes,
            compression_level=compression_level,
        )

    def upload_bytes(
        self,
        action: ImportAction,
        blocks: Iterable[bytes],
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        compression_level: int = 6,
    ) -> files.UploadResult:
        """Stream ready-made CSV bytes into the file ``action`` imports from."""
        return files.upload_bytes(
            self.api,
            self.catalog.source_file(action),
            blocks,
            chunk_bytes=chunk_bytes,
            compression_level=compression_level,
        )

    def delete_upload(self, action: ImportAction) -> None:
        """Remove the uploaded content of ``action``'s source file (e.g. after personal data)."""
        files.delete_content(self.api, self.catalog.source_file(action))

    # -- tasks -----------------------------------------------------------------------------------
    def start_task(
        self, action: Action, *, mapping: Mapping[str, str] | None = None, locale: str = "en_US"
    ) -> tasks.TaskHandle:
        return tasks.start_task(self.api, action, mapping=mapping, locale=locale, clock=self._clock)

    def task_started_since(
        self, action: Action, since_s: float, *, skew_s: float = 0.0
    ) -> tasks.TaskHandle | None:
        """A task of ``action`` created since ``since_s`` (see ``tasks.task_started_since``)."""
        return tasks.task_started_since(self.api, action, since_s, skew_s=skew_s)

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
        return tasks.wait_for_task(
            self.api, action, task_id, deadline_s=deadline_s, sleep=sleep, on_status=on_status
        )

    # -- results ---------------------------------------------------------------------------------
    def rejected_rows(self, status: tasks.TaskStatus, limit: int = 10_000) -> dumps.RejectedRows:
        return dumps.rejected_rows(self.api, status, limit)

    def download_dumps(
        self, status: tasks.TaskStatus, directory: Path | None = None
    ) -> list[dumps.FailureDump]:
        return dumps.download_dumps(self.api, status, directory)

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
        return exports.run_export(self.api, export, destination, deadline_s=deadline_s, sleep=sleep)

    def list_metadata(self, list_name: str) -> lists.ListMetadata:
        return lists.list_metadata(self.api, self.catalog.list_named(list_name))

    def list_items(self, list_name: str) -> Iterator[lists.ListItem]:
        return lists.list_items(self.api, self.catalog.list_named(list_name))

    def logout(self) -> bool:
        """Revoke the process's token for these credentials (at shutdown)."""
        return self.auth.logout()
