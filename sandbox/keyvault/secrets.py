"""The vault's secrets: named, versioned values with Key Vault's attribute bundle.

Preloaded at start-up with the credentials the connector needs, under fixed names the connector's
configuration refers to. Every ``set`` adds a version; the newest enabled one is "current".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sandbox.common.clock import SimClock
from sandbox.common.context import SandboxContext
from sandbox.common.credentials import credentials

BC_CLIENT_SECRET = "bc-client-secret"
ANAPLAN_PASSWORD = "anaplan-password"
ANAPLAN_CERTIFICATE = "anaplan-certificate"
ANAPLAN_PRIVATE_KEY = "anaplan-private-key"
BC_WEBHOOK_CLIENT_STATE = "bc-webhook-client-state"
RECOVERY_LEVEL = "Recoverable+Purgeable"
RECOVERABLE_DAYS = 90


@dataclass(frozen=True)
class SecretVersion:
    name: str
    version: str
    value: str
    content_type: str | None
    created: int  # epoch seconds, as Key Vault reports them
    tags: dict[str, str] = field(default_factory=dict)

    def attributes(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "created": self.created,
            "updated": self.created,
            "recoveryLevel": RECOVERY_LEVEL,
            "recoverableDays": RECOVERABLE_DAYS,
        }


@dataclass
class SecretStore:
    clock: SimClock
    _versions: dict[str, list[SecretVersion]] = field(default_factory=dict)

    def set(
        self,
        name: str,
        value: str,
        content_type: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> SecretVersion:
        version = SecretVersion(
            name, uuid.uuid4().hex, value, content_type, int(self.clock.time()), dict(tags or {})
        )
        self._versions.setdefault(name.lower(), []).append(version)
        return version

    def current(self, name: str) -> SecretVersion | None:
        versions = self._versions.get(name.lower())
        return versions[-1] if versions else None

    def version(self, name: str, version: str) -> SecretVersion | None:
        for candidate in self._versions.get(name.lower(), []):
            if candidate.version == version.lower():
                return candidate
        return None

    def versions(self, name: str) -> list[SecretVersion]:
        return list(self._versions.get(name.lower(), []))

    def names(self) -> list[SecretVersion]:
        """The current version of every secret, in name order."""
        return [v[-1] for _, v in sorted(self._versions.items())]


def preloaded_store(ctx: SandboxContext) -> SecretStore:
    creds = credentials(ctx.seed)
    store = SecretStore(ctx.clock)
    store.set(BC_CLIENT_SECRET, creds.client_secret)
    store.set(ANAPLAN_PASSWORD, creds.anaplan_password)
    store.set(
        ANAPLAN_CERTIFICATE,
        ctx.tls.anaplan_cert_path.read_text(),
        content_type="application/x-pem-file",
    )
    store.set(
        ANAPLAN_PRIVATE_KEY,
        ctx.tls.anaplan_key_path.read_text(),
        content_type="application/x-pem-file",
    )
    store.set(BC_WEBHOOK_CLIENT_STATE, creds.webhook_client_state)
    return store
