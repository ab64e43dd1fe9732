"""Reading an uploaded file the way the import's file options say, and writing CSV output.

An import reads its source with the data source file's options: encoding, column separator,
text delimiter, header row and first data row (1-based record numbers). Reading streams chunk by
chunk and record by record, so a large file is never held as one decoded string.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from sandbox.anaplan.files import FileDefinition


class SourceFormatError(ValueError):
    """The file cannot be read at all (encoding, broken quoting): the import fails as a whole."""


class LineCounter:
    """Counts decoded characters handed to the CSV reader, for task progress."""

    def __init__(self) -> None:
        self.chars = 0


def iter_lines(chunks: Iterable[bytes], encoding: str, counter: LineCounter) -> Iterator[str]:
    """Decoded lines, each with its line ending, across chunk boundaries."""
    try:
        decoder = codecs.getincrementaldecoder(_codec(encoding))(errors="strict")
    except LookupError as exc:
        raise SourceFormatError(f"Unsupported file encoding {encoding}") from exc
    pending = ""
    first = True
    try:
        for chunk in chunks:
            text = pending + decoder.decode(chunk)
            if first and text:
                text = text.removeprefix("\ufeff")
                first = False
            # split on "\n" only: other Unicode line breaks are data inside a field
            cut = text.rfind("\n") + 1
            pending = text[cut:]
            if cut:
                counter.chars += cut
                for line in text[:cut].split("\n")[:-1]:
                    yield line + "\n"
        tail = pending + decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"The file is not valid {encoding}: {exc.reason}") from exc
    if tail:
        counter.chars += len(tail)
        yield tail


def _codec(encoding: str) -> str:
    return "utf-8" if encoding.upper() in ("UTF-8", "UTF8") else encoding


def read_records(
    chunks: Iterable[bytes], definition: FileDefinition, counter: LineCounter
) -> Iterator[tuple[int, list[str]]]:
    """``(record number, fields)`` for every record, the header included, numbered from 1."""
    lines = iter_lines(chunks, definition.encoding, counter)
    reader = csv.reader(
        lines, delimiter=definition.separator, quotechar=definition.delimiter or None, strict=True
    )
    number = 0
    try:
        for fields in reader:
            number += 1
            yield number, fields
    except csv.Error as exc:
        raise SourceFormatError(f"Malformed record after line {reader.line_num}: {exc}") from exc


def render_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """CSV as Anaplan exports it: comma, double-quote delimiter where needed, CRLF-free."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=",", quotechar='"', lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
