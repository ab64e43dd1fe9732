"""Entra ID client credentials for Business Central: one MSAL app per process, tokens reused.

``BcAuth`` is the ``Auth`` of the BC ``ResilientClient``. It asks a process-wide MSAL
``ConfidentialClientApplication`` (one per authority and client id, created under a lock) for a
token on every request; MSAL answers from its cache until five minutes before expiry, so a
worker fetches a token about once an hour, never once per request. Every token is registered
with the log redaction as it is handed out.

When BC answers 401 the HTTP layer calls ``invalidate()``, which removes the cached access
tokens from MSAL's cache itself (``acquire_token_for_client`` has no ``force_refresh``), so the
single retry really gets a new token. BC may reject a token MSAL still thinks valid: revoked,
or expired on a clock that runs ahead (the sandbox's simulated clock does exactly that).

MSAL's token and discovery calls go through the same resilient layer (``MsalHttp``): same
retries with Retry-After, same rate limiter and CA bundle, same redacted logging. That is also
why ``REQUESTS_CA_BUNDLE`` plays no part here: ``requests`` is never used.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
import msal

from bc_anaplan.bc.errors import decode_entra_error
from bc_anaplan.config import Settings
from bc_anaplan.http import ApiSpec, ResilientClient
from bc_anaplan.redaction import register_secret
from bc_anaplan.secrets import SecretStore

BC_SCOPE = "https://api.businesscentral.dynamics.com/.default"
PUBLIC_CLOUD_HOST = "https://login.microsoftonline.com"
# Entra answers these with an OAuth error body that MSAL turns into an error result; anything
# else (429, 5xx, transport) is retried by the HTTP layer first.
_IDP_ANSWERS = frozenset({400, 401, 403, 404})


class MsalHttp:
    """MSAL's ``http_client`` interface (``post``/``get``/``close``) on the resilient layer."""

    def __init__(self, client: ResilientClient) -> None:
        self._client = client

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        **_: Any,
    ) -> httpx.Response:
        body = urlencode(data) if isinstance(data, Mapping) else (data or "")
        return self._client.request(
            "POST",
            url,
            idempotent=True,  # asking for another token is harmless
            expected=_IDP_ANSWERS,
            params=params,
            content=body.encode("utf-8") if isinstance(body, str) else body,
            headers={**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"},
        )

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **_: Any,
    ) -> httpx.Response:
        return self._client.request(
            "GET", url, expected=_IDP_ANSWERS, params=params, headers=headers
        )

    def close(self) -> None:
        """The pooled ``httpx`` client is shared by the process; nothing to close here."""


_apps: dict[tuple[str, str], tuple[str, msal.ConfidentialClientApplication]] = {}
_apps_lock = threading.Lock()


def confidential_app(
    settings: Settings, secret: str, http: MsalHttp | None = None
) -> msal.ConfidentialClientApplication:
    """The process-wide MSAL app for this authority and client id.

    A rotated secret (the secret store hands out a new value) replaces the app, and with it the
    cached token, which was issued against the old secret.
    """
    authority = f"{settings.bc.authority_host.rstrip('/')}/{settings.bc.tenant_id}"
    key = (authority.lower(), settings.bc.client_id)
    fingerprint = hashlib.sha256(secret.encode("utf-8")).hexdigest()
    with _apps_lock:
        cached = _apps.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        public = settings.bc.authority_host.rstrip("/").lower() == PUBLIC_CLOUD_HOST
        app = msal.ConfidentialClientApplication(
            settings.bc.client_id,
            client_credential=secret,
            authority=authority,
            # outside the public cloud (sovereign clouds, the sandbox) MSAL must not ask
            # login.microsoftonline.com to validate the authority
            instance_discovery=public,
            http_client=http or MsalHttp(entra_client(settings)),
        )
        _apps[key] = (fingerprint, app)
        return app


def forget_apps() -> None:
    """Drop every MSAL app of the process (tests that switch sandboxes call this)."""
    with _apps_lock:
        _apps.clear()


def entra_client(settings: Settings) -> ResilientClient:
    spec = ApiSpec("entra", settings.bc.authority_host, rate_limit_per_minute=600)
    return ResilientClient(spec, settings.http)


class BcAuth:
    """Bearer tokens for BC from MSAL's cache; ``invalidate()`` evicts them (see module doc)."""

    def __init__(self, settings: Settings, secrets: SecretStore) -> None:
        self._settings = settings
        self._secrets = secrets
        self._lock = threading.Lock()

    def _app(self) -> msal.ConfidentialClientApplication:
        return confidential_app(self._settings, self._secrets.get("bc_client_secret"))

    def token(self) -> str:
        app = self._app()
        with self._lock:  # one token request at a time on a cache miss, not one per thread
            result = app.acquire_token_for_client(scopes=[BC_SCOPE])
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            raise self._refused(result)
        register_secret(token)
        return str(token)

    def _refused(self, result: Any) -> Exception:
        body = result if isinstance(result, dict) else {"error": "unknown"}
        status = 401 if body.get("error") == "invalid_client" else 400
        if status == 401:
            # the secret may have been rotated in Key Vault: read it again next time
            self._secrets.forget("bc_client_secret")
        return decode_entra_error(status, body)

    def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def invalidate(self) -> None:
        """Remove this app's cached BC access tokens so that the next request gets a new one.

        Threads sharing the app may lose a token another thread just fetched: that costs at
        most one extra token request, never a failed call.
        """
        app = self._app()
        cache = app.token_cache
        with self._lock:
            stale = list(
                cache.search(
                    msal.TokenCache.CredentialType.ACCESS_TOKEN,
                    target=[BC_SCOPE],
                    query={"client_id": self._settings.bc.client_id},
                )
            )
            for entry in stale:
                cache.remove_at(entry)
