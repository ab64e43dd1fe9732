"""Fixtures every test folder may use: Azurite and the sandbox, as real processes.

``make test`` runs pytest under ``python -m devtools.azurite run``, which exports
``AzureWebJobsStorage``; run pytest directly and the ``azurite`` fixture starts its own instance
through the same script.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from bc_anaplan.config import Settings, load_settings
from bc_anaplan.secrets import SecretStore
from devtools.azurite import CONNECTION_ENV, Azurite
from tests.support.processes import running_sandbox


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """A connection string for a running Azurite (blob, queue, table)."""
    existing = os.environ.get(CONNECTION_ENV)
    if existing:
        yield existing
        return
    with Azurite() as instance:
        yield instance.connection_string


@pytest.fixture(scope="session")
def sandbox() -> Iterator[dict[str, Any]]:
    """The JSON line of a shared ``python -m sandbox serve --scale small --fast``.

    Shared by the whole session: tests that change faults or the clock must restore what they
    changed, or start their own sandbox with ``tests.support.processes.running_sandbox``.
    """
    with running_sandbox("--scale", "small", "--fast") as info:
        yield info


@pytest.fixture(scope="session")
def connector_env(sandbox: dict[str, Any], azurite: str) -> dict[str, str]:
    """The environment that points the connector at the shared sandbox and Azurite."""
    return {**sandbox["connector_env"], "AzureWebJobsStorage": azurite}


@pytest.fixture(scope="session")
def settings(connector_env: dict[str, str]) -> Settings:
    """Validated connector settings for the shared sandbox (secrets come from its Key Vault)."""
    return load_settings(connector_env)


@pytest.fixture(scope="session")
def secret_store(settings: Settings, connector_env: dict[str, str]) -> SecretStore:
    return SecretStore(settings, environ=connector_env)
