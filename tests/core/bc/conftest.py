"""Fixtures for the BC client tests: clients on a real sandbox over HTTPS, and its controls.

Secrets come from the environment (``BC_CLIENT_SECRET``) rather than the sandbox's Key Vault and
storage is a placeholder connection string: these tests exercise the BC client, not the secret
store or Azurite, and stay fast and independent of both.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bc_anaplan.bc.client import BcClient
from bc_anaplan.config import Settings, load_settings
from bc_anaplan.secrets import SecretStore

API = "/v2.0/{tenant}/{environment}/api/v2.0"
# fast, patient retries for fault storms: many attempts, short backoff
STORM_HTTP = {
    "HTTP_BACKOFF_BASE_SECONDS": "0.02",
    "HTTP_BACKOFF_CAP_SECONDS": "0.2",
    "HTTP_MAX_ATTEMPTS": "15",
}


def bc_env(info: dict[str, Any], **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in info["connector_env"].items() if k != "KEY_VAULT_URL"}
    env.update(
        BC_CLIENT_SECRET=info["client_secret"],
        AzureWebJobsStorage="UseDevelopmentStorage=true",
    )
    env.update(overrides)
    return env


def bc_settings(info: dict[str, Any], **overrides: str) -> tuple[Settings, SecretStore]:
    env = bc_env(info, **overrides)
    settings = load_settings(env)
    return settings, SecretStore(settings, environ=env)


def make_client(info: dict[str, Any], page_size: int = 20_000, **overrides: str) -> BcClient:
    settings, secrets = bc_settings(info, **overrides)
    return BcClient(settings, secrets, page_size=page_size)


class Controls:
    """The sandbox's ``/_sandbox/...`` endpoints (test controls, not part of any real API)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        context = ssl.create_default_context(cafile=info["ca_bundle"])
        self.http = httpx.Client(verify=context, timeout=30)

    def requests(self, service: str = "bc") -> Counter[tuple[str, str, int]]:
        rows = self.http.get(f"{self.info[service]}/_sandbox/requests").json()
        return Counter({(r["method"], r["route"], r["status"]): r["count"] for r in rows})

    def reset_requests(self, service: str = "bc") -> None:
        self.http.delete(f"{self.info[service]}/_sandbox/requests").raise_for_status()

    def faults(self, body: dict[str, Any]) -> None:
        self.http.post(f"{self.info['bc']}/_sandbox/faults", json=body).raise_for_status()

    def clear_faults(self) -> None:
        self.faults({"clear": True})

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        response = self.http.post(
            f"{self.info['bc']}/_sandbox/clock", json={"advance_seconds": seconds}
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def post_entries(self, count: int, period: str) -> dict[str, Any]:
        response = self.http.post(
            f"{self.info['bc']}/_sandbox/bc/post-entries", json={"count": count, "period": period}
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def count(
    log: Counter[tuple[str, str, int]],
    method: str,
    route: str,
    status: int | None,
    prefix: str = API,
) -> int:
    """Requests in ``log`` to ``prefix + route`` (``status=None``: any status)."""
    return sum(
        n
        for (m, r, s), n in log.items()
        if m == method and r == prefix + route and (status is None or s == status)
    )


def delta(
    before: Counter[tuple[str, str, int]], after: Counter[tuple[str, str, int]]
) -> Counter[tuple[str, str, int]]:
    return Counter({k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k)})


@pytest.fixture(scope="session")
def controls(sandbox: dict[str, Any]) -> Iterator[Controls]:
    c = Controls(sandbox)
    yield c
    c.http.close()


@pytest.fixture
def bc(sandbox: dict[str, Any]) -> BcClient:
    """A client on the shared sandbox with the connector's default HTTP settings."""
    return make_client(sandbox)


@pytest.fixture
def storm_bc(sandbox: dict[str, Any]) -> BcClient:
    """A client on the shared sandbox that retries fault storms quickly."""
    return make_client(sandbox, page_size=250, **STORM_HTTP)


@pytest.fixture
def restore_faults(controls: Controls) -> Iterator[Controls]:
    """Faults set by a test on the shared sandbox are cleared whatever happens."""
    try:
        yield controls
    finally:
        controls.clear_faults()
