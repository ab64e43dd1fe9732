"""Certificate login: ``Authorization: CACertificate <base64 PEM>`` plus a signed message.

Checks, in Anaplan's order of concern: the certificate decodes (base64 of the PEM text, or of
the DER bytes), was issued by the sandbox CA, is within its validity period and is the one
registered to a user; the body carries ``encodedDataFormat: "v2"``, ``encodedData`` and
``encodedSignedData``; the message is at least 100 bytes; its first 8 bytes are a big-endian
epoch-seconds timestamp within 300 s of *wall-clock* time (not the simulated clock: the real
service checks real time); the signature is RSASSA-PKCS1-v1_5 with SHA-512 over the raw
message bytes; and the message was never used before (each login
needs a fresh payload).

The legacy v1 payload (no ``encodedDataFormat``: random bytes, no timestamp) is refused with 401
``FAILURE_BAD_CREDENTIAL``: Anaplan requires v2 from Integration API v2 callers since June 19,
2026. ``accept_v1`` (the ``/_sandbox/anaplan/cert-v1`` control, off by default) simulates a
tenant that still accepts it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox.anaplan.users import AnaplanUser

MIN_MESSAGE_BYTES = 100
MAX_SKEW_S = 300
_SEEN_MESSAGES_KEPT = 10_000


class LoginRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _bad_header(message: str) -> LoginRefused:
    return LoginRefused(401, "FAILURE_BAD_HEADER", message)


def _bad_credential(message: str) -> LoginRefused:
    return LoginRefused(401, "FAILURE_BAD_CREDENTIAL", message)


class CertificateLogin:
    def __init__(self, ca_pem: bytes, users: list[AnaplanUser]) -> None:
        self._ca = x509.load_pem_x509_certificate(ca_pem)
        self._users = {u.certificate_fingerprint: u for u in users}
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        # a tenant still accepting the legacy v1 payload (a sandbox switch, off by default)
        self.accept_v1 = False

    def certificate(self, encoded: str) -> x509.Certificate:
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad_header("Invalid header. Verify the header.") from exc
        try:
            if raw.lstrip().startswith(b"-----BEGIN"):
                return x509.load_pem_x509_certificate(raw)
            return x509.load_der_x509_certificate(raw)
        except ValueError as exc:
            raise _bad_header("Invalid header. Verify the header.") from exc

    def user_for(self, cert: x509.Certificate) -> AnaplanUser:
        try:
            cert.verify_directly_issued_by(self._ca)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise _bad_credential("Certificate is not issued by a trusted authority") from exc
        now = datetime.now(UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise _bad_credential("Certificate is expired or not yet valid")
        user = self._users.get(cert.fingerprint(hashes.SHA256()))
        if user is None:
            raise _bad_credential("Certificate is not registered to any user")
        return user

    def verify(self, cert: x509.Certificate, body: Any) -> None:
        if not isinstance(body, dict):
            raise _bad_credential("Request body must be a JSON object")
        fmt = body.get("encodedDataFormat")
        if fmt is None and not self.accept_v1:
            raise _bad_credential(
                'encodedDataFormat "v2" is required; the v1 certificate payload is no longer'
                " accepted"
            )
        if fmt is not None and fmt != "v2":
            raise _bad_credential(f"Unsupported encodedDataFormat {fmt!r}")
        try:
            message = base64.b64decode(str(body["encodedData"]), validate=True)
            signature = base64.b64decode(str(body["encodedSignedData"]), validate=True)
        except KeyError as exc:
            raise _bad_credential(f"Missing {exc.args[0]} in request body") from exc
        except (binascii.Error, ValueError) as exc:
            raise _bad_credential("encodedData and encodedSignedData must be base64") from exc
        if len(message) < MIN_MESSAGE_BYTES:
            raise _bad_credential(f"encodedData must be at least {MIN_MESSAGE_BYTES} bytes")
        if fmt == "v2":
            stamp = int.from_bytes(message[:8], "big")
            if abs(stamp - time.time()) > MAX_SKEW_S:
                raise _bad_credential("encodedData timestamp is outside the accepted window")
        public_key = cert.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise _bad_credential("Certificate key must be RSA")
        try:
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA512())
        except InvalidSignature as exc:
            raise _bad_credential("Signature verification failed") from exc
        digest = hashlib.sha256(message).digest()
        if digest in self._seen:
            raise _bad_credential("encodedData was already used; sign a fresh message")
        self._seen[digest] = None
        while len(self._seen) > _SEEN_MESSAGES_KEPT:
            self._seen.popitem(last=False)
