"""A third-party-style Business Central client kit for the simulator's own tests (plain httpx).

Deliberately not the connector's client: the simulator is exercised the way an outside
integration would use BC, straight from the documented API, so the two cannot share a
misunderstanding. Other ``test_bc_*`` modules import ``BcKit``, ``WebhookReceiver`` and the
fixtures from here:

* ``bc``: a kit on the session's shared ``--scale small --fast`` sandbox, for tests that only read
  or that undo what they change;
* ``bc_private``: a kit on a sandbox of the module's own, for tests that post entries, block
  values, move the clock or otherwise leave marks other tests could trip over.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.support.processes import running_sandbox

BC_SCOPE = "https://api.businesscentral.dynamics.com/.default"
VAULT_SCOPE = "https://vault.azure.net/.default"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$")
CORRELATION = re.compile(r"  CorrelationId:  [0-9a-f-]{36}\.$")


class BcKit:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.ssl = ssl.create_default_context(cafile=info["ca_bundle"])
        self.http = httpx.Client(verify=self.ssl, timeout=60.0)
        self.tenant = info["tenant_id"]
        self.company_id = info["company_id"]
        self.root = f"{info['bc']}/v2.0/{self.tenant}/Production/api/v2.0"
        self.company = f"{self.root}/companies({self.company_id})"
        self._tokens: dict[str, str] = {}

    # --- identity ----------------------------------------------------------------------------
    def token(self, scope: str = BC_SCOPE, fresh: bool = False) -> str:
        if fresh or scope not in self._tokens:
            response = self.http.post(
                f"{self.info['entra']}/{self.tenant}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.info["client_id"],
                    "client_secret": self.info["client_secret"],
                    "scope": scope,
                },
            )
            assert response.status_code == 200, response.text
            self._tokens[scope] = response.json()["access_token"]
        return self._tokens[scope]

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}", **extra}

    # --- API ---------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """``/accounts`` is company-scoped; ``~/subscriptions`` is under the API root."""
        if path.startswith("http"):
            return path
        if path.startswith("~"):
            return self.root + path[1:]
        return self.company + path

    def get(
        self, path: str, headers: dict[str, str] | None = None, **params: Any
    ) -> httpx.Response:
        return self.http.get(
            self.url(path), params=params or None, headers=self.headers(**(headers or {}))
        )

    def post(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return self.http.post(self.url(path), json=body, headers=self.headers(**headers))

    def patch(self, path: str, body: Any, etag: str | None = "*", **headers: str) -> httpx.Response:
        if etag is not None:
            headers["If-Match"] = etag
        return self.http.patch(self.url(path), json=body, headers=self.headers(**headers))

    def delete(self, path: str, etag: str | None = "*") -> httpx.Response:
        headers = {"If-Match": etag} if etag is not None else {}
        return self.http.delete(self.url(path), headers=self.headers(**headers))

    def values(self, path: str, **params: Any) -> list[dict[str, Any]]:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()["value"]

    def pages(
        self, path: str, page_size: int | None = None, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following ``@odata.nextLink`` verbatim."""
        headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
        response = self.get(path, headers=headers, **params)
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            yield body
            link = body.get("@odata.nextLink")
            if not link:
                return
            response = self.http.get(link, headers=self.headers(**headers))

    # --- sandbox controls --------------------------------------------------------------------
    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.post(f"{self.info['bc']}/_sandbox/{path}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    def requests_log(self) -> list[dict[str, Any]]:
        return self.http.get(f"{self.info['bc']}/_sandbox/requests").json()

    def advance_clock(self, seconds: float) -> None:
        response = self.http.post(
            f"{self.info['bc']}/_sandbox/clock", json={"advance_seconds": seconds}
        )
        assert response.status_code == 200, response.text


def moment(text: str) -> datetime:
    """A BC datetime as an aware datetime: trimmed milliseconds do not compare as text."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def bc_error(response: httpx.Response, status: int, code: str) -> str:
    """Assert BC's error shape and return the message without the CorrelationId suffix."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert CORRELATION.search(error["message"]), error["message"]
    return CORRELATION.sub("", error["message"])


class WebhookReceiver:
    """A plain-HTTP notification endpoint on loopback, run on its own event loop thread.

    ``handshake`` decides how validation requests are answered ("echo", "wrong", or a status
    code); ``statuses`` is a queue of statuses for successive notification POSTs (200 after).
    """

    def __init__(self) -> None:
        self.handshake: str | int = "echo"
        self.statuses: list[int] = []
        self.validations: list[str] = []
        self.notifications: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.attempts = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = ""

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/hook", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if token is not None:
            self.validations.append(token)
            if self.handshake == "echo":
                return web.Response(text=token, content_type="text/plain")
            if self.handshake == "wrong":
                return web.Response(text="not-the-token", content_type="text/plain")
            return web.Response(status=int(self.handshake))
        self.attempts += 1
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.notifications.append(await request.json())
            self.headers.append(dict(request.headers))
        return web.Response(status=status)

    def items(self) -> list[dict[str, Any]]:
        return [item for batch in self.notifications for item in batch["value"]]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def bc(sandbox: dict[str, Any]) -> Iterator[BcKit]:
    """A kit on the shared sandbox; throttling limits are restored after the module."""
    kit = BcKit(sandbox)
    try:
        yield kit
    finally:
        kit.control("bc/limits", {"reset": True})


@pytest.fixture(scope="module")
def bc_private() -> Iterator[BcKit]:
    """A kit on a sandbox of this module's own (free to post, block, and move the clock)."""
    with running_sandbox("--scale", "small", "--fast") as info:
        yield BcKit(info)


# --- the kit's own assumptions about the sandbox ----------------------------------------------
def test_json_line_names_every_bc_entra_and_vault_setting(sandbox: dict[str, Any]) -> None:
    for name in (
        "bc",
        "entra",
        "keyvault",
        "tenant_id",
        "environment",
        "company_id",
        "client_id",
        "client_secret",
        "webhook_client_state",
        "ca_bundle",
    ):
        assert sandbox.get(name), name
    env = sandbox["connector_env"]
    assert env["BC_API_BASE_URL"] == sandbox["bc"]
    assert env["ENTRA_AUTHORITY_HOST"] == env["AZURE_AUTHORITY_HOST"] == sandbox["entra"]
    assert env["KEY_VAULT_URL"] == sandbox["keyvault"]
    assert env["BC_TENANT_ID"] == env["AZURE_TENANT_ID"] == sandbox["tenant_id"]
    assert env["BC_CLIENT_ID"] == env["AZURE_CLIENT_ID"] == sandbox["client_id"]
    assert env["AZURE_CLIENT_SECRET"] == sandbox["client_secret"]
    assert env["BC_ENVIRONMENT"] == sandbox["environment"] == "Production"
    assert env["BC_COMPANY_ID"] == sandbox["company_id"]
    assert GUID.match(sandbox["company_id"]) and GUID.match(sandbox["tenant_id"])


def test_companies_lists_the_one_company(bc: BcKit) -> None:
    companies = bc.values("~/companies")
    assert [c["id"] for c in companies] == [bc.company_id]
    assert companies[0]["name"] == "CRONUS Manufacturing Ltd."
