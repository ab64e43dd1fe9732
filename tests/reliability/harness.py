"""What the reliability tests share: the fault mix, triggers that act while a run is in progress,
and the exactly-once checks made from the services' own records (never from the connector's).

* ``FAULTS`` is the issue's mix for every sandbox service at once: about 10% 429 with
  ``Retry-After``, 2% 503, 1% connection resets before processing, and slow answers.
* ``Trigger`` runs an action (advance the sandbox clock, SIGKILL the host) once, from a thread,
  as soon as a condition about the run's progress holds.
* ``tasks_per_action`` counts Anaplan tasks per action from the sandbox's task log;
  ``journal_rows`` reads the PLAN journal straight from BC (raw JSON, duplicates kept);
  ``statuses`` counts answers per HTTP status from the sandbox's request log (0 = connection
  closed by a fault); ``bc_writes`` counts the requests that could have changed BC.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Any

from bc_anaplan.bc import streams
from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.journal import plan_document_number
from bc_anaplan.flows.writeback import WritebackState, plan_version_key
from bc_anaplan.plans import to_cents
from tests.support.connector import ConnectorUnderTest, Sandbox

# about 10% 429 (Retry-After 1 s), 2% 503, 1% resets and 3% slow (0.5 s) on every service
FAULTS = "all:429=0.10,503=0.02,reset=0.01,slow=0.03,retry_after=1,slow_s=0.5"
TOKEN_EXPIRY_S = 3_700  # past BC's 3,599 s and Anaplan's 35 minutes

# the sandbox's action ids (sandbox/README.md, "Actions")
IMPORT_GL_ACCOUNTS = "112000000001"
IMPORT_COST_CENTERS = "112000000003"
IMPORT_PRODUCT_LINES = "112000000004"
IMPORT_GL_ACTUALS = "112000000006"
EXPORT_APPROVED_BUDGET = "116000000001"

TASK_START = "/2/0/workspaces/{workspaceId}/models/{modelId}/imports/{importId}/tasks"
EXPORT_START = "/2/0/workspaces/{workspaceId}/models/{modelId}/exports/{exportId}/tasks"
BC_BATCH = "/v2.0/{tenant}/{environment}/api/v2.0/$batch"


def set_faults(sandbox: Sandbox, spec: str) -> None:
    sandbox.post("bc", "/_sandbox/faults", {"spec": spec})


def add_rules(sandbox: Sandbox, *rules: dict[str, Any]) -> None:
    sandbox.post("bc", "/_sandbox/faults", {"rules": list(rules)})


def clear_faults(sandbox: Sandbox) -> None:
    sandbox.post("bc", "/_sandbox/faults", {"clear": True})


def advance_clock(sandbox: Sandbox, seconds: float = TOKEN_EXPIRY_S) -> None:
    sandbox.post("bc", "/_sandbox/clock", {"advance_seconds": seconds})


def tasks_per_action(sandbox: Sandbox) -> Counter[str]:
    """How many tasks each Anaplan action ran (from the sandbox's own task log)."""
    return Counter(str(t["objectId"]) for t in sandbox.tasks())


def statuses(sandbox: Sandbox, service: str) -> Counter[int]:
    counts: Counter[int] = Counter()
    for row in sandbox.requests(service, wire=True):
        counts[int(row["status"])] += int(row["count"])
    return counts


def request_count(sandbox: Sandbox, service: str, method: str, route_suffix: str) -> int:
    return sum(
        int(r["count"])
        for r in sandbox.requests(service)
        if r["method"] == method and r["route"].endswith(route_suffix) and r["status"] < 300
    )


def bc_writes(sandbox: Sandbox) -> int:
    """Requests that could change BC (POST, PATCH, DELETE) in the sandbox's request log."""
    return sum(
        int(r["count"])
        for r in sandbox.requests("bc")
        if r["method"] in ("POST", "PATCH", "DELETE")
    )


def journal_rows(bc: BcClient, journal: str = "PLAN") -> list[dict[str, Any]]:
    """Every line of the journal batch exactly as BC lists it: raw JSON, duplicates kept.

    Deliberately not ``bc_anaplan.bc.journal.existing_lines``, which keys lines by their
    idempotency key and would fold a line written twice into one.
    """
    journal_id = streams.find_journal(bc, journal).id
    url: str | None = bc.company_url(f"journals({journal_id})/journalLines")
    params: dict[str, str] | None = {
        "$expand": "dimensionSetLines($select=code,valueCode)",
        "$select": "id,accountNumber,postingDate,amount,documentNumber,externalDocumentNumber,"
        "description",
    }
    rows: list[dict[str, Any]] = []
    while url:
        page = json.loads(bc.get(url, params=params).content, parse_float=Decimal)
        rows.extend(page["value"])
        url, params = page.get("@odata.nextLink"), None
    return rows


def revision_rows(c: ConnectorUnderTest, version: str) -> list[dict[str, Any]]:
    """The journal lines of the version's current revision (raw, duplicates kept)."""
    state = WritebackState(c.rt).get("fpa", version)
    document = plan_document_number(plan_version_key(version, state["CurrentRevision"]))
    return [r for r in journal_rows(c.rt.bc()) if r["documentNumber"] == document]


def lines_by_account(rows: list[dict[str, Any]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for row in rows:
        account = row["accountNumber"]
        totals[account] = totals.get(account, Decimal(0)) + Decimal(row["amount"])
    return {a: t for a, t in totals.items() if t}


def budget_by_account(
    c: ConnectorUnderTest, version: str, excluding: Mapping[str, Collection[str]] | None = None
) -> dict[str, Decimal]:
    """The approved figures as Anaplan holds them, per account, each cell rounded to cents;
    ``excluding``: cells on these members (dimension -> member codes) are left out."""
    totals: dict[str, Decimal] = {}
    for cell in c.sandbox.cells("Budget", Versions=version):
        codes = {d: member.split(" ", 1)[0] for d, member in cell["dimensions"].items()}
        if any(codes.get(d) in members for d, members in (excluding or {}).items()):
            continue
        account = codes["GL Accounts"]
        totals[account] = totals.get(account, Decimal(0)) + to_cents(Decimal(str(cell["value"])))
    return {a: t for a, t in totals.items() if t}


def run_to_end(c: ConnectorUnderTest, flow: str, flow_input: dict[str, Any]) -> dict[str, Any]:
    """Run a flow to its end, whether it completes or fails: its run record, with the host's
    ``runtime_status`` and ``output``."""
    iid = f"{flow}-{uuid.uuid4().hex[:8]}"
    status = c.host.wait_for(c.host.start_new(flow, flow_input, instance_id=iid), timeout_s=180)
    run = c.rt.audit.get_run(iid)
    assert run is not None, status
    return {**run, "runtime_status": status.runtime_status, "output": status.output}


def assert_no_duplicate_lines(rows: list[dict[str, Any]]) -> None:
    """No idempotency key twice in the batch, and no dimension twice on a line."""
    keys = Counter(row["externalDocumentNumber"] for row in rows)
    doubled = {k: n for k, n in keys.items() if n > 1}
    assert not doubled, f"journal lines written more than once: {doubled}"
    for row in rows:
        codes = Counter(d["code"] for d in row.get("dimensionSetLines") or [])
        assert all(n == 1 for n in codes.values()), (row["externalDocumentNumber"], codes)


class Trigger:
    """Runs ``action`` once, from a thread, as soon as ``condition()`` is true."""

    def __init__(
        self,
        name: str,
        condition: Callable[[], bool],
        action: Callable[[], Any],
        poll_s: float = 0.05,
    ) -> None:
        self.name = name
        self.condition = condition
        self.action = action
        self.poll_s = poll_s
        self.fired = threading.Event()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"trigger-{name}", daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                if self.condition():
                    self.action()
                    self.fired.set()
                    return
            except Exception as exc:  # reported by check(); the condition may race a teardown
                self.error = exc
            time.sleep(self.poll_s)

    def __enter__(self) -> Trigger:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def check(self) -> None:
        assert self.fired.is_set(), f"trigger {self.name} never fired (last error: {self.error})"
