"""How a run ends, without a connector: its final state, its one notification, its report chart.

The notification tests post to a real local HTTP receiver and keep the run's audit trail in
Azurite, like ``end_run`` does in the app: a receiver that takes the message but answers too late
(the case that made a blind retry post twice), one that is busy (429) and one that refuses.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from bc_anaplan.audit import AuditRecord, AuditTrail
from bc_anaplan.config import StorageSettings, load_settings
from bc_anaplan.flows.runs import decide_state, reconciliation_mismatch
from bc_anaplan.ops import cli, notify, report
from bc_anaplan.ops.requests import OpsError, start_spec
from bc_anaplan.ops.views import RecordSample, ReportData
from bc_anaplan.runtime import Runtime
from bc_anaplan.storage import Storage, safe_key, upsert_batched
from tests.core.conftest import VALID_ENV


class SlowReceiver:
    """An incoming webhook that records every POST it reads, then answers per ``script``."""

    def __init__(self, script: list[tuple[int, float]]) -> None:
        self.script = list(script)  # (status, delay before answering) per request; last repeats
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(json.loads(body))
                status, delay = (
                    receiver.script.pop(0) if len(receiver.script) > 1 else receiver.script[0]
                )
                time.sleep(delay)
                try:
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0/B0/t0ken"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_runtime(azurite: str) -> Iterator[Any]:
    receivers: list[SlowReceiver] = []

    def make(script: list[tuple[int, float]]) -> tuple[Runtime, SlowReceiver]:
        receiver = SlowReceiver(script)
        receivers.append(receiver)
        env = {
            **VALID_ENV,
            "AzureWebJobsStorage": azurite,
            "TASK_HUB_NAME": "n" + uuid.uuid4().hex[:12],
            "OPS_WEBHOOK_URL": receiver.url,
            "HTTP_READ_TIMEOUT_SECONDS": "1",
            "HTTP_BACKOFF_BASE_SECONDS": "0",
        }
        return Runtime(load_settings(env), env), receiver

    yield make
    for receiver in receivers:
        receiver.close()


def failed_run(rt: Runtime) -> str:
    run_id = f"reference:c:m@{uuid.uuid4().hex}"
    rt.audit.start_run(run_id, "reference_sync", "timer", "fpa", {})
    rt.audit.finish_run(run_id, "failed", {}, error="Anaplan answered HTTP 422: Model archived")
    return run_id


def events(rt: Runtime, run_id: str) -> dict[str, AuditRecord]:
    return {r.key: r for r in rt.audit.records(run_id, "event")}


def test_a_message_delivered_but_answered_too_late_is_not_posted_again(
    receiver_runtime: Any,
) -> None:
    rt, receiver = receiver_runtime([(200, 2.5)])  # longer than the 1 s read timeout
    run_id = failed_run(rt)
    assert notify.notify_run_end(rt, run_id, "failed") is False
    time.sleep(2)  # let the receiver finish its late answer
    assert len(receiver.received) == 1  # a blind retry (idempotent=True) made this 3
    recorded = events(rt, run_id)
    assert recorded["notification-attempt"].data["outcome"] == "unknown"
    assert "may have been delivered" in recorded["notification-failed"].reason
    assert "t0ken" not in recorded["notification-failed"].reason
    # end_run runs at least once: a second pass over the same run posts nothing
    assert notify.notify_run_end(rt, run_id, "failed") is False
    assert len(receiver.received) == 1


def test_a_busy_service_is_retried_and_the_run_announced_once(receiver_runtime: Any) -> None:
    rt, receiver = receiver_runtime([(429, 0), (200, 0)])
    run_id = failed_run(rt)
    assert notify.notify_run_end(rt, run_id, "failed") is True
    assert len(receiver.received) == 2 and receiver.received[1]["text"].count(run_id) >= 1
    recorded = events(rt, run_id)
    assert "notification" in recorded and "notification-failed" not in recorded
    assert recorded["notification-attempt"].data["outcome"] == "posted"
    assert notify.notify_run_end(rt, run_id, "failed") is False  # announced already
    assert len(receiver.received) == 2


def test_a_refused_message_may_be_tried_again(receiver_runtime: Any) -> None:
    rt, receiver = receiver_runtime([(404, 0), (200, 0)])  # e.g. a webhook URL re-created
    run_id = failed_run(rt)
    assert notify.notify_run_end(rt, run_id, "failed") is False
    assert events(rt, run_id)["notification-attempt"].data["outcome"] == "not posted"
    assert notify.notify_run_end(rt, run_id, "failed") is True  # 404: certainly not delivered
    assert len(receiver.received) == 2


# --- the final state -----------------------------------------------------------------------------

RECONCILED = {
    "period": "2025-03",
    "balanced": True,
    "trial_balance": {"matches": True, "mismatches": []},
}


def test_figures_that_do_not_reconcile_fail_the_run_whatever_else_happened() -> None:
    assert decide_state("", None, {}, None) == ("succeeded", "")
    assert decide_state("", None, {"quarantined": 3}, None) == ("partially_succeeded", "")
    assert decide_state("", "unchanged", {}, None) == ("unchanged", "")
    summary = {
        "reconciliation": [
            RECONCILED,
            {
                "period": "2025-04",
                "balanced": True,
                "trial_balance": {
                    "matches": False,
                    "mismatches": [{"account": "61010", "trial_balance": "10", "entries": "0"}],
                },
            },
        ]
    }
    mismatch = reconciliation_mismatch(None, "run", summary)  # type: ignore[arg-type]
    assert mismatch is not None and mismatch["periods"] == ["2025-04"]
    assert "61010" in mismatch["detail"]
    state, error = decide_state("", None, {}, mismatch)
    assert state == "failed"
    assert error.startswith("reconciliation mismatch: 2025-04") and "61010" in error
    state, error = decide_state("", None, {"quarantined": 2}, mismatch)
    assert state == "failed"  # not merely partially succeeded
    state, error = decide_state("boom", None, {}, mismatch)
    assert state == "failed" and error.startswith("boom; reconciliation mismatch")
    clean = {"reconciliation": [RECONCILED]}
    assert reconciliation_mismatch(None, "run", clean) is None  # type: ignore[arg-type]


# --- the CLI and the API's inputs ----------------------------------------------------------------


def test_the_cli_reads_an_error_that_is_a_bare_string() -> None:
    response = httpx.Response(503, json={"status": "misconfigured", "error": "BC_TENANT_ID"})
    error = cli.decode_error(response)
    assert error.status == 503 and error.message == "BC_TENANT_ID"


def test_opening_balances_can_be_asked_for_only_in_period_mode() -> None:
    settings = load_settings(VALID_ENV)
    spec = start_spec(settings, "actuals_load", {"mode": "period", "periods": [], "opening": True})
    assert spec.input == {
        "pipeline": "fpa",
        "trigger": "ops",
        "mode": "period",
        "periods": [],
        "opening": True,
    }
    assert spec.work_key.endswith(":opening")
    both = start_spec(
        settings, "actuals_load", {"mode": "period", "periods": ["2025-03"], "opening": True}
    )
    assert both.work_key.endswith(":opening+2025-03") and both.input["opening"] is True
    for body, words in [
        ({"mode": "incremental", "opening": True}, "only for mode 'period'"),
        ({"mode": "period", "periods": [], "opening": "yes"}, "true or false"),
        ({"mode": "period", "periods": []}, "needs 'periods'"),
        ({"mode": "period", "periods": ["2024-12"]}, "before actuals.first_period"),
    ]:
        with pytest.raises(OpsError, match=words):
            start_spec(settings, "actuals_load", body)


# --- the report's reconciliation chart -----------------------------------------------------------


def test_the_chart_shows_what_anaplan_accepted_not_a_figure_derived_from_bc() -> None:
    periods = [
        {**RECONCILED, "bc_debit": "1000.00", "bc_credit": "1000.00", "bc_net": "0.00"}
        | {"sent_net": "75.00", "quarantined_net": "-75.00", "quarantined_entries": 2},
        {**RECONCILED, "period": "2025-04", "bc_debit": "500.00", "bc_credit": "500.00"}
        | {"bc_net": "0.00", "sent_net": "0.00", "quarantined_net": "0.00"},
    ]
    rejected = RecordSample("rejected", 1, by_period={"2025-04": Decimal("40.00")})
    run = {
        "run_id": "actuals:c:m:2025-03+2025-04@1",
        "flow": "actuals_load",
        "trigger": "ops",
        "pipeline": "fpa",
        "input": {},
        "state": "partially_succeeded",
        "started_at": "2026-11-26T02:30:00.000Z",
        "ended_at": "2026-11-26T02:31:00.000Z",
        "summary": {
            "reconciliation": periods,
            "import": {"state": "COMPLETE", "successful": True, "rejected": 1},
        },
        "error": "",
    }
    data = ReportData(
        run=run,
        steps=[],
        runtime=None,
        quarantined=RecordSample("quarantined"),
        rejected=rejected,
        member_changes=RecordSample("member_change"),
        events=RecordSample("event"),
        drift=[],
        plan_accounts=None,
        writeback=None,
    )
    page = report.render(data, "2026-11-26T03:00:00.000Z")
    assert page.count('class="bar"') == 6
    assert "2025-03: accepted by Anaplan (cells sent less rows rejected) 75.00" in page
    assert "2025-04: accepted by Anaplan (cells sent less rows rejected) -40.00" in page
    assert "2025-03: quarantined in BC (not sent) -75.00" in page
    assert "BC debits less quarantined" not in page
    failed = {**run, "summary": {**run["summary"], "import": {"successful": False, "state": "x"}}}
    page = report.render(ReportData(**{**data.__dict__, "run": failed}), "2026-11-26T03:00:00.000Z")
    assert "2025-03: accepted by Anaplan (cells sent less rows rejected) 0.00" in page
    assert "import x" in page


# --- the run list --------------------------------------------------------------------------------


def test_the_run_list_reads_the_newest_runs_first_and_no_more(azurite: str) -> None:
    hub = "l" + uuid.uuid4().hex[:12]
    audit = AuditTrail(Storage(StorageSettings(azurite, None, hub)))
    # records as an older version wrote them (no index rows): the first listing indexes them
    upsert_batched(
        audit.runs,
        (
            {
                "PartitionKey": "runs",
                "RowKey": safe_key(f"actuals:c:m:incremental@{i:04d}"),
                "Flow": "actuals_load" if i % 2 else "reference_sync",
                "Trigger": "timer",
                "Pipeline": "fpa",
                "Input": "{}",
                "State": "failed" if i % 5 == 0 else "succeeded",
                "StartedAt": f"2026-11-{1 + i // 24:02d}T{i % 24:02d}:00:00.000Z",
                "EndedAt": "",
                "Summary": json.dumps({"counts": {"cells": i}}),
                "Error": "x" * 400 if i == 40 else "",
            }
            for i in range(48)
        ),
    )
    newest = audit.list_runs(limit=3)
    assert [r["run_id"][-4:] for r in newest] == ["0047", "0046", "0045"]
    assert newest[0]["summary"] == {"counts": {"cells": 47}}
    failed = audit.list_runs(state="failed", limit=2)
    assert [r["run_id"][-4:] for r in failed] == ["0045", "0040"]
    assert failed[1]["error"] == "x" * 300 + "…"
    since = audit.list_runs(flow="actuals_load", since="2026-11-02T21:00:00.000Z")
    assert [r["run_id"][-4:] for r in since] == ["0047", "0045"]
    # a run started through the trail is listed first; one forgotten by retention is not
    audit.start_run("reference:c:m@new", "reference_sync", "ops", "fpa", {})
    audit.finish_run("reference:c:m@new", "succeeded", {})
    assert audit.list_runs(limit=1)[0]["run_id"] == "reference:c:m@new"
    audit.forget_run("actuals:c:m:incremental@0047", "2026-11-02T23:00:00.000Z")
    assert "actuals:c:m:incremental@0047" not in {r["run_id"] for r in audit.list_runs()}
    assert audit.get_run("actuals:c:m:incremental@0047") is None
