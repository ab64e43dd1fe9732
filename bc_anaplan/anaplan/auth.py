"""Anaplan tokens: one per process and credential set, reused, refreshed before it runs out.

Anaplan issues an ``AnaplanAuthToken`` valid for 35 minutes and warns that minting a token per
call can make requests fail. So the token lives in a module-level slot keyed by the auth URL and
the credential set, shared by every client object and thread of the worker:

* the first caller logs in while the others wait on the slot's lock (no stampede of logins);
  a login whose answer is lost is repeated with a freshly signed message, never replayed;
* when less than five minutes are left, the next caller refreshes it with ``/token/refresh``
  (same token value, later ``expiresAt``) and, if that fails for any reason, logs in afresh;
* a 401 from the Integration API means the server no longer accepts the token: the HTTP layer
  calls ``invalidate()``, which drops the token *this thread* sent (not one another thread has
  already replaced), and the request is replayed once with a new one.

Expiry is judged by the server's ``expiresAt`` minus a safety margin against an injectable clock.
Logins come in two kinds: ``Authorization: Basic`` with user and password, or a CA certificate:
the header carries the base64 of the PEM text and the body a fresh message signed with the
private key (RSASSA-PKCS1-v1_5, SHA-512). Since June 2026 Anaplan requires the ``v2`` message,
8 bytes of big-endian epoch seconds then random bytes; the legacy ``v1`` message (random bytes
only) remains selectable with ``ANAPLAN_CERT_FORMAT=v1``. Every token and signature is registered
with the log redaction the moment it exists.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bc_anaplan import redaction
from bc_anaplan.anaplan.errors import AUTH_API, AnaplanAuthError, ProtocolError, decode_auth_error
from bc_anaplan.config import ConfigError, Settings
from bc_anaplan.http import ApiSpec, OutcomeUnknownError, ResilientClient
from bc_anaplan.secrets import SecretStore

log = logging.getLogger("bc_anaplan.anaplan.auth")

TOKEN_LIFETIME_S = 35 * 60
REFRESH_WHEN_LEFT_S = 5 * 60
# a token this close to expiresAt is treated as expired: clocks differ, requests take time
EXPIRY_MARGIN_S = 30.0
V2_MESSAGE_BYTES = 100  # 8 bytes of timestamp + 92 random bytes, the common layout
V1_MESSAGE_BYTES = 150

CertFormat = Literal["v2", "v1"]


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float  # epoch seconds, from the server's expiresAt (milliseconds)
    token_id: str | None = None


class Credentials(Protocol):
    """What a login sends. ``identity`` names the credential set (no secret in it)."""

    @property
    def identity(self) -> str: ...

    def login_request(self) -> tuple[dict[str, str], dict[str, str] | None]: ...


@dataclass(frozen=True)
class BasicCredentials:
    user: str
    password: str

    @property
    def identity(self) -> str:
        digest = hashlib.sha256(f"{self.user}\0{self.password}".encode()).hexdigest()[:16]
        return f"basic:{self.user}:{digest}"

    def login_request(self) -> tuple[dict[str, str], dict[str, str] | None]:
        pair = base64.b64encode(f"{self.user}:{self.password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}, None


class CertificateCredentials:
    """A CA certificate and its RSA private key; each login signs a fresh message."""

    def __init__(
        self,
        certificate_pem: str,
        private_key_pem: str,
        cert_format: CertFormat = "v2",
        *,
        clock: Callable[[], float] = time.time,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._certificate_pem = certificate_pem.strip() + "\n"
        self._key = _load_private_key(private_key_pem)
        _check_pair(self._certificate_pem, self._key)
        self.cert_format = cert_format
        self._clock = clock
        self._random = random_bytes
        self._header = "CACertificate " + base64.b64encode(
            self._certificate_pem.encode("ascii")
        ).decode("ascii")

    @property
    def identity(self) -> str:
        digest = hashlib.sha256(self._certificate_pem.encode()).hexdigest()[:16]
        return f"certificate:{self.cert_format}:{digest}"

    def message(self) -> bytes:
        """The bytes to sign: v2 = 8-byte big-endian epoch seconds + random; v1 = random."""
        if self.cert_format == "v1":
            return self._random(V1_MESSAGE_BYTES)
        return struct.pack(">Q", int(self._clock())) + self._random(V2_MESSAGE_BYTES - 8)

    def login_request(self) -> tuple[dict[str, str], dict[str, str] | None]:
        message = self.message()
        signature = self._key.sign(message, padding.PKCS1v15(), hashes.SHA512())
        body = {
            "encodedData": base64.b64encode(message).decode("ascii"),
            "encodedSignedData": base64.b64encode(signature).decode("ascii"),
        }
        redaction.register_secret(body["encodedSignedData"])
        if self.cert_format == "v2":
            body = {"encodedDataFormat": "v2", **body}
        return {"Authorization": self._header, "Content-Type": "application/json"}, body


def _load_private_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ConfigError(
            "secret anaplan-private-key is not an unencrypted PEM private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("secret anaplan-private-key must be an RSA key (Anaplan signs with RSA)")
    return key


def _check_pair(certificate_pem: str, key: rsa.RSAPrivateKey) -> None:
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError("secret anaplan-certificate is not a PEM certificate") from None
    public = certificate.public_key()
    if not isinstance(public, rsa.RSAPublicKey) or (
        public.public_numbers() != key.public_key().public_numbers()
    ):
        raise ConfigError(
            "secrets anaplan-certificate and anaplan-private-key do not belong together"
        )


def credentials_from(settings: Settings, secrets: SecretStore) -> Credentials:
    """The credential set the settings select, with values from the secret store.

    The v2 timestamp is always real time: Anaplan checks it against its own wall clock, whatever
    clock judges token expiry here.
    """
    anaplan = settings.anaplan
    if anaplan.auth_mode == "basic":
        assert anaplan.user is not None  # load_settings requires it for basic
        return BasicCredentials(anaplan.user, secrets.get("anaplan_password"))
    return CertificateCredentials(
        secrets.get("anaplan_certificate"),
        secrets.get("anaplan_private_key"),
        anaplan.cert_format,
    )


class _Slot:
    """The process-wide token of one credential set, and who may touch it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: Token | None = None
        self.sent = threading.local()  # the token value each thread last put in a header
        self.logins = 0
        self.refreshes = 0


