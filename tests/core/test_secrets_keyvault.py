"""Secrets from the sandbox's Key Vault through the real SDK, challenge flow and all."""

from __future__ import annotations

from typing import Any

from bc_anaplan.config import Settings
from bc_anaplan.secrets import SecretStore


def test_secret_is_read_from_key_vault(
    settings: Settings, secret_store: SecretStore, sandbox: dict[str, Any]
) -> None:
    assert settings.secrets.key_vault_url == sandbox["keyvault"]
    assert secret_store.get("bc_client_secret") == sandbox["client_secret"]
    certificate = secret_store.get("anaplan_certificate")
    assert certificate.startswith("-----BEGIN CERTIFICATE-----")
