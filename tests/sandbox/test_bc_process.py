"""The sandbox process with the BC, Entra and Key Vault simulators: ready quickly, one JSON line,
and a clean exit on SIGTERM even with webhook deliveries pending."""

from __future__ import annotations

import time

import psutil

from tests.sandbox.test_bc_kit import BcKit, WebhookReceiver
from tests.support.processes import SandboxProcess


def test_starts_fast_and_stops_cleanly_with_webhook_work_pending() -> None:
    process = SandboxProcess("--scale", "small")
    started = time.monotonic()
    info = process.start()
    assert time.monotonic() - started < 15
    assert process.process is not None
    pid = process.process.pid
    kit = BcKit(info)
    with WebhookReceiver() as hook:
        response = kit.post(
            "~/subscriptions",
            {
                "notificationUrl": hook.url,
                "resource": f"/api/v2.0/companies({kit.company_id})/generalLedgerEntries",
            },
        )
        assert response.status_code == 201, response.text
        # without --fast the notification waits 30 s: SIGTERM arrives while it is pending
        kit.control("bc/post-entries", {"count": 2, "period": "2026-11"})
    children = psutil.Process(pid).children(recursive=True)
    assert process.stop() == 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not [c for c in children if c.is_running()]


def test_sigterm_right_after_the_json_line_is_a_clean_exit() -> None:
    process = SandboxProcess("--scale", "small", "--fast")
    process.start()
    assert process.stop() == 0
