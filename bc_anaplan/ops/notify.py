"""Run notifications: a message to a Teams or Slack incoming webhook when a run ends badly.

``end_run`` calls ``notify_run_end`` once a run has its final state. Which states are worth a
message is the ``NOTIFY_ON`` setting (failed and partially succeeded by default); the webhook
URL is a secret (``OPS_WEBHOOK_URL``: the URL itself carries the token that lets anyone post).

The message is one JSON body both services accept: ``text`` (Slack and Teams show it) plus the
fields of a Teams connector card (``title``, ``sections`` with facts, an ``OpenUri`` action);
Slack ignores what it does not know. It names the run, its counts and error, and links the run
report (``PUBLIC_BASE_URL/api/runs/<id>/report``), saying that the link needs the function key.

A notification never fails the run: every problem (no URL configured, the service down) is
logged and written to the run's audit trail as an ``event`` row. The post goes through the
resilient HTTP layer with its own short limits, so a slow webhook delays the end of a run by
seconds, not minutes.

**One message per run, at most.** A chat webhook has no idempotency key, so a post whose outcome
is unknown is never repeated: the request is declared non-idempotent, which the HTTP layer
retries only where nothing can have been delivered (a connection that could not be made, a 429
that says "not processed"); a timeout after sending, a dropped connection or a 5xx end the
attempt. And every attempt is recorded *before* the post (``notification-attempt``, then its
outcome): ``end_run`` runs at least once, so a re-run of the step that finds an attempt whose
outcome is not a definite "not posted" (4xx, no connection) does not post again. The price is
that a message lost in such an attempt is not re-sent; the run's ``notification-failed`` row and
the log say so, and the run is still listed under ``GET /api/runs?state=failed``. A failed
sub-run (started by a parent flow) is not announced: the failure ends its parent, which is.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

from bc_anaplan.audit import AuditRecord, utc_now
from bc_anaplan.config import HttpSettings
from bc_anaplan.http import ApiError, ApiSpec, ResilientClient, TransportFailure
from bc_anaplan.runtime import Runtime
from bc_anaplan.secrets import SecretMissing

log = logging.getLogger("bc_anaplan.ops.notify")

API = "ops-webhook"
SENT_KEY = "notification"
FAILED_KEY = "notification-failed"
ATTEMPT_KEY = "notification-attempt"
NOT_POSTED = "not posted"  # the attempt's outcome that allows another
COLOURS = {"failed": "CF222E", "partially_succeeded": "9A6700", "succeeded": "1A7F37"}


def notify_run_end(rt: Runtime, run_id: str, state: str) -> bool:
    """Post the run's message if its state calls for one; True if a message was posted."""
    if state not in rt.settings.notify_on:
        return False
    run = rt.audit.get_run(run_id)
    if run is None or (run["trigger"] == "parent" and state == "failed"):
        return False  # a failed sub-run fails its parent, which is announced instead
    events = {r.key: r for r in rt.audit.records(run_id, "event")}
    if SENT_KEY in events:
        return False
    attempt = events.get(ATTEMPT_KEY)
    if attempt is not None and attempt.data.get("outcome") != NOT_POSTED:
        log.info("run %s: an earlier notification attempt may have been delivered", run_id)
        return False
    url = ""
    try:
        url = webhook_url(rt)
        message = build_message(run, rt.settings.public_base_url)
    except SecretMissing:  # no webhook configured: nothing to announce to
        reason = "no webhook configured (secret OPS_WEBHOOK_URL / ops-webhook-url)"
        log.info("run %s: the %s notification was not sent: %s", run_id, state, reason)
        _failed(rt, run_id, reason)
        return False
    except Exception as exc:
        _failed(rt, run_id, _scrub(f"{type(exc).__name__}: {exc}", url))
        return False
    _attempt(rt, run_id, "posting")
    try:
        client = ResilientClient(_spec(url), _short_limits(rt.settings.http))
        client.request("POST", url, json=message, idempotent=False)
    except Exception as exc:  # a notification never fails the run
        outcome = NOT_POSTED if _not_delivered(exc) else "unknown"
        reason = _scrub(f"{type(exc).__name__}: {exc}", url)
        if outcome != NOT_POSTED:
            reason += "; it may have been delivered, so it is not posted again"
        log.warning("run %s: the %s notification was not sent: %s", run_id, state, reason)
        _attempt(rt, run_id, outcome)
        _failed(rt, run_id, reason)
        return False
    rt.audit.record(
        run_id,
        [AuditRecord("event", SENT_KEY, f"{state} notification posted", {"at": utc_now()})],
    )
    _attempt(rt, run_id, "posted")
    return True


