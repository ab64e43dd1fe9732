"""Typed configuration: app settings from the environment plus the pipeline file, validated once.

Every setting the connector reads is declared in ``SETTINGS`` (name, meaning, default), so the
README table, the Bicep consistency test and the loader cannot drift apart. ``load_settings()``
reads them all, checks them, loads the pipeline file (``bc_anaplan.pipeline``) and returns one
frozen ``Settings`` object. It checks everything before it complains: ``ConfigError`` is a single
line naming every setting that is missing or malformed and what is expected, so an operator fixes
a new Function App in one round instead of one setting per restart. Nothing deeper in a run reads
``os.environ`` for configuration.

Secrets are not settings: only their Key Vault location is, and secret values are read through
``bc_anaplan.secrets``. The one exception is ``AZURE_CLIENT_SECRET``, the service principal
that reads Key Vault where no managed identity exists (a developer machine, the sandbox): it is
declared here (``secret=True``) so that it is validated with the rest, masked in logs from
start-up, kept out of ``repr`` and never usable as ``${AZURE_CLIENT_SECRET}`` in the pipeline file.

Timer schedules are ``binding`` settings: the Functions host resolves ``%REFERENCE_SYNC_SCHEDULE%``
and the like itself, before any of this code runs, and has no default for an unset one. So they
must be set (Bicep sets the standard values given as ``default`` here; so does the sandbox's
``connector_env``), and a missing one is reported like a missing required setting instead of being
quietly defaulted here while the host refuses to index the timer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from bc_anaplan.pipeline import Pipeline, load_pipelines

APP_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """Settings or the pipeline file are missing or invalid. The message is one line.

    ``problems`` holds one message per setting at fault; the message is that one message, or all
    of them joined with ``; ``.
    """

    def __init__(self, *problems: str) -> None:
        self.problems = problems
        if len(problems) == 1:
            super().__init__(problems[0])
        else:
            super().__init__(f"{len(problems)} configuration problems: " + "; ".join(problems))


@dataclass(frozen=True)
class Setting:
    name: str
    meaning: str
    # the value used when unset; for a binding setting, the standard value Bicep sets
    default: str | None = None
    # the operator must give it (Bicep: a parameter without a default)
    required: bool = False
    # the Functions host reads it through ``%NAME%`` in a binding: must be set, never defaulted
    binding: bool = False
    # holds a credential: masked in logs, not referencable from the pipeline file
    secret: bool = False


# Every app setting the connector reads. Order = README order.
SETTINGS: tuple[Setting, ...] = (
    # Business Central and Entra ID
    Setting(
        "BC_TENANT_ID",
        "Entra ID tenant id (GUID) of the Business Central environment",
        required=True,
    ),
    Setting("BC_ENVIRONMENT", "Business Central environment name, e.g. Production", required=True),
    Setting(
        "BC_CLIENT_ID",
        "application (client) id of the Entra app registration for BC",
        required=True,
    ),
    Setting(
        "BC_COMPANY_ID", "BC company id (GUID), referenced from connector.toml as ${BC_COMPANY_ID}"
    ),
    Setting(
        "BC_API_BASE_URL", "Business Central API host", "https://api.businesscentral.dynamics.com"
    ),
    Setting("ENTRA_AUTHORITY_HOST", "Entra ID authority host", "https://login.microsoftonline.com"),
    Setting("BC_RATE_LIMIT_PER_MINUTE", "client-side request budget towards BC per process", "600"),
    # Anaplan
    Setting("ANAPLAN_AUTH_URL", "Anaplan authentication API host", "https://auth.anaplan.com"),
    Setting(
        "ANAPLAN_API_URL",
        "Anaplan Integration API host (paths start /2/0)",
        "https://api.anaplan.com",
    ),
    Setting("ANAPLAN_WORKSPACE_ID", "Anaplan workspace id, referenced from connector.toml"),
    Setting("ANAPLAN_MODEL_ID", "Anaplan model id, referenced from connector.toml"),
    Setting("ANAPLAN_AUTH_MODE", "basic or certificate", "basic"),
    Setting("ANAPLAN_USER", "Anaplan integration user (required for basic auth)"),
    Setting(
        "ANAPLAN_CERT_FORMAT", "certificate login payload: v2 (timestamped) or v1 (legacy)", "v2"
    ),
    Setting("ANAPLAN_RATE_LIMIT_PER_MINUTE", "client-side request budget towards Anaplan", "600"),
    Setting(
        "ANAPLAN_POLL_SECONDS",
        "first interval between task status polls (Anaplan asks for 5 or more; it backs off to "
        "12 times this for long tasks)",
        "5",
    ),
    Setting(
        "ANAPLAN_UPLOAD_CHUNK_MB",
        "uncompressed size of each gzip chunk of an upload, 1 to 50 (Anaplan's limit); a file "
        "may have at most 1000 chunks",
        "10",
    ),
    # Secrets
    Setting("KEY_VAULT_URL", "Key Vault holding the secrets; unset = secrets from environment"),
    Setting("SECRET_CACHE_TTL_SECONDS", "how long secret values are cached in memory", "300"),
    # Service principal for Key Vault where no managed identity exists (the Azure SDK's names)
    Setting(
        "AZURE_TENANT_ID",
        "tenant of the service principal that reads Key Vault (default BC_TENANT_ID); "
        "only with AZURE_CLIENT_SECRET",
    ),
    Setting(
        "AZURE_CLIENT_ID",
        "client id (GUID) of the service principal that reads Key Vault (default BC_CLIENT_ID)",
    ),
    Setting(
        "AZURE_CLIENT_SECRET",
        "client secret of that service principal; set = use it instead of the managed identity "
        "(never in Azure app settings)",
        secret=True,
    ),
    Setting(
        "AZURE_AUTHORITY_HOST",
        "Entra ID authority host for Key Vault tokens (default ENTRA_AUTHORITY_HOST)",
    ),
    # HTTP behaviour shared by every outbound call
    Setting("CONNECTOR_CA_BUNDLE", "PEM file of extra CAs to trust (the local sandbox's CA)"),
    Setting("HTTP_CONNECT_TIMEOUT_SECONDS", "TCP/TLS connect timeout", "10"),
    Setting(
        "HTTP_READ_TIMEOUT_SECONDS", "read timeout per response (Anaplan blocks while busy)", "120"
    ),
    Setting("HTTP_MAX_ATTEMPTS", "attempts per request for retriable failures", "6"),
    Setting("HTTP_BACKOFF_BASE_SECONDS", "first backoff step (full jitter, doubling)", "1"),
    Setting("HTTP_BACKOFF_CAP_SECONDS", "largest backoff step", "60"),
    Setting(
        "HTTP_MAX_RETRY_AFTER_SECONDS",
        "longest Retry-After the connector waits inline; "
        "longer ones fail the call so the orchestration can wait durably",
        "300",
    ),
    # Public address (webhook notification URL, links in notifications and reports)
    Setting(
        "PUBLIC_BASE_URL",
        "public https address of this Function App, e.g. "
        "https://func-bc-anaplan.azurewebsites.net (webhooks and report links need it)",
    ),
    # Storage and runtime
    Setting(
        "AzureWebJobsStorage",
        "storage connection string (task hub and audit tables); "
        "or use AzureWebJobsStorage__accountName for identity-based access",
    ),
    Setting("AzureWebJobsStorage__accountName", "storage account name for identity-based access"),
    Setting("TASK_HUB_NAME", "Durable Functions task hub name (host.json)", "bcanaplan"),
    # Schedules (six-field NCRONTAB, UTC unless WEBSITE_TIME_ZONE is set)
    # (binding settings: must be set, the default is the standard value Bicep sets)
    Setting(
        "REFERENCE_SYNC_SCHEDULE",
        "when the nightly reference sync runs",
        "0 0 2 * * *",
        binding=True,
    ),
    Setting(
        "ACTUALS_SCHEDULE",
        "when the nightly incremental actuals load runs",
        "0 30 2 * * *",
        binding=True,
    ),
    Setting(
        "EMPLOYEES_SCHEDULE", "when the nightly employee load runs", "0 0 3 * * *", binding=True
    ),
    Setting(
        "WRITEBACK_WATCH_SCHEDULE",
        "when the approval watch looks for newly approved plan versions",
        "0 */15 * * * *",
        binding=True,
    ),
    Setting(
        "SUBSCRIPTIONS_SCHEDULE",
        "when BC webhook subscriptions are checked, renewed and recreated",
        "0 0 */12 * * *",
        binding=True,
    ),
    Setting(
        "POLL_SCHEDULE",
        "when purchase orders (commitments) and anything without a live webhook "
        "subscription are polled",
        "0 5 * * * *",
        binding=True,
    ),
    Setting(
        "POLL_LAG_SECONDS",
        "how far below its last mark each poll re-reads lastModifiedDateTime, so a change "
        "committed late with an earlier timestamp is still seen",
        "300",
    ),
    Setting(
        "WRITEBACK_WATCH_ENABLED",
        "true: write back versions approved in Anaplan automatically",
        "false",
    ),
    # Operations: failure notifications and retention
    Setting(
        "NOTIFY_ON",
        "run states that post a message to the ops webhook (secret OPS_WEBHOOK_URL), "
        "comma-separated; none = no messages",
        "failed,partially_succeeded",
    ),
    Setting(
        "RETENTION_DAYS",
        "age in days after which run history, audit rows, staged files and "
        "superseded snapshots are purged",
        "90",
    ),
    Setting("RETENTION_SCHEDULE", "when the retention purge runs", "0 0 4 * * *", binding=True),
    Setting("CONNECTOR_CONFIG_PATH", "pipeline file, relative to the app root", "connector.toml"),
    Setting("LOG_LEVEL", "log level of the connector's loggers", "INFO"),
)
SETTING_NAMES = frozenset(s.name for s in SETTINGS)
SECRET_SETTING_NAMES = frozenset(s.name for s in SETTINGS if s.secret)
SCHEDULE_SETTINGS = tuple(s for s in SETTINGS if s.binding)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TASK_HUB = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")


@dataclass(frozen=True)
class BcSettings:
    tenant_id: str
    environment: str
    client_id: str
    api_base_url: str
    authority_host: str
    rate_limit_per_minute: int


@dataclass(frozen=True)
class AnaplanSettings:
    auth_url: str
    api_url: str
    auth_mode: Literal["basic", "certificate"]
    user: str | None
    cert_format: Literal["v2", "v1"]
    rate_limit_per_minute: int
    poll_s: float = 5.0
    upload_chunk_mb: int = 10  # MiB, as csvio counts Anaplan's 50 MB chunk limit


@dataclass(frozen=True)
class SecretSettings:
    key_vault_url: str | None
    cache_ttl_s: float
    # service principal for Key Vault (AZURE_*); None = the managed identity
    azure_tenant_id: str | None = None
    azure_client_id: str | None = None
    azure_client_secret: str | None = field(default=None, repr=False)
    azure_authority_host: str | None = None


@dataclass(frozen=True)
class HttpSettings:
    ca_bundle: str | None
    connect_timeout_s: float
    read_timeout_s: float
    max_attempts: int
    backoff_base_s: float
    backoff_cap_s: float
    max_retry_after_s: float


@dataclass(frozen=True)
class StorageSettings:
    connection_string: str | None
    account_name: str | None
    task_hub: str


@dataclass(frozen=True)
class Settings:
    bc: BcSettings
    anaplan: AnaplanSettings
    secrets: SecretSettings
    http: HttpSettings
    storage: StorageSettings
    config_path: Path
    log_level: str
    pipelines: tuple[Pipeline, ...]
    writeback_watch_enabled: bool = False
    public_base_url: str | None = None
    notify_on: tuple[str, ...] = ("failed", "partially_succeeded")
    retention_days: int = 90
    poll_lag_s: float = 300.0

    def pipeline(self, name: str | None = None) -> Pipeline:
        """The named pipeline, or the first one when ``name`` is empty."""
        if not name:
            return self.pipelines[0]
        for pipeline in self.pipelines:
            if pipeline.name == name:
                return pipeline
        known = ", ".join(p.name for p in self.pipelines)
        raise ConfigError(
            f"pipeline {name!r} is not defined in {self.config_path} (known: {known})"
        )


class _Reader:
    """Reads declared settings from an environment mapping, collecting every problem.

    A method that finds a problem records it (the first one per setting) and returns a stand-in
    value so that reading goes on; ``_load`` raises one ``ConfigError`` with all of them at the
    end. The stand-ins never leave ``_load``.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.specs = {s.name: s for s in SETTINGS}
        self.problems: dict[str, str] = {}

    def fail(self, name: str, message: str) -> None:
        self.problems.setdefault(name, message)

    def raw(self, name: str) -> str | None:
        spec = self.specs[name]  # KeyError here is a programming error: undeclared setting
        value = self.environ.get(name, "").strip()
        if value:
            return value
        if spec.binding:
            self.fail(
                name,
                f"setting {name} is missing: expected {spec.meaning}, as six-field NCRONTAB "
                f"(standard: {spec.default!r}); the Functions host resolves %{name}% itself "
                f"and has no default",
            )
            return None
        if spec.required:
            self.fail(name, f"setting {name} is missing: expected {spec.meaning}")
        return spec.default

    def text(self, name: str) -> str:
        value = self.raw(name)
        if value is None:
            self.fail(name, f"setting {name} is missing: expected {self.specs[name].meaning}")
            return ""
        return value

    def guid(self, name: str) -> str:
        value = self.text(name)
        if value and not _GUID.match(value):
            self.fail(
                name,
                f"setting {name} must be a GUID like "
                f"00000000-0000-0000-0000-000000000000, got {value!r}",
            )
        return value.lower()

    def optional_guid(self, name: str) -> str | None:
        return self.guid(name) if self.raw(name) else None

    def https_url(self, name: str) -> str:
        value = self.text(name).rstrip("/")
        parts = urlsplit(value)
        if value and (parts.scheme != "https" or not parts.netloc):
            self.fail(name, f"setting {name} must be an https:// URL, got {value!r}")
        return value

    def optional_https_url(self, name: str) -> str | None:
        return self.https_url(name) if self.raw(name) else None

    def number(self, name: str, minimum: float, maximum: float) -> float:
        value = self.text(name)
        try:
            number = float(value)
        except ValueError:
            if value:
                self.fail(name, f"setting {name} must be a number, got {value!r}")
            return minimum
        if not minimum <= number <= maximum:
            self.fail(
                name, f"setting {name} must be between {minimum:g} and {maximum:g}, got {value!r}"
            )
            return minimum
        return number

    def integer(self, name: str, minimum: int, maximum: int) -> int:
        value = self.text(name)
        if not re.fullmatch(r"\d+", value):
            if value:
                self.fail(name, f"setting {name} must be a whole number, got {value!r}")
            return minimum
        return int(self.number(name, minimum, maximum))

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        value = self.text(name).lower()
        if value not in options:
            if value:
                self.fail(
                    name,
                    f"setting {name} must be one of {', '.join(options)}, got {self.raw(name)!r}",
                )
            return options[0]
        return value

    def schedule(self, name: str) -> str:
        value = self.text(name)
        fields = value.split()
        if value and (
            len(fields) != 6 or not all(re.fullmatch(r"[0-9*/,\-A-Za-z]+", f) for f in fields)
        ):
            self.fail(
                name,
                f"setting {name} must be a six-field NCRONTAB expression "
                f"(second minute hour day month weekday), got {value!r}",
            )
        return value


