"""Key Vault: the bearer challenge, the secret bundle, and azure-keyvault-secrets' SecretClient
reading the preloaded secrets with an azure-identity credential from the sandbox Entra."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

from tests.sandbox.test_bc_kit import BC_SCOPE, VAULT_SCOPE, BcKit

API_VERSION = {"api-version": "7.5"}


@pytest.fixture(scope="module")
def kit(sandbox: dict[str, Any]) -> BcKit:
    return BcKit(sandbox)


@pytest.fixture(scope="module")
def secrets_client(sandbox: dict[str, Any]) -> SecretClient:
    credential = ClientSecretCredential(
        sandbox["tenant_id"],
        sandbox["client_id"],
        sandbox["client_secret"],
        authority=sandbox["entra"],
        disable_instance_discovery=True,
        connection_verify=sandbox["ca_bundle"],
    )
    return SecretClient(
        sandbox["keyvault"],
        credential,
        verify_challenge_resource=False,
        connection_verify=sandbox["ca_bundle"],
    )


@pytest.fixture(autouse=True)
def _trust_sandbox(sandbox: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # azure-identity authenticates through MSAL and requests, which honour REQUESTS_CA_BUNDLE
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox["ca_bundle"])


def _vault(sandbox: dict[str, Any], path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(
        f"{sandbox['keyvault']}{path}",
        params=API_VERSION,
        headers=headers,
        verify=ssl.create_default_context(cafile=sandbox["ca_bundle"]),
    )


def test_unauthenticated_request_gets_the_bearer_challenge(sandbox: dict[str, Any]) -> None:
    response = _vault(sandbox, "/secrets/bc-client-secret")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer authorization="{sandbox["entra"]}/{sandbox["tenant_id"]}", '
        'resource="https://vault.azure.net"'
    )
    assert response.json()["error"]["code"] == "Unauthorized"


def test_a_bc_token_is_not_a_vault_token(sandbox: dict[str, Any], kit: BcKit) -> None:
    response = _vault(sandbox, "/secrets/bc-client-secret", kit.token(BC_SCOPE))
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    assert "Invalid audience" in response.json()["error"]["message"]


def test_secret_bundle_shape(sandbox: dict[str, Any], kit: BcKit) -> None:
    response = _vault(sandbox, "/secrets/bc-client-secret", kit.token(VAULT_SCOPE))
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["value"] == sandbox["client_secret"]
    assert bundle["id"].startswith(f"{sandbox['keyvault']}/secrets/bc-client-secret/")
    assert bundle["attributes"]["enabled"] is True
    assert isinstance(bundle["attributes"]["created"], int)
    version = bundle["id"].rsplit("/", 1)[1]
    by_version = _vault(sandbox, f"/secrets/bc-client-secret/{version}", kit.token(VAULT_SCOPE))
    assert by_version.json()["value"] == sandbox["client_secret"]


def test_missing_api_version_and_unknown_secret(sandbox: dict[str, Any], kit: BcKit) -> None:
    response = httpx.get(
        f"{sandbox['keyvault']}/secrets/bc-client-secret",
        headers={"Authorization": f"Bearer {kit.token(VAULT_SCOPE)}"},
        verify=ssl.create_default_context(cafile=sandbox["ca_bundle"]),
    )
    assert response.status_code == 400
    missing = _vault(sandbox, "/secrets/no-such-secret", kit.token(VAULT_SCOPE))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "SecretNotFound"


def test_secret_client_reads_every_preloaded_secret(
    sandbox: dict[str, Any], secrets_client: SecretClient
) -> None:
    names = {p.name for p in secrets_client.list_properties_of_secrets()}
    assert names == {
        "bc-client-secret",
        "anaplan-password",
        "anaplan-certificate",
        "anaplan-private-key",
        "bc-webhook-client-state",
    }
    assert secrets_client.get_secret("bc-client-secret").value == sandbox["client_secret"]
    assert (
        secrets_client.get_secret("bc-webhook-client-state").value
        == sandbox["webhook_client_state"]
    )
    certificate = secrets_client.get_secret("anaplan-certificate").value or ""
    key = secrets_client.get_secret("anaplan-private-key").value or ""
    assert certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY-----" in key
    assert certificate == Path(sandbox["ca_bundle"]).with_name("anaplan-user.pem").read_text()


def test_secret_client_not_found(secrets_client: SecretClient) -> None:
    with pytest.raises(ResourceNotFoundError):
        secrets_client.get_secret("does-not-exist")
