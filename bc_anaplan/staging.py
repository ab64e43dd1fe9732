"""Staged files: CSV that one activity writes and a later one uploads, kept in Blob Storage.

Reading BC and building a file takes the longest and needs no Anaplan lock; uploading it and
running the import needs the model. Staging the file in between lets the lock be held only for
the Anaplan part, lets a crashed upload restart without re-reading BC, and keeps the exact bytes
sent for replay. Staged files are gzip'd CSV, written and read as streams.

While writing, rows are summarised in *batches* (key range, row count, amount sum, SHA-256 of the
rows) for the audit trail: proof of what was sent without an audit row per cell.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bc_anaplan.storage import Storage

BATCH_ROWS = 5_000


@dataclass(frozen=True)
class Batch:
    index: int
    first_key: str
    last_key: str
    rows: int
    amount_sum: Decimal
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "first_key": self.first_key,
            "last_key": self.last_key,
            "rows": self.rows,
            "amount_sum": str(self.amount_sum),
            "sha256": self.sha256,
        }


@dataclass
class StagedSummary:
    blob: str
    header: list[str]
    rows: int = 0
    amount_sum: Decimal = Decimal("0")
    sha256: str = ""
    batches: list[Batch] = field(default_factory=list)


class _BatchTracker:
    def __init__(self, key_columns: int, amount_column: int | None) -> None:
        self.key_columns = key_columns
        self.amount_column = amount_column
        self.batches: list[Batch] = []
        self._reset()

    def _reset(self) -> None:
        self.rows, self.amount, self.first, self.last = 0, Decimal("0"), "", ""
        self.hash = hashlib.sha256()

    def add(self, row: Sequence[str], encoded: bytes) -> None:
        key = "|".join(row[: self.key_columns])
        if self.rows == 0:
            self.first = key
        self.last = key
        self.rows += 1
        if self.amount_column is not None and row[self.amount_column]:
            self.amount += Decimal(row[self.amount_column])
        self.hash.update(encoded)
        if self.rows >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.batches.append(
                Batch(
                    len(self.batches),
                    self.first,
                    self.last,
                    self.rows,
                    self.amount,
                    self.hash.hexdigest(),
                )
            )
        self._reset()


class StagingArea:
    def __init__(self, storage: Storage) -> None:
        self.container = storage.container("staging")

    def write(
        self,
        name: str,
        header: Sequence[str],
        rows: Iterable[Sequence[str]],
        *,
        key_columns: int = 1,
        amount_column: int | None = None,
    ) -> StagedSummary:
        """Stream ``rows`` into the gzip'd CSV blob ``name``; returns the summary with batches."""
        summary = StagedSummary(name, list(header))
        tracker = _BatchTracker(key_columns, amount_column)
        whole = hashlib.sha256()

        def chunks() -> Iterator[bytes]:
            buffer = io.BytesIO()
            with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
                head = _csv_line(header)
                gz.write(head)
                whole.update(head)
                for row in rows:
                    encoded = _csv_line(row)
                    gz.write(encoded)
                    whole.update(encoded)
                    tracker.add(row, encoded)
                    summary.rows += 1
                    if buffer.tell() > 1_000_000:
                        yield buffer.getvalue()
                        buffer.seek(0)
                        buffer.truncate()
            yield buffer.getvalue()

        self.container.upload_blob(name, chunks(), overwrite=True)
        tracker.flush()
        summary.batches = tracker.batches
        summary.amount_sum = sum((b.amount_sum for b in tracker.batches), Decimal("0"))
        summary.sha256 = whole.hexdigest()
        return summary

    def read(self, name: str) -> Iterator[list[str]]:
        """The staged rows, header first, streamed from the blob."""
        stream = self.container.download_blob(name)
        raw = _ChunkReader(stream.chunks())
        with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
            yield from csv.reader(text)

    def delete_prefix(self, prefix: str) -> int:
        names = [b.name for b in self.container.list_blobs(name_starts_with=prefix)]
        for blob_name in names:
            self.container.delete_blob(blob_name)
        return len(names)


def _csv_line(row: Sequence[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue().encode("utf-8")


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks (for streaming gunzip)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