def _bc(r: _Reader) -> BcSettings:
    return BcSettings(
        tenant_id=r.guid("BC_TENANT_ID"),
        environment=r.text("BC_ENVIRONMENT"),
        client_id=r.guid("BC_CLIENT_ID"),
        api_base_url=r.https_url("BC_API_BASE_URL"),
        authority_host=r.https_url("ENTRA_AUTHORITY_HOST"),
        rate_limit_per_minute=r.integer("BC_RATE_LIMIT_PER_MINUTE", 1, 100_000),
    )


def _anaplan(r: _Reader) -> AnaplanSettings:
    mode = r.choice("ANAPLAN_AUTH_MODE", ("basic", "certificate"))
    user = r.raw("ANAPLAN_USER")
    if mode == "basic" and not user:
        r.fail(
            "ANAPLAN_USER",
            "setting ANAPLAN_USER is missing: basic authentication "
            "(ANAPLAN_AUTH_MODE=basic) needs the Anaplan integration user's login",
        )
    return AnaplanSettings(
        auth_url=r.https_url("ANAPLAN_AUTH_URL"),
        api_url=r.https_url("ANAPLAN_API_URL"),
        auth_mode="basic" if mode == "basic" else "certificate",
        user=user,
        cert_format="v1" if r.choice("ANAPLAN_CERT_FORMAT", ("v2", "v1")) == "v1" else "v2",
        rate_limit_per_minute=r.integer("ANAPLAN_RATE_LIMIT_PER_MINUTE", 1, 100_000),
        poll_s=r.number("ANAPLAN_POLL_SECONDS", 0.5, 60),
        upload_chunk_mb=r.integer("ANAPLAN_UPLOAD_CHUNK_MB", 1, 50),
    )


