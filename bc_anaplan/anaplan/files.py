"""Moving file content: streaming uploads in gzip chunks, and chunked downloads to disk.

**Upload.** Anaplan's chunked upload is three steps: announce the upload with
``chunkCount: -1`` (the number of chunks is not known while rows are still streaming in),
``PUT`` the chunks ``0, 1, 2...`` (here gzip-compressed, ``application/x-gzip``), then
``POST .../complete`` with the file's metadata (``/complete`` without a body has produced 500s).
Rows stream from the caller through ``csvio.GzipChunker`` straight into the PUTs: one compressed
chunk in memory at a time, whatever the file's size.

Which requests may be repeated: a chunk PUT replaces chunk *n*, and the announce and complete
POSTs set state rather than create anything -- *provided the file id is one the model listed*,
because a POST to any other id creates a new file. The caller hands in a ``ModelFile`` from the
catalog (never a bare id), and the id Anaplan echoes is checked, so all three are safely retried
by the HTTP layer.

An upload with no lines still sends one (empty) chunk: otherwise the import would silently read
whatever the previous upload left in the file.

**Download.** Export output and failure dumps come as numbered chunks of at most 10 MB. Each is
written to a temporary file next to the destination, which is renamed into place only when every
chunk has arrived: a partial file is never visible under the final name.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bc_anaplan.anaplan.actions import ModelFile
from bc_anaplan.anaplan.api import ModelApi
from bc_anaplan.anaplan.csvio import (
    DEFAULT_CHUNK_BYTES,
    Cell,
    CsvLayout,
    GzipChunk,
    GzipChunker,
    encode_lines,
)
from bc_anaplan.anaplan.errors import FileGuardError, ProtocolError

log = logging.getLogger("bc_anaplan.anaplan.files")

GZIP = "application/x-gzip"


@dataclass(frozen=True)
class UploadResult:
    """What was uploaded, for the run record. Sizes are uncompressed unless named otherwise."""

    file_id: str
    file_name: str
    rows: int  # data rows
    bytes: int
    compressed_bytes: int
    chunks: int
    sha256: str  # of the uncompressed content, in upload order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def layout_of(file: ModelFile) -> CsvLayout:
    """The CSV layout an import reads ``file`` with."""
    return CsvLayout(
        separator=file.separator,
        delimiter=file.delimiter,
        encoding=file.encoding,
        header_row=file.header_row,
        first_data_row=file.first_data_row,
    )


def upload_rows(
    api: ModelApi,
    file: ModelFile,
    rows: Iterable[Sequence[Cell]],
    *,
    header: Sequence[str] | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    compression_level: int = 6,
) -> UploadResult:
    """Write ``rows`` as CSV in ``file``'s layout (header where it expects one) and upload it."""
    layout = layout_of(file)
    preamble = max(0, layout.data_starts_at - 1)
    lines = encode_lines(rows, layout, header)
    result = _upload(api, file, lines, GzipChunker(chunk_bytes, compression_level))
    return UploadResult(**{**result.to_dict(), "rows": max(0, result.rows - preamble)})


def _upload(
    api: ModelApi, file: ModelFile, lines: Iterator[bytes], chunker: GzipChunker
) -> UploadResult:
    _post_file(api, api.path("files", file.id), file)
    compressed = sent = 0
    for line in lines:
        chunk = chunker.add(line)
        if chunk is not None:
            compressed += _put_chunk(api, file, chunk)
            sent += 1
    last = chunker.close()
    if last is None and sent == 0:
        last = GzipChunk(0, gzip.compress(b""), 0, 0)  # replaces the previous content
    if last is not None:
        compressed += _put_chunk(api, file, last)
        sent += 1
    completed = _post_file(api, api.path("files", file.id, "complete"), file)
    _check_chunk_count(file, completed, sent)
    result = UploadResult(
        file.id,
        file.name,
        chunker.total_lines,
        chunker.total_bytes,
        compressed,
        sent,
        chunker.digest.hexdigest(),
    )
    log.info(
        "uploaded %d lines (%d bytes, %d gzip bytes) to %s in %d chunks",
        result.rows,
        result.bytes,
        result.compressed_bytes,
        file.name,
        result.chunks,
    )
    return result


