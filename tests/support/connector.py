"""The whole connector running in-process: the real app on the local host, against a sandbox.

``ConnectorUnderTest`` points the connector's runtime at a sandbox and Azurite (its own task hub),
runs ``function_app.app`` on ``local_host.LocalHost`` with a time-skipping clock, and offers the
few helpers end-to-end tests need: run a flow to its end, talk to the sandbox's controls, read
what landed in Anaplan through the sandbox's inspection endpoints (not through the connector's
own client), and read BC figures through plain HTTP.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from bc_anaplan.runtime import Runtime, environment
from devtools.environment import connector_environment


class Sandbox:
    """Plain-HTTP access to the sandbox's controls and inspection endpoints."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.http = httpx.Client(
            verify=ssl.create_default_context(cafile=info["ca_bundle"]), timeout=120
        )
        self.model = info["model_id"]

    def post(self, service: str, path: str, body: Any = None) -> Any:
        response = self.http.post(self.info[service] + path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def get(self, service: str, path: str, **params: Any) -> Any:
        response = self.http.get(self.info[service] + path, params=params)
        response.raise_for_status()
        return response.json()

    def cells(self, module: str, **filters: str) -> list[dict[str, Any]]:
        path = f"/_sandbox/anaplan/models/{self.model}/modules/{quote(module)}/cells"
        return list(self.get("anaplan_api", path, **filters))

    def members(self, list_name: str) -> list[dict[str, Any]]:
        path = f"/_sandbox/anaplan/models/{self.model}/lists/{quote(list_name)}"
        return list(self.get("anaplan_api", path))

    def tasks(self) -> list[dict[str, Any]]:
        path = f"/_sandbox/anaplan/models/{self.model}/tasks"
        return list(self.get("anaplan_api", path)["tasks"])

    def requests(self, service: str, wire: bool = False) -> list[dict[str, Any]]:
        """The sandbox's request log; ``wire``: only requests that crossed the network (a BC
        ``$batch`` counts once, not once per operation inside it)."""
        params = {"wire": "1"} if wire else {}
        return list(self.get(service, "/_sandbox/requests", **params))


def amounts_by_account_period(
    cells: list[dict[str, Any]], line_item: str
) -> dict[tuple[str, str], Decimal]:
    """Sum Anaplan cells of one line item per (account code, period name)."""
    totals: dict[tuple[str, str], Decimal] = {}
    for cell in cells:
        if cell["lineItem"] != line_item:
            continue
        account = cell["dimensions"]["GL Accounts"].split(" ", 1)[0]
        key = (account, cell["dimensions"]["Time"])
        totals[key] = totals.get(key, Decimal(0)) + Decimal(str(cell["value"]))
    return totals


class ConnectorUnderTest:
    def __init__(self, host: Any, runtime: Runtime, sandbox: Sandbox, env: dict[str, str]) -> None:
        self.host = host
        self.rt = runtime
        self.sandbox = sandbox
        self.env = env

    def run(
        self,
        flow: str,
        flow_input: dict[str, Any] | None = None,
        instance_id: str | None = None,
        timeout_s: float = 300,
    ) -> Any:
        iid = self.host.start_new(
            flow,
            flow_input or {"trigger": "cli"},
            instance_id=instance_id or f"{flow}-{uuid.uuid4().hex[:8]}",
        )
        status = self.host.wait_for(iid, timeout_s=timeout_s)
        assert status.runtime_status == "Completed", (status.runtime_status, status.output)
        return status.output


@contextmanager
def connector(
    info: dict[str, Any], storage: str, clock: Any = None
) -> Iterator[ConnectorUnderTest]:
    import function_app
    from local_host import LocalHost, SkippingClock

    task_hub = "e2e" + uuid.uuid4().hex[:10]
    env = connector_environment(info, storage, task_hub)
    # the sandbox finishes tasks in well under a second: poll it faster than Anaplan would like
    env.setdefault("ANAPLAN_POLL_SECONDS", "1")
    with (
        environment(env) as runtime,
        LocalHost(
            function_app.app,
            connection_string=storage,
            task_hub=task_hub,
            clock=clock or SkippingClock(),
            env=env,
        ) as host,
    ):
        yield ConnectorUnderTest(host, runtime, Sandbox(info), env)
