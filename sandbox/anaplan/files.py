"""Model files: the import data sources and export outputs, with per-user content.

Anaplan keeps uploaded content per user for 48 hours; after that (or after the user deletes it)
the file shows its default content again, which for an import's data source is the sample the
model builder created the import from. Uploads arrive either as one ``PUT`` or as numbered
chunks, optionally gzip-compressed; a gzip chunk is kept compressed here and inflated only when
an import reads it, so a two-million-row upload does not cost its uncompressed size in memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.common.clock import SimClock

RETENTION_S = 48 * 3600.0
MAX_CHUNK_BYTES = 50 * 1024 * 1024
MAX_CHUNKS = 1000
OUTPUT_CHUNK_BYTES = 10 * 1024 * 1024
_INFLATE_STEP = 1024 * 1024


class ChunkError(ValueError):
    """A chunk the service refuses (too large, not gzip when it says so, index out of range)."""


@dataclass(frozen=True)
class FileDefinition:
    id: str
    name: str
    kind: str  # "import" (an import's data source), "export" (an export's output), "created"
    header_row: int = 1
    first_data_row: int = 2
    separator: str = ","
    delimiter: str = '"'
    encoding: str = "UTF-8"
    format: str = "txt"
    default_content: bytes | None = None

    def describe(self, chunk_count: int) -> dict[str, Any]:
        if self.kind == "export":
            return {
                "id": self.id,
                "name": self.name,
                "chunkCount": chunk_count,
                "firstDataRow": 0,
                "headerRow": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "chunkCount": chunk_count,
            "delimiter": self.delimiter,
            "encoding": self.encoding,
            "firstDataRow": self.first_data_row,
            "format": self.format,
            "headerRow": self.header_row,
            "separator": self.separator,
        }


@dataclass(frozen=True)
class StoredChunk:
    stored: bytes
    gzipped: bool
    size: int  # uncompressed bytes

    def content(self) -> bytes:
        return inflate(self.stored) if self.gzipped else self.stored

    def pieces(self) -> Iterator[bytes]:
        """The content in pieces of about 1 MB, so readers never hold a whole chunk inflated."""
        if self.gzipped:
            yield from _inflate_pieces(self.stored, limit=None)
            return
        for start in range(0, len(self.stored), _INFLATE_STEP):
            yield self.stored[start : start + _INFLATE_STEP]


@dataclass
class FileContent:
    """One user's content of one file: the chunks uploaded so far and whether it is whole."""

    stored_at: float
    expected: int | None = None  # the announced chunk count; None after ``chunkCount: -1``
    completed: bool = False
    chunks: dict[int, StoredChunk] = field(default_factory=dict)

    @property
    def chunk_count(self) -> int:
        return len(self.chunks)

    @property
    def is_complete(self) -> bool:
        if self.completed:
            return True
        return self.expected is not None and set(self.chunks) == set(range(self.expected))

    @property
    def size(self) -> int:
        return sum(c.size for c in self.chunks.values())

    def ordered(self) -> list[StoredChunk]:
        return [self.chunks[i] for i in sorted(self.chunks)]

    def iter_bytes(self) -> Iterator[bytes]:
        for chunk in self.ordered():
            yield from chunk.pieces()


def inflate(data: bytes) -> bytes:
    return b"".join(_inflate_pieces(data, limit=None))


def gzip_size(data: bytes, limit: int) -> int:
    """Uncompressed size of a gzip stream (all members); raises ``ChunkError`` past ``limit``."""
    total = 0
    for piece in _inflate_pieces(data, limit):
        total += len(piece)
    return total


def _inflate_pieces(data: bytes, limit: int | None) -> Iterator[bytes]:
    remaining = data
    total = 0
    while remaining:
        inflater = zlib.decompressobj(wbits=31)
        buffer = remaining
        try:
            while True:
                piece = inflater.decompress(buffer, _INFLATE_STEP)
                total += len(piece)
                if limit is not None and total > limit:
                    raise ChunkError(f"Chunk exceeds the maximum size of {limit} bytes")
                if piece:
                    yield piece
                buffer = inflater.unconsumed_tail
                if inflater.eof or (not buffer and not piece):
                    break
        except zlib.error as exc:
            raise ChunkError(f"Chunk is not valid gzip data: {exc}") from exc
        if not inflater.eof:
            raise ChunkError("Chunk is not valid gzip data: truncated stream")
        remaining = inflater.unused_data


