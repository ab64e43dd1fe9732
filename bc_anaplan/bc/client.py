"""The Business Central API v2.0 client: URLs from configuration, every call on the resilient layer.

URLs are built from three configured values, never hard-coded: the API host
(``BC_API_BASE_URL``), the tenant id and the environment name, giving the API root
``{host}/v2.0/{tenant}/{environment}/api/v2.0``; company-scoped entity sets hang under
``companies({company id})``. ``BcClient`` owns the ``ResilientClient`` (retries, Retry-After,
re-authentication on 401, the per-process rate limiter) with the BC error decoder and
``BcAuth``; the stream, journal and subscription modules only say *what* to send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from bc_anaplan.bc.auth import BcAuth
from bc_anaplan.bc.encoding import dump_json
from bc_anaplan.bc.errors import decode_bc_error
from bc_anaplan.config import Settings
from bc_anaplan.http import ApiSpec, Auth, ResilientClient
from bc_anaplan.secrets import SecretStore

MAX_PAGE_SIZE = 20_000  # BC online's fixed server page size
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class BcEndpoint:
    """Where one BC environment's API v2.0 lives."""

    api_base_url: str
    tenant_id: str
    environment: str

    @property
    def root(self) -> str:
        base = self.api_base_url.rstrip("/")
        return f"{base}/v2.0/{self.tenant_id}/{quote(self.environment, safe='')}/api/v2.0"


def bc_spec(settings: Settings) -> ApiSpec:
    return ApiSpec(
        "bc",
        settings.bc.api_base_url,
        rate_limit_per_minute=settings.bc.rate_limit_per_minute,
        decode_error=decode_bc_error,
        default_headers={"Accept": "application/json"},
    )


class BcClient:
    """One BC company's API: URL building plus requests through the resilient layer."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretStore,
        company_id: str | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
        auth: Auth | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.endpoint = BcEndpoint(
            settings.bc.api_base_url, settings.bc.tenant_id, settings.bc.environment
        )
        self.company_id = (company_id or settings.pipeline().bc_company_id).lower()
        self.page_size = page_size
        self.http = ResilientClient(
            bc_spec(settings), settings.http, auth or BcAuth(settings, secrets)
        )

    @property
    def root(self) -> str:
        return self.endpoint.root

    def url(self, relative: str) -> str:
        """Absolute URL of a path relative to the API root, e.g. ``companies``."""
        return f"{self.root}/{relative.lstrip('/')}"

    def company_relative(self, relative: str) -> str:
        """``companies({id})/<relative>``: the form ``$batch`` operations use."""
        return f"companies({self.company_id})/{relative.lstrip('/')}"

    def company_url(self, relative: str) -> str:
        return self.url(self.company_relative(relative))

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self.http.request("GET", url, params=params, headers=headers)

    def send(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        idempotent: bool | None = None,
        expected: frozenset[int] = frozenset(),
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """A write; ``body`` is encoded with ``dump_json`` (exact decimals)."""
        content = None if body is None else dump_json(body)
        merged = {**(JSON_HEADERS if content is not None else {}), **(headers or {})}
        return self.http.request(
            method, url, idempotent=idempotent, expected=expected, content=content, headers=merged
        )
