"""Exports: downloaded completely and atomically, and never handed on from a task that failed."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bc_anaplan.anaplan import AnaplanClient, TaskFailedError
from bc_anaplan.anaplan.files import sorted_chunk_ids, write_atomically
from bc_anaplan.anaplan.tasks import CANCELLED, COMPLETE, TaskHandle
from bc_anaplan.http import TransportFailure
from tests.core.anaplan.conftest import MODEL_ROUTE, RequestDelta, Sandbox

CHUNK_ROUTE = MODEL_ROUTE + "/files/{fileId}/chunks/{chunkId}"


def nap(seconds: float) -> None:
    time.sleep(0.05)


@pytest.fixture
def approved_budget(control: Sandbox) -> int:
    control.control("budget", {"version": "Budget FY27", "rows": 43_200})
    control.control("approve", {"version": "Budget FY27"})
    return 43_200


def finished(client: AnaplanClient, handle: TaskHandle) -> None:
    client.wait_for_task(handle.action, handle.task_id, deadline_s=60, sleep=nap)


def test_an_export_is_downloaded_completely(
    client: AnaplanClient, control: Sandbox, approved_budget: int, tmp_path: Path
) -> None:
    export = client.find_export("Export Approved Budget")
    with RequestDelta(control) as api:
        output = client.run_export(export, tmp_path / "budget.csv", sleep=nap)
    assert api.count("GET", "/files/{fileId}/chunks", 200) == 1
    assert api.count("GET", "/files/{fileId}/chunks/{chunkId}", 200) == output.download.chunks
    data = (tmp_path / "budget.csv").read_bytes()
    assert output.download.bytes == len(data)
    assert output.download.sha256 == hashlib.sha256(data).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["budget.csv"]  # no temporary left
    rows = list(output.rows())
    assert len(rows) == approved_budget == output.metadata.row_count
    assert list(rows[0]) == list(output.metadata.header_names)
    assert {r["Versions"] for r in rows} == {"Budget FY27"}
    assert all(r["Amount"] for r in rows)


def test_a_cancelled_export_is_not_handed_on_even_though_an_old_file_exists(
    client: AnaplanClient, control: Sandbox, approved_budget: int, tmp_path: Path
) -> None:
    export = client.find_export("Export Approved Budget")
    client.run_export(export, tmp_path / "yesterday.csv", sleep=nap)  # the file now has content
    control.control("hold", {"enabled": True})
    handle = client.start_task(export)
    running = client.get_task(export, handle.task_id)
    with RequestDelta(control) as api, pytest.raises(TaskFailedError, match="not COMPLETE"):
        client.download_export(running, tmp_path / "today.csv")
    client.cancel_task(export, handle.task_id)
    control.control("hold", {"enabled": False})
    finished(client, handle)
    cancelled = client.get_task(export, handle.task_id)
    assert cancelled.state == CANCELLED
    with pytest.raises(TaskFailedError, match="CANCELLED"):
        client.download_export(cancelled, tmp_path / "today.csv")
    with pytest.raises(TaskFailedError):  # a handle is judged by the server, too
        client.download_export(handle, tmp_path / "today.csv")
    assert not (tmp_path / "today.csv").exists()
    assert api.count("GET", "/files/{fileId}/chunks") == 0


def test_a_failed_export_is_not_handed_on_even_though_an_old_file_exists(
    client: AnaplanClient, control: Sandbox, tmp_path: Path
) -> None:
    """COMPLETE is not success: a task that ended ``successful: false`` produced no new file,
    so what the export's file holds is an earlier run's output and must not be read."""
    export = client.find_export("Export Plan Status")
    client.run_export(export, tmp_path / "yesterday.csv", sleep=nap)  # the file now has content
    control.control("fail-tasks", {"action": export.name, "count": 1})
    try:
        handle = client.start_task(export)
        failed = client.wait_for_task(export, handle.task_id, deadline_s=60, sleep=nap)
    finally:
        control.control("fail-tasks", {"action": export.name, "count": 0})
    assert failed.state == COMPLETE and failed.result is not None
    assert not failed.result.successful and not failed.succeeded
    assert sorted_chunk_ids(client.api.get(client.api.path("files", export.file_id, "chunks")))
    with RequestDelta(control) as api, pytest.raises(TaskFailedError, match="without success"):
        client.download_export(failed, tmp_path / "today.csv")
    with pytest.raises(TaskFailedError, match="without success"):  # judged by the server
        client.download_export(handle, tmp_path / "today.csv")
    assert not (tmp_path / "today.csv").exists()
    assert api.count("GET", "/files/{fileId}/chunks") == 0
    assert api.count("GET", "/files/{fileId}/chunks/{chunkId}") == 0


def test_an_export_that_ran_again_since_is_not_handed_on(
    client: AnaplanClient, approved_budget: int, tmp_path: Path
) -> None:
    export = client.find_export("Export Approved Budget")
    first = client.start_task(export)
    finished(client, first)
    second = client.start_task(export)
    finished(client, second)
    with pytest.raises(TaskFailedError, match="ran again"):
        client.download_export(first, tmp_path / "first.csv")
    assert client.download_export(second, tmp_path / "second.csv").download.bytes > 0


def test_only_exports_can_be_downloaded(client: AnaplanClient, tmp_path: Path) -> None:
    action = client.find_import("Import Cost Centers")
    with pytest.raises(TypeError, match="not an export"):
        client.download_export(TaskHandle(action, "0" * 32), tmp_path / "x.csv")


def test_a_download_that_breaks_leaves_no_file_behind(
    client_factory: Callable[..., AnaplanClient],
    control: Sandbox,
    approved_budget: int,
    tmp_path: Path,
) -> None:
    client = client_factory(HTTP_MAX_ATTEMPTS="2", HTTP_BACKOFF_BASE_SECONDS="0")
    export = client.find_export("Export Approved Budget")
    handle = client.start_task(export)
    finished(client, handle)
    control.faults({"rules": [{"service": "anaplan_api", "kind": "reset", "method": "GET",
                               "route": CHUNK_ROUTE, "count": 2}]})  # fmt: skip
    with pytest.raises(TransportFailure):
        client.download_export(handle, tmp_path / "budget.csv")
    assert list(tmp_path.iterdir()) == []


def test_pieces_are_renamed_into_place_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out" / "file.csv"
    done = write_atomically(target, [b"a,b\n", b"1,2\n", b"3,4\n"])
    assert target.read_bytes() == b"a,b\n1,2\n3,4\n" and done.chunks == 3

    def broken() -> Iterator[bytes]:
        yield b"partial"
        raise OSError("connection lost")

    with pytest.raises(OSError, match="connection lost"):
        write_atomically(tmp_path / "out" / "other.csv", broken())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["file.csv"]
