"""The ops core without a connector: settings, the message, secrets that are absent, the report.

Fast checks of what the end-to-end tests cannot vary cheaply: each ``NOTIFY_ON`` and
``RETENTION_DAYS`` mistake is named, the webhook's token never reaches an error text, an absent
webhook URL is "not configured" rather than a failure, and the report escapes what it shows.
"""

from __future__ import annotations

import pytest

from bc_anaplan.audit import AuditRecord
from bc_anaplan.config import ConfigError, load_settings
from bc_anaplan.ops import notify, report
from bc_anaplan.ops.requests import OpsError, iso_instant, start_spec
from bc_anaplan.ops.views import RecordSample, ReportData, plan_vs_bc
from bc_anaplan.secrets import SecretMissing, SecretStore
from tests.core.conftest import VALID_ENV

RUN = {
    "run_id": "actuals:c:m:2025-03@20261126T023000000000Z",
    "flow": "actuals_load",
    "trigger": "timer",
    "pipeline": "fpa",
    "input": {"mode": "period", "periods": ["2025-03"]},
    "state": "failed",
    "started_at": "2026-11-26T02:30:00.000Z",
    "ended_at": "2026-11-26T02:31:30.500Z",
    "summary": {"counts": {"entries_read": 1200, "quarantined": 0}},
    "error": "Anaplan answered HTTP 422: Model archived",
}


def test_notify_on_and_retention_days_are_validated() -> None:
    settings = load_settings(VALID_ENV)
    assert settings.notify_on == ("failed", "partially_succeeded")
    assert settings.retention_days == 90
    assert load_settings({**VALID_ENV, "NOTIFY_ON": "None"}).notify_on == ()
    both = load_settings({**VALID_ENV, "NOTIFY_ON": "failed, succeeded,failed"})
    assert both.notify_on == ("failed", "succeeded")
    for name, value, words in [
        ("NOTIFY_ON", "failures", "NOTIFY_ON must be none or a comma-separated list"),
        ("RETENTION_DAYS", "ninety", "RETENTION_DAYS must be a whole number"),
        ("RETENTION_DAYS", "5000", "between 0 and 3650"),
        ("RETENTION_SCHEDULE", "daily", "six-field NCRONTAB"),
    ]:
        with pytest.raises(ConfigError, match=words):
            load_settings({**VALID_ENV, name: value})


def test_the_message_names_the_run_and_links_its_report() -> None:
    message = notify.build_message(RUN, "https://func.example.net")
    link = (
        "https://func.example.net/api/runs/actuals%3Ac%3Am%3A2025-03%4020261126T023000000000Z"
        "/report"
    )
    assert message["title"] == "BC ⇄ Anaplan: actuals_load failed (fpa)"
    assert link in message["text"] and "function key" in message["text"]
    assert "Model archived" in message["text"] and "entries read 1,200" in message["text"]
    assert "quarantined" not in message["text"]  # zero counts are left out
    assert message["potentialAction"][0]["targets"][0]["uri"] == link
    without = notify.build_message(RUN, None)
    assert "potentialAction" not in without and "/report (function key needed)" in without["text"]


def test_the_webhook_token_is_scrubbed_from_errors() -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    text = f"TransportFailure: ops-webhook: POST /services/T000/B000/XXXXSECRET failed; {url}"
    scrubbed = notify._scrub(text, url)
    assert "XXXXSECRET" not in scrubbed and "<webhook path>" in scrubbed


def test_an_absent_webhook_url_is_not_configured_rather_than_broken() -> None:
    settings = load_settings(VALID_ENV)
    with pytest.raises(SecretMissing):
        SecretStore(settings, environ={}).get("ops_webhook_url")
    store = SecretStore(settings, environ={"OPS_WEBHOOK_URL": "https://hooks.example/x"})
    assert store.get("ops_webhook_url") == "https://hooks.example/x"


def test_since_is_normalised_to_the_audit_trail_s_instants() -> None:
    assert iso_instant("2026-11-01") == "2026-11-01T00:00:00.000Z"
    assert iso_instant("2026-11-01T03:00:00+01:00") == "2026-11-01T02:00:00.000Z"
    with pytest.raises(OpsError, match="ISO 8601"):
        iso_instant("last tuesday")


def test_periods_are_sorted_and_deduplicated_into_the_work_key() -> None:
    settings = load_settings(VALID_ENV)
    spec = start_spec(
        settings, "actuals_load", {"mode": "period", "periods": ["2025-04", "2025-03", "2025-04"]}
    )
    assert spec.input["periods"] == ["2025-03", "2025-04"]
    assert spec.work_key.endswith(":2025-03+2025-04")


def test_the_report_escapes_every_value() -> None:
    evil = '<script>alert("x")</script>'
    run = {**RUN, "error": evil, "input": {"version": evil}}
    quarantined = RecordSample("quarantined", 1, [AuditRecord("quarantined", evil, evil)])
    data = ReportData(
        run=run,
        steps=[
            {
                "step_id": evil,
                "name": evil,
                "started_at": RUN["started_at"],
                "duration_ms": 1500,
                "counts": {},
                "detail": {},
            }
        ],
        runtime=None,
        quarantined=quarantined,
        rejected=RecordSample("rejected"),
        member_changes=RecordSample("member_change"),
        events=RecordSample("event"),
        drift=[],
        plan_accounts=None,
        writeback=None,
    )
    page = report.render(data, "2026-11-26T03:00:00.000Z")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.startswith("<!DOCTYPE html>") and report.esc(report.CSP) in page


def test_plan_vs_bc_shows_rows_posted_earlier_as_not_rewritten() -> None:
    """BC's drafts for an account are the plan less the rows finance posted from an earlier
    revision: the report says so instead of showing BC = plan."""
    steps = [
        {
            "step_id": "validate",
            "detail": {"totals_by_account": {"6100": "300.00", "6200": "50.00"}},
        }
    ]
    reconciliation = {
        "matches": True,
        "mismatches": [],
        "posted_earlier_by_account": {"6100": "100.00"},
    }
    rows = plan_vs_bc(steps, {"written": {"reconciliation": reconciliation}})
    assert rows == [
        {
            "account": "6100",
            "plan": "300.00",
            "bc": "200.00",
            "status": "matches; 100.00 posted earlier, not rewritten",
        },
        {"account": "6200", "plan": "50.00", "bc": "50.00", "status": "matches"},
    ]
