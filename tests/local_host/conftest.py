"""Fixtures for the local host tests: a fresh task hub per test, time-skipping by default."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from local_host import LocalHost, SkippingClock
from local_host.clock import Clock
from tests.local_host import app as test_app

logging.getLogger("azure").setLevel(logging.WARNING)

APP_DIR = Path(__file__).resolve().parent
MakeHost = Callable[..., LocalHost]


def unique_hub() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def make_host(azurite: str) -> Iterator[MakeHost]:
    """Build started hosts on the test app; each gets its own task hub unless told otherwise."""
    hosts: list[LocalHost] = []

    def make(
        clock: Clock | None = None, task_hub: str | None = None, env: dict[str, str] | None = None
    ) -> LocalHost:
        host = LocalHost(
            test_app.app,
            connection_string=azurite,
            task_hub=task_hub or unique_hub(),
            clock=clock or SkippingClock(),
            host_json=APP_DIR / "host.json",
            env={**os.environ, "LOCAL_HOST_TEST_TICK": "0 0 0 1 1 *", **(env or {})},
        )
        host.start()
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.stop()


@pytest.fixture
def host(make_host: MakeHost) -> LocalHost:
    return make_host()
