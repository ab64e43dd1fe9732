"""Login requests and token answers, checked byte by byte (pure: no server involved)."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from bc_anaplan import redaction
from bc_anaplan.anaplan.auth import (
    BasicCredentials,
    CertificateCredentials,
    parse_token,
)
from bc_anaplan.anaplan.errors import AnaplanAuthError, ProtocolError
from bc_anaplan.config import ConfigError
from tests.core.anaplan.keys import key_and_certificate


def decoded(body: dict[str, str], field: str) -> bytes:
    return base64.b64decode(body[field], validate=True)


def test_v2_payload_is_timestamp_then_random_bytes_signed_with_sha512() -> None:
    key_pem, cert_pem = key_and_certificate()
    credentials = CertificateCredentials(cert_pem, key_pem, "v2", clock=lambda: 1750736826.9)
    headers, body = credentials.login_request()
    assert body is not None and list(body)[0] == "encodedDataFormat"
    assert body["encodedDataFormat"] == "v2"
    message = decoded(body, "encodedData")
    assert len(message) >= 100
    assert message[:8] == bytes.fromhex("00000000685A1FBA")  # the notice's sample: epoch seconds
    assert struct.unpack(">Q", message[:8])[0] == 1750736826
    certificate = x509.load_pem_x509_certificate(cert_pem.encode())
    certificate.public_key().verify(  # type: ignore[call-arg, union-attr]
        decoded(body, "encodedSignedData"), message, padding.PKCS1v15(), hashes.SHA512()
    )
    assert headers["Content-Type"] == "application/json"
    scheme, value = headers["Authorization"].split(" ")
    assert scheme == "CACertificate"
    assert base64.b64decode(value).decode() == cert_pem.strip() + "\n"


def test_every_login_gets_a_fresh_message() -> None:
    key_pem, cert_pem = key_and_certificate()
    credentials = CertificateCredentials(cert_pem, key_pem, "v2")
    first, second = credentials.login_request()[1], credentials.login_request()[1]
    assert first and second
    assert decoded(first, "encodedData") != decoded(second, "encodedData")


def test_v1_payload_is_random_bytes_without_format_field() -> None:
    key_pem, cert_pem = key_and_certificate()
    _, body = CertificateCredentials(cert_pem, key_pem, "v1").login_request()
    assert body is not None and "encodedDataFormat" not in body
    assert len(decoded(body, "encodedData")) >= 100


def test_signature_is_registered_for_redaction() -> None:
    key_pem, cert_pem = key_and_certificate()
    _, body = CertificateCredentials(cert_pem, key_pem).login_request()
    assert body is not None
    assert redaction.redact(f"sent {body['encodedSignedData']}") == "sent ***"


def test_a_key_that_does_not_match_the_certificate_is_refused_up_front() -> None:
    key_pem, _ = key_and_certificate(2048)
    _, other_cert = key_and_certificate(3072)
    with pytest.raises(ConfigError, match="do not belong together"):
        CertificateCredentials(other_cert, key_pem)
    with pytest.raises(ConfigError, match="private key"):
        CertificateCredentials(other_cert, "not a key")


def test_basic_login_header() -> None:
    headers, body = BasicCredentials("user@example.com", "pa:ss").login_request()
    assert body is None
    assert base64.b64decode(headers["Authorization"].split(" ")[1]) == b"user@example.com:pa:ss"


def test_token_answer_ignores_unknown_fields_and_reads_milliseconds() -> None:
    token = parse_token(
        {
            "meta": {"validationUrl": "https://auth.anaplan.com/token/validate"},
            "status": "SUCCESS",
            "statusMessage": "Login successful",
            "someNewField": {"x": 1},
            "tokenInfo": {
                "tokenId": "ce81e2ed-eec4-11e9-9750-6925ec1fee7f",
                "tokenValue": "tok+en/value==",
                "expiresAt": 1571088565713,
                "refreshTokenId": "ce81e2ee-eec4-11e9-9750-adef4e60446f",
                "refreshToken": "a-refresh-token-value",
            },
        }
    )
    assert token.value == "tok+en/value==" and token.expires_at == 1571088565.713
    assert redaction.redact("a-refresh-token-value tok+en/value==") == "*** ***"


def test_token_answers_that_are_not_success_are_errors() -> None:
    with pytest.raises(AnaplanAuthError, match="FAILURE_BAD_CREDENTIAL"):
        parse_token({"status": "FAILURE_BAD_CREDENTIAL", "statusMessage": "bad"})
    with pytest.raises(ProtocolError):
        parse_token({"status": "SUCCESS", "tokenInfo": {"tokenValue": "x"}})
