"""Anaplan authentication: basic and certificate login, refresh, validate, logout, API tokens."""

from __future__ import annotations

import base64
import datetime
import json
import time
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.sandbox.test_anaplan_kit import AnaplanKit, anaplan, cert_auth

__all__ = ["anaplan"]


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _login(kit: AnaplanKit, headers: dict[str, str], body: Any = None):
    return kit.http.post(kit.auth_url("/token/authenticate"), headers=headers, json=body)


def _self_signed() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intruder@example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_basic_login_returns_201_with_token_info(anaplan: AnaplanKit) -> None:
    before_ms = time.time() * 1000
    response = _login(
        anaplan, _basic(anaplan.info["anaplan_user"], anaplan.info["anaplan_password"])
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "SUCCESS"
    assert body["statusMessage"] == "Login successful"
    assert body["meta"]["validationUrl"] == anaplan.auth_url("/token/validate")
    info = body["tokenInfo"]
    uuid.UUID(info["tokenId"])
    uuid.UUID(info["refreshTokenId"])
    assert info["tokenValue"]
    lifetime_min = (info["expiresAt"] - before_ms) / 60_000
    assert 34.9 < lifetime_min < 35.5


def test_basic_login_rejects_wrong_credentials_and_malformed_headers(anaplan: AnaplanKit) -> None:
    user, password = anaplan.info["anaplan_user"], anaplan.info["anaplan_password"]
    for headers in (_basic(user, password + "x"), _basic("someone@else.example", password)):
        response = _login(anaplan, headers)
        assert response.status_code == 401
        assert response.json()["status"] == "FAILURE_BAD_CREDENTIAL"
    no_colon = "Basic " + base64.b64encode(b"no-colon").decode()
    for headers in (
        {},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Token abc"},
        {"Authorization": no_colon},
    ):
        response = _login(anaplan, headers)
        assert response.status_code == 401, headers
        assert response.json() == {
            "status": "FAILURE_BAD_HEADER",
            "statusMessage": "Invalid header. Verify the header.",
        }


def _assert_certificate_login(kit: AnaplanKit, headers: dict[str, str], body: Any) -> None:
    response = _login(kit, headers, body)
    assert response.status_code == 201, response.text
    token = response.json()["tokenInfo"]["tokenValue"]
    validated = kit.http.get(
        kit.auth_url("/token/validate"),
        headers={"Authorization": f"AnaplanAuthToken {token}"},
    )
    assert validated.json()["userInfo"]["userId"] == kit.info["anaplan_user"]


def test_certificate_login_v2(anaplan: AnaplanKit) -> None:
    cert, key = anaplan.cert_pems()
    _assert_certificate_login(anaplan, *cert_auth(cert, key, "v2"))


def test_legacy_v1_certificate_payload_is_refused(anaplan: AnaplanKit) -> None:
    cert, key = anaplan.cert_pems()
    for case, (headers, body) in {
        "no encodedDataFormat": cert_auth(cert, key, "v1"),
        "encodedDataFormat null": cert_auth(cert, key, "v1", encodedDataFormat=None),
    }.items():
        assert "encodedDataFormat" not in body or body["encodedDataFormat"] is None
        response = _login(anaplan, headers, body)
        assert response.status_code == 401, case
        refused = response.json()
        assert set(refused) == {"status", "statusMessage"}, case
        assert refused["status"] == "FAILURE_BAD_CREDENTIAL", case
        assert "v2" in refused["statusMessage"], case
    overview = anaplan.http.get(anaplan.url("/_sandbox/anaplan")).json()
    assert overview["certV1Accepted"] is False


def test_legacy_v1_certificate_payload_behind_the_sandbox_switch(anaplan: AnaplanKit) -> None:
    cert, key = anaplan.cert_pems()
    assert anaplan.control("/cert-v1", {"enabled": True}) == {"cert-v1": True}
    try:
        _assert_certificate_login(anaplan, *cert_auth(cert, key, "v1"))
        _assert_certificate_login(anaplan, *cert_auth(cert, key, "v2"))
        # still the v1 rules: signed, at least 100 bytes, used once
        headers, body = cert_auth(cert, key, "v1", random_bytes=99)
        assert _login(anaplan, headers, body).status_code == 401
        headers, body = cert_auth(cert, key, "v1")
        assert _login(anaplan, headers, body).status_code == 201
        assert _login(anaplan, headers, body).status_code == 401
    finally:
        anaplan.control("/cert-v1", {"enabled": False})
    response = _login(anaplan, *cert_auth(cert, key, "v1"))
    assert response.status_code == 401
    assert response.json()["status"] == "FAILURE_BAD_CREDENTIAL"


def test_certificate_login_needs_a_json_content_type(anaplan: AnaplanKit) -> None:
    cert, key = anaplan.cert_pems()
    headers, body = cert_auth(cert, key)
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        sent = {k: v for k, v in headers.items() if k != "Content-Type"}
        if content_type:
            sent["Content-Type"] = content_type
        response = anaplan.http.post(
            anaplan.auth_url("/token/authenticate"),
            headers=sent,
            content=json.dumps(body).encode(),
        )
        assert response.status_code == 401, content_type
        assert response.json() == {
            "status": "FAILURE_BAD_HEADER",
            "statusMessage": "Content-Type must be application/json",
        }, content_type
    # the same payload was never consumed by the refusals: it still logs in once
    assert _login(anaplan, headers, body).status_code == 201


def test_certificate_header_may_carry_base64_der(anaplan: AnaplanKit) -> None:
    cert, key = anaplan.cert_pems()
    headers, body = cert_auth(cert, key)
    der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    headers["Authorization"] = "CACertificate " + base64.b64encode(der).decode()
    assert _login(anaplan, headers, body).status_code == 201


def test_certificate_login_refusals(anaplan: AnaplanKit) -> None:
    cert, key = anaplan.cert_pems()
    now = int(time.time())
    cases = {
        "timestamp too old": cert_auth(cert, key, timestamp=now - 330),
        "timestamp in the future": cert_auth(cert, key, timestamp=now + 400),
        "timestamp in milliseconds": cert_auth(cert, key, timestamp=now * 1000),
        "message under 100 bytes": cert_auth(cert, key, random_bytes=91),
        "unknown format": cert_auth(cert, key, encodedDataFormat="v3"),
        "signature of another message": cert_auth(
            cert, key, encodedSignedData=cert_auth(cert, key)[1]["encodedSignedData"]
        ),
        "self-signed certificate": cert_auth(*_self_signed()),
    }
    for case, (headers, body) in cases.items():
        response = _login(anaplan, headers, body)
        assert response.status_code == 401, case
        assert response.json()["status"] == "FAILURE_BAD_CREDENTIAL", case
    headers, body = cert_auth(cert, key, timestamp=int(time.time()) - 250)
    assert _login(anaplan, headers, body).status_code == 201


def test_certificate_payload_cannot_be_replayed(anaplan: AnaplanKit) -> None:
    cert, key = anaplan.cert_pems()
    headers, body = cert_auth(cert, key)
    assert _login(anaplan, headers, body).status_code == 201
    replay = _login(anaplan, headers, body)
    assert replay.status_code == 401
    assert replay.json()["status"] == "FAILURE_BAD_CREDENTIAL"


def test_certificate_header_that_is_not_a_certificate(anaplan: AnaplanKit) -> None:
    cert, key = anaplan.cert_pems()
    headers, body = cert_auth(cert, key)
    headers["Authorization"] = "CACertificate " + base64.b64encode(b"not a certificate").decode()
    response = _login(anaplan, headers, body)
    assert response.status_code == 401
    assert response.json()["status"] == "FAILURE_BAD_HEADER"


def test_refresh_keeps_the_value_and_moves_expiry(anaplan: AnaplanKit) -> None:
    token = AnaplanKit(anaplan.info).login_basic()
    auth = {"Authorization": f"AnaplanAuthToken {token}"}
    first = anaplan.http.get(anaplan.auth_url("/token/validate"), headers=auth).json()
    time.sleep(0.01)
    refreshed = anaplan.http.post(anaplan.auth_url("/token/refresh"), headers=auth)
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert body["statusMessage"] == "Token refreshed"
    assert body["tokenInfo"]["tokenValue"] == token
    assert body["tokenInfo"]["tokenId"] == first["tokenInfo"]["tokenId"]
    assert body["tokenInfo"]["expiresAt"] > first["tokenInfo"]["expiresAt"]


def test_validate_describes_token_and_user(anaplan: AnaplanKit) -> None:
    response = anaplan.http.get(anaplan.auth_url("/token/validate"), headers=anaplan.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "SUCCESS" and body["statusMessage"] == "Token validated"
    assert set(body["tokenInfo"]) == {"expiresAt", "tokenId"}
    user = body["userInfo"]
    assert user["userId"] == anaplan.info["anaplan_user"]
    assert len(user["userGuid"]) == len(user["customerGuid"]) == 32
    assert user["userGuid"] == user["userGuid"].lower()


def test_malformed_headers_on_refresh_validate_and_logout(anaplan: AnaplanKit) -> None:
    bearer = {"Authorization": f"Bearer {anaplan.token}"}
    colon = {"Authorization": f"AnaplanAuthToken:{anaplan.token}"}
    for headers in ({}, bearer, colon):
        for method, path in (("POST", "/token/refresh"), ("GET", "/token/validate")):
            response = anaplan.http.request(method, anaplan.auth_url(path), headers=headers)
            assert response.status_code == 400, (path, headers)
            assert response.json()["status"] == "FAILURE_BAD_HEADER"
        response = anaplan.http.post(anaplan.auth_url("/token/logout"), headers=headers)
        assert response.status_code == 401
        assert response.json()["status"] == "FAILURE_BAD_HEADER"
    unknown = {"Authorization": "AnaplanAuthToken not-a-token"}
    response = anaplan.http.get(anaplan.auth_url("/token/validate"), headers=unknown)
    assert response.status_code == 401
    assert response.json()["status"] == "FAILURE_BAD_CREDENTIAL"


def test_logout_revokes_the_token_everywhere(anaplan: AnaplanKit) -> None:
    kit = AnaplanKit(anaplan.info)
    kit.login_basic()
    assert kit.http.get(kit.url("/2/0/workspaces"), headers=kit.headers).status_code == 200
    logout = kit.http.post(kit.auth_url("/token/logout"), headers=kit.headers)
    assert logout.status_code == 204 and logout.content == b""
    for method, path in (
        ("GET", "/token/validate"),
        ("POST", "/token/refresh"),
        ("POST", "/token/logout"),
    ):
        assert kit.http.request(method, kit.auth_url(path), headers=kit.headers).status_code == 401
    api = kit.http.get(kit.url("/2/0/workspaces"), headers=kit.headers)
    assert api.status_code == 401
    kit.close()


def test_api_requires_an_anaplan_auth_token(anaplan: AnaplanKit) -> None:
    url = anaplan.url("/2/0/workspaces")
    for headers in (
        {},
        {"Authorization": f"Bearer {anaplan.token}"},
        {"Authorization": f"AnaplanAuthToken:{anaplan.token}"},
        {"Authorization": "AnaplanAuthToken not-a-token"},
    ):
        response = anaplan.http.get(url, headers=headers)
        assert response.status_code == 401, headers
        body = response.json()
        assert body["status"] == {"code": 401, "message": "Unauthorized"}
        assert body["path"] == "/2/0/workspaces"
        assert body["timestamp"].endswith("Z")
    assert anaplan.http.get(url, headers=anaplan.headers).status_code == 200
