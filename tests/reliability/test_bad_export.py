"""A broken export file: the writeback stops with a clear error or rejects the row, and BC gets
nothing outside the policy.

A hostile HTTPS server (``hostile.TamperingProxy``) stands in front of the Anaplan simulator as
``ANAPLAN_API_URL``. The export runs for real in the simulator, under the model lock; only the
file's chunks are changed on their way back, so the connector's own download, CSV parsing
(``ExportFile.records``), staging and line validation all meet the damage: broken quoting, a wrong
column count, non-numeric amounts, invalid UTF-8, and a 100 MB line. Under ``all-or-nothing``
nothing may reach BC; under ``continue`` exactly the sound lines may, each once.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import pytest

from tests.reliability.harness import (
    EXPORT_APPROVED_BUDGET,
    assert_no_duplicate_lines,
    bc_writes,
    revision_rows,
)
from tests.reliability.hostile import TamperingProxy, connector_behind_proxy
from tests.support.connector import ConnectorUnderTest

VERSION = "Budget FY27"
ROWS = 120
CHUNK = 10 * 1024 * 1024  # Anaplan serves export output in chunks of at most 10 MB


@pytest.fixture(scope="module")
def behind_proxy(
    tmp_path_factory: pytest.TempPathFactory, azurite: str
) -> Iterator[tuple[ConnectorUnderTest, TamperingProxy]]:
    workdir = tmp_path_factory.mktemp("hostile-anaplan")
    with connector_behind_proxy("anaplan_api", workdir, azurite) as (c, hostile):
        c.run("reference_sync")
        c.sandbox.post(
            "anaplan_api", "/_sandbox/anaplan/budget", {"version": VERSION, "rows": ROWS}
        )
        c.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})
        yield c, hostile


@pytest.fixture(scope="module")
def app(behind_proxy: tuple[ConnectorUnderTest, TamperingProxy]) -> ConnectorUnderTest:
    return behind_proxy[0]


@pytest.fixture
def hostile(behind_proxy: tuple[ConnectorUnderTest, TamperingProxy]) -> Iterator[TamperingProxy]:
    yield behind_proxy[1]
    behind_proxy[1].clear()


def export_chunk(method: str, path: str, query: Mapping[str, str]) -> bool:
    return method == "GET" and bool(
        re.search(rf"/files/{EXPORT_APPROVED_BUDGET}/chunks/\d+$", path)
    )


def export_chunk_list(method: str, path: str, query: Mapping[str, str]) -> bool:
    return method == "GET" and path.endswith(f"/files/{EXPORT_APPROVED_BUDGET}/chunks")


def edit_lines(edits: Mapping[int, Callable[[list[str]], str]]) -> Callable[[Any], Any]:
    """Replace lines of the export (1 = header) by ``edit(fields)``; the rest stays as sent."""

    def edit(content: bytes) -> bytes:
        lines = content.decode().split("\n")
        for number, change in edits.items():
            lines[number - 1] = change(lines[number - 1].split(","))
        return "\n".join(lines).encode()

    return edit


def serve_export(hostile: TamperingProxy, content: bytes) -> None:
    """Answer the export's chunk list and chunks with ``content`` instead of the real file."""
    count = max(1, -(-len(content) // CHUNK))
    listing = {
        "meta": {"schema": "chunks"},
        "status": {"code": 200, "message": "Success"},
        "chunks": [{"id": str(i), "name": f"Chunk {i}"} for i in range(count)],
    }
    hostile.serve(export_chunk_list, json.dumps(listing).encode())

    def chunk(path: str) -> bytes:
        index = int(path.rsplit("/", 1)[1])
        return content[index * CHUNK : (index + 1) * CHUNK]

    hostile.serve(export_chunk, chunk)


def writeback(c: ConnectorUnderTest, policy: str | None = None) -> dict[str, Any]:
    c.sandbox.http.delete(c.sandbox.info["bc"] + "/_sandbox/requests")
    iid = f"writeback-{uuid.uuid4().hex[:8]}"
    request = {"version": VERSION, "trigger": "cli", **({"policy": policy} if policy else {})}
    status = c.host.wait_for(c.host.start_new("plan_writeback", request, instance_id=iid), 180)
    run = c.rt.audit.get_run(iid)
    assert run is not None, status
    return {**run, "runtime_status": status.runtime_status, "output": status.output}


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        pytest.param({3: lambda f: '"' + ",".join(f)}, "malformed CSV", id="unterminated quote"),
        pytest.param(
            {4: lambda f: ",".join([f[0], f'"{f[1]}"x', *f[2:]])},
            "malformed CSV near line 4",
            id="text after a closing quote",
        ),
    ],
)
def test_broken_quoting_stops_the_writeback_with_a_clear_error(
    app: ConnectorUnderTest,
    hostile: TamperingProxy,
    edits: Mapping[int, Callable[[list[str]], str]],
    message: str,
) -> None:
    hostile.tamper(export_chunk, edit_lines(edits))
    run = writeback(app)
    assert run["runtime_status"] == "Failed" and run["state"] == "failed"
    assert message in run["error"], run["error"][:300]
    assert bc_writes(app.sandbox) == 0


