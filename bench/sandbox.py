"""The sandbox as a separate process, and its controls (request log, data, inspection).

The benchmarks read request counts from the sandbox's own log, never from the connector: BC's
with ``?wire=1`` (a ``$batch`` counts once, as BC's throttling counts it), every other service's
as is. ``/_sandbox/`` calls are never logged, so talking to the controls does not disturb the
counts.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from devtools.processes import read_ready_line, stop

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("bc", "entra", "keyvault", "anaplan_auth", "anaplan_api")


class Sandbox:
    """``python -m sandbox serve`` as a child process (a context manager)."""

    def __init__(self, scale: int | str, fast: bool = False, start_timeout_s: float = 120) -> None:
        self.scale = str(scale)
        self.fast = fast
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.startup_s = 0.0
        self._stderr: list[str] = []
        self.http: httpx.Client | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def __enter__(self) -> Sandbox:
        cmd = [sys.executable, "-m", "sandbox", "serve", "--scale", self.scale]
        if self.fast:
            cmd.append("--fast")
        started = time.monotonic()
        self.process = subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        threading.Thread(target=self._drain, daemon=True).start()
        ready = read_ready_line(self.process, self.start_timeout_s)
        if ready is None:
            self.__exit__(None, None, None)
            raise RuntimeError("the sandbox did not start:\n" + "".join(self._stderr[-30:]))
        self.startup_s = time.monotonic() - started
        self.info = ready
        self.http = httpx.Client(
            verify=ssl.create_default_context(cafile=self.info["ca_bundle"]), timeout=300
        )
        return self

    def _drain(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for text in self.process.stderr:
            self._stderr.append(text)

    def __exit__(self, *exc: object) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None
        proc, self.process = self.process, None
        if proc is not None:
            stop(proc)

    # --- controls ---------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        if self.http is None:
            raise RuntimeError("the sandbox is not running")
        return self.http

    def get(self, service: str, path: str, **params: Any) -> Any:
        response = self._client().get(self.info[service] + path, params=params)
        response.raise_for_status()
        return response.json()

    def post(self, service: str, path: str, body: Any = None) -> Any:
        response = self._client().post(self.info[service] + path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset_requests(self) -> None:
        for service in SERVICES:
            self._client().delete(self.info[service] + "/_sandbox/requests").raise_for_status()

    def requests(self) -> dict[str, dict[str, Any]]:
        return request_log(self._client(), self.info)

    def module_totals(self, module: str) -> Any:
        path = f"/_sandbox/anaplan/models/{self.info['model_id']}/modules/{quote(module)}/totals"
        return self.get("anaplan_api", path)


def request_log(http: httpx.Client, info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per service: ``total`` and ``by_route`` (``"GET <route template>": count``; failed
    requests get their status appended, 0 = connection closed)."""
    logs: dict[str, dict[str, Any]] = {}
    for service in SERVICES:
        params = {"wire": "1"} if service == "bc" else {}
        response = http.get(info[service] + "/_sandbox/requests", params=params)
        response.raise_for_status()
        by_route: dict[str, int] = {}
        for row in response.json():
            key = f"{row['method']} {row['route']}"
            if row["status"] >= 400 or row["status"] == 0:
                key += f" -> {row['status']}"
            by_route[key] = by_route.get(key, 0) + int(row["count"])
        logs[service] = {"total": sum(by_route.values()), "by_route": by_route}
    return logs


def totals(logs: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {service: int(log["total"]) for service, log in logs.items()}


def route_count(logs: dict[str, dict[str, Any]], service: str, fragment: str) -> int:
    """Requests of ``service`` whose route contains ``fragment`` (e.g. ``generalLedgerEntries``)."""
    return sum(count for route, count in logs[service]["by_route"].items() if fragment in route)
