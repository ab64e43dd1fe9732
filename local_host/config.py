"""What the host needs to know before it runs: the app's functions and the host settings.

Functions are discovered exactly as the Python worker reports them to the Functions host:
``app.get_functions()``, each function's trigger and ``get_function_json()`` bindings, and the
callable the worker would invoke (``get_user_function()``). Settings come from ``host.json``
next to the app's module, with ``%NAME%`` references resolved from the environment as the real
host does, and the storage connection from the ``AzureWebJobsStorage`` setting.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import sys
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger("local_host")

DEFAULT_TASK_HUB = "bcanaplan"
CONNECTION_SETTING = "AzureWebJobsStorage"
_SETTING_REF = re.compile(r"^%([^%]+)%$")
_HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")


class ConfigurationError(Exception):
    """The host cannot start with these settings; the message names the setting."""


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: frozenset[str] | None  # None: every method
    auth_level: str  # ANONYMOUS, FUNCTION or ADMIN
    request_param: str
    client_param: str | None
    fn: Callable[..., Any]


@dataclass(frozen=True)
class TimerFunction:
    name: str
    schedule: str  # as declared; may be a %SETTING% reference
    param: str
    client_param: str | None
    run_on_startup: bool
    fn: Callable[..., Any]


@dataclass
class FunctionIndex:
    orchestrators: dict[str, Callable[[str], str]] = field(default_factory=dict)
    activities: dict[str, tuple[Callable[..., Any], str]] = field(default_factory=dict)
    entities: dict[str, Callable[[str], str]] = field(default_factory=dict)  # lower-case names
    http: list[HttpFunction] = field(default_factory=list)
    timers: list[TimerFunction] = field(default_factory=list)


@dataclass(frozen=True)
class HostSettings:
    task_hub: str
    connection_string: str
    max_activities: int
    max_orchestrations: int
    route_prefix: str


def load_app(spec: str) -> tuple[Any, ModuleType]:
    """Import ``module:attribute`` (the working directory is importable, as under ``func``)."""
    module_name, _, attribute = spec.partition(":")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    module = importlib.import_module(module_name)
    return getattr(module, attribute or "app"), module


_indexes: weakref.WeakKeyDictionary[Any, FunctionIndex] = weakref.WeakKeyDictionary()


def index_app(app: Any) -> FunctionIndex:
    """Index once per app object: ``get_functions()`` refuses to index the same app twice."""
    if app not in _indexes:
        _indexes[app] = _index(app)
    return _indexes[app]


def _index(app: Any) -> FunctionIndex:
    index = FunctionIndex()
    for function in app.get_functions():
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next(b for b in bindings if b["type"] == function.get_trigger().type)
        client = next((b["name"] for b in bindings if b["type"] == "durableClient"), None)
        name, fn, kind = function.get_function_name(), function.get_user_function(), trigger["type"]
        if kind == "orchestrationTrigger":
            index.orchestrators[trigger.get("orchestration") or name] = fn
        elif kind == "activityTrigger":
            index.activities[trigger.get("activity") or name] = (fn, trigger["name"])
        elif kind == "entityTrigger":
            index.entities[(trigger.get("entityName") or name).lower()] = fn
        elif kind == "httpTrigger":
            methods = trigger.get("methods")
            index.http.append(HttpFunction(
                name, trigger.get("route") or name,
                frozenset(m.upper() for m in methods) if methods else None,
                str(trigger.get("authLevel", "FUNCTION")).upper(), trigger["name"], client, fn,
            ))  # fmt: skip
        elif kind == "timerTrigger":
            index.timers.append(TimerFunction(
                name, trigger["schedule"], trigger["name"], client,
                bool(trigger.get("runOnStartup")), fn,
            ))  # fmt: skip
        else:
            log.warning("function %s has a %s trigger, which the local host ignores", name, kind)
    return index


def resolve_setting(value: str, env: Mapping[str, str], default: str | None = None) -> str:
    """``%NAME%`` means "the app setting NAME", as in the real host's binding expressions."""
    match = _SETTING_REF.match(value.strip())
    if not match:
        return value
    resolved = env.get(match.group(1), default)
    if resolved is None:
        raise ConfigurationError(f"app setting {match.group(1)} is not set (used as {value})")
    return resolved


def read_host_json(module: ModuleType | None, explicit: Path | None = None) -> dict[str, Any]:
    """``host.json`` beside the app's module (or the given path); ``{}`` if there is none."""
    path = explicit
    if path is None and module is not None and getattr(module, "__file__", None):
        path = Path(str(module.__file__)).resolve().parent / "host.json"
    if path is None or not path.exists():
        return {}
    return dict(json.loads(path.read_text()))


def load_settings(
    host_json: dict[str, Any],
    env: Mapping[str, str] | None = None,
    task_hub: str | None = None,
    connection_string: str | None = None,
) -> HostSettings:
    env = os.environ if env is None else env
    extensions = host_json.get("extensions", {})
    durable = extensions.get("durableTask", {})
    hub = task_hub or resolve_setting(
        durable.get("hubName", DEFAULT_TASK_HUB), env, DEFAULT_TASK_HUB
    )
    if not _HUB_NAME.match(hub):
        raise ConfigurationError(
            f"task hub name {hub!r} is invalid: 3-45 letters or digits, starting with a letter"
        )
    connection = connection_string or env.get(CONNECTION_SETTING)
    if not connection:
        raise ConfigurationError(f"app setting {CONNECTION_SETTING} is not set")
    return HostSettings(
        task_hub=hub,
        connection_string=connection,
        max_activities=int(durable.get("maxConcurrentActivityFunctions", 10)),
        max_orchestrations=int(durable.get("maxConcurrentOrchestratorFunctions", 10)),
        route_prefix=str(extensions.get("http", {}).get("routePrefix", "api")).strip("/"),
    )
