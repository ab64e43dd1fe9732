"""Logging in to the sandbox's Anaplan: basic and certificate, one token reused and refreshed.

Expiry is driven by the sandbox's clock: the test moves it forward and moves the client's
clock by the same amount, so both sides agree that 40 minutes passed; the token's lifetime
always comes from the server's ``expiresAt``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from bc_anaplan.anaplan import AnaplanClient
from bc_anaplan.anaplan.errors import AnaplanAuthError
from bc_anaplan.config import Settings
from bc_anaplan.secrets import SecretStore
from tests.core.anaplan.conftest import AUTHENTICATE, REFRESH, RequestDelta, Sandbox, make_client

pytestmark = pytest.mark.usefixtures("fresh_tokens")


def logins(delta: RequestDelta) -> int:
    return delta.count(*AUTHENTICATE, 201) + delta.count(*AUTHENTICATE, 200)


def test_basic_login_and_one_token_for_every_client(
    anaplan_sandbox: dict[str, Any], control: Sandbox
) -> None:
    with RequestDelta(control, "anaplan_auth") as auth:
        first, second = make_client(anaplan_sandbox), make_client(anaplan_sandbox)
        assert first.find_import("Import GL Actuals").import_type == "MODULE_DATA"
        assert second.model_state() == "UNLOCKED"
        assert first.auth.token() == second.auth.token()
    assert logins(auth) == 1


def test_certificate_login(anaplan_sandbox: dict[str, Any], control: Sandbox) -> None:
    with RequestDelta(control, "anaplan_auth") as auth:
        client = make_client(
            anaplan_sandbox, ANAPLAN_AUTH_MODE="certificate", ANAPLAN_CERT_FORMAT="v2"
        )
        assert client.model_state() == "UNLOCKED"
    assert logins(auth) == 1


def test_legacy_v1_certificate_login(anaplan_sandbox: dict[str, Any], control: Sandbox) -> None:
    """v1 is refused by default (v2 required since June 2026); the legacy setting still logs
    in to a tenant that accepts v1, simulated by the sandbox's ``cert-v1`` switch."""
    settings = {"ANAPLAN_AUTH_MODE": "certificate", "ANAPLAN_CERT_FORMAT": "v1"}
    refused = make_client(anaplan_sandbox, **settings)
    with pytest.raises(AnaplanAuthError, match="FAILURE_BAD_CREDENTIAL.*encodedDataFormat"):
        refused.model_state()
    control.control("cert-v1", {"enabled": True})
    try:
        with RequestDelta(control, "anaplan_auth") as auth:
            client = make_client(anaplan_sandbox, **settings)
            assert client.model_state() == "UNLOCKED"
        assert logins(auth) == 1
    finally:
        control.control("cert-v1", {"enabled": False})


def test_wrong_password_is_a_clear_auth_error(anaplan_sandbox: dict[str, Any]) -> None:
    client = make_client(anaplan_sandbox, ANAPLAN_PASSWORD="not-the-password")
    with pytest.raises(AnaplanAuthError, match="FAILURE_BAD_CREDENTIAL.*Check the Anaplan user"):
        client.model_state()


