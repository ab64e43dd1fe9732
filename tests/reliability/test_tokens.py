"""Tokens the server rejects before the client thinks they expired: each client gets a new one.

The sandbox clock jumps past every token lifetime (BC 3,599 s, Anaplan 35 minutes, Key Vault
3,599 s) while the connector's own clock does not move, which is what a revoked token or a
server clock running ahead looks like from the client. The BC and Anaplan clients drop the
token on 401 and retry once with a new one; the secret store must do the same for Key Vault.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from bc_anaplan.runtime import Runtime, environment
from devtools.environment import connector_environment
from tests.reliability.harness import advance_clock, statuses
from tests.support.connector import Sandbox
from tests.support.processes import running_sandbox


@pytest.fixture(scope="module")
def services(azurite: str) -> Iterator[tuple[Runtime, Sandbox]]:
    with running_sandbox("--scale", "small", "--fast") as info:
        env = connector_environment(info, azurite, "tok" + uuid.uuid4().hex[:10])
        with environment(env) as runtime:
            for secret in ("bc_client_secret", "anaplan_password"):
                runtime.secrets.get(secret)  # cached before any clock jump (see the last test)
            yield runtime, Sandbox(info)


def test_a_rejected_bc_token_is_replaced(services: tuple[Runtime, Sandbox]) -> None:
    runtime, sandbox = services
    bc = runtime.bc()
    assert bc.get(bc.url("companies")).json()["value"]
    advance_clock(sandbox)
    assert bc.get(bc.url("companies")).json()["value"]
    assert statuses(sandbox, "bc")[401] >= 1


def test_a_rejected_anaplan_token_is_replaced(services: tuple[Runtime, Sandbox]) -> None:
    runtime, sandbox = services
    assert runtime.anaplan().model_state() == "UNLOCKED"
    advance_clock(sandbox)
    assert runtime.anaplan().model_state() == "UNLOCKED"
    assert statuses(sandbox, "anaplan_api")[401] >= 1


def test_a_rejected_key_vault_token_is_replaced(services: tuple[Runtime, Sandbox]) -> None:
    runtime, sandbox = services
    secret = runtime.secrets.get("bc_client_secret")
    for service in ("keyvault", "entra"):
        sandbox.http.delete(sandbox.info[service] + "/_sandbox/requests")
    advance_clock(sandbox)
    runtime.secrets.forget("bc_client_secret")  # the cache's TTL ran out
    assert runtime.secrets.get("bc_client_secret") == secret
    # Key Vault itself refused the old token, a new one was issued, and the read was repeated
    # and served once (the SDK's challenge probes add 401s of their own, hence "at least")
    reads = Counter[int]()
    for row in sandbox.requests("keyvault"):
        if row["method"] == "GET" and row["route"].startswith("/secrets/{name}"):
            reads[int(row["status"])] += int(row["count"])
    assert reads[401] >= 1 and reads[200] == 1 and set(reads) == {200, 401}, reads
    assert statuses(sandbox, "entra")[200] >= 1  # the new token
