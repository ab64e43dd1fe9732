"""The ops API through the local host's front door, as an operator would use it.

Each test module gets its own sandbox and connector (``ops``): the modules change the sandbox's
data and the connector's state in different ways, and one process can run one connector at a
time. The connector is configured like production: the notification webhook URL is a secret in
(the sandbox's) Key Vault, ``PUBLIC_BASE_URL`` is the front door's address, and every timer is
pushed to New Year's midnight so that none fires during a test.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.connector import ConnectorUnderTest, connector
from tests.support.processes import running_sandbox

QUIET_SCHEDULE = "0 0 0 1 1 *"
SCHEDULES = (
    "ACTUALS_SCHEDULE",
    "REFERENCE_SYNC_SCHEDULE",
    "EMPLOYEES_SCHEDULE",
    "WRITEBACK_WATCH_SCHEDULE",
    "SUBSCRIPTIONS_SCHEDULE",
    "POLL_SCHEDULE",
    "RETENTION_SCHEDULE",
)


class Receiver:
    """A chat service's incoming webhook: records every message, or fails on demand."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.status = 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.status
                    if status == 200:
                        receiver.messages.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook/T000/B000/s3cr3t"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def about(self, run_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if run_id in m["text"]]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class OpsApp:
    """The connector under test plus an HTTP client of its ops API."""

    def __init__(self, c: ConnectorUnderTest, url: str, key: str, receiver: Receiver) -> None:
        self.c, self.url, self.key, self.receiver = c, url, key, receiver
        self.http = httpx.Client(base_url=url, timeout=120)

    def call(self, method: str, path: str, *, key: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {"x-functions-key": self.key} if key else {}
        return self.http.request(method, path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, (response.status_code, response.text)
        return response.json()

    def wait(self, instance_id: str, timeout_s: float = 180) -> Any:
        return self.c.host.wait_for(instance_id, timeout_s=timeout_s)

    def start(self, flow: str, body: dict[str, Any] | None = None) -> str:
        started = self.ok("POST", f"/api/runs/{flow}", 202, json=body or {})
        return str(started["id"])

    def run(self, flow: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start a flow through the API and wait for it; the run as ``GET /api/runs/{id}``."""
        instance = self.start(flow, body)
        self.wait(instance)
        return dict(self.ok("GET", f"/api/runs/{quote(instance, safe='')}"))

    def instances(self) -> set[str]:
        return {s.instance_id for s in self.c.host.list_instances()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def put_secret(info: dict[str, Any], name: str, value: str) -> None:
    """Store a secret in the sandbox's Key Vault the way an administrator would (REST API)."""
    verify = ssl.create_default_context(cafile=info["ca_bundle"])
    with httpx.Client(verify=verify, timeout=30) as http:
        token = http.post(
            f"{info['entra']}/{info['tenant_id']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
                "scope": "https://vault.azure.net/.default",
            },
        ).json()["access_token"]
        response = http.put(
            f"{info['keyvault']}/secrets/{name}",
            params={"api-version": "7.4"},
            json={"value": value},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()


@contextmanager
def ops_connector(azurite: str, clock: Any = None, **settings: str) -> Iterator[OpsApp]:
    port = free_port()
    with running_sandbox("--scale", "small", "--fast") as info, Receiver() as receiver:
        put_secret(info, "ops-webhook-url", receiver.url)
        env = {
            **info["connector_env"],
            **dict.fromkeys(SCHEDULES, QUIET_SCHEDULE),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "BC_RATE_LIMIT_PER_MINUTE": "3000",
            **settings,
        }
        with connector({**info, "connector_env": env}, azurite, clock=clock) as c:
            door = c.host.serve(port=port)
            yield OpsApp(c, door.url, door.function_key, receiver)


@pytest.fixture(scope="module")
def ops(azurite: str) -> Iterator[OpsApp]:
    with ops_connector(azurite) as app:
        yield app
