"""Anaplan authentication tokens: issued, refreshed (same value, later expiry), revoked.

Lifetime is 35 minutes on the simulated clock, so a test can expire a token by moving the clock.
Token values are opaque base64 text including ``+``, ``/`` and ``=``, like real ones, so a client
that mangles them in a header finds out.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from sandbox.anaplan.ids import new_token_uuid
from sandbox.anaplan.users import AnaplanUser
from sandbox.common.clock import SimClock

TOKEN_LIFETIME_S = 35 * 60


@dataclass
class IssuedToken:
    value: str
    token_id: str
    refresh_token_id: str
    user: AnaplanUser
    expires_at: float  # simulated epoch seconds
    revoked: bool = False

    @property
    def expires_at_ms(self) -> int:
        return int(self.expires_at * 1000)

    def info(self) -> dict[str, object]:
        return {
            "tokenId": self.token_id,
            "tokenValue": self.value,
            "expiresAt": self.expires_at_ms,
            "refreshTokenId": self.refresh_token_id,
        }


class TokenStore:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._tokens: dict[str, IssuedToken] = {}

    def issue(self, user: AnaplanUser) -> IssuedToken:
        self._drop_expired()
        value = base64.b64encode(secrets.token_bytes(64)).decode()
        token = IssuedToken(
            value=value,
            token_id=new_token_uuid(),
            refresh_token_id=new_token_uuid(),
            user=user,
            expires_at=self.clock.time() + TOKEN_LIFETIME_S,
        )
        self._tokens[value] = token
        return token

    def valid(self, value: str) -> IssuedToken | None:
        """The token if it exists, is not revoked and has not expired."""
        token = self._tokens.get(value)
        if token is None or token.revoked or self.clock.time() >= token.expires_at:
            return None
        return token

    def refresh(self, token: IssuedToken) -> None:
        token.expires_at = self.clock.time() + TOKEN_LIFETIME_S

    def revoke(self, token: IssuedToken) -> None:
        token.revoked = True

    def _drop_expired(self) -> None:
        now = self.clock.time()
        # keep revoked and expired tokens an hour, then forget them (bounded memory)
        for value in [v for v, t in self._tokens.items() if now - t.expires_at > 3600]:
            del self._tokens[value]