def _secrets(r: _Reader) -> SecretSettings:
    return SecretSettings(
        key_vault_url=r.optional_https_url("KEY_VAULT_URL"),
        cache_ttl_s=r.number("SECRET_CACHE_TTL_SECONDS", 0, 86_400),
        azure_tenant_id=r.raw("AZURE_TENANT_ID"),
        azure_client_id=r.optional_guid("AZURE_CLIENT_ID"),
        azure_client_secret=r.raw("AZURE_CLIENT_SECRET"),
        azure_authority_host=r.optional_https_url("AZURE_AUTHORITY_HOST"),
    )


def _http(r: _Reader) -> HttpSettings:
    ca_bundle = r.raw("CONNECTOR_CA_BUNDLE")
    if ca_bundle and not Path(ca_bundle).is_file():
        r.fail(
            "CONNECTOR_CA_BUNDLE",
            f"setting CONNECTOR_CA_BUNDLE must name a readable PEM file, "
            f"{ca_bundle!r} does not exist",
        )
    return HttpSettings(
        ca_bundle=ca_bundle,
        connect_timeout_s=r.number("HTTP_CONNECT_TIMEOUT_SECONDS", 0.1, 300),
        read_timeout_s=r.number("HTTP_READ_TIMEOUT_SECONDS", 1, 3600),
        max_attempts=r.integer("HTTP_MAX_ATTEMPTS", 1, 20),
        backoff_base_s=r.number("HTTP_BACKOFF_BASE_SECONDS", 0, 60),
        backoff_cap_s=r.number("HTTP_BACKOFF_CAP_SECONDS", 0, 600),
        max_retry_after_s=r.number("HTTP_MAX_RETRY_AFTER_SECONDS", 0, 3600),
    )


