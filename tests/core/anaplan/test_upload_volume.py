"""Two million rows stream into Anaplan in gzip chunks while the client's memory stays flat."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bc_anaplan.anaplan import AnaplanClient
from bc_anaplan.anaplan.files import download_chunks, read_blocks
from tests.core.anaplan.conftest import RequestDelta, Sandbox

ROWS = 2_000_000
CHUNK = 10 * 2**20  # the default chunk size, uncompressed
HEADER = ["GL Accounts", "Cost Centers", "Departments", "Time", "Amount", "Closing Balance"]


def actuals(count: int) -> Iterator[tuple[str, ...]]:
    """Rows made on the fly, as an aggregation would hand them over."""
    months = ("Jan 25", "Feb 25", "Mar 25", "Apr 25", "May 25", "Jun 25")
    for n in range(count):
        yield (f"{6100 + n % 400}", f"CC{100 + n % 60}", f"D{n % 12:02d}", months[n % 6],
               f"{n % 100_000}.{n % 100:02d}", "")  # fmt: skip


class PeakRss:
    """Samples this process's resident memory in the background."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 2**20


@pytest.mark.slow
def test_two_million_rows_upload_in_gzip_chunks_with_flat_memory(
    client: AnaplanClient, control: Sandbox, tmp_path: Path
) -> None:
    action = client.find_import("Import GL Actuals")
    client.upload(action, actuals(1000), header=HEADER)  # warm up code paths and connections
    started = time.monotonic()
    with RequestDelta(control) as api, PeakRss() as memory:
        result = client.upload(action, actuals(ROWS), header=HEADER)
    seconds = time.monotonic() - started
    print(
        f"\n2M-row upload: {seconds:.1f} s, {result.chunks} chunks, {result.bytes / 2**20:.0f} MB "
        f"-> {result.compressed_bytes / 2**20:.1f} MB gzip, {api.total} requests, "
        f"RSS growth {memory.growth_mb:.1f} MB"
    )
    assert result.rows == ROWS
    assert memory.growth_mb < 100
    assert result.chunks in (-(-result.bytes // CHUNK), -(-result.bytes // CHUNK) + 1)
    assert api.count("PUT", "/files/{fileId}/chunks/{chunkId}", 204) == result.chunks
    assert api.count("POST", "/files/{fileId}", 200) == 1
    assert api.count("POST", "/files/{fileId}/complete", 200) == 1
    # what Anaplan holds is byte for byte what was sent
    file = client.catalog.source_file(action)
    path = client.api.path("files", file.id, "chunks")
    first = client.api.get_bytes(path + "/0").content
    assert len(first) <= CHUNK and first.endswith(b"\n")  # cut between two rows
    del first
    copy = download_chunks(client.api, path, tmp_path / "uploaded.csv")
    assert copy.chunks == result.chunks and copy.bytes == result.bytes
    digest = hashlib.sha256()
    for block in read_blocks(copy.path):
        digest.update(block)
    assert digest.hexdigest() == result.sha256
