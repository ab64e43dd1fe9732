"""What BC's journal holds is read back line by line, not key by key.

The writer keys draft lines by their idempotency key (``externalDocumentNumber``). A second line
with the same key -- a reviewer's copy of a draft line in BC, or any duplicate at all -- must not
survive the retirement of its plan revision, or finance would post a superseded figure next to
the new plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bc_anaplan.bc import streams
from tests.reliability.harness import journal_rows, revision_rows
from tests.support.connector import ConnectorUnderTest, connector
from tests.support.processes import running_sandbox

VERSION = "Budget FY27"


@pytest.fixture(scope="module")
def app(azurite: str) -> Iterator[ConnectorUnderTest]:
    with running_sandbox("--scale", "small", "--fast") as info, connector(info, azurite) as c:
        c.run("reference_sync")
        yield c


def approve(c: ConnectorUnderTest, rows: int) -> None:
    c.sandbox.post("anaplan_api", "/_sandbox/anaplan/budget", {"version": VERSION, "rows": rows})
    c.sandbox.post("anaplan_api", "/_sandbox/anaplan/approve", {"version": VERSION})


def copy_in_bc(c: ConnectorUnderTest, line: dict[str, Any]) -> None:
    """What a reviewer's copy of a draft line looks like: same fields, same dimensions."""
    bc = c.rt.bc()
    journal = streams.find_journal(bc, "PLAN").id
    fields = ("accountNumber", "postingDate", "documentNumber", "externalDocumentNumber")
    body = {name: line[name] for name in fields}
    body.update(amount=Decimal(str(line["amount"])), description=line["description"])
    created = bc.send("POST", bc.company_url(f"journals({journal})/journalLines"), body).json()
    for dimension in line["dimensionSetLines"]:
        bc.send(
            "POST",
            bc.company_url(f"journals({journal})/journalLines({created['id']})/dimensionSetLines"),
            {"code": dimension["code"], "valueCode": dimension["valueCode"]},
        )


def test_a_doubled_draft_line_is_retired_with_its_revision(app: ConnectorUnderTest) -> None:
    approve(app, 200)
    first = app.run("plan_writeback", {"version": VERSION, "trigger": "cli"})
    assert first["state"] == "succeeded", first
    old = revision_rows(app, VERSION)
    assert len(old) == 200
    copy_in_bc(app, old[0])

    approve(app, 150)  # the plan changes: the previous revision's drafts must all go
    second = app.run("plan_writeback", {"version": VERSION, "trigger": "cli"})
    assert second["state"] == "succeeded", second
    stale = [
        r for r in journal_rows(app.rt.bc()) if r["documentNumber"] == old[0]["documentNumber"]
    ]
    assert stale == [], f"{len(stale)} line(s) of the superseded revision are still in the batch"
    assert len(journal_rows(app.rt.bc())) == 150
