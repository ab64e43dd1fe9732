"""Fixtures for the Anaplan client tests: a sandbox of their own, settings, clients, controls.

The client tests import into the FP&A model, cancel tasks, hold the model and inject faults, so
they run against a sandbox process of their own (started once for the package, about a second)
rather than the session's shared one, whose seeded drift other tests rely on. Tests that move
the simulated clock, which only goes forward, start yet another one. Secrets come from the
environment (``ANAPLAN_PASSWORD``, ``*_FILE``); the Key Vault path is covered once against the
shared sandbox in ``test_auth``.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bc_anaplan.anaplan import AnaplanClient
from bc_anaplan.anaplan.actions import forget_all_catalogs
from bc_anaplan.anaplan.auth import forget_all_tokens
from bc_anaplan.config import Settings, load_settings
from bc_anaplan.secrets import SecretStore
from tests.support.processes import running_sandbox

MODEL_ROUTE = "/2/0/workspaces/{workspaceId}/models/{modelId}"
AUTHENTICATE = ("POST", "/token/authenticate")
REFRESH = ("POST", "/token/refresh")


def anaplan_env(info: dict[str, Any], **overrides: str) -> dict[str, str]:
    """App settings for the sandbox ``info`` with secrets from the environment, not Key Vault."""
    env = {k: v for k, v in info["connector_env"].items() if k != "KEY_VAULT_URL"}
    env.update(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",  # not used by these tests
            "ANAPLAN_PASSWORD": info["anaplan_password"],
            "ANAPLAN_CERTIFICATE_FILE": info["anaplan_cert"],
            "ANAPLAN_PRIVATE_KEY_FILE": info["anaplan_key"],
        }
    )
    env.update(overrides)
    return env


def make_client(info: dict[str, Any], **kwargs: Any) -> AnaplanClient:
    """A client for the sandbox ``info``; settings overrides as upper-case keyword arguments."""
    overrides = {k: v for k, v in kwargs.items() if k.isupper()}
    options = {k: v for k, v in kwargs.items() if not k.isupper()}
    env = anaplan_env(info, **overrides)
    settings = load_settings(env)
    return AnaplanClient.for_pipeline(settings, SecretStore(settings, environ=env), **options)


class Sandbox:
    """The sandbox's own controls (``/_sandbox/...``): request log, faults, clock, model."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.http = httpx.Client(
            verify=ssl.create_default_context(cafile=info["ca_bundle"]), timeout=30
        )

    def _url(self, service: str, path: str) -> str:
        return self.info[service] + path

    def requests(self, service: str = "anaplan_api") -> Counter[tuple[str, str, int]]:
        rows = self.http.get(self._url(service, "/_sandbox/requests")).json()
        return Counter({(r["method"], r["route"], r["status"]): r["count"] for r in rows})

    def faults(self, body: dict[str, Any]) -> None:
        self.http.post(self._url("anaplan_api", "/_sandbox/faults"), json=body).raise_for_status()

    def advance_clock(self, seconds: float) -> None:
        response = self.http.post(
            self._url("anaplan_api", "/_sandbox/clock"), json={"advance_seconds": seconds}
        )
        response.raise_for_status()

    def control(self, name: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(self._url("anaplan_api", f"/_sandbox/anaplan/{name}"), json=body)
        response.raise_for_status()
        return response.json()

    def inspect(self, what: str) -> Any:
        model = self.info["model_id"]
        response = self.http.get(
            self._url("anaplan_api", f"/_sandbox/anaplan/models/{model}/{what}")
        )
        response.raise_for_status()
        return response.json()


class RequestDelta:
    """Requests a block of code sent, per (method, route, status), from the sandbox's log."""

    def __init__(self, sandbox: Sandbox, service: str = "anaplan_api") -> None:
        self.sandbox, self.service = sandbox, service
        self.before = sandbox.requests(service)
        self.counts: Counter[tuple[str, str, int]] = Counter()

    def __enter__(self) -> RequestDelta:
        return self

    def __exit__(self, *exc: object) -> None:
        self.counts = self.sandbox.requests(self.service) - self.before

    def count(self, method: str, route: str, status: int | None = None) -> int:
        route = route if route.startswith("/token") else MODEL_ROUTE + route
        return sum(
            n
            for (m, r, s), n in self.counts.items()
            if m == method and r == route and (status is None or s == status)
        )

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@pytest.fixture(scope="session")
def anaplan_sandbox() -> Iterator[dict[str, Any]]:
    """A sandbox for the Anaplan client tests alone (they change the model and inject faults)."""
    with running_sandbox("--scale", "small", "--fast") as info:
        yield info


@pytest.fixture
def control(anaplan_sandbox: dict[str, Any]) -> Iterator[Sandbox]:
    """Controls of the package's sandbox; faults, holds and model state are undone afterwards."""
    sandbox = Sandbox(anaplan_sandbox)
    try:
        yield sandbox
    finally:
        sandbox.faults({"clear": True})
        sandbox.control("hold", {"enabled": False})
        sandbox.control("busy", {"enabled": False})
        sandbox.control("unlock")
        sandbox.http.close()


@pytest.fixture
def client(anaplan_sandbox: dict[str, Any]) -> AnaplanClient:
    return make_client(anaplan_sandbox)


@pytest.fixture
def client_factory(anaplan_sandbox: dict[str, Any]) -> Callable[..., AnaplanClient]:
    return lambda **kwargs: make_client(anaplan_sandbox, **kwargs)


@pytest.fixture(autouse=True)
def fresh_catalogs() -> Iterator[None]:
    """Each test discovers the model's actions itself, so its counts of listings are its own
    (the process remembers listings for a few minutes, across client objects)."""
    forget_all_catalogs()
    yield
    forget_all_catalogs()


@pytest.fixture
def fresh_tokens() -> Iterator[None]:
    """Start without any cached token (for tests that count logins)."""
    forget_all_tokens()
    yield
    forget_all_tokens()


@pytest.fixture
def own_sandbox() -> Iterator[tuple[dict[str, Any], Sandbox]]:
    """A sandbox for one test, for changes that cannot be undone (the clock only moves forward)."""
    forget_all_tokens()
    with running_sandbox("--scale", "small", "--fast") as info:
        sandbox = Sandbox(info)
        try:
            yield info, sandbox
        finally:
            sandbox.http.close()
            forget_all_tokens()


def settings_for(info: dict[str, Any], **overrides: str) -> Settings:
    return load_settings(anaplan_env(info, **overrides))
