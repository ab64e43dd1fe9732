"""The resilient HTTP layer against a real loopback HTTP server with scripted answers."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator, Mapping

import httpx
import pytest

from bc_anaplan.config import HttpSettings
from bc_anaplan.http import (
    ApiError,
    ApiSpec,
    Decision,
    OutcomeUnknownError,
    ResilientClient,
    TransportFailure,
    classify,
    parse_retry_after,
)
from bc_anaplan.ratelimit import RateLimiter
from tests.support.scripted_server import HANG, RESET, Reply, ScriptedServer

HTTP = HttpSettings(
    ca_bundle=None,
    connect_timeout_s=1.0,
    read_timeout_s=0.5,
    max_attempts=4,
    backoff_base_s=1.0,
    backoff_cap_s=8.0,
    max_retry_after_s=60.0,
)


class TokenAuth:
    """Hands out token-1, then token-2 after invalidate(), like a real token cache."""

    def __init__(self) -> None:
        self.generation = 1
        self.invalidations = 0

    def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer token-{self.generation}"}

    def invalidate(self) -> None:
        self.invalidations += 1
        self.generation += 1


class Harness:
    def __init__(
        self, server: ScriptedServer, auth: TokenAuth | None = None, *, secret_path: bool = False
    ) -> None:
        self.server = server
        self.sleeps: list[float] = []
        self.now = 0.0
        self.client = httpx.Client(timeout=httpx.Timeout(1.0, read=HTTP.read_timeout_s))
        self.api = ResilientClient(
            ApiSpec("test-api", server.url, secret_path=secret_path),
            HTTP,
            auth,
            client=self.client,
            limiter=RateLimiter(60_000, clock=lambda: self.now, sleep=self.sleep),
            sleep=self.sleep,
            jitter=lambda: 0.5,
        )

    def sleep(self, seconds: float) -> None:
        """Fake time: waits are recorded and skipped, and the limiter sees them pass."""
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


def test_error_table() -> None:
    assert classify(200) is Decision.OK
    assert classify(204) is Decision.OK
    assert classify(404, frozenset({404})) is Decision.OK
    for status in (429, 408, 500, 502, 503, 504):
        assert classify(status) is Decision.RETRY
    assert classify(401) is Decision.REAUTH
    for status in (400, 403, 404, 405, 409, 422, 423):
        assert classify(status) is Decision.FAIL


def test_429_with_delta_seconds_is_honoured_not_undercut(server: ScriptedServer) -> None:
    h = Harness(server.then(Reply(429, headers={"Retry-After": "7"}), Reply(200, {"v": 1})))
    response = h.api.request("GET", "/items")
    assert response.json() == {"v": 1}
    assert len(server.received) == 2
    assert h.sleeps == [7.0]  # backoff (0.5 s) would have been shorter: Retry-After wins


def test_429_with_http_date_is_honoured(server: ScriptedServer) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    h = Harness(server.then(Reply(429, headers={"Retry-After": when}), Reply(200, {})))
    h.api.request("GET", "/items")
    assert len(h.sleeps) == 1 and 28.0 <= h.sleeps[0] <= 30.0


def test_backoff_beats_a_shorter_retry_after(server: ScriptedServer) -> None:
    h = Harness(server.then(*[Reply(503, headers={"Retry-After": "1"})] * 3, Reply(200, {})))
    h.api.request("GET", "/items")
    # full jitter at 0.5 of min(cap, base * 2^(n-1)) = 0.5, 1, 2 -> never below Retry-After 1
    assert h.sleeps == [1.0, 1.0, 2.0]


def test_503_then_success(server: ScriptedServer) -> None:
    h = Harness(server.then(Reply(503), Reply(200, {"ok": 1})))
    assert h.api.request("GET", "/x").json() == {"ok": 1}
    assert [r.method for r in server.received] == ["GET", "GET"]


def test_connection_reset_on_get_is_retried(server: ScriptedServer) -> None:
    h = Harness(server.then(RESET, Reply(200, {"ok": 1})))
    assert h.api.request("GET", "/x").json() == {"ok": 1}
    assert len(server.received) == 2


def test_401_reauthenticates_once_then_succeeds(server: ScriptedServer) -> None:
    auth = TokenAuth()
    h = Harness(server.then(Reply(401), Reply(200, {"ok": 1})), auth)
    assert h.api.request("GET", "/x").json() == {"ok": 1}
    assert auth.invalidations == 1
    assert [r.headers["Authorization"] for r in server.received] == [
        "Bearer token-1",
        "Bearer token-2",
    ]
    assert h.sleeps == []


def test_second_401_fails_instead_of_looping(server: ScriptedServer) -> None:
    auth = TokenAuth()
    h = Harness(server.then(Reply(401), Reply(401, {"error": "nope"})), auth)
    with pytest.raises(ApiError) as caught:
        h.api.request("GET", "/x")
    assert caught.value.status == 401
    assert len(server.received) == 2


def test_400_fails_fast_with_the_server_message(server: ScriptedServer) -> None:
    h = Harness(server.then(Reply(400, {"error": {"code": "BadRequest", "message": "no"}})))
    with pytest.raises(ApiError) as caught:
        h.api.request("GET", "/things")
    assert caught.value.status == 400
    assert "BadRequest" in str(caught.value) and "GET /things" in str(caught.value)
    assert len(server.received) == 1 and h.sleeps == []


def test_non_idempotent_post_that_times_out_is_not_retried(server: ScriptedServer) -> None:
    server.hang_s = HTTP.read_timeout_s * 3
    h = Harness(server.then(HANG, Reply(200, {})))
    with pytest.raises(OutcomeUnknownError) as caught:
        h.api.request("POST", "/tasks", json={"localeName": "en_US"})
    assert "ReadTimeout" in caught.value.cause
    assert len(server.received) == 1  # exactly one attempt reached the server


def test_non_idempotent_post_with_503_is_outcome_unknown(server: ScriptedServer) -> None:
    h = Harness(server.then(Reply(503), Reply(200, {})))
    with pytest.raises(OutcomeUnknownError):
        h.api.request("POST", "/tasks", json={})
    assert len(server.received) == 1


def test_non_idempotent_post_reset_after_sending_is_outcome_unknown(
    server: ScriptedServer,
) -> None:
    h = Harness(server.then(RESET, Reply(200, {})))
    with pytest.raises(OutcomeUnknownError):
        h.api.request("POST", "/tasks", json={})
    assert len(server.received) == 1


def test_non_idempotent_post_with_429_is_safe_to_retry(server: ScriptedServer) -> None:
    h = Harness(server.then(Reply(429, headers={"Retry-After": "2"}), Reply(201, {"id": 1})))
    assert h.api.request("POST", "/tasks", json={}).status_code == 201
    assert len(server.received) == 2 and h.sleeps == [2.0]


def test_declared_idempotent_post_is_retried(server: ScriptedServer) -> None:
    h = Harness(server.then(Reply(502), Reply(200, {})))
    h.api.request("POST", "/files/1/complete", json={}, idempotent=True)
    assert len(server.received) == 2


def test_connect_error_is_retried_even_for_post_then_gives_up() -> None:
    with ScriptedServer() as s:
        url = s.url  # a port that is closed once the server stops
    sleeps: list[float] = []
    api = ResilientClient(
        ApiSpec("down", url),
        HTTP,
        client=httpx.Client(timeout=1.0),
        limiter=RateLimiter(60_000),
        sleep=sleeps.append,
        jitter=lambda: 1.0,
    )
    with pytest.raises(TransportFailure) as caught:
        api.request("POST", "/tasks", json={})
    assert caught.value.attempts == HTTP.max_attempts
    assert sleeps == [1.0, 2.0, 4.0]


def test_attempts_are_bounded(server: ScriptedServer) -> None:
    h = Harness(server.then(*[Reply(503)] * 10))
    with pytest.raises(ApiError) as caught:
        h.api.request("GET", "/x")
    assert caught.value.status == 503 and caught.value.transient
    assert len(server.received) == HTTP.max_attempts


def test_retry_after_longer_than_allowed_fails_with_the_wait(server: ScriptedServer) -> None:
    h = Harness(server.then(Reply(429, headers={"Retry-After": "3600"})))
    with pytest.raises(ApiError) as caught:
        h.api.request("GET", "/x")
    assert caught.value.retry_after_s == 3600.0
    assert h.sleeps == []


def test_absolute_urls_must_stay_on_the_api_origin(server: ScriptedServer) -> None:
    h = Harness(server)
    h.api.request("GET", server.url + "/next?$skiptoken=1")
    with pytest.raises(ValueError, match="refusing to send credentials"):
        h.api.request("GET", "https://evil.example/steal")
    assert len(server.received) == 1


def test_parse_retry_after_forms() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(email.utils.formatdate(now + 12, usegmt=True), now=now) == 12.0
    assert parse_retry_after(email.utils.formatdate(now - 12, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_rate_limiter_spaces_requests_after_the_burst() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    limiter = RateLimiter(600, burst=3, clock=lambda: now[0], sleep=sleep)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.1) and waits[4] == pytest.approx(0.1)
    limiter.pause(5.0)
    assert limiter.acquire() == pytest.approx(5.0)


def test_requests_are_logged_at_debug_without_credentials(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(server.then(Reply(200, {})), TokenAuth())
    with caplog.at_level("DEBUG", logger="bc_anaplan.http"):
        h.api.request("GET", "/items?secret-query=1")
    line = caplog.records[-1].getMessage()
    assert "test-api GET /items -> 200 attempt=1" in line
    assert "token-1" not in caplog.text and "secret-query" not in caplog.text


def test_a_secret_path_is_never_logged_nor_put_in_an_error(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A chat webhook's path is its token: retries, timeouts and errors must not show it."""
    token_path = "/services/T000/B000/XXXXSECRETTOKEN"
    h = Harness(
        server.then(Reply(429, headers={"Retry-After": "1"}), Reply(503), Reply(400)),
        secret_path=True,
    )
    with caplog.at_level("DEBUG", logger="bc_anaplan.http"):
        with pytest.raises(OutcomeUnknownError) as unknown:
            h.api.request("POST", token_path, json={})  # 429: retried; 503: outcome unknown
        with pytest.raises(ApiError) as refused:
            h.api.request("POST", token_path, json={})  # 400
    assert [r.path for r in server.received] == [token_path] * 3  # the real path was used
    assert "answered 429; retry 2" in caplog.text  # the retry was logged ...
    for text in (caplog.text, str(unknown.value), str(refused.value), refused.value.path):
        assert "XXXXSECRETTOKEN" not in text  # ... without the token
    assert "<secret path>" in str(refused.value) and "<secret path>" in caplog.text