def _not_delivered(exc: Exception) -> bool:
    """Whether the chat service certainly did not take the message: it answered 4xx (429
    included, once the retries are spent), or no connection could be made."""
    if isinstance(exc, ApiError):
        return 400 <= exc.status < 500 and exc.status != 408
    return isinstance(exc, TransportFailure)  # raised for a non-idempotent request only
    # when nothing was sent (connect errors); everything else is OutcomeUnknownError


def _attempt(rt: Runtime, run_id: str, outcome: str) -> None:
    rt.audit.record(
        run_id,
        [
            AuditRecord(
                "event",
                ATTEMPT_KEY,
                f"notification attempt: {outcome}",
                {"outcome": outcome, "at": utc_now()},
            )
        ],
    )


def _failed(rt: Runtime, run_id: str, reason: str) -> None:
    rt.audit.record(
        run_id, [AuditRecord("event", FAILED_KEY, f"notification not sent: {reason}"[:1000])]
    )


def _scrub(text: str, url: str) -> str:
    """``text`` without the webhook URL or its path (its token). The HTTP layer already shows
    ``<secret path>`` for this API; this covers what it does not write itself, such as the text
    of a transport exception."""
    path = urlsplit(url).path if url else ""
    if url:
        text = text.replace(url, "<webhook URL>")
    if len(path) > 1:
        text = text.replace(path, "<webhook path>")
    return text


def webhook_url(rt: Runtime) -> str:
    url = rt.secrets.get("ops_webhook_url").strip()
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (
        not parts.netloc
        or parts.scheme not in ("https", "http")
        or (parts.scheme == "http" and not loopback)
    ):
        raise ValueError("secret OPS_WEBHOOK_URL must be an https:// URL (http only on loopback)")
    return url


def _spec(url: str) -> ApiSpec:
    parts = urlsplit(url)
    return ApiSpec(
        API,
        f"{parts.scheme}://{parts.netloc}",
        rate_limit_per_minute=60,
        default_headers={"Content-Type": "application/json"},
        secret_path=True,  # the webhook's path is its token: never in a log line or an error
    )


def _short_limits(http: HttpSettings) -> HttpSettings:
    """At most 3 attempts, short waits: the end of a run should not wait on a chat service."""
    return replace(
        http,
        read_timeout_s=min(http.read_timeout_s, 15.0),
        max_attempts=min(http.max_attempts, 3),
        backoff_cap_s=min(http.backoff_cap_s, 5.0),
        max_retry_after_s=min(http.max_retry_after_s, 10.0),
    )


def report_link(base_url: str | None, run_id: str) -> str | None:
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}/api/runs/{quote(run_id, safe='')}/report"


def build_message(run: dict[str, Any], base_url: str | None) -> dict[str, Any]:
    """The Teams/Slack-compatible body announcing ``run``."""
    state = run["state"].replace("_", " ")
    title = f"BC ⇄ Anaplan: {run['flow']} {state} ({run['pipeline']})"
    counts = run["summary"].get("counts") or {}
    shown = {k: v for k, v in sorted(counts.items()) if v}
    facts = [
        ("Run", run["run_id"]),
        ("Started by", run["trigger"]),
        ("Started", run["started_at"]),
        ("Ended", run["ended_at"]),
        ("Counts", ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in shown.items()) or "none"),
    ]
    if run["error"]:
        facts.append(("Error", run["error"][:500]))
    link = report_link(base_url, run["run_id"])
    if link:
        facts.append(("Report", f"{link} (needs the function key: add ?code=<key>)"))
    else:
        facts.append(("Report", f"GET /api/runs/{run['run_id']}/report (function key needed)"))
    text = f"{title}\n" + "\n".join(f"- {name}: {value}" for name, value in facts)
    message: dict[str, Any] = {
        "text": text,
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": title,
        "title": title,
        "themeColor": COLOURS.get(run["state"], "57606A"),
        "sections": [{"facts": [{"name": n, "value": str(v)} for n, v in facts]}],
    }
    if link:
        message["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": "Open the run report (function key needed)",
                "targets": [{"os": "default", "uri": link}],
            }
        ]
    return message
