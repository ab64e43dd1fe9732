"""Access tokens issued by the simulated Entra ID and validated by BC and Key Vault.

The real services validate a signed JWT against Entra's keys; here Entra, Business Central and
Key Vault live in one process, so the token store is simply shared through ``ctx.shared``: a
token is valid when this store issued it, it has not expired on the *simulated* clock, and its
audience is the resource the caller serves. That keeps the two checks a client can get wrong
(expiry and audience) exactly as strict as the real services, without key management.

Tokens are still JWT-shaped (``header.payload.signature``, base64url) with the claims Entra puts
in an app-only token, so a client that decodes them for logging sees realistic content.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field

from sandbox.common.clock import SimClock
from sandbox.common.context import SandboxContext

BC_RESOURCE = "https://api.businesscentral.dynamics.com"
VAULT_RESOURCE = "https://vault.azure.net"
# resource -> app roles granted to the sandbox's app registration for it
RESOURCES: dict[str, tuple[str, ...]] = {
    BC_RESOURCE: ("API.ReadWrite.All", "Automation.ReadWrite.All"),
    VAULT_RESOURCE: (),
}
TOKEN_LIFETIME_S = 3599
_SHARED_KEY = "entra.tokens"


@dataclass(frozen=True)
class Principal:
    """Who a token was issued to: what BC throttles on and Key Vault authorises."""

    tenant_id: str
    client_id: str
    object_id: str


@dataclass(frozen=True)
class IssuedToken:
    principal: Principal
    audience: str
    expires_at: float  # simulated epoch seconds


@dataclass(frozen=True)
class TokenCheck:
    """Outcome of validating a bearer token: a principal, or the reason it was refused."""

    principal: Principal | None
    reason: str = ""  # "missing", "unknown", "expired", "audience"
    audience: str = ""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class TokenStore:
    clock: SimClock
    _signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _tokens: dict[str, IssuedToken] = field(default_factory=dict)

    def issue(self, principal: Principal, audience: str, issuer: str) -> tuple[str, int]:
        """A new access token for ``audience``; returns ``(token, expires_in)``."""
        now = self.clock.time()
        self._forget_expired(now)
        claims = {
            "aud": audience,
            "iss": issuer,
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + TOKEN_LIFETIME_S,
            "appid": principal.client_id,
            "appidacr": "1",
            "idp": issuer,
            "oid": principal.object_id,
            "roles": list(RESOURCES.get(audience, ())),
            "sub": principal.object_id,
            "tid": principal.tenant_id,
            "uti": _b64url(secrets.token_bytes(16)),
            "ver": "1.0",
        }
        header = _b64url(json.dumps({"typ": "JWT", "alg": "HS256", "kid": "sandbox"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = _b64url(hmac.new(self._signing_key, signing_input, hashlib.sha256).digest())
        token = f"{header}.{payload}.{signature}"
        self._tokens[token] = IssuedToken(principal, audience, now + TOKEN_LIFETIME_S)
        return token, TOKEN_LIFETIME_S

    def check(self, authorization: str | None, audience: str) -> TokenCheck:
        """Validate an ``Authorization`` header for the service whose resource is ``audience``."""
        if not authorization:
            return TokenCheck(None, "missing")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return TokenCheck(None, "missing")
        issued = self._tokens.get(token.strip())
        if issued is None:
            return TokenCheck(None, "unknown")
        if self.clock.time() >= issued.expires_at:
            return TokenCheck(None, "expired", issued.audience)
        if issued.audience != audience:
            return TokenCheck(None, "audience", issued.audience)
        return TokenCheck(issued.principal)

    def _forget_expired(self, now: float) -> None:
        # Expired tokens are kept a day so that "expired" and "unknown" stay distinguishable.
        stale = [t for t, i in self._tokens.items() if now - i.expires_at > 86_400]
        for token in stale:
            del self._tokens[token]


def token_store(ctx: SandboxContext) -> TokenStore:
    """The process-wide token store, created on first use whichever service asks first."""
    store = ctx.shared.get(_SHARED_KEY)
    if store is None:
        store = TokenStore(ctx.clock)
        ctx.shared[_SHARED_KEY] = store
    return store


def service_principal_id(tenant_id: str, client_id: str) -> str:
    """The enterprise application's object id: stable for a tenant and an app."""
    return str(uuid.uuid5(uuid.UUID(tenant_id), f"serviceprincipal:{client_id}"))
