"""The one resilient HTTP layer: every outbound call of the connector goes through here.

Each API (Business Central, Entra ID, Anaplan auth, Anaplan Integration API) is described once by
an ``ApiSpec``: its base URL, its request budget, and how to turn an error response into a typed
exception. What happens to a response is decided by one table (``classify``):

==========================================================  ======================================
signal                                                      action
==========================================================  ======================================
2xx (or a status the caller expects)                        return the response
429, 408, 500, 502, 503, 504, connect error, timeout        retry: exponential backoff with full
                                                            jitter, never sooner than Retry-After
401                                                         drop the cached token, re-authenticate,
                                                            retry once
any other 4xx                                               fail fast with the server's code and
                                                            message (``ApiError``)
a non-idempotent request whose outcome is unknown           ``OutcomeUnknownError``: never retried
                                                            blindly, the caller reconciles
==========================================================  ======================================

"Outcome unknown" means the request may have reached the server: a read timeout, a connection
dropped after sending, or a 5xx/408 from the server. A connect error (nothing was sent) and a 429
(explicitly not processed) are safe to retry even for a POST that starts a task or creates a
record. Callers declare idempotency; by default GET, HEAD, PUT, DELETE and OPTIONS are idempotent
and POST and PATCH are not.

One ``httpx.Client`` per API per process (connection pooling, keep-alive, explicit timeouts) and
one rate limiter per API per process are shared by every client object and thread.
"""

from __future__ import annotations

import email.utils
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urlsplit

import certifi
import httpx

from bc_anaplan.config import HttpSettings
from bc_anaplan.ratelimit import RateLimiter, limiter_for

log = logging.getLogger("bc_anaplan.http")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
SECRET_PATH = "<secret path>"  # shown instead of the path of an ApiSpec(secret_path=True)


class Decision(Enum):
    OK = "ok"
    RETRY = "retry"
    REAUTH = "reauth"
    FAIL = "fail"


def classify(status: int, expected: frozenset[int] = frozenset()) -> Decision:
    """The error table: what a status code means for the request that got it."""
    if 200 <= status < 300 or status in expected:
        return Decision.OK
    if status == 401:
        return Decision.REAUTH
    if status in RETRY_STATUSES:
        return Decision.RETRY
    return Decision.FAIL


