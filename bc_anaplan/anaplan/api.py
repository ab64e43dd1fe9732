"""The Integration API v2 for one model: paths, JSON in and out, and paging that cannot loop.

Every call goes through the resilient HTTP layer (retries, ``Retry-After``, re-login on 401, the
rate budget); this module adds only what is particular to Anaplan's Integration API:

* paths are model-scoped (``/workspaces/{ws}/models/{m}/...``) with normalised ids;
* answers come in an envelope, and **an empty collection omits its key** (no ``"tasks": []``),
  so a missing key means "none", never an error;
* lists are paged with ``limit``/``offset`` and must be paged by ``meta.paging.totalSize``: some
  endpoints emit a ``next`` link even on the last page. A page that brings nothing new while the
  total says more exist is an error, not a reason to ask again forever.

Reads wait while the model is busy (Anaplan holds them until a running import finishes), which
is why the HTTP settings' generous read timeout applies to every call here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import orjson

from bc_anaplan.anaplan.errors import INTEGRATION_API, ProtocolError, decode_api_error
from bc_anaplan.anaplan.ids import ModelRef
from bc_anaplan.config import Settings
from bc_anaplan.http import ApiSpec, Auth, ResilientClient

PAGE_SIZE = 5000  # Anaplan's default and maximum page size
JSON = "application/json"
OCTET = "application/octet-stream"


def api_spec(settings: Settings) -> ApiSpec:
    return ApiSpec(
        INTEGRATION_API,
        settings.anaplan.api_url.rstrip("/") + "/2/0",
        settings.anaplan.rate_limit_per_minute,
        decode_api_error,
        {"Accept": JSON},
    )


def decode(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer (``{}`` for an empty body)."""
    if not response.content:
        return {}
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise ProtocolError(
            f"Anaplan answered {response.status_code} to {response.request.url.path} "
            "with a body that is not JSON"
        ) from None
    if not isinstance(body, dict):
        raise ProtocolError(f"Anaplan answered {response.request.url.path} with a non-object")
    return body


class ModelApi:
    """Requests scoped to one model, sent through one ``ResilientClient``."""

    def __init__(
        self,
        settings: Settings,
        auth: Auth,
        model: ModelRef,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.http = ResilientClient(api_spec(settings), settings.http, auth, sleep=sleep)

    def path(self, *parts: str) -> str:
        return self.model.path(*parts)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return decode(self.http.request("GET", path, params=params))

    def send(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        idempotent: bool | None = None,
        expected: frozenset[int] = frozenset(),
    ) -> dict[str, Any]:
        """A JSON request and its JSON answer; callers declare idempotency (task starts are not)."""
        response = self.http.request(
            method,
            path,
            idempotent=idempotent,
            expected=expected,
            content=orjson.dumps(body),
            headers={"Content-Type": JSON},
        )
        return decode(response)

    def get_bytes(self, path: str, expected: frozenset[int] = frozenset()) -> httpx.Response:
        return self.http.request("GET", path, expected=expected, headers={"Accept": OCTET})

    def collection(
        self,
        path: str,
        key: str,
        params: Mapping[str, Any] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paged collection, page by page."""
        offset = 0
        while True:
            body = self.get(path, {**(params or {}), "limit": page_size, "offset": offset})
            items = body.get(key, [])
            if not isinstance(items, list):
                raise ProtocolError(f"Anaplan's {key} in {path} is not a list")
            yield from items
            offset += len(items)
            total = _total_size(body)
            if total is None or offset >= total:
                return
            if not items:
                raise ProtocolError(
                    f"Anaplan's {path} stopped at {offset} of {total} {key}: an empty page "
                    "before the end (refusing to ask for the same page again)"
                )


def _total_size(body: Mapping[str, Any]) -> int | None:
    meta = body.get("meta")
    paging = meta.get("paging") if isinstance(meta, dict) else None
    total = paging.get("totalSize") if isinstance(paging, dict) else None
    return total if isinstance(total, int) else None
