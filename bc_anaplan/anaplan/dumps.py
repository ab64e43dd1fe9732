"""Failure dumps: the rows an import rejected, fetched as soon as the task reports them.

When a task's result says ``failureDumpAvailable``, Anaplan keeps a CSV of the rejected rows --
``_Status_``, ``_Line_``, ``_Error_1_`` (more ``_Error_n_`` columns if a row failed several
ways) and the row's source columns -- but only until the same user's next import overwrites it,
or 48 hours. So the dump is downloaded right after the task completes, into a file (a dump can be
as large as the upload), and parsed from there as a stream of ``RejectedRow``.

Where: an import's dump is at ``.../imports/{id}/tasks/{task}/dump``; a process keeps one per
failed step at ``.../processes/{id}/tasks/{task}/dumps/{step objectId}``. Each has a chunk list
(chunks of at most 10 MB). No dump is a 204; a dump that is gone is a 404, reported as
``DumpGoneError`` so nobody mistakes it for "no rows were rejected".
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bc_anaplan.anaplan.actions import ProcessAction
from bc_anaplan.anaplan.api import ModelApi, decode
from bc_anaplan.anaplan.csvio import CsvLayout, read_records
from bc_anaplan.anaplan.errors import AnaplanNotFoundError, DumpGoneError
from bc_anaplan.anaplan.files import Download, read_blocks, sorted_chunk_ids, write_atomically
from bc_anaplan.anaplan.tasks import TaskStatus, tasks_path

DUMP_LAYOUT = CsvLayout(separator=",", delimiter='"', encoding="UTF-8")
_MARKERS = ("_Status_", "_Line_")


@dataclass(frozen=True)
class RejectedRow:
    line: int | None  # line of the uploaded file
    status: str  # "E" error, "W" warning...
    errors: tuple[str, ...]
    values: Mapping[str, str]  # the row's source columns, by header name

    def to_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "status": self.status,
            "errors": list(self.errors),
            "values": dict(self.values),
        }


def parse_dump(records: Iterator[list[str]]) -> Iterator[RejectedRow]:
    """Rejected rows from dump records (header first; columns found by name, in any order)."""
    header = next(records, None)
    if header is None:
        return
    status_at = header.index("_Status_") if "_Status_" in header else None
    line_at = header.index("_Line_") if "_Line_" in header else None
    error_at = [i for i, name in enumerate(header) if _is_error_column(name)]
    special = {status_at, line_at, *error_at}
    source = [(i, name) for i, name in enumerate(header) if i not in special]
    for fields in records:
        if not any(fields):
            continue
        width = len(fields)

        def cell(index: int | None, width: int = width, fields: list[str] = fields) -> str:
            return fields[index] if index is not None and index < width else ""

        line = cell(line_at)
        yield RejectedRow(
            line=int(line) if line.strip().isdigit() else None,
            status=cell(status_at),
            errors=tuple(e for e in (cell(i) for i in error_at) if e),
            values={name: cell(i) for i, name in source},
        )


def _is_error_column(name: str) -> bool:
    return name.startswith("_Error_") and name.endswith("_")


@dataclass
class FailureDump:
    """One downloaded dump file; delete it (or use ``with``) when its rows are recorded."""

    object_id: str  # the import (or process step) whose rows these are
    download: Download
    layout: CsvLayout = field(default=DUMP_LAYOUT)

    @property
    def path(self) -> Path:
        return self.download.path

    def rows(self) -> Iterator[RejectedRow]:
        return parse_dump(read_records(read_blocks(self.path), self.layout))

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> FailureDump:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()


def download_dumps(
    api: ModelApi, status: TaskStatus, directory: Path | None = None
) -> list[FailureDump]:
    """Download every failure dump of a finished task (none if it reports none)."""
    result = status.result
    if result is None or not result.failure_dump_available:
        return []
    folder = Path(directory or tempfile.gettempdir())
    if isinstance(status.action, ProcessAction):
        steps = [n.object_id for n in result.nested if n.failure_dump_available and n.object_id]
        dumps = (_download(api, status, step, folder) for step in steps)
    else:
        dumps = (_download(api, status, None, folder) for _ in (1,))
    return [d for d in dumps if d is not None]


def _download(
    api: ModelApi, status: TaskStatus, step: str | None, folder: Path
) -> FailureDump | None:
    base = tasks_path(api, status.action, status.task_id)
    path = f"{base}/dumps/{step}" if step else f"{base}/dump"
    object_id = step or status.action.id
    destination = folder / f"anaplan-dump-{object_id}-{status.task_id}.csv"
    try:
        listed = api.http.request("GET", f"{path}/chunks", expected=frozenset({204}))
        if listed.status_code == 204:
            return None  # Anaplan: no dump for this task
        ids = sorted_chunk_ids(decode(listed))
        if ids:
            pieces = (api.get_bytes(f"{path}/chunks/{i}").content for i in ids)
            download = write_atomically(destination, pieces)
        else:  # no chunk list: fetch the dump whole
            whole = api.get_bytes(path, expected=frozenset({204}))
            if whole.status_code == 204:
                return None
            download = write_atomically(destination, [whole.content])
    except AnaplanNotFoundError as exc:
        raise DumpGoneError(
            f"the failure dump of {status.action.label} {status.action.name!r} task "
            f"{status.task_id} is gone (Anaplan keeps it until the user's next import or for "
            f"48 hours); its rejected rows cannot be recovered: {exc.message}"
        ) from exc
    return FailureDump(object_id, download)


@dataclass(frozen=True)
class RejectedRows:
    """The rejected rows of a task, the first ``limit`` of them in memory."""

    rows: tuple[RejectedRow, ...]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


def rejected_rows(api: ModelApi, status: TaskStatus, limit: int = 10_000) -> RejectedRows:
    """Download, parse and delete the task's dumps; keep up to ``limit`` rows, count them all."""
    kept: list[RejectedRow] = []
    total = 0
    for dump in download_dumps(api, status):
        with dump:
            for row in dump.rows():
                total += 1
                if len(kept) < limit:
                    kept.append(row)
    return RejectedRows(tuple(kept), total)
