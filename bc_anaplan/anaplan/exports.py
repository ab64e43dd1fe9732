"""Exports: run one, then hand on its file only if *this* run's task produced it.

An export writes its output to the file whose id is the export's id, and that file keeps the
last output of the same user: if today's export failed or has not run, the file still holds
yesterday's figures, and a writeback that read it would post stale numbers. The guard is
structural: ``download_export`` takes the task this client started (a ``TaskHandle`` or
``TaskStatus``), not an export id, reads that task's state from the server again, and downloads
only if it is ``COMPLETE`` and ``successful`` and no later run of the same export has been started
since (which would overwrite the file).

The file arrives in chunks and is written to a temporary file renamed into place when the last
chunk is in (``files.write_atomically``); ``ExportFile.rows()`` then parses it as a stream with
the export's metadata (separator, text delimiter, encoding, header).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bc_anaplan.anaplan.actions import ExportAction
from bc_anaplan.anaplan.api import ModelApi
from bc_anaplan.anaplan.csvio import CsvLayout, read_records
from bc_anaplan.anaplan.errors import ProtocolError, TaskFailedError
from bc_anaplan.anaplan.files import Download, download_chunks, read_blocks
from bc_anaplan.anaplan.tasks import (
    CANCELLED,
    COMPLETE,
    TaskHandle,
    TaskStatus,
    get_task,
    list_tasks,
)

log = logging.getLogger("bc_anaplan.anaplan.exports")


@dataclass(frozen=True)
class ExportMetadata:
    header_names: tuple[str, ...] = ()
    separator: str = ","
    delimiter: str = '"'
    encoding: str = "UTF-8"
    export_format: str = "text/csv"
    row_count: int | None = None
    data_types: tuple[str, ...] = ()
    list_names: tuple[str, ...] = ()

    @property
    def layout(self) -> CsvLayout:
        return CsvLayout(self.separator, self.delimiter, self.encoding, 1, 2)


def parse_export_metadata(raw: Mapping[str, Any]) -> ExportMetadata:
    def texts(key: str) -> tuple[str, ...]:
        value = raw.get(key)
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    def text(key: str, default: str) -> str:
        value = raw.get(key)
        return value if isinstance(value, str) and value != "" else default

    rows = raw.get("rowCount")
    return ExportMetadata(
        header_names=texts("headerNames"),
        separator=text("separator", ","),
        delimiter=raw["delimiter"] if isinstance(raw.get("delimiter"), str) else '"',
        encoding=text("encoding", "UTF-8"),
        export_format=text("exportFormat", "text/csv"),
        row_count=rows if isinstance(rows, int) else None,
        data_types=texts("dataTypes"),
        list_names=texts("listNames"),
    )


def export_metadata(api: ModelApi, export: ExportAction) -> ExportMetadata:
    body = api.get(api.path("exports", export.id))
    raw = body.get("exportMetadata")
    if not isinstance(raw, dict):
        raise ProtocolError(f"Anaplan's export {export.name!r} has no exportMetadata")
    return parse_export_metadata(raw)


@dataclass
class ExportFile:
    """The downloaded output of one successful export task."""

    export: ExportAction
    task_id: str
    download: Download
    metadata: ExportMetadata

    @property
    def path(self) -> Path:
        return self.download.path

    def records(self) -> Iterator[list[str]]:
        """Every record, the header first."""
        return read_records(read_blocks(self.path), self.metadata.layout)

    def rows(self) -> Iterator[dict[str, str]]:
        """Data rows keyed by the file's header (which should match the export's metadata)."""
        records = self.records()
        header = next(records, None)
        if header is None:
            return
        expected = list(self.metadata.header_names)
        if expected and header != expected:
            log.warning(
                "export %r header %s differs from its metadata %s",
                self.export.name,
                header,
                expected,
            )
        for fields in records:
            if any(fields):
                yield dict(zip(header, fields, strict=False))

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> ExportFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()


def download_export(
    api: ModelApi, task: TaskHandle | TaskStatus, destination: Path | None = None
) -> ExportFile:
    """Download the output of ``task`` -- only if it completed successfully and is the latest."""
    export = task.action
    if not isinstance(export, ExportAction):
        raise TypeError(f"{export.label} {export.name!r} is not an export")
    status = get_task(api, export, task.task_id)  # the server's word, not the caller's copy
    if not status.succeeded:
        raise TaskFailedError(_not_handed_on(status))
    _check_latest(api, status)
    metadata = export_metadata(api, export)
    target = (
        destination
        or Path(tempfile.gettempdir()) / f"anaplan-export-{export.id}-{status.task_id}.csv"
    )
    download = download_chunks(api, api.path("files", export.file_id, "chunks"), target)
    if download.chunks == 0:
        raise ProtocolError(f"export {export.name!r} completed but its file has no chunks")
    log.info(
        "downloaded export %r: %d bytes in %d chunks", export.name, download.bytes, download.chunks
    )
    return ExportFile(export, status.task_id, download, metadata)


def _not_handed_on(status: TaskStatus) -> str:
    what = f"export {status.action.name!r} task {status.task_id}"
    if status.state != COMPLETE:
        return f"{what} is {status.state}, not COMPLETE; its file is not handed on"
    messages = "; ".join(status.result.messages()[:3]) if status.result else ""
    return f"{what} completed without success; its file is not handed on ({messages})"


def _check_latest(api: ModelApi, status: TaskStatus) -> None:
    """Refuse if another run of the export started after ours (it would overwrite the file)."""
    tasks = list_tasks(api, status.action)
    ours = next((t for t in tasks if t.task_id == status.task_id), None)
    if ours is None or ours.creation_time_ms is None:
        return
    later = [
        t.task_id
        for t in tasks
        if t.task_id != status.task_id
        and t.state != CANCELLED
        and t.creation_time_ms is not None
        and t.creation_time_ms > ours.creation_time_ms
    ]
    if later:
        raise TaskFailedError(
            f"export {status.action.name!r} ran again after task {status.task_id} "
            f"(task {later[-1]}); its file may hold that run's output and is not handed on"
        )