_slots: dict[str, _Slot] = {}
_slots_lock = threading.Lock()


def _slot(key: str) -> _Slot:
    with _slots_lock:
        slot = _slots.get(key)
        if slot is None:
            slot = _slots[key] = _Slot()
        return slot


def forget_all_tokens() -> None:
    """Drop every cached token of the process (tests; never needed in a run)."""
    with _slots_lock:
        _slots.clear()


def parse_token(body: Any) -> Token:
    """The token in an authenticate/refresh answer; unknown fields are ignored."""
    if not isinstance(body, dict) or body.get("status") != "SUCCESS":
        status = body.get("status") if isinstance(body, dict) else None
        message = body.get("statusMessage") if isinstance(body, dict) else None
        raise AnaplanAuthError(AUTH_API, 200, str(message or "login not successful"), code=status)
    info = body.get("tokenInfo")
    if not isinstance(info, dict):
        raise ProtocolError("Anaplan auth answer has no tokenInfo")
    value, expires = info.get("tokenValue"), info.get("expiresAt")
    if not isinstance(value, str) or not value or not isinstance(expires, int | float):
        raise ProtocolError("Anaplan auth answer lacks tokenInfo.tokenValue or expiresAt")
    redaction.register_secret(value)
    if isinstance(info.get("refreshToken"), str):  # announced by Anaplan, unused here
        redaction.register_secret(info["refreshToken"])
    token_id = info.get("tokenId") if isinstance(info.get("tokenId"), str) else None
    return Token(value, float(expires) / 1000.0, token_id)


def auth_spec(settings: Settings) -> ApiSpec:
    return ApiSpec(
        AUTH_API,
        settings.anaplan.auth_url,
        settings.anaplan.rate_limit_per_minute,
        decode_auth_error,
    )


