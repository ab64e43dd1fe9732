"""Debian's chromium, headless, driven over the DevTools protocol with aiohttp.

No download-at-install browser tool: the system's ``/usr/bin/chromium`` is started with
``--remote-debugging-port=0`` (it writes the port it chose to ``DevToolsActivePort`` in its
profile directory), a page target is opened, and a few protocol commands load a URL, evaluate
expressions and take a screenshot. Everything the page reports as a problem is collected:
uncaught exceptions, ``console.error``/``console.assert`` calls and browser log entries of level
error (failed loads, Content-Security-Policy violations).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,1000",
    "--remote-debugging-port=0",
)


@dataclass
class PageLoad:
    url: str
    title: str
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


class Chromium:
    def __init__(self) -> None:
        if not CHROMIUM.exists():
            raise RuntimeError(
                f"{CHROMIUM} is missing: the browser test needs Debian's chromium "
                "(`make chromium` installs it as root: apt-get install --no-install-recommends "
                "chromium)"
            )
        self.profile = tempfile.TemporaryDirectory(prefix="ops-chromium-")
        self.process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={self.profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.port = self._devtools_port()

    def _devtools_port(self, timeout_s: float = 30) -> int:
        marker = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port")

    def load(self, url: str, expressions: dict[str, str], screenshot: bool = True) -> PageLoad:
        """Open ``url`` in a new tab, wait for load, evaluate ``expressions``, screenshot."""
        return asyncio.run(self._load(url, expressions, screenshot))

    async def _load(self, url: str, expressions: dict[str, str], screenshot: bool) -> PageLoad:
        base = f"http://127.0.0.1:{self.port}"
        async with aiohttp.ClientSession() as http:
            async with http.put(f"{base}/json/new?about:blank") as response:
                target = await response.json(content_type=None)
            try:
                async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    return await _Session(ws).load(url, expressions, screenshot)
            finally:
                async with http.get(f"{base}/json/close/{target['id']}"):
                    pass

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Session:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        await self.ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads((await self.ws.receive(timeout=60)).data)
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result") or {})
            self.events.append(message)

    async def wait_for(self, event: str, timeout_s: float = 60) -> None:
        if any(e.get("method") == event for e in self.events):
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = json.loads((await self.ws.receive(timeout=timeout_s)).data)
            self.events.append(message)
            if message.get("method") == event:
                return
        raise TimeoutError(f"no {event} within {timeout_s} s")

    async def load(self, url: str, expressions: dict[str, str], screenshot: bool) -> PageLoad:
        for domain in ("Page", "Runtime", "Log"):
            await self.send(f"{domain}.enable")
        await self.send("Page.navigate", url=url)
        await self.wait_for("Page.loadEventFired")
        await asyncio.sleep(0.2)  # late console messages and CSP reports
        facts = {}
        for name, expression in expressions.items():
            result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
            facts[name] = result.get("result", {}).get("value")
        title = (await self.send("Runtime.evaluate", expression="document.title"))["result"]
        page = PageLoad(url, str(title.get("value", "")), _problems(self.events), facts)
        if screenshot:
            metrics = await self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            shot = await self.send(
                "Page.captureScreenshot",
                format="png",
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            )
            page.screenshot = base64.b64decode(shot["data"])
        return page


def _problems(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params") or {}
        if method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
    return found
