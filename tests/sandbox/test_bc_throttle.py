"""Per-principal limits: a sliding-window request rate and 5 concurrent requests, excess queued,
429 with Retry-After past the connection limit. The limits are lowered through
``/_sandbox/bc/limits`` so the test does not need 6,000 requests; the fixture restores them."""

from __future__ import annotations

import threading
import time

import httpx

from tests.sandbox.test_bc_kit import BcKit, bc, bc_error, bc_private

__all__ = ["bc", "bc_private"]


def test_defaults_are_bcs_limits(bc: BcKit) -> None:
    limits = bc.http.get(f"{bc.info['bc']}/_sandbox/bc/limits").json()
    assert limits["rate_limit"] == 6000 and limits["window_s"] == 300
    assert limits["concurrency"] == 5 and limits["max_connections"] == 100


def test_rate_limit_gives_429_with_retry_after(bc_private: BcKit) -> None:
    bc = bc_private  # it moves the simulated clock
    bc.control("bc/limits", {"reset": True, "rate_limit": 5, "window_s": 300})
    try:
        statuses = [bc.get("/journals").status_code for _ in range(5)]
        assert statuses == [200] * 5
        throttled = bc.get("/journals")
        bc_error(throttled, 429, "Application_TooManyRequests")
        assert 1 <= int(throttled.headers["Retry-After"]) <= 300
        bc.advance_clock(301)  # the sliding window moves on with the simulated clock
        bc.token(fresh=True)
        assert bc.get("/journals").status_code == 200
    finally:
        bc.control("bc/limits", {"reset": True})


def test_concurrency_queues_then_refuses(bc: BcKit) -> None:
    clients = [httpx.Client(verify=bc.ssl, timeout=30) for _ in range(6)]
    url, headers = bc.url("/journals"), bc.headers()
    for client in clients:  # warm connections so all six arrive together
        assert client.get(url, headers=headers).status_code == 200
    bc.control("bc/limits", {"reset": True, "concurrency": 2, "max_connections": 4, "hold_s": 1.0})
    results: list[tuple[int, float]] = []
    start = time.monotonic()

    def call(client: httpx.Client) -> None:
        response = client.get(url, headers=headers)
        results.append((response.status_code, time.monotonic() - start))

    try:
        threads = [threading.Thread(target=call, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        bc.control("bc/limits", {"reset": True})
        for client in clients:
            client.close()
    statuses = sorted(s for s, _ in results)
    assert 429 in statuses and statuses.count(200) >= 3
    # two at a time, one second each: the third success cannot finish before two seconds
    finished = sorted(t for s, t in results if s == 200)
    assert finished[2] >= 1.9
