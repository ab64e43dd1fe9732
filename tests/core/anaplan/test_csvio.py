"""CSV writing and reading in a file's layout, and gzip chunks cut between rows (pure, no I/O)."""

from __future__ import annotations

import gzip
from datetime import date
from decimal import Decimal

import pytest

from bc_anaplan.anaplan.csvio import (
    MAX_CHUNK_BYTES,
    CsvError,
    CsvLayout,
    GzipChunker,
    encode_lines,
    read_records,
)


def chunks_of(lines: list[bytes], chunk_bytes: int) -> list[bytes]:
    chunker = GzipChunker(chunk_bytes, level=1)
    out = [c for c in (chunker.add(line) for line in lines) if c is not None]
    last = chunker.close()
    if last is not None:
        out.append(last)
    assert [c.index for c in out] == list(range(len(out)))
    return [gzip.decompress(c.data) for c in out]


def test_chunks_are_cut_between_rows_and_never_exceed_the_limit() -> None:
    lines = [f"row-{i},{'x' * (i % 17)}\n".encode() for i in range(1000)]
    pieces = chunks_of(lines, 200)
    assert b"".join(pieces) == b"".join(lines)
    assert all(len(p) <= 200 for p in pieces)
    assert all(p.endswith(b"\n") for p in pieces)
    assert len(pieces) > 50


def test_chunker_counts_hashes_and_refuses_oversized_rows() -> None:
    import hashlib

    chunker = GzipChunker(64, level=1)
    lines = [b"a,b,c\n"] * 30
    produced = [c for c in (chunker.add(line) for line in lines) if c] + [chunker.close()]
    assert sum(c.lines for c in produced if c) == 30 == chunker.total_lines
    assert chunker.total_bytes == 180
    assert chunker.digest.hexdigest() == hashlib.sha256(b"".join(lines)).hexdigest()
    with pytest.raises(CsvError, match="does not fit"):
        chunker.add(b"y" * 65)
    with pytest.raises(ValueError):
        GzipChunker(MAX_CHUNK_BYTES + 1)


def test_rows_are_written_in_the_files_layout_with_the_header_where_it_belongs() -> None:
    layout = CsvLayout(separator="\t", delimiter='"', encoding="ISO-8859-1", header_row=2,
                       first_data_row=4)  # fmt: skip
    rows = [["Zürich", 1, Decimal("2.50"), True, None, date(2025, 1, 31)], ['a\tb "q"', 2]]
    text = b"".join(encode_lines(rows, layout, ["Name", "N"])).decode("latin-1")
    assert text.split("\n") == [
        "",
        "Name\tN",
        "",
        "Zürich\t1\t2.50\ttrue\t\t2025-01-31",
        '"a\tb ""q"""\t2',
        "",
    ]


def test_missing_header_unencodable_text_and_undelimited_separators_fail_clearly() -> None:
    with pytest.raises(CsvError, match="header"):
        list(encode_lines([["a"]], CsvLayout(), None))
    latin = CsvLayout(encoding="ISO-8859-1")
    with pytest.raises(CsvError, match="line 2 .*cannot encode"):
        list(encode_lines([["€uro"]], latin, ["Name"]))
    bare = CsvLayout(delimiter="")
    with pytest.raises(CsvError, match="line 2 cannot be written without a text delimiter"):
        list(encode_lines([["a,b"]], bare, ["Name"]))
    with pytest.raises(CsvError, match="encoding"):
        list(encode_lines([["a"]], CsvLayout(encoding="no-such-codec"), ["Name"]))


def test_no_header_file_starts_with_data() -> None:
    layout = CsvLayout(header_row=0, first_data_row=-1)
    assert b"".join(encode_lines([["a", "b"]], layout, None)) == b"a,b\n"


def test_reading_handles_quoted_newlines_across_blocks_and_a_bom() -> None:
    data = '\ufeffName,Note\n"Smith, J","line one\nline two"\nDoe,ok\n'.encode()
    blocks = [data[i : i + 5] for i in range(0, len(data), 5)]
    assert list(read_records(blocks, CsvLayout())) == [
        ["Name", "Note"],
        ["Smith, J", "line one\nline two"],
        ["Doe", "ok"],
    ]


def test_reading_a_malformed_or_misencoded_file_fails_clearly() -> None:
    with pytest.raises(CsvError, match="not valid UTF-8"):
        list(read_records([b"a,\xff\n"], CsvLayout()))
    strict = CsvLayout()
    with pytest.raises(CsvError, match="malformed"):
        list(read_records([b'a,"b\n'], strict))