def test_invalid_utf8_stops_the_writeback_with_a_clear_error(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    hostile.tamper(
        export_chunk, lambda content: content.replace(b"Budget FY27", b"Budget \xff27", 1)
    )
    run = writeback(app)
    assert run["state"] == "failed" and "not valid UTF-8" in run["error"], run["error"][:300]
    assert bc_writes(app.sandbox) == 0


BAD_AMOUNTS = {3: "abc", 4: "1.2.3", 5: "NaN", 6: "1e3", 7: "", 8: "12,50"}


def bad_amounts(fields: list[str], amount: str) -> str:
    return ",".join([*fields[:-1], amount if "," not in amount else f'"{amount}"'])


def test_non_numeric_amounts_stop_all_or_nothing_before_bc(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    hostile.tamper(
        export_chunk,
        edit_lines({n: (lambda f, a=a: bad_amounts(f, a)) for n, a in BAD_AMOUNTS.items()}),
    )
    run = writeback(app)
    assert run["state"] == "failed", run
    assert "nothing was written to BC" in run["output"]["summary"]["stopped"]
    assert bc_writes(app.sandbox) == 0
    rejected = list(app.rt.audit.records(run["run_id"], "rejected"))
    assert len(rejected) == len(BAD_AMOUNTS)
    assert all("amount" in r.reason for r in rejected), [r.reason for r in rejected]


def test_under_continue_exactly_the_sound_lines_reach_bc(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    edits = {n: (lambda f, a=a: bad_amounts(f, a)) for n, a in BAD_AMOUNTS.items()}
    edits[10] = lambda f: ",".join(f[:-1])  # a row one column short
    hostile.tamper(export_chunk, edit_lines(edits))
    run = writeback(app, policy="continue")
    assert run["state"] == "partially_succeeded", run
    rejected = list(app.rt.audit.records(run["run_id"], "rejected"))
    assert sorted(r.data["line"] for r in rejected) == sorted(edits)
    lines = revision_rows(app, VERSION)
    assert_no_duplicate_lines(lines)
    assert len(lines) == ROWS - len(edits)
    refused = {r.key.removeprefix("plan:") for r in rejected}
    assert not [line for line in lines if line["description"].split(" ", 2)[-1] in refused]


def test_a_row_with_an_extra_column_is_rejected_not_truncated(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    original: list[list[str]] = []  # export line 5 as Anaplan wrote it

    def unquoted_thousands(fields: list[str]) -> str:
        original.append(fields)
        return ",".join([*fields[:-1], "1", "234.56"])

    hostile.tamper(export_chunk, edit_lines({5: unquoted_thousands}))
    run = writeback(app)
    truncated = [line for line in revision_rows(app, VERSION) if line["amount"] == Decimal(1)]
    assert run["state"] == "failed" and bc_writes(app.sandbox) == 0, (run["state"], truncated)
    assert "nothing was written to BC" in run["output"]["summary"]["stopped"]
    # the run failed because of that line, and only that line: it is the one rejected
    (rejected,) = app.rt.audit.records(run["run_id"], "rejected")
    assert rejected.data["line"] == 5, rejected
    assert rejected.reason == "the row has 7 fields, the header 6", rejected.reason
    header = HEADER.decode().strip().split(",")
    named = {column: rejected.data[column] for column in header[:-1]}
    assert named == dict(zip(header[:-1], original[0][:-1], strict=True)), named


HEADER = b"GL Accounts,Cost Centers,Departments,Time,Versions,Amount\n"
MB_100 = 100 * 1024 * 1024


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(b"61010," + b"9" * MB_100, "a line is longer than", id="one 100 MB field"),
        pytest.param(
            b"61010,CC100,ADMIN,Jan 27,Budget FY27,100" + b",1" * (MB_100 // 2),
            "a line is longer than",
            id="a sound row and 50 million more fields",
        ),
    ],
)
def test_a_100_mb_line_is_refused_without_harming_the_host(
    app: ConnectorUnderTest, hostile: TamperingProxy, line: bytes, message: str
) -> None:
    serve_export(hostile, HEADER + line + b"\n")
    run = writeback(app)
    assert run["runtime_status"] == "Failed" and run["state"] == "failed", run["state"]
    assert message in run["error"], run["error"][:300]
    assert bc_writes(app.sandbox) == 0
    hostile.clear()
    # the same host, the next run: the real export is written back
    again = writeback(app, policy="continue")
    assert again["state"] in ("succeeded", "partially_succeeded", "unchanged"), again
    lines = revision_rows(app, VERSION)
    assert_no_duplicate_lines(lines)
    assert len(lines) == ROWS
