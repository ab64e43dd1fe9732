"""Fault injection by rate (``--faults SPEC``): frequencies, kinds, Retry-After forms, and the
promise that the same ``--seed`` gives the same faults in the same order.

Each test starts its own sandbox (``--scale 1 --fast``: no ledger to build, so about half a second)
and sends plain requests over real HTTPS. Requests to BC carry no token: whatever no fault
intercepts is answered 401 by BC itself, so every outcome is either the injected fault or BC's
own answer, and the counts can be checked against the configured rates.
"""

from __future__ import annotations

import email.utils
import math
import re
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support.processes import REPO_ROOT, running_sandbox

IMF_FIXDATE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")
BC_CODES = {
    429: "Application_TooManyRequests",
    500: "Internal_ServerError",
    502: "Internal_ServerError",
    503: "Internal_ServiceUnavailable",
    504: "Internal_GatewayTimeout",
}


@contextmanager
def sandbox(*args: str) -> Iterator[tuple[dict[str, Any], httpx.Client]]:
    with (
        running_sandbox("--scale", "1", "--fast", *args) as info,
        httpx.Client(verify=ssl.create_default_context(cafile=info["ca_bundle"])) as client,
    ):
        yield info, client


def companies_url(info: dict[str, Any]) -> str:
    return f"{info['bc']}/v2.0/{info['tenant_id']}/{info['environment']}/api/v2.0/companies"


def outcome(client: httpx.Client, url: str) -> tuple[int | str, httpx.Response | None]:
    """The status, or ``"reset"`` when the server closed the connection without answering."""
    try:
        response = client.get(url)
    except httpx.TransportError:
        return "reset", None
    return response.status_code, response


def outcomes(client: httpx.Client, url: str, n: int) -> list[int | str]:
    return [outcome(client, url)[0] for _ in range(n)]


def test_rates_give_the_configured_frequencies_and_shapes() -> None:
    rates = {429: 0.2, 500: 0.1, 502: 0.1, 503: 0.05, 504: 0.1, "reset": 0.05}
    spec = "bc:" + ",".join(f"{kind}={rate}" for kind, rate in rates.items())
    n = 1000
    with sandbox("--seed", "11", "--faults", spec) as (info, client):
        url = companies_url(info)
        seen: Counter[int | str] = Counter()
        for _ in range(n):
            status, response = outcome(client, url)
            seen[status] += 1
            if response is None or status == 401:
                continue
            body = response.json()
            assert body["error"]["code"] == BC_CODES[status], body
            assert "CorrelationId" in body["error"]["message"]
            if status in (429, 503):
                assert response.headers["Retry-After"] == "1"  # --fast default
            else:
                assert "Retry-After" not in response.headers
        log = client.get(f"{info['bc']}/_sandbox/requests").json()

    expected = {**rates, 401: 1 - sum(rates.values())}
    assert set(seen) == set(expected)
    for kind, rate in expected.items():
        sd = math.sqrt(n * rate * (1 - rate))
        assert abs(seen[kind] - n * rate) <= 4 * sd, (kind, seen[kind], n * rate)
    # the sandbox's own request log agrees with what the client saw (status 0 = reset)
    logged: Counter[int | str] = Counter()
    for entry in log:
        logged["reset" if entry["status"] == 0 else entry["status"]] += entry["count"]
    assert logged == seen


def test_faults_repeat_exactly_under_the_same_seed() -> None:
    spec = "bc:429=0.15,500=0.1,502=0.05,504=0.05,reset=0.05"
    runs = []
    for seed in ("21", "21", "22"):
        with sandbox("--seed", seed, "--faults", spec) as (info, client):
            runs.append(outcomes(client, companies_url(info), 300))
    first, again, other = runs
    assert first == again
    assert first != other
    assert len(set(first)) == 6  # every configured kind occurred, plus BC's own 401


def test_a_rate_spec_set_at_run_time_restarts_the_same_sequence() -> None:
    spec = "bc:429=0.2,503=0.2"
    with sandbox("--seed", "5") as (info, client):
        url = companies_url(info)
        assert set(outcomes(client, url, 50)) == {401}  # no faults until asked
        control = f"{info['bc']}/_sandbox/faults"
        assert client.post(control, json={"spec": spec}).status_code == 200
        first = outcomes(client, url, 200)
        assert client.post(control, json={"spec": spec}).status_code == 200
        assert outcomes(client, url, 200) == first
        assert client.post(control, json={"clear": True}).status_code == 200
        assert set(outcomes(client, url, 50)) == {401}
    assert {429, 503, 401} == set(first)


def test_slow_responses_are_delayed_then_served_normally() -> None:
    with sandbox("--faults", "entra:slow=1,slow_s=0.6") as (info, client):
        url = f"{info['entra']}/{info['tenant_id']}/v2.0/.well-known/openid-configuration"
        started = time.monotonic()
        response = client.get(url)
        assert time.monotonic() - started >= 0.6
        assert response.status_code == 200 and response.json()["token_endpoint"]
        # without slow_s, --fast makes the delay 0.2 s
        control = f"{info['entra']}/_sandbox/faults"
        assert client.post(control, json={"spec": "entra:slow=1"}).status_code == 200
        started = time.monotonic()
        assert client.get(url).status_code == 200
        assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_an_http_date(status: int) -> None:
    spec = f"bc:{status}=1,retry_after=120,retry_after_format=date"
    with sandbox("--faults", spec) as (info, client):
        before = datetime.now(UTC)
        response = client.get(companies_url(info))
    assert response.status_code == status
    header = response.headers["Retry-After"]
    assert IMF_FIXDATE.match(header), header
    when = email.utils.parsedate_to_datetime(header)
    assert 115 <= (when - before).total_seconds() <= 125


def test_retry_after_in_seconds_when_configured() -> None:
    with sandbox("--faults", "bc:429=1,retry_after=7") as (info, client):
        response = client.get(companies_url(info))
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("bc:429=0.8,500=0.5", "add up to more than 1"),
        ("bc:429=1.5", "within 0..1"),
        ("sharepoint:429=0.1", "service one of"),
        ("bc:418=0.1", "unknown fault kind"),
        ("bc:429=often", "not a number"),
        ("bc:retry_after_format=rfc", "'seconds' or 'date'"),
    ],
)
def test_a_bad_spec_is_refused_in_one_line(spec: str, fragment: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "serve", "--faults", spec],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