def test_concurrent_callers_share_one_login(
    anaplan_sandbox: dict[str, Any], control: Sandbox
) -> None:
    clients = [make_client(anaplan_sandbox) for _ in range(8)]
    start = threading.Barrier(len(clients))
    values: list[str] = []

    def work(client: AnaplanClient) -> None:
        start.wait()
        values.append(client.auth.token().value)

    with RequestDelta(control, "anaplan_auth") as auth:
        threads = [threading.Thread(target=work, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(values) == 8 and len(set(values)) == 1
    assert logins(auth) == 1


def test_logout_revokes_and_the_next_call_logs_in_again(
    anaplan_sandbox: dict[str, Any], control: Sandbox
) -> None:
    client = make_client(anaplan_sandbox)
    old = client.auth.token().value
    with RequestDelta(control, "anaplan_auth") as auth:
        assert client.logout() is True
        assert client.logout() is False  # nothing left to revoke
        client.model_state()
    assert auth.count("POST", "/token/logout", 204) == 1
    assert logins(auth) == 1
    assert client.auth.token().value != old


def test_key_vault_secrets_work_too(settings: Settings, secret_store: SecretStore) -> None:
    """The shared sandbox's settings, with the password read from its Key Vault."""
    client = AnaplanClient.for_pipeline(settings, secret_store)
    assert client.find_export("Export Approved Budget").file_id == "116000000001"


class SandboxTime:
    """The client's clock, kept in step with the sandbox clock this test moves."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.sandbox.advance_clock(seconds)
        self.offset += seconds


def test_a_40_minute_run_refreshes_instead_of_logging_in_again(
    own_sandbox: tuple[dict[str, Any], Sandbox],
) -> None:
    info, sandbox = own_sandbox
    clock = SandboxTime(sandbox)
    client = make_client(info, clock=clock)
    action = client.find_import("Import Cost Centers")
    with RequestDelta(sandbox, "anaplan_auth") as auth, RequestDelta(sandbox) as api:
        for _ in range(10):  # ten steps of four minutes
            clock.advance(240)
            client.list_tasks(action)
    assert logins(auth) == 0  # the login happened before: only refreshes since
    assert auth.count(*REFRESH, 200) >= 1
    assert api.count("GET", "/imports/{importId}/tasks", 200) == 10
    assert sum(n for (_, _, status), n in api.counts.items() if status == 401) == 0
    assert client.auth.token().expires_at > clock() + 5 * 60  # still well ahead


def test_a_token_the_server_expired_is_replaced_after_one_401(
    own_sandbox: tuple[dict[str, Any], Sandbox],
) -> None:
    info, sandbox = own_sandbox
    client = make_client(info)  # real clock: it cannot know the sandbox moved on
    action = client.find_import("Import Cost Centers")
    sandbox.advance_clock(36 * 60)
    with RequestDelta(sandbox, "anaplan_auth") as auth, RequestDelta(sandbox) as api:
        client.list_tasks(action)
    assert logins(auth) == 1
    assert api.count("GET", "/imports/{importId}/tasks", 401) == 1
    assert api.count("GET", "/imports/{importId}/tasks", 200) == 1


def test_a_failed_refresh_falls_back_to_a_login(
    own_sandbox: tuple[dict[str, Any], Sandbox],
) -> None:
    info, sandbox = own_sandbox
    clock = SandboxTime(sandbox)
    client = make_client(info, clock=clock)
    action = client.find_import("Import Cost Centers")
    clock.advance(31 * 60)
    sandbox.http.post(
        info["anaplan_auth"] + "/_sandbox/faults",
        json={"rules": [{"service": "anaplan_auth", "kind": "503", "route": "/token/refresh"}]},
    ).raise_for_status()
    with RequestDelta(sandbox, "anaplan_auth") as auth:
        client.list_tasks(action)
    assert auth.count(*REFRESH, 503) == 1
    assert logins(auth) == 1


def test_a_lost_certificate_login_is_repeated_with_a_fresh_message(
    anaplan_sandbox: dict[str, Any], control: Sandbox
) -> None:
    """The first login is processed but its answer dropped; replaying it would be refused."""
    rule = {"service": "anaplan_auth", "kind": "drop", "route": "/token/authenticate"}
    control.http.post(
        anaplan_sandbox["anaplan_auth"] + "/_sandbox/faults", json={"rules": [rule]}
    ).raise_for_status()
    with RequestDelta(control, "anaplan_auth") as auth:
        client = make_client(anaplan_sandbox, ANAPLAN_AUTH_MODE="certificate")
        assert client.model_state() == "UNLOCKED"
    assert auth.count(*AUTHENTICATE, 0) == 1  # dropped after the server accepted it
    assert logins(auth) == 1
