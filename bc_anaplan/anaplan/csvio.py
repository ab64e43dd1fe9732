"""CSV in the layout a model's file declares, cut into gzip chunks or read back as a stream.

Pure functions and small classes, no I/O: ``files.py`` moves the bytes, this module decides
what they are.

* **Writing** (uploads): rows become lines in the file's encoding, separator and text delimiter,
  with the header where the file's ``headerRow`` says. ``GzipChunker`` cuts the lines into
  chunks of at most ``chunk_bytes`` *uncompressed* bytes (Anaplan's limit is 50 MB
  uncompressed per chunk), always between two lines, and compresses each chunk as its own gzip
  stream while it fills, so only the compressed chunk is ever held -- memory stays flat however
  many rows stream through.
* **Reading** (exports, failure dumps): byte chunks are decoded incrementally and split into
  lines, and ``csv.reader`` reassembles quoted fields that span lines, so a download of any size
  is parsed with a buffer of one line.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

MAX_CHUNK_BYTES = 50 * 1024 * 1024  # Anaplan: at most 50 MB uncompressed per chunk
MAX_CHUNKS = 1000  # Anaplan: at most 1000 chunks per file
DEFAULT_CHUNK_BYTES = 10 * 1024 * 1024
_COMPRESS_BATCH = 256 * 1024  # lines are handed to zlib in batches of about this size

Cell = str | int | float | Decimal | bool | date | datetime | None


class CsvError(ValueError):
    """Rows that cannot be written in the file's layout, or bytes that cannot be read."""


@dataclass(frozen=True)
class CsvLayout:
    """How a file's text is laid out: what an import reads and an export writes."""

    separator: str = ","
    delimiter: str = '"'  # text delimiter (quote character); "" = none
    encoding: str = "UTF-8"
    header_row: int = 1  # 1-based; < 1 = no header row
    first_data_row: int = 2  # 1-based

    @property
    def codec(self) -> str:
        try:
            return codecs.lookup(self.encoding).name
        except LookupError:
            raise CsvError(f"unsupported file encoding {self.encoding!r}") from None

    @property
    def data_starts_at(self) -> int:
        """The 1-based line of the first data row (a file may say -1: 'right after the header')."""
        if self.first_data_row >= 1:
            return self.first_data_row
        return self.header_row + 1 if self.header_row >= 1 else 1

    def dialect(self) -> dict[str, object]:
        separator = "\t" if self.separator in ("\\t", "tab") else self.separator
        if len(separator) != 1:
            raise CsvError(f"column separator {self.separator!r} is not one character")
        if self.delimiter:
            return {"delimiter": separator, "quotechar": self.delimiter[0], "doublequote": True}
        return {"delimiter": separator, "quoting": csv.QUOTE_NONE, "quotechar": None}


