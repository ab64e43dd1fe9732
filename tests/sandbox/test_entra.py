"""Entra ID: discovery, client-credentials tokens and errors, through httpx, MSAL and
azure-identity (the libraries the connector uses), all over HTTPS against the sandbox CA."""

from __future__ import annotations

import base64
import json
import ssl
from typing import Any

import httpx
import msal
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential

from tests.sandbox.test_bc_kit import BC_SCOPE, VAULT_SCOPE


def _trust(sandbox: dict[str, Any]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=sandbox["ca_bundle"])


def _token_request(sandbox: dict[str, Any], **overrides: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_id": sandbox["client_id"],
        "client_secret": sandbox["client_secret"],
        "scope": BC_SCOPE,
        **overrides,
    }
    data = {k: v for k, v in data.items() if v}
    tenant = overrides.get("tenant", sandbox["tenant_id"])
    data.pop("tenant", None)
    return httpx.post(
        f"{sandbox['entra']}/{tenant}/oauth2/v2.0/token", data=data, verify=_trust(sandbox)
    )


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _assert_entra_error(response: httpx.Response, status: int, error: str, code: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"]
    assert body["trace_id"] and body["correlation_id"] and body["timestamp"].endswith("Z")


def test_openid_configuration_points_at_the_sandbox(sandbox: dict[str, Any]) -> None:
    base = f"{sandbox['entra']}/{sandbox['tenant_id']}"
    response = httpx.get(f"{base}/v2.0/.well-known/openid-configuration", verify=_trust(sandbox))
    assert response.status_code == 200
    config = response.json()
    assert config["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert config["authorization_endpoint"].startswith("https://")
    assert config["issuer"] == f"{base}/v2.0"


def test_unknown_tenant_is_refused(sandbox: dict[str, Any]) -> None:
    response = httpx.get(
        f"{sandbox['entra']}/00000000-1111-2222-3333-444444444444/v2.0/.well-known/"
        "openid-configuration",
        verify=_trust(sandbox),
    )
    _assert_entra_error(response, 400, "invalid_tenant", 90002)


def test_client_credentials_token_has_entra_shape(sandbox: dict[str, Any]) -> None:
    response = _token_request(sandbox)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    claims = _claims(body["access_token"])
    assert claims["aud"] == "https://api.businesscentral.dynamics.com"
    assert claims["tid"] == sandbox["tenant_id"] and claims["appid"] == sandbox["client_id"]
    assert "API.ReadWrite.All" in claims["roles"]
    assert claims["exp"] - claims["iat"] == 3599


def test_secret_may_also_be_sent_as_http_basic(sandbox: dict[str, Any]) -> None:
    response = httpx.post(
        f"{sandbox['entra']}/{sandbox['tenant_id']}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "scope": VAULT_SCOPE},
        auth=(sandbox["client_id"], sandbox["client_secret"]),
        verify=_trust(sandbox),
    )
    assert response.status_code == 200
    assert _claims(response.json()["access_token"])["aud"] == "https://vault.azure.net"


@pytest.mark.parametrize(
    ("overrides", "status", "error", "code"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        ({"client_secret": ""}, 401, "invalid_client", 7000216),
        ({"client_id": "11111111-2222-3333-4444-555555555555"}, 400, "unauthorized_client", 700016),
        (
            {"scope": "https://api.businesscentral.dynamics.com/API.ReadWrite.All"},
            400,
            "invalid_scope",
            1002012,
        ),
        ({"scope": "https://graph.example/.default"}, 400, "invalid_resource", 500011),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        ({"scope": ""}, 400, "invalid_request", 900144),
    ],
)
def test_token_errors_have_entra_shape(
    sandbox: dict[str, Any], overrides: dict[str, str], status: int, error: str, code: int
) -> None:
    _assert_entra_error(_token_request(sandbox, **overrides), status, error, code)


def test_msal_confidential_client_gets_and_caches_a_token(
    sandbox: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests (under MSAL) lets REQUESTS_CA_BUNDLE override `verify`: point it at the sandbox CA
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox["ca_bundle"])
    app = msal.ConfidentialClientApplication(
        sandbox["client_id"],
        client_credential=sandbox["client_secret"],
        authority=f"{sandbox['entra']}/{sandbox['tenant_id']}",
        instance_discovery=False,
    )
    first = app.acquire_token_for_client(scopes=[BC_SCOPE])
    assert first["token_source"] == "identity_provider", first
    assert first["token_type"] == "Bearer" and first["expires_in"] > 3000
    second = app.acquire_token_for_client(scopes=[BC_SCOPE])
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]


def test_msal_reports_a_wrong_secret(
    sandbox: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox["ca_bundle"])
    app = msal.ConfidentialClientApplication(
        sandbox["client_id"],
        client_credential="not-the-secret",
        authority=f"{sandbox['entra']}/{sandbox['tenant_id']}",
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=[BC_SCOPE])
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]


def test_azure_identity_client_secret_credential(
    sandbox: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox["ca_bundle"])

    def credential(secret: str) -> ClientSecretCredential:
        return ClientSecretCredential(
            sandbox["tenant_id"],
            sandbox["client_id"],
            secret,
            authority=sandbox["entra"],
            disable_instance_discovery=True,
            connection_verify=sandbox["ca_bundle"],
        )

    for scope in (BC_SCOPE, VAULT_SCOPE):
        token = credential(sandbox["client_secret"]).get_token(scope)
        assert _claims(token.token)["aud"] == scope.removesuffix("/.default")
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        credential("wrong").get_token(BC_SCOPE)
