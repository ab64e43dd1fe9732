"""The sandbox tenant's identities and credentials, deterministic from the seed.

Entra ID, Business Central, Key Vault and Anaplan all agree on these values: Entra issues tokens
to the client id/secret, Key Vault is preloaded with the secrets, Anaplan accepts the user and
password. They are test credentials of a local simulator, printed on the JSON line on purpose.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class SandboxCredentials:
    tenant_id: str
    environment: str
    client_id: str
    client_secret: str
    anaplan_user: str
    anaplan_password: str
    webhook_client_state: str


@cache
def credentials(seed: int) -> SandboxCredentials:
    rng = random.Random(f"credentials:{seed}")

    def secret(label: str) -> str:
        return hashlib.sha256(f"{label}:{rng.getrandbits(128)}".encode()).hexdigest()[:40]

    return SandboxCredentials(
        tenant_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        environment="Production",
        client_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        client_secret="sbx~" + secret("bc"),
        anaplan_user="integration.user@cronus-manufacturing.example",
        anaplan_password="sbx-" + secret("anaplan"),
        webhook_client_state="sbx-" + secret("webhook"),
    )
