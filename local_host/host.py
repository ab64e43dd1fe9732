"""``LocalHost``: the in-process API used by tests, the demo, benchmarks and the CLI.

::

    with LocalHost(app, task_hub="t1", clock=SkippingClock()) as host:
        iid = host.start_new("chain", {"city": "Oslo"})
        status = host.wait_for(iid, timeout_s=30)
        door = host.serve()          # HTTP triggers + management API on a free port
        httpx.post(f"{door.url}/api/start", headers={"x-functions-key": door.function_key})

Inputs and outputs are plain Python values; the host encodes them exactly as the durable client
would (inputs as JSON text, event data as the client's JSON-encoded JSON text).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from local_host import engine as eng
from local_host.clock import Clock, RealClock
from local_host.config import index_app, load_settings, read_host_json
from local_host.history import parse_timestamp
from local_host.store import Store

FUNCTION_KEY_SETTING = "LOCAL_HOST_FUNCTION_KEY"


@dataclass(frozen=True)
class Status:
    """An instance's status, as the management API reports it."""

    instance_id: str
    name: str
    runtime_status: str  # Pending, Running, Completed, Failed or Terminated
    input: Any
    output: Any
    custom_status: Any
    created_time: datetime
    last_updated_time: datetime

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Status:
        return cls(
            meta["id"], meta["name"], meta["status"], _decoded(meta.get("input")),
            meta.get("output"), meta.get("custom_status"),
            parse_timestamp(meta["created"]), parse_timestamp(meta["updated"]),
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The payload of ``GET /runtime/webhooks/durabletask/instances/{id}``."""
        return {
            "name": self.name,
            "instanceId": self.instance_id,
            "runtimeStatus": self.runtime_status,
            "input": self.input,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": self.created_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastUpdatedTime": self.last_updated_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def _decoded(text: str | None) -> Any:
    """An input is JSON text; a caller of the HTTP API may have posted a bare string."""
    try:
        return json.loads(text) if text is not None else None
    except json.JSONDecodeError:
        return text


@dataclass(frozen=True)
class Endpoint:
    url: str  # http://127.0.0.1:<port>
    function_key: str


class LocalHost:
    def __init__(
        self,
        app: Any,
        *,
        connection_string: str | None = None,
        task_hub: str | None = None,
        clock: Clock | None = None,
        host_json: Path | dict[str, Any] | None = None,
        app_module: ModuleType | None = None,
        function_key: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        settings_json = host_json if isinstance(host_json, dict) else read_host_json(
            app_module, host_json)  # fmt: skip
        self.settings = load_settings(settings_json, self.env, task_hub, connection_string)
        self.index = index_app(app)
        self.clock: Clock = clock or RealClock()
        self.function_key = function_key or self.env.get(FUNCTION_KEY_SETTING) or (
            secrets.token_urlsafe(32))  # fmt: skip
        store = Store(self.settings.connection_string, self.settings.task_hub)
        self.engine = eng.Engine(self.index, store, self.clock, self.settings)
        self._front_door: Any = None

    @property
    def task_hub(self) -> str:
        return self.settings.task_hub

    def __enter__(self) -> LocalHost:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Create the task hub table, resume unfinished work, start the background threads."""
        self.engine.start()

    def stop(self) -> None:
        if self._front_door is not None:
            self._front_door.stop()
            self._front_door = None
        self.engine.stop()

    def serve(self, port: int = 0) -> Endpoint:
        """Serve HTTP triggers, timer triggers and the management API; ``port=0``: a free one."""
        from local_host.frontdoor import FrontDoor

        if self._front_door is None:
            self._front_door = FrontDoor(self, port)
            self._front_door.start()
        return Endpoint(self._front_door.url, self.function_key)

    # ---- what the durable client can do ----------------------------------------------------

    def start_new(self, name: str, input: Any = None, instance_id: str | None = None) -> str:
        text = json.dumps(input) if input is not None else None
        return self.engine.start_instance(name, text, instance_id)

    def get_status(self, instance_id: str) -> Status | None:
        meta = self.engine.status(instance_id)
        return Status.from_meta(meta) if meta and meta.get("kind") == "orchestration" else None

    def wait_for(self, instance_id: str, timeout_s: float = 60.0) -> Status:
        """Block until the instance is Completed, Failed or Terminated (``TimeoutError`` if not)."""
        return Status.from_meta(self.engine.wait(instance_id, timeout_s))

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        return self.engine.history(instance_id)

    def list_instances(self) -> list[Status]:
        metas = self.engine.store.metas()
        return [Status.from_meta(m) for m in metas if m.get("kind") == "orchestration"]

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        """As ``DurableOrchestrationClient.raise_event``: the orchestrator receives the JSON text
        of ``data`` (the client JSON-encodes it before the extension stores it)."""
        self.engine.raise_event(instance_id, event_name, json.dumps(json.dumps(data)))

    def terminate(self, instance_id: str, reason: str = "") -> None:
        self.engine.terminate(instance_id, reason)

    def purge(self, instance_id: str) -> int:
        return self.engine.purge(instance_id)

    def signal_entity(self, name: str, key: str, operation: str, input: Any = None) -> None:
        text = json.dumps(input) if input is not None else None
        self.engine.signal_entity(eng.entity_instance_id(name, key), operation, text)

    def read_entity_state(self, name: str, key: str) -> tuple[bool, Any]:
        exists, state = self.engine.entity_state(eng.entity_instance_id(name, key))
        return exists, json.loads(state) if state is not None else None
