"""Entra client credentials through MSAL: one app per process, tokens reused, eviction on 401."""

from __future__ import annotations

from typing import Any

import pytest

from bc_anaplan.bc import BcAuth, EntraError, iter_companies, iter_dimensions
from bc_anaplan.bc.auth import confidential_app, forget_apps
from bc_anaplan.redaction import redact
from tests.core.bc.conftest import STORM_HTTP, Controls, bc_settings, count, make_client

TOKEN = "/{tenant}/oauth2/v2.0/token"
DISCOVERY = "/{tenant}/v2.0/.well-known/openid-configuration"


def token_requests(controls: Controls) -> int:
    return count(controls.requests("entra"), "POST", TOKEN, None, "")


def test_one_token_serves_many_requests(sandbox: dict[str, Any], controls: Controls) -> None:
    forget_apps()
    before = controls.requests("entra")
    for _ in range(5):
        client = make_client(sandbox)  # new client objects share the process-wide MSAL app
        list(iter_companies(client))
        list(iter_dimensions(client))
    after = controls.requests("entra")
    assert count(after, "POST", TOKEN, 200, "") - count(before, "POST", TOKEN, 200, "") == 1
    assert count(after, "GET", DISCOVERY, 200, "") - count(before, "GET", DISCOVERY, 200, "") == 1


def test_one_app_per_authority_and_client(sandbox: dict[str, Any]) -> None:
    settings, secrets = bc_settings(sandbox)
    secret = secrets.get("bc_client_secret")
    assert confidential_app(settings, secret) is confidential_app(settings, secret)


def test_invalidate_really_bypasses_msal_cache(sandbox: dict[str, Any], controls: Controls) -> None:
    auth = BcAuth(*bc_settings(sandbox))
    first = auth.token()
    assert auth.token() == first  # cached
    before = token_requests(controls)
    auth.invalidate()
    second = auth.token()
    assert second != first
    assert token_requests(controls) - before == 1
    assert first not in redact(f"Authorization: Bearer {first} {second}")  # registered secrets


def test_a_wrong_secret_is_a_typed_error_without_the_secret(sandbox: dict[str, Any]) -> None:
    wrong = "sbx~not-the-secret-0123456789"
    auth = BcAuth(*bc_settings(sandbox, BC_CLIENT_SECRET=wrong))
    with pytest.raises(EntraError) as caught:
        auth.token()
    error = caught.value
    assert (error.status, error.code) == (401, "invalid_client")
    assert error.message.startswith("AADSTS7000215")
    assert wrong not in str(error)


def test_token_requests_ride_out_entra_faults(
    sandbox: dict[str, Any], restore_faults: Controls
) -> None:
    """MSAL's calls go through the resilient layer: Entra's 503s and 429s are retried."""
    auth = BcAuth(*bc_settings(sandbox, **STORM_HTTP))
    auth.token()
    auth.invalidate()
    before = restore_faults.requests("entra")
    restore_faults.faults({"rules": [
        {"service": "entra", "kind": "503", "method": "POST", "route": TOKEN, "count": 2},
        {"service": "entra", "kind": "429", "method": "POST", "route": TOKEN, "count": 1},
    ]})  # fmt: skip
    assert auth.token()
    after = restore_faults.requests("entra")
    assert count(after, "POST", TOKEN, 503, "") - count(before, "POST", TOKEN, 503, "") == 2
    assert count(after, "POST", TOKEN, 200, "") - count(before, "POST", TOKEN, 200, "") == 1