def cell_text(value: Cell) -> str:
    """A value as Anaplan reads it: booleans ``true``/``false``, dates ISO, blanks empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


class _LineSink:
    """``csv.writer`` writes each row with one ``write`` call: keep that line."""

    line = ""

    def write(self, text: str) -> int:
        self.line = text
        return len(text)


def encode_lines(
    rows: Iterable[Sequence[Cell]], layout: CsvLayout, header: Sequence[str] | None
) -> Iterator[bytes]:
    """Every line of the file: the lines before the data (header, blanks), then one per row."""
    codec = layout.codec
    sink = _LineSink()
    writer = csv.writer(sink, lineterminator="\n", **layout.dialect())  # type: ignore[arg-type]
    for number in range(1, layout.data_starts_at):
        if number == layout.header_row:
            if header is None:
                raise CsvError(f"the file expects a header in line {number}; give its columns")
            yield _encode(writer, sink, header, codec, number)
        else:
            yield b"\n"
    for number, row in enumerate(rows, start=layout.data_starts_at):
        cells = [c if type(c) is str else cell_text(c) for c in row]
        yield _encode(writer, sink, cells, codec, number)


def _encode(writer: object, sink: _LineSink, row: Sequence[str], codec: str, number: int) -> bytes:
    try:
        writer.writerow(row)  # type: ignore[attr-defined]
    except csv.Error as exc:
        raise CsvError(f"line {number} cannot be written without a text delimiter: {exc}") from None
    try:
        return sink.line.encode(codec)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise CsvError(f"line {number} has {bad!r}, which {codec} cannot encode") from None


@dataclass(frozen=True)
class GzipChunk:
    index: int
    data: bytes  # one complete gzip stream
    raw_bytes: int  # uncompressed size
    lines: int


class GzipChunker:
    """Packs lines into gzip chunks of at most ``chunk_bytes`` uncompressed, cut between lines."""

    def __init__(self, chunk_bytes: int = DEFAULT_CHUNK_BYTES, level: int = 6) -> None:
        if not 1 <= chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be within 1..{MAX_CHUNK_BYTES}, got {chunk_bytes}")
        self.chunk_bytes = chunk_bytes
        self.level = level
        self.digest = hashlib.sha256()  # of every uncompressed byte, in order
        self.total_bytes = 0
        self.total_lines = 0
        self.chunks = 0
        self._start()

    def _start(self) -> None:
        self._zip = zlib.compressobj(self.level, zlib.DEFLATED, 31)  # 31: gzip container
        self._out: list[bytes] = []
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._raw = 0
        self._lines = 0

    def add(self, line: bytes) -> GzipChunk | None:
        """Add one line; returns the chunk it completed, if adding it had to start a new one."""
        size = len(line)
        if size > self.chunk_bytes:
            raise CsvError(
                f"a line of {size} bytes does not fit in a chunk of {self.chunk_bytes} bytes"
            )
        finished = self._finish() if self._raw + size > self.chunk_bytes else None
        self._batch.append(line)
        self._batch_bytes += size
        self._raw += size
        self._lines += 1
        if self._batch_bytes >= _COMPRESS_BATCH:
            self._compress_batch()
        return finished

    def close(self) -> GzipChunk | None:
        """The last, partly filled chunk (None if nothing is pending)."""
        return self._finish() if self._raw else None

    def _compress_batch(self) -> None:
        data = b"".join(self._batch)
        self.digest.update(data)
        self._out.append(self._zip.compress(data))
        self._batch.clear()
        self._batch_bytes = 0

    def _finish(self) -> GzipChunk:
        self._compress_batch()
        self._out.append(self._zip.flush())
        if self.chunks >= MAX_CHUNKS:
            raise CsvError(
                f"the file needs more than {MAX_CHUNKS} chunks of {self.chunk_bytes} bytes"
            )
        chunk = GzipChunk(self.chunks, b"".join(self._out), self._raw, self._lines)
        self.chunks += 1
        self.total_bytes += self._raw
        self.total_lines += self._lines
        self._start()
        return chunk


MAX_LINE_CHARS = 1_048_576  # no sound export line comes near; a hostile one must not fill memory


def iter_text_lines(blocks: Iterable[bytes], encoding: str) -> Iterator[str]:
    """Decoded lines (with their newline) across block boundaries; a leading BOM is dropped.

    A line longer than ``MAX_LINE_CHARS`` raises ``CsvError`` instead of being assembled.
    """
    try:
        decoder = codecs.getincrementaldecoder(codecs.lookup(encoding).name)(errors="strict")
    except LookupError:
        raise CsvError(f"unsupported file encoding {encoding!r}") from None
    pending, first = "", True
    try:
        for block in blocks:
            text = pending + decoder.decode(block)
            if first and text:
                text, first = text.removeprefix("\ufeff"), False
            cut = text.rfind("\n") + 1
            pending = text[cut:]
            if len(pending) > MAX_LINE_CHARS:
                raise CsvError(f"a line is longer than {MAX_LINE_CHARS:,} characters")
            if cut:  # split on "\n" only: other Unicode line breaks are data inside a field
                for line in text[:cut].split("\n")[:-1]:
                    if len(line) > MAX_LINE_CHARS:
                        raise CsvError(f"a line is longer than {MAX_LINE_CHARS:,} characters")
                    yield line + "\n"
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise CsvError(f"the file is not valid {encoding}: {exc.reason}") from None
    if pending:
        yield pending


def read_records(blocks: Iterable[bytes], layout: CsvLayout) -> Iterator[list[str]]:
    """Every record of a CSV byte stream, header lines included."""
    lines = iter_text_lines(blocks, layout.encoding)
    reader = csv.reader(lines, strict=True, **layout.dialect())  # type: ignore[arg-type]
    try:
        yield from reader
    except csv.Error as exc:
        raise CsvError(f"malformed CSV near line {reader.line_num}: {exc}") from None
