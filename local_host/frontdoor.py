"""The front door: HTTP triggers, timer triggers and the durable client's endpoints, like ``func``.

One asyncio loop in a background thread serves two loopback listeners with aiohttp:

* the public one: ``/<routePrefix>/<route>`` for HTTP trigger functions (``FUNCTION`` and
  ``ADMIN`` auth levels want the function key as ``?code=`` or ``x-functions-key``) and
  ``/runtime/webhooks/durabletask/...``, the management URLs the client hands out (same key);
* the RPC one, ``/durabletask/...``, which only the durable client binding knows about, like the
  extension's local RPC endpoint.

Async functions (every function with a durable client binding is async) run on this loop, so the
SDK's shared aiohttp session belongs to it; sync functions run in the loop's thread pool. Timer
triggers fire on their NCRONTAB schedules on the host's clock.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import re
import secrets
import threading
from collections.abc import Mapping
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import azure.functions as func
from aiohttp import web
from azure.functions.timer import TimerRequest

from local_host import client_api
from local_host.config import ConfigurationError, HttpFunction, TimerFunction, resolve_setting
from local_host.ncrontab import CronSchedule

if TYPE_CHECKING:
    from local_host.host import LocalHost

log = logging.getLogger("local_host")
WEBHOOK_PATH = "/runtime/webhooks/durabletask"
_MAX_BODY = 100 * 1024 * 1024


class FrontDoor:
    def __init__(self, host: LocalHost, port: int = 0) -> None:
        self.host, self.port, self.rpc_port = host, port, 0
        self.routes = sorted(
            ((_compile(f"{host.settings.route_prefix}/{f.route}"), f) for f in host.index.http),
            key=lambda item: item[0].pattern.count("(?P"),  # literal routes win
        )
        self.schedules = [(t, *_schedule(t, host.env)) for t in host.index.timers]
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="local-host-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rpc_base(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}/durabletask/"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(timeout=30) or self._failure is not None:
            raise RuntimeError(f"the front door did not start: {self._failure}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    # ---- the durable client binding --------------------------------------------------------

    def management_urls(self, instance_id: str) -> dict[str, str]:
        prefix = f"{self.url}{WEBHOOK_PATH}/instances/{quote(instance_id, safe='')}"
        query = f"taskHub={self.host.task_hub}&connection=Storage&code={self.host.function_key}"
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{prefix}?{query}",
            "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{prefix}?{query}",
            "restartPostUri": f"{prefix}/restart?{query}",
            "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{prefix}/resume?reason={{text}}&{query}",
        }

    def binding_json(self) -> str:
        """What the extension passes for a ``durableClient`` input binding."""
        base, code = f"{self.url}{WEBHOOK_PATH}", f"code={self.host.function_key}"
        create = f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
        return json.dumps({
            "taskHubName": self.host.task_hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{create}?{code}",
                "createAndWaitOnNewInstancePostUri":
                    f"{create}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{code}",
            },
            "managementUrls": self.management_urls("INSTANCEID"),
            "baseUrl": base,
            "requiredQueryStringParameters": code,
            "rpcBaseUrl": self.rpc_base,
        })  # fmt: skip

    # ---- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread ends
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        front = web.Application(client_max_size=_MAX_BODY)
        front.router.add_route("*", "/{tail:.*}", self._front)
        rpc = web.Application(client_max_size=_MAX_BODY)
        rpc.router.add_route("*", "/durabletask/{tail:.*}", self._rpc)
        runners = [web.AppRunner(front, access_log=None), web.AppRunner(rpc, access_log=None)]
        for runner in runners:
            await runner.setup()
        front_site = web.TCPSite(runners[0], "127.0.0.1", self.port)
        rpc_site = web.TCPSite(runners[1], "127.0.0.1", 0)
        await front_site.start()
        await rpc_site.start()
        self.port, self.rpc_port = _bound_port(runners[0]), _bound_port(runners[1])
        crons = [asyncio.create_task(self._cron(*entry)) for entry in self.schedules]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            for task in crons:
                task.cancel()
            from azure.durable_functions.models.utils import http_utils

            await http_utils._close_session()  # the SDK's session would outlive this loop
            for runner in runners:
                await runner.cleanup()

    async def _front(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(WEBHOOK_PATH + "/"):
            if not self._authorized(request, "FUNCTION"):
                return web.Response(status=401)
            return await client_api.handle(
                self.host, request, path[len(WEBHOOK_PATH) :], self.management_urls
            )
        for pattern, function in self.routes:
            match = pattern.fullmatch(path.strip("/"))
            if match is None:
                continue
            if function.methods is not None and request.method not in function.methods:
                continue
            if not self._authorized(request, function.auth_level):
                return web.Response(status=401)
            params = {k: v for k, v in match.groupdict().items() if v is not None}
            return await self._invoke_http(function, request, params)
        return web.Response(status=404)

    async def _rpc(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len("/durabletask") :]
        return await client_api.handle(self.host, request, path, self.management_urls)

    def _authorized(self, request: web.Request, level: str) -> bool:
        if level == "ANONYMOUS":
            return True
        key = request.query.get("code") or request.headers.get("x-functions-key") or ""
        return secrets.compare_digest(key.encode(), self.host.function_key.encode())

    async def _invoke_http(
        self, function: HttpFunction, request: web.Request, params: dict[str, str]
    ) -> web.StreamResponse:
        req = func.HttpRequest(
            method=request.method, url=str(request.url), headers=dict(request.headers),
            params=dict(request.query), route_params=params, body=await request.read(),
        )  # fmt: skip
        kwargs: dict[str, Any] = {function.request_param: req}
        if function.client_param:
            kwargs[function.client_param] = self.binding_json()
        try:
            result = await _call(function.fn, kwargs)
        except Exception:
            log.exception("HTTP function %s failed", function.name)
            return web.Response(status=500)
        return _to_response(result)

    async def _cron(self, timer: TimerFunction, schedule: CronSchedule, zone: tzinfo) -> None:
        clock = self.host.clock
        if timer.run_on_startup:
            await self._fire(timer)
        while True:
            local_now = clock.now().astimezone(zone).replace(tzinfo=None)
            due = schedule.next_after(local_now).replace(tzinfo=zone)
            while (remaining := (due - clock.now()).total_seconds()) > 0:
                await asyncio.sleep(min(remaining, 1.0))
            await self._fire(timer)

    async def _fire(self, timer: TimerFunction) -> None:
        log.info("timer trigger %s fired", timer.name)
        try:
            kwargs: dict[str, Any] = {timer.param: TimerRequest(past_due=False)}
            if timer.client_param:
                kwargs[timer.client_param] = self.binding_json()
            await _call(timer.fn, kwargs)
        except Exception:
            log.exception("timer function %s failed", timer.name)


async def _call(fn: Any, kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    result = await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, **kwargs))
    return await result if inspect.isawaitable(result) else result


def _to_response(result: Any) -> web.Response:
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str | bytes):
        return web.Response(body=result, content_type="text/plain")
    headers = dict(result.headers)
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = f"{result.mimetype}; charset={result.charset}"
    return web.Response(status=result.status_code, body=result.get_body(), headers=headers)


def _compile(route: str) -> re.Pattern[str]:
    """An ASP.NET-style route template (``a/{b}/{c?}/{*rest}``, ``{id:int}``) as a regex."""
    pattern = ""
    for index, segment in enumerate(route.strip("/").split("/")):
        separator = "/" if index else ""
        match = re.fullmatch(r"\{(\*?)(\w+)(?::(\w+))?(\?)?\}", segment)
        if match is None:
            pattern += separator + re.escape(segment)
            continue
        rest, name, constraint, optional = match.groups()
        body = ".*" if rest else "[0-9]+" if constraint in ("int", "long") else "[^/]+"
        group = f"{separator}(?P<{name}>{body})"
        pattern += f"(?:{group})?" if optional else group
    return re.compile(pattern, re.IGNORECASE)


def _schedule(timer: TimerFunction, env: Mapping[str, str]) -> tuple[CronSchedule, tzinfo]:
    expression = resolve_setting(timer.schedule, env)
    try:
        schedule = CronSchedule(expression)
    except ValueError as exc:
        raise ConfigurationError(f"timer function {timer.name}: {exc}") from None
    zone_name = env.get("WEBSITE_TIME_ZONE")
    try:
        return schedule, ZoneInfo(zone_name) if zone_name else UTC
    except ZoneInfoNotFoundError:
        raise ConfigurationError(
            f"WEBSITE_TIME_ZONE {zone_name!r} is not a known time zone"
        ) from None


def _bound_port(runner: web.AppRunner) -> int:
    server = runner.addresses[0]
    return int(server[1])