def _post_file(api: ModelApi, path: str, file: ModelFile) -> dict[str, Any]:
    """Announce or complete an upload, and check Anaplan wrote to the file we meant."""
    body = api.send(
        "POST",
        path,
        {
            "id": file.id,
            "name": file.name,
            "chunkCount": -1,
            "firstDataRow": file.first_data_row,
            "headerRow": file.header_row,
        },
        idempotent=True,  # sets state on a listed file; see the module docstring
    )
    echoed = body.get("file")
    if not isinstance(echoed, dict):
        raise ProtocolError(f"Anaplan's answer to POST {path} has no 'file' object")
    if str(echoed.get("id")) != file.id:
        raise FileGuardError(
            f"Anaplan answered the upload to file {file.id} ({file.name!r}) with file "
            f"{echoed.get('id')!r}: it created or chose another file, so the upload stopped"
        )
    return echoed


def _put_chunk(api: ModelApi, file: ModelFile, chunk: GzipChunk) -> int:
    api.http.request(
        "PUT",
        api.path("files", file.id, "chunks", str(chunk.index)),
        content=chunk.data,
        headers={"Content-Type": GZIP},
    )
    return len(chunk.data)


def _check_chunk_count(file: ModelFile, echoed: dict[str, Any], sent: int) -> None:
    count = echoed.get("chunkCount")
    if isinstance(count, int) and count >= 0 and count != sent:
        raise ProtocolError(
            f"Anaplan completed file {file.name!r} with {count} chunks, but {sent} were "
            "uploaded; the import would read incomplete data"
        )


def delete_content(api: ModelApi, file: ModelFile) -> None:
    """Remove this user's uploaded content of ``file`` (Anaplan would otherwise keep it 48 h).

    Worth doing after importing personal data (employees): the model keeps what it imported,
    the copy in the file need not linger.
    """
    api.http.request("DELETE", api.path("files", file.id), expected=frozenset({204}))


@dataclass(frozen=True)
class Download:
    path: Path
    bytes: int
    chunks: int
    sha256: str


def chunk_ids(api: ModelApi, chunks_path: str) -> list[str]:
    """The chunk ids under ``chunks_path``, in order (no ``chunks`` key = no chunks)."""
    return sorted_chunk_ids(api.get(chunks_path))


def sorted_chunk_ids(answer: dict[str, Any]) -> list[str]:
    """The chunk ids of a chunk-list answer, in numeric order."""
    listed = answer.get("chunks", [])
    ids = [str(c["id"]) for c in listed if isinstance(c, dict) and "id" in c]
    return sorted(ids, key=lambda i: (len(i), i))


def download_chunks(api: ModelApi, chunks_path: str, destination: Path) -> Download:
    """Download every chunk under ``chunks_path`` into ``destination``, atomically."""
    ids = chunk_ids(api, chunks_path)
    return write_atomically(destination, (_chunk(api, chunks_path, i) for i in ids))


def _chunk(api: ModelApi, chunks_path: str, chunk_id: str) -> bytes:
    return api.get_bytes(f"{chunks_path}/{chunk_id}").content


def write_atomically(destination: Path, pieces: Iterable[bytes]) -> Download:
    """Write ``pieces`` to a temporary file beside ``destination``, then rename it into place."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    digest, size, count = hashlib.sha256(), 0, 0
    try:
        with os.fdopen(handle, "wb") as out:
            for piece in pieces:
                out.write(piece)
                digest.update(piece)
                size += len(piece)
                count += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return Download(destination, size, count, digest.hexdigest())


def read_blocks(path: Path, size: int = 1024 * 1024) -> Iterator[bytes]:
    with path.open("rb") as source:
        while block := source.read(size):
            yield block