class AnaplanAuth:
    """The ``Auth`` of the Integration API client: headers with a live token, re-login on 401."""

    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        *,
        clock: Callable[[], float] = time.time,
        client: ResilientClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._clock = clock
        self._sleep = sleep
        self._client = client or ResilientClient(auth_spec(settings), settings.http)
        self._slot = _slot(f"{settings.anaplan.auth_url}|{credentials.identity}")

    # -- the Auth protocol of bc_anaplan.http --------------------------------------------------
    def headers(self) -> Mapping[str, str]:
        token = self.token()
        self._slot.sent.value = token.value
        return {"Authorization": f"AnaplanAuthToken {token.value}"}

    def invalidate(self) -> None:
        """The server rejected the token this thread sent: forget it (if nobody replaced it)."""
        sent = getattr(self._slot.sent, "value", None)
        with self._slot.lock:
            current = self._slot.token
            if current is not None and (sent is None or current.value == sent):
                log.info("Anaplan rejected the token; logging in again")
                self._slot.token = None

    # -- token life cycle ------------------------------------------------------------------------
    def token(self) -> Token:
        """A token with more than five minutes left (refreshing or logging in as needed)."""
        slot = self._slot
        with slot.lock:
            token, now = slot.token, self._clock()
            if token is None or now >= token.expires_at - EXPIRY_MARGIN_S:
                token = self._login()
            elif token.expires_at - now < REFRESH_WHEN_LEFT_S:
                token = self._refresh_or_login(token)
            slot.token = token
            return token

    @property
    def logins(self) -> int:
        return self._slot.logins

    @property
    def refreshes(self) -> int:
        return self._slot.refreshes

    def _login(self) -> Token:
        """Log in; a retry after a lost answer signs a fresh message (Anaplan refuses replays)."""
        attempts = max(1, self._settings.http.max_attempts)
        for attempt in range(1, attempts + 1):
            headers, body = self._credentials.login_request()
            try:
                response = self._client.request(
                    "POST",
                    "/token/authenticate",
                    # not replayed by the HTTP layer: the same signed message would be refused
                    idempotent=False,
                    content=orjson.dumps(body) if body is not None else None,
                    headers=headers,
                )
            except OutcomeUnknownError:  # a second login only mints another token: harmless
                if attempt == attempts:
                    raise
                self._sleep(self._client.backoff(attempt))
                continue
            token = parse_token(_body(response.content))
            self._slot.logins += 1
            log.info(
                "logged in to Anaplan; token expires in %.0f s", token.expires_at - self._clock()
            )
            return token
        raise AssertionError("unreachable")

    def _refresh_or_login(self, token: Token) -> Token:
        try:
            response = self._client.request(
                "POST",
                "/token/refresh",
                # not retried: any failure falls back to a fresh login, which is retried
                idempotent=False,
                headers={"Authorization": f"AnaplanAuthToken {token.value}"},
            )
            refreshed = parse_token(_body(response.content))
        except Exception as exc:  # refresh is an optimisation; a login always works instead
            log.info("Anaplan token refresh failed (%s); logging in again", type(exc).__name__)
            return self._login()
        self._slot.refreshes += 1
        log.info(
            "refreshed the Anaplan token; now expires in %.0f s",
            refreshed.expires_at - self._clock(),
        )
        return refreshed

    def logout(self) -> bool:
        """Revoke the cached token on the server (at shutdown); False if none or it failed."""
        with self._slot.lock:
            token, self._slot.token = self._slot.token, None
        if token is None:
            return False
        try:
            self._client.request(
                "POST",
                "/token/logout",
                idempotent=True,
                headers={"Authorization": f"AnaplanAuthToken {token.value}"},
            )
        except Exception as exc:  # the token expires on its own within 35 minutes anyway
            log.warning("Anaplan logout failed: %s", type(exc).__name__)
            return False
        return True


def _body(content: bytes) -> Any:
    try:
        return orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        raise ProtocolError("Anaplan auth answer is not JSON") from None