def _storage(r: _Reader) -> StorageSettings:
    connection = r.raw("AzureWebJobsStorage")
    account = r.raw("AzureWebJobsStorage__accountName")
    if not connection and not account:
        r.fail(
            "AzureWebJobsStorage",
            "setting AzureWebJobsStorage is missing: expected a storage "
            "connection string (or AzureWebJobsStorage__accountName for "
            "identity-based access)",
        )
    if (
        connection
        and "AccountName=" not in connection
        and "UseDevelopmentStorage" not in connection
    ):
        r.fail(
            "AzureWebJobsStorage",
            "setting AzureWebJobsStorage must be a storage connection string "
            "(AccountName=...;AccountKey=...;...)",
        )
    task_hub = r.text("TASK_HUB_NAME")
    if not _TASK_HUB.match(task_hub):
        r.fail(
            "TASK_HUB_NAME",
            f"setting TASK_HUB_NAME must be 3-45 letters and digits starting "
            f"with a letter, got {task_hub!r}",
        )
    return StorageSettings(connection or None, account or None, task_hub)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting and the pipeline file. Raises ``ConfigError``.

    With ``environ=None`` the result is cached for the process (settings do not change while a
    Functions worker lives); pass a mapping to load a specific environment uncached. A failure
    is not cached: the next call validates again.
    """
    if environ is None:
        global _cached
        if _cached is None:
            _cached = _load(os.environ)
        return _cached
    return _load(environ)


def _load(environ: Mapping[str, str]) -> Settings:
    r = _Reader(environ)
    config_path = Path(r.text("CONNECTOR_CONFIG_PATH"))
    if not config_path.is_absolute():
        config_path = APP_ROOT / config_path
    for spec in SCHEDULE_SETTINGS:
        r.schedule(spec.name)
    log_level = r.choice("LOG_LEVEL", ("debug", "info", "warning", "error")).upper()
    settings = Settings(
        bc=_bc(r),
        anaplan=_anaplan(r),
        secrets=_secrets(r),
        http=_http(r),
        storage=_storage(r),
        config_path=config_path,
        log_level=log_level,
        pipelines=(),
        writeback_watch_enabled=r.choice("WRITEBACK_WATCH_ENABLED", ("true", "false")) == "true",
        public_base_url=_public_url(r),
        notify_on=_notify_on(r),
        retention_days=r.integer("RETENTION_DAYS", 0, 3650),
        poll_lag_s=r.number("POLL_LAG_SECONDS", 0, 86_400),
    )
    pipelines: tuple[Pipeline, ...] = ()
    try:
        pipelines = load_pipelines(config_path, environ, SETTING_NAMES - SECRET_SETTING_NAMES)
    except ValueError as exc:
        r.fail("CONNECTOR_CONFIG_PATH", str(exc))
    if r.problems:
        raise ConfigError(*r.problems.values())
    return replace(settings, pipelines=pipelines)


_cached: Settings | None = None


def _public_url(r: _Reader) -> str | None:
    """https in Azure; plain http is accepted only for a loopback host (the local host)."""
    value = r.raw("PUBLIC_BASE_URL")
    if not value:
        return None
    parts = urlsplit(value.rstrip("/"))
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not loopback):
        r.fail(
            "PUBLIC_BASE_URL",
            f"setting PUBLIC_BASE_URL must be an https:// URL (http only on "
            f"loopback), got {value!r}",
        )
    return value.rstrip("/")


NOTIFIABLE_STATES = ("succeeded", "partially_succeeded", "failed", "unchanged", "terminated")


def _notify_on(r: _Reader) -> tuple[str, ...]:
    value = r.text("NOTIFY_ON").strip().lower()
    if value == "none":
        return ()
    states = tuple(dict.fromkeys(s.strip() for s in value.split(",") if s.strip()))
    unknown = [s for s in states if s not in NOTIFIABLE_STATES]
    if unknown or not states:
        r.fail(
            "NOTIFY_ON",
            f"setting NOTIFY_ON must be none or a comma-separated list of "
            f"{', '.join(NOTIFIABLE_STATES)}, got {r.raw('NOTIFY_ON')!r}",
        )
    return states


def reset_cache() -> None:
    """Forget the cached settings (tests that change the environment call this)."""
    global _cached
    _cached = None
