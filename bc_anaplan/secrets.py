"""Named secrets, read from Azure Key Vault when one is configured, else from the environment.

The connector needs a handful of secrets (``SECRETS``). In Azure they live in Key Vault and are
read with ``SecretClient`` and ``DefaultAzureCredential`` (the app's managed identity); locally,
an environment variable holds the value, or ``<NAME>_FILE`` names a file that does (handy for
PEM certificates, which do not fit in one line).

Values are cached in memory for ``SECRET_CACHE_TTL_SECONDS`` so that a rotated secret is picked
up without a restart, registered with the log redaction as soon as they are read, and never put
into exception messages: errors name the secret and where it was looked for, not its value.
Secrets that sit in the environment are masked from start-up, before anything reads them
(``register_environment_secrets``, called by ``bc_anaplan.logs.configure_logging``): a value
that is only read late, or never (``AZURE_CLIENT_SECRET`` is handed to azure-identity), would
otherwise reach a log line unmasked.

Where the Key Vault identity comes from is configuration (``AZURE_*`` in ``bc_anaplan.config``);
this module reads the environment only for secret values.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from bc_anaplan import redaction
from bc_anaplan.config import SECRET_SETTING_NAMES, Settings


@dataclass(frozen=True)
class SecretSpec:
    key: str  # how the code asks for it
    vault_name: str  # Key Vault secret name
    env_name: str  # environment variable when no Key Vault is configured
    meaning: str


SECRETS: tuple[SecretSpec, ...] = (
    SecretSpec(
        "bc_client_secret",
        "bc-client-secret",
        "BC_CLIENT_SECRET",
        "client secret of the Entra app registration used for Business Central",
    ),
    SecretSpec(
        "anaplan_password",
        "anaplan-password",
        "ANAPLAN_PASSWORD",
        "password of the Anaplan integration user (basic authentication)",
    ),
    SecretSpec(
        "anaplan_certificate",
        "anaplan-certificate",
        "ANAPLAN_CERTIFICATE",
        "PEM certificate of the Anaplan integration user (certificate authentication)",
    ),
    SecretSpec(
        "anaplan_private_key",
        "anaplan-private-key",
        "ANAPLAN_PRIVATE_KEY",
        "PEM private key matching the Anaplan certificate",
    ),
    SecretSpec(
        "bc_webhook_client_state",
        "bc-webhook-client-state",
        "BC_WEBHOOK_CLIENT_STATE",
        "shared secret BC echoes in every webhook notification (clientState)",
    ),
    SecretSpec(
        "ops_webhook_url",
        "ops-webhook-url",
        "OPS_WEBHOOK_URL",
        "Teams or Slack incoming-webhook URL that run notifications are posted to "
        "(it embeds a token)",
    ),
)
_BY_KEY = {s.key: s for s in SECRETS}


class SecretError(Exception):
    """A secret could not be read. The message names the secret, never its value."""


class SecretMissing(SecretError):
    """The secret is not there at all (no variable or file; Key Vault answered 404).

    For optional secrets, such as the ops webhook URL: absent means "not configured".
    """


VaultReader = Callable[[str], str]


def register_environment_secrets(environ: Mapping[str, str]) -> None:
    """Mask every secret value the environment holds, whether or not it is ever read.

    That is each ``SECRETS`` variable (or the content of the file its ``<NAME>_FILE`` names) and
    every secret-valued setting (``AZURE_CLIENT_SECRET``). Unreadable files are skipped here;
    ``SecretStore`` reports them when the secret is needed.
    """
    for name in sorted(SECRET_SETTING_NAMES) + [s.env_name for s in SECRETS]:
        redaction.register_secret(environ.get(name, "").strip())
        file_name = environ.get(name + "_FILE", "").strip()
        if file_name:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                redaction.register_secret(Path(file_name).read_text(encoding="utf-8").strip())


def key_vault_reader(settings: Settings) -> VaultReader:
    """Read secrets from the configured Key Vault with the app's Azure identity.

    In Azure that identity is the Function App's managed identity (``DefaultAzureCredential``).
    Where no managed identity exists (a developer machine, the local sandbox) the Azure SDK's
    documented variables ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID`` and ``AZURE_CLIENT_SECRET``
    (and optionally ``AZURE_AUTHORITY_HOST``) select a service principal instead; they are
    settings (``settings.secrets``), read and validated with the others.
    """
    from azure.identity import ClientSecretCredential, DefaultAzureCredential
    from azure.keyvault.secrets import SecretClient

    vault_url = settings.secrets.key_vault_url
    assert vault_url is not None
    transport: dict[str, Any] = {}
    if settings.http.ca_bundle:
        transport["connection_verify"] = settings.http.ca_bundle
    identity = settings.secrets
    authority = identity.azure_authority_host or settings.bc.authority_host
    # Outside the public cloud (sovereign clouds, the local sandbox) MSAL must not ask
    # login.microsoftonline.com to validate the authority.
    private_authority = authority.rstrip("/") != "https://login.microsoftonline.com"
    credential: Any
    if identity.azure_client_secret:
        credential = ClientSecretCredential(
            identity.azure_tenant_id or settings.bc.tenant_id,
            identity.azure_client_id or settings.bc.client_id,
            identity.azure_client_secret,
            authority=authority,
            disable_instance_discovery=private_authority,
            **transport,
        )
    else:
        credential = DefaultAzureCredential(
            exclude_interactive_browser_credential=True,
            disable_instance_discovery=private_authority,
            **transport,
        )
    client = SecretClient(
        vault_url,
        credential,
        # a vault outside a ".vault." domain (the sandbox) cannot pass the SDK's check that the
        # challenge's resource matches the vault host
        verify_challenge_resource=".vault." in (urlsplit(vault_url).hostname or ""),
        **transport,
    )

    def read(name: str) -> str:
        value = client.get_secret(name).value
        if value is None:
            raise SecretError(f"secret {name} in Key Vault {vault_url} has no value")
        return str(value)

    return read


def _rejected_credentials(exc: Exception) -> bool:
    return (
        type(exc).__name__ == "ClientAuthenticationError"
        or getattr(exc, "status_code", None) == 401
    )


class SecretStore:
    """Looks secrets up by key, with an in-memory TTL cache. Thread-safe."""

    def __init__(
        self,
        settings: Settings,
        *,
        vault_reader: VaultReader | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._vault_url = settings.secrets.key_vault_url
        self._ttl = settings.secrets.cache_ttl_s
        self._environ = os.environ if environ is None else environ
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._vault_reader = vault_reader
        self._settings = settings

    def get(self, key: str) -> str:
        spec = _BY_KEY.get(key)
        if spec is None:
            raise SecretError(f"unknown secret {key!r}; known: {', '.join(_BY_KEY)}")
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached[1] > now:
                return cached[0]
        value = self._read(spec)
        redaction.register_secret(value)
        with self._lock:
            self._cache[key] = (value, now + self._ttl)
        return value

    def _read(self, spec: SecretSpec) -> str:
        if self._vault_url:
            return self._read_vault(spec)
        return self._read_environment(spec)

    def _read_vault(self, spec: SecretSpec) -> str:
        try:
            return self._vault_once(spec)
        except SecretError:
            raise
        except Exception as exc:
            if not _rejected_credentials(exc):
                return self._explain(spec, exc)
        # The vault refused the identity's token before its expiry (revoked, clock skew): the
        # credential would keep offering the cached one for up to an hour, so start afresh.
        self._vault_reader = None
        try:
            return self._vault_once(spec)
        except SecretError:
            raise
        except Exception as exc:
            return self._explain(spec, exc)

    def _vault_once(self, spec: SecretSpec) -> str:
        if self._vault_reader is None:
            self._vault_reader = key_vault_reader(self._settings)
        return self._vault_reader(spec.vault_name)

    def _explain(self, spec: SecretSpec, exc: Exception) -> NoReturn:
        """A SecretError naming the secret; the SDK's message may carry response details, so
        only its type and status are kept."""
        status = getattr(exc, "status_code", None)
        detail = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
        raise (SecretMissing if status == 404 else SecretError)(
            f"secret {spec.vault_name} ({spec.meaning}) could not be read from Key Vault "
            f"{self._vault_url}: {detail}"
        ) from None

    def _read_environment(self, spec: SecretSpec) -> str:
        value = self._environ.get(spec.env_name, "")
        if value.strip():
            return value.strip()
        file_name = self._environ.get(spec.env_name + "_FILE", "").strip()
        if file_name:
            try:
                return Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SecretError(
                    f"secret {spec.env_name}_FILE names {file_name}, which cannot be read "
                    f"({exc.strerror})"
                ) from None
        raise SecretMissing(
            f"secret {spec.env_name} is missing: expected {spec.meaning} in the environment "
            f"(or a file named by {spec.env_name}_FILE), or set KEY_VAULT_URL"
        )

    def forget(self, key: str) -> None:
        """Drop a cached value, e.g. after the service rejected it (it may have rotated)."""
        with self._lock:
            self._cache.pop(key, None)
