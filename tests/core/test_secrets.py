"""Secrets: Key Vault or environment, cached with a TTL, never in messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from bc_anaplan.config import load_settings
from bc_anaplan.redaction import redact
from bc_anaplan.secrets import SecretError, SecretStore

SECRET = "s3cr3t-value-from-vault"


def test_environment_backend_reads_value_or_file(env: dict[str, str], tmp_path: Path) -> None:
    pem = tmp_path / "cert.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    source = {"BC_CLIENT_SECRET": "env-secret-value", "ANAPLAN_CERTIFICATE_FILE": str(pem)}
    store = SecretStore(load_settings(env), environ=source)
    assert store.get("bc_client_secret") == "env-secret-value"
    assert store.get("anaplan_certificate").startswith("-----BEGIN CERTIFICATE-----")


def test_missing_secret_names_the_secret_not_a_value(env: dict[str, str]) -> None:
    store = SecretStore(load_settings(env), environ={})
    with pytest.raises(SecretError, match="secret ANAPLAN_PASSWORD is missing"):
        store.get("anaplan_password")
    with pytest.raises(SecretError, match="unknown secret"):
        store.get("nope")


def test_vault_values_are_cached_for_the_ttl(env: dict[str, str]) -> None:
    env["KEY_VAULT_URL"] = "https://kv-connector.vault.azure.net"
    env["SECRET_CACHE_TTL_SECONDS"] = "300"
    now = [0.0]
    reads: list[str] = []

    def vault(name: str) -> str:
        reads.append(name)
        return f"{SECRET}-{len(reads)}"

    store = SecretStore(load_settings(env), vault_reader=vault, clock=lambda: now[0])
    assert store.get("bc_client_secret") == f"{SECRET}-1"
    now[0] = 299.0
    assert store.get("bc_client_secret") == f"{SECRET}-1"
    now[0] = 301.0
    assert store.get("bc_client_secret") == f"{SECRET}-2"  # rotated value picked up
    store.forget("bc_client_secret")
    assert store.get("bc_client_secret") == f"{SECRET}-3"
    assert reads == ["bc-client-secret"] * 3


def test_values_read_are_registered_for_redaction(env: dict[str, str]) -> None:
    store = SecretStore(load_settings(env), environ={"ANAPLAN_PASSWORD": "pw-registered-123"})
    store.get("anaplan_password")
    assert redact("login with pw-registered-123 failed") == "login with *** failed"


def test_vault_errors_keep_the_value_and_body_out(env: dict[str, str]) -> None:
    env["KEY_VAULT_URL"] = "https://kv-connector.vault.azure.net"

    class ResourceNotFoundError(Exception):
        status_code = 404

    def vault(name: str) -> str:
        raise ResourceNotFoundError(f"body mentioning {SECRET}")

    store = SecretStore(load_settings(env), vault_reader=vault)
    with pytest.raises(SecretError) as caught:
        store.get("bc_client_secret")
    message = str(caught.value)
    assert "bc-client-secret" in message and "HTTP 404" in message
    assert SECRET not in message and caught.value.__cause__ is None