class FileStore:
    """Every file of one model and every user's content of it."""

    def __init__(
        self, clock: SimClock, definitions: list[FileDefinition], next_number: int
    ) -> None:
        self.clock = clock
        self.definitions: dict[str, FileDefinition] = {d.id: d for d in definitions}
        self._content: dict[tuple[str, str], FileContent] = {}
        self._next_number = next_number

    def definition(self, file_id: str) -> FileDefinition | None:
        return self.definitions.get(file_id)

    def create(self, name: str) -> FileDefinition:
        """A new file, as Anaplan creates one for a POST to an id that is not a file."""
        from sandbox.anaplan.ids import FILE_PREFIX, object_id

        while object_id(FILE_PREFIX, self._next_number) in self.definitions:
            self._next_number += 1
        definition = FileDefinition(
            id=object_id(FILE_PREFIX, self._next_number),
            name=name,
            kind="created",
            header_row=-1,
            first_data_row=-1,
        )
        self._next_number += 1
        self.definitions[definition.id] = definition
        return definition

    def current(self, user: str, file_id: str) -> FileContent | None:
        """What ``user`` sees in the file now: their own content while kept, else the default."""
        own = self._content.get((user, file_id))
        if own is not None:
            if self.clock.time() - own.stored_at < RETENTION_S:
                return own
            del self._content[(user, file_id)]
        definition = self.definitions.get(file_id)
        if definition is None or definition.default_content is None:
            return None
        data = definition.default_content
        return FileContent(
            stored_at=0.0,
            expected=1,
            completed=True,
            chunks={0: StoredChunk(data, False, len(data))},
        )

    def begin_upload(self, user: str, file_id: str, expected: int | None) -> FileContent:
        content = FileContent(stored_at=self.clock.time(), expected=expected)
        self._content[(user, file_id)] = content
        return content

    def put_chunk(self, user: str, file_id: str, index: int, data: bytes, gzipped: bool) -> None:
        if not 0 <= index < MAX_CHUNKS:
            raise ChunkError(f"Chunk index {index} is outside 0..{MAX_CHUNKS - 1}")
        content = self._content.get((user, file_id))
        if content is None or content.completed:
            # a chunk without an announced upload starts one whose size is unknown
            content = self.begin_upload(user, file_id, None)
        if content.expected is not None and index >= content.expected:
            raise ChunkError(
                f"Chunk index {index} is beyond the announced chunk count {content.expected}"
            )
        if gzipped:
            size = gzip_size(data, MAX_CHUNK_BYTES)
        else:
            size = len(data)
            if size > MAX_CHUNK_BYTES:
                raise ChunkError(f"Chunk exceeds the maximum size of {MAX_CHUNK_BYTES} bytes")
        content.chunks[index] = StoredChunk(data, gzipped, size)
        content.stored_at = self.clock.time()

    def complete(self, user: str, file_id: str) -> FileContent:
        content = self._content.get((user, file_id))
        if content is None:
            content = self.begin_upload(user, file_id, None)
        present = sorted(content.chunks)
        if content.expected is not None and present != list(range(content.expected)):
            # the file is whole only when chunks 0..N-1 of the announced N exist
            raise ChunkError(
                f"Upload is missing chunks: {content.expected} announced, uploaded {present}"
            )
        if present != list(range(len(present))):
            raise ChunkError(f"Chunks are not contiguous from 0: uploaded {present}")
        content.expected = len(content.chunks)
        content.completed = True
        content.stored_at = self.clock.time()
        return content

    def put_whole(self, user: str, file_id: str, data: bytes) -> None:
        if len(data) > MAX_CHUNK_BYTES:
            raise ChunkError(f"File exceeds the maximum size of {MAX_CHUNK_BYTES} bytes")
        content = self.begin_upload(user, file_id, 1)
        content.chunks[0] = StoredChunk(data, False, len(data))
        content.completed = True

    def store_output(self, user: str, file_id: str, data: bytes) -> None:
        """An export's output, split into chunks of at most 10 MB."""
        content = self.begin_upload(user, file_id, None)
        for index, start in enumerate(range(0, len(data), OUTPUT_CHUNK_BYTES)):
            piece = data[start : start + OUTPUT_CHUNK_BYTES]
            content.chunks[index] = StoredChunk(piece, False, len(piece))
        content.expected = len(content.chunks)
        content.completed = True

    def delete(self, user: str, file_id: str) -> None:
        self._content.pop((user, file_id), None)
