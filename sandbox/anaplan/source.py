"""The data rows of an import's source file, with its header mapped to the import's columns.

Shared by list and module imports: both read the file with the data source's options, find
their mapped columns by header name (order free, extra columns ignored, a missing mapped column
fails the whole import), skip blank rows as *ignored*, and write rejected rows to the failure
dump as Anaplan does: ``_Status_``, ``_Line_``, ``_Error_1_``, then the source columns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sandbox.anaplan.csvfile import LineCounter, SourceFormatError, read_records
from sandbox.anaplan.files import FileContent, FileDefinition


class MappingError(ValueError):
    """The source's header cannot satisfy the import's mapping."""

    def __init__(self, message: str, columns: list[str]) -> None:
        super().__init__(message)
        self.columns = columns


class SourceRows:
    def __init__(self, content: FileContent, definition: FileDefinition) -> None:
        self._counter = LineCounter()
        self._total_chars = max(1, content.size)
        self._records = read_records(content.iter_bytes(), definition, self._counter)
        self._definition = definition
        self.header: list[str] = []
        self.ignored = 0
        self.total = 0

    @property
    def fraction_read(self) -> float:
        return self._counter.chars / self._total_chars

    def map_columns(self, columns: tuple[str, ...]) -> dict[str, int]:
        """Read up to the header row and find every mapped column in it."""
        for number, fields in self._records:
            if number == self._definition.header_row:
                self.header = fields
                break
        else:
            raise MappingError("The file has no header row", list(columns))
        positions: dict[str, int] = {}
        for index, name in enumerate(self.header):
            if name in columns:
                if name in positions:
                    raise MappingError(f"Column {name} appears more than once", [name])
                positions[name] = index
        missing = [c for c in columns if c not in positions]
        if missing:
            names = ", ".join(missing)
            raise MappingError(
                f"Mapped column(s) missing from the source file: {names}; "
                f"expected columns: {', '.join(columns)}",
                missing,
            )
        return positions

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        """``(record number, fields)`` of every non-blank data row; raises SourceFormatError."""
        for number, fields in self._records:
            if number < self._definition.first_data_row:
                continue
            self.total += 1
            if not any(fields):
                self.ignored += 1
                continue
            yield number, fields


class FailureDump:
    """The rejected rows of one import, as the CSV Anaplan offers for download."""

    def __init__(self, header: list[str]) -> None:
        self._out = io.StringIO()
        self._writer = csv.writer(self._out, lineterminator="\n")
        self._writer.writerow(["_Status_", "_Line_", "_Error_1_", *header])
        self.rows = 0

    def reject(self, line: int, message: str, fields: list[str]) -> None:
        self._writer.writerow(["E", str(line), message, *fields])
        self.rows += 1

    def content(self) -> bytes | None:
        return self._out.getvalue().encode("utf-8") if self.rows else None


__all__ = ["FailureDump", "MappingError", "SourceFormatError", "SourceRows"]
