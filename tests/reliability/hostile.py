"""A hostile HTTPS server in front of a sandbox service: it forwards, and lies where told to.

``TamperingProxy`` listens on loopback with its own CA (``sandbox.common.tls``), forwards every
request to the real simulator (BC or Anaplan) and hands the answer back, with the simulator's
origin rewritten to its own in every body (``@odata.nextLink`` and paging links must stay on the
origin the connector was configured with, or the HTTP layer refuses to send its token there).
Tests point the connector at it with ``env(...)`` (base URL and a CA bundle trusting both CAs)
and install hooks:

* ``tamper(match, edit)``: for requests ``match(method, path, query)`` accepts, the forwarded
  answer's body is replaced by ``edit(body)`` -- a parsed JSON value for JSON answers, raw bytes
  otherwise (return bytes to send bytes, anything else is sent as JSON);
* ``serve(match, body)``: such requests are not forwarded at all; ``body`` (bytes, or a callable
  taking the request path and returning bytes) is sent with status 200.

Everything else passes through untouched, so a whole flow can run against it and meet exactly
one malformed payload where a test wants it.

``connector_behind_proxy(service, ...)`` is the set-up the hostile tests share: a fresh sandbox,
the proxy in front of one of its services, and the connector configured with the proxy's address
as that service's base URL.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.common.tls import SandboxTls
from tests.support.connector import ConnectorUnderTest, connector
from tests.support.processes import running_sandbox

Match = Callable[[str, str, Mapping[str, str]], bool]
_HOP_BY_HOP = {
    "connection",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "keep-alive",
    "host",
    "accept-encoding",
}


@dataclass
class _Hook:
    match: Match
    edit: Callable[[Any], Any] | None = None
    body: bytes | Callable[[str], bytes] | None = None
    hits: int = 0


# the connector's base-URL setting of each service the proxy can stand in front of
BASE_URL_SETTINGS = {"bc": "BC_API_BASE_URL", "anaplan_api": "ANAPLAN_API_URL"}


class TamperingProxy:
    def __init__(self, upstream: str, upstream_ca: str, workdir: Path) -> None:
        self.upstream = upstream.rstrip("/")
        self.tls = SandboxTls.create(workdir)
        self.bundle = workdir / "trust.pem"
        self.bundle.write_text(Path(upstream_ca).read_text() + self.tls.ca_path.read_text())
        self._upstream_ssl = ssl.create_default_context(cafile=upstream_ca)
        self._hooks: list[_Hook] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="tampering-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def env(self, base_setting: str, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` with ``base_setting`` pointing here and a CA bundle that trusts both ends."""
        return {**env, base_setting: self.url, "CONNECTOR_CA_BUNDLE": str(self.bundle)}

    # -- hooks -------------------------------------------------------------------------------------
    def tamper(self, match: Match, edit: Callable[[Any], Any]) -> _Hook:
        hook = _Hook(match, edit=edit)
        with self._lock:
            self._hooks.append(hook)
        return hook

    def serve(self, match: Match, body: bytes | Callable[[str], bytes]) -> _Hook:
        hook = _Hook(match, body=body)
        with self._lock:
            self._hooks.append(hook)
        return hook

    def clear(self) -> None:
        with self._lock:
            self._hooks.clear()

    def _hook_for(self, method: str, path: str, query: Mapping[str, str]) -> _Hook | None:
        with self._lock:
            for hook in self._hooks:
                if hook.match(method, path, query):
                    hook.hits += 1
                    return hook
        return None

    # -- server --------------------------------------------------------------------------------
    def __enter__(self) -> TamperingProxy:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the tampering proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.tls.server_context)
        await site.start()
        self.port = runner.addresses[0][1]
        connector = aiohttp.TCPConnector(ssl=self._upstream_ssl, limit=20)
        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self._session = session
            self._ready.set()
            await self._stop.wait()
        await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        hook = self._hook_for(request.method, request.path, request.query)
        if hook is not None and hook.body is not None:
            body = hook.body(request.path) if callable(hook.body) else hook.body
            return web.Response(body=body, content_type="application/octet-stream")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        payload = await request.read()
        async with self._session.request(
            request.method,
            self.upstream + request.rel_url.raw_path_qs,
            headers=headers,
            data=payload or None,
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            status = upstream.status
            answer_headers = {
                k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
            }
        body = body.replace(self.upstream.encode(), self.url.encode())
        if hook is not None and hook.edit is not None and status < 300:
            body = _edited(body, answer_headers.get("Content-Type", ""), hook.edit)
        return web.Response(status=status, body=body, headers=answer_headers)


def _edited(body: bytes, content_type: str, edit: Callable[[Any], Any]) -> bytes:
    if "json" in content_type:
        result = edit(json.loads(body))
    else:
        result = edit(body)
    return result if isinstance(result, bytes) else json.dumps(result).encode()


@contextmanager
def connector_behind_proxy(
    service: str, workdir: Path, storage: str
) -> Iterator[tuple[ConnectorUnderTest, TamperingProxy]]:
    """A fresh small sandbox, the proxy in front of its ``service`` ("bc" or "anaplan_api"),
    and the connector on the local host configured with the proxy as that service."""
    setting = BASE_URL_SETTINGS[service]
    with (
        running_sandbox("--scale", "small", "--fast") as info,
        TamperingProxy(info[service], info["ca_bundle"], workdir) as hostile,
    ):
        through = {**info, "connector_env": hostile.env(setting, info["connector_env"])}
        with connector(through, storage) as c:
            yield c, hostile