class ApiError(Exception):
    """The server said no. Carries its status, error code and message, never request secrets."""

    def __init__(
        self,
        api: str,
        status: int,
        message: str,
        *,
        code: str | None = None,
        method: str = "",
        path: str = "",
        correlation_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.api = api
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.path = path
        self.correlation_id = correlation_id
        self.retry_after_s = retry_after_s
        super().__init__(self._text())

    def _text(self) -> str:
        code = f" {self.code}" if self.code else ""
        where = f" on {self.method} {self.path}" if self.method else ""
        return f"{self.api} answered HTTP {self.status}{code}{where}: {self.message}"

    @property
    def transient(self) -> bool:
        return self.status in RETRY_STATUSES


class OutcomeUnknownError(Exception):
    """A non-idempotent request may or may not have taken effect; reconcile before retrying."""

    def __init__(self, api: str, method: str, path: str, cause: str) -> None:
        self.api, self.method, self.path, self.cause = api, method, path, cause
        super().__init__(
            f"{api}: outcome of {method} {path} is unknown ({cause}); it may have taken effect, "
            "so it was not retried"
        )


class TransportFailure(Exception):
    """Could not talk to the server at all (after retries)."""

    def __init__(self, api: str, method: str, path: str, cause: str, attempts: int) -> None:
        self.api, self.method, self.path, self.attempts = api, method, path, attempts
        super().__init__(f"{api}: {method} {path} failed after {attempts} attempts: {cause}")


class Auth(Protocol):
    """Supplies credentials for a request and forgets them when the server rejects them."""

    def headers(self) -> Mapping[str, str]: ...

    def invalidate(self) -> None: ...


def default_error(api: str, response: httpx.Response) -> ApiError:
    text = response.text[:500] if response.content else response.reason_phrase
    return ApiError(api, response.status_code, text or "no details")


@dataclass(frozen=True)
class ApiSpec:
    """Everything API-specific the HTTP layer needs to know."""

    name: str
    base_url: str
    rate_limit_per_minute: int = 600
    # turns an error response into a typed exception (BC's and Anaplan's bodies differ)
    decode_error: Callable[[httpx.Response], ApiError] | None = None
    default_headers: Mapping[str, str] = field(default_factory=dict)
    # the URL path is itself a credential (a Teams or Slack incoming webhook's path is its token):
    # logs and exceptions then show ``<secret path>`` instead of it
    secret_path: bool = False

    def error_for(self, response: httpx.Response) -> ApiError:
        if self.decode_error is not None:
            return self.decode_error(response)
        return default_error(self.name, response)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


_clients: dict[tuple[str, str, str | None], httpx.Client] = {}
_clients_lock = threading.Lock()


def shared_client(api: str, base_url: str, http: HttpSettings) -> httpx.Client:
    """The process-wide pooled ``httpx.Client`` for one API and base URL."""
    key = (api, base_url, http.ca_bundle)
    with _clients_lock:
        client = _clients.get(key)
        if client is None or client.is_closed:
            client = httpx.Client(
                verify=_ssl_context(http.ca_bundle),
                timeout=httpx.Timeout(
                    connect=http.connect_timeout_s,
                    read=http.read_timeout_s,
                    write=http.read_timeout_s,
                    pool=http.read_timeout_s,
                ),
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
                follow_redirects=False,
                trust_env=False,
            )
            _clients[key] = client
        return client


# Transport errors raised before a single byte of the request left: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ResilientClient:
    """Sends requests for one API with retries, re-authentication, rate limiting and logging."""

    def __init__(
        self,
        spec: ApiSpec,
        http: HttpSettings,
        auth: Auth | None = None,
        *,
        client: httpx.Client | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.spec = spec
        self.http = http
        self.auth = auth
        self.client = client or shared_client(spec.name, spec.base_url, http)
        self.limiter = limiter or limiter_for(spec.name, spec.rate_limit_per_minute)
        self._sleep = sleep
        self._jitter = jitter
        self._origin = _origin(spec.base_url)

    def url(self, path_or_url: str) -> str:
        """An absolute URL on this API. Absolute URLs must stay on the API's own origin."""
        if path_or_url.startswith(("https://", "http://")):
            if _origin(path_or_url) != self._origin:
                raise ValueError(
                    f"{self.spec.name}: refusing to send credentials to {_origin(path_or_url)}, "
                    f"which is not {self._origin}"
                )
            return path_or_url
        return self.spec.base_url.rstrip("/") + "/" + path_or_url.lstrip("/")

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
        ceiling = min(self.http.backoff_cap_s, self.http.backoff_base_s * 2.0 ** (attempt - 1))
        return self._jitter() * ceiling

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        idempotent: bool | None = None,
        expected: frozenset[int] = frozenset(),
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
    ) -> httpx.Response:
        """Send one logical request; see the module docstring for what is retried and how."""
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.url(path_or_url)
        path = SECRET_PATH if self.spec.secret_path else urlsplit(url).path  # as logs show it
        reauthenticated = False
        attempt = 0
        while True:
            attempt += 1
            request_headers = {**self.spec.default_headers, **(headers or {})}
            if authenticate and self.auth is not None:
                request_headers.update(self.auth.headers())
            self.limiter.acquire()
            started = time.monotonic()
            try:
                response = self.client.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    content=content,
                    headers=request_headers,
                )
            except httpx.TransportError as exc:
                elapsed_ms = (time.monotonic() - started) * 1000
                cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.debug(
                    "%s %s %s -> %s attempt=%d %.0fms",
                    self.spec.name,
                    method,
                    path,
                    type(exc).__name__,
                    attempt,
                    elapsed_ms,
                )
                if not idempotent and not isinstance(exc, _NOT_SENT):
                    raise OutcomeUnknownError(self.spec.name, method, path, cause) from exc
                if attempt >= self.http.max_attempts:
                    raise TransportFailure(self.spec.name, method, path, cause, attempt) from exc
                self._sleep(self.backoff(attempt))
                continue
            elapsed_ms = (time.monotonic() - started) * 1000
            log.debug(
                "%s %s %s -> %d attempt=%d %.0fms",
                self.spec.name,
                method,
                path,
                response.status_code,
                attempt,
                elapsed_ms,
            )
            decision = classify(response.status_code, expected)
            if decision is Decision.OK:
                return response
            if decision is Decision.REAUTH and self.auth is not None and not reauthenticated:
                self.auth.invalidate()
                reauthenticated = True
                attempt -= 1  # the retry after a fresh login is not a backoff attempt
                continue
            if decision is Decision.RETRY:
                self._before_retry(response, method, path, attempt, idempotent)
                continue
            raise self._error(response, method, path)

    def _before_retry(
        self, response: httpx.Response, method: str, path: str, attempt: int, idempotent: bool
    ) -> None:
        """Wait before retrying a retriable status, or raise if we must not retry."""
        status = response.status_code
        if not idempotent and status != 429:
            raise OutcomeUnknownError(self.spec.name, method, path, f"HTTP {status}")
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if attempt >= self.http.max_attempts:
            raise self._error(response, method, path, retry_after)
        if retry_after is not None and retry_after > self.http.max_retry_after_s:
            # too long to hold a worker thread: let the orchestration wait durably instead
            raise self._error(response, method, path, retry_after)
        if status == 429 and retry_after:
            self.limiter.pause(retry_after)
        delay = max(retry_after or 0.0, self.backoff(attempt))
        log.info(
            "%s %s %s answered %d; retry %d in %.1fs",
            self.spec.name,
            method,
            path,
            status,
            attempt + 1,
            delay,
        )
        self._sleep(delay)

    def _error(
        self, response: httpx.Response, method: str, path: str, retry_after: float | None = None
    ) -> ApiError:
        error = self.spec.error_for(response)
        error.method, error.path = method, path
        if retry_after is not None:
            error.retry_after_s = retry_after
        error.args = (error._text(),)
        return error


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
