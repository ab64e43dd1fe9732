"""Sandbox-only controls and inspection under ``/_sandbox/anaplan/`` (never part of the API).

Inspection lets tests and benchmarks see what landed without the client under test:
``GET /_sandbox/anaplan/models/{modelId}/lists/{name}`` and
``GET /_sandbox/anaplan/models/{modelId}/modules/{name}/cells``. Controls drive scenarios:
approve a plan version, regenerate a budget of a given size, archive/lock/unlock the model, the
opt-in 409 busy mode, holding running tasks (to observe queueing deterministically), the rate
limit, a tenant still accepting the legacy v1 certificate payload (off by default), a reset to
the seeded dataset, a planner editing single budget cells, and the next tasks of an action
failing on Anaplan's side. See ``sandbox/anaplan/README.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from aiohttp import web

from sandbox.anaplan import budget
from sandbox.anaplan.envelope import json_response
from sandbox.anaplan.lists import PlanList
from sandbox.anaplan.model import ARCHIVED, LOCKED, UNLOCKED, PlanModel
from sandbox.anaplan.modules import Module
from sandbox.anaplan.numbers import to_stored
from sandbox.anaplan.routing import Handler
from sandbox.anaplan.state import STATE, AnaplanState

PREFIX = "/_sandbox/anaplan"


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _model(request: web.Request) -> PlanModel:
    model = request.app[STATE].model_by_id(request.match_info["modelId"])
    if model is None:
        raise ControlError(404, f"no model {request.match_info['modelId']}")
    return model


async def _body(request: web.Request) -> dict[str, Any]:
    if not await request.read():
        return {}
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        raise ControlError(400, f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    return body


def _member_view(plan_list: PlanList) -> list[dict[str, Any]]:
    return [
        {"name": item.name, "code": item.code, "parent": None, "properties": dict(item.properties)}
        for item in plan_list.items()
    ]


def _filters(module: Module, query: dict[str, str]) -> dict[int, set[int]]:
    """``?<dimension>=<member name or code>`` -> allowed member positions per dimension."""
    filters: dict[int, set[int]] = {}
    for name, value in query.items():
        if name == "lineItem":
            continue
        index = module.dimension_index(name)
        if index is None:
            dims = [d.name for d in module.dimensions]
            raise ControlError(400, f"{name!r} is not a dimension of {module.name}: {dims}")
        dimension = module.dimensions[index]
        if dimension.plan_list is None:
            filters[index] = {i for i, m in enumerate(dimension.months) if m == value}
        else:
            filters[index] = {
                item.position
                for item in dimension.plan_list.items()
                if value in (item.name, item.code)
            }
    return filters


def _selected(module: Module, line_item: str | None, query: dict[str, str]) -> Iterator[tuple]:
    filters = _filters(module, query)
    for li in module.line_items:
        if line_item is not None and li.name != line_item:
            continue
        for key in module.cells[li.name]:
            if all(module.position_in(key, i) in allowed for i, allowed in filters.items()):
                yield li, key


def _cells_view(module: Module, line_item: str | None, query: dict[str, str]) -> list[dict]:
    cells = []
    for li, key in sorted(_selected(module, line_item, query), key=lambda pair: pair[1]):
        positions = module.positions(key)
        cells.append(
            {
                "dimensions": {
                    d.name: d.member_name(p)
                    for d, p in zip(module.dimensions, positions, strict=True)
                },
                "lineItem": li.name,
                "value": module.get(li.name, key),
            }
        )
    return cells


def _totals_view(module: Module, query: dict[str, str]) -> dict[str, dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {
        li.name: {"cells": 0, "sum": Decimal(0)} for li in module.line_items
    }
    for li, key in _selected(module, None, query):
        value = module.get(li.name, key)
        totals[li.name]["cells"] += 1
        if isinstance(value, Decimal):
            totals[li.name]["sum"] += value
    return totals


async def inspect_list(request: web.Request) -> web.Response:
    model = _model(request)
    plan_list = model.lists.get(request.match_info["name"])
    if plan_list is None:
        raise ControlError(
            404, f"no list {request.match_info['name']!r}; lists: {list(model.lists)}"
        )
    return json_response(_member_view(plan_list))


async def inspect_cells(request: web.Request) -> web.Response:
    model = _model(request)
    module = model.modules.get(request.match_info["name"])
    if module is None:
        raise ControlError(
            404, f"no module {request.match_info['name']!r}; modules: {list(model.modules)}"
        )
    line_item = request.query.get("lineItem")
    if line_item is not None and module.line_item(line_item) is None:
        raise ControlError(404, f"no line item {line_item!r} in {module.name}")
    return json_response(_cells_view(module, line_item, dict(request.query)))


async def inspect_totals(request: web.Request) -> web.Response:
    model = _model(request)
    module = model.modules.get(request.match_info["name"])
    if module is None:
        raise ControlError(404, f"no module {request.match_info['name']!r}")
    return json_response(_totals_view(module, dict(request.query)))


async def inspect_tasks(request: web.Request) -> web.Response:
    model = _model(request)
    state = request.app[STATE]
    tasks = [
        {
            **task.describe(),
            "objectId": task.object_id,
            "kind": task.kind,
            "userId": task.user_login,
            "startedMs": task.started_ms,
            "finishedMs": task.finished_ms,
        }
        for task in state.tasks.all_tasks()
    ]
    return json_response({"modelId": model.id, "tasks": tasks})


async def overview(request: web.Request) -> web.Response:
    state = request.app[STATE]
    model = state.model
    return json_response(
        {
            "workspaceId": model.workspace.id,
            "modelId": model.id,
            "activeState": model.active_state,
            "busy": state.tasks.busy,
            "held": state.tasks.held,
            "busyConflicts": state.busy_conflicts,
            "certV1Accepted": state.certificates.accept_v1,
            "rateLimitPerMinute": state.rate_limiter.per_minute,
            "lists": {name: len(pl) for name, pl in model.lists.items()},
            "cells": {name: m.cell_count() for name, m in model.modules.items()},
        }
    )


def _version(state: AnaplanState, body: dict[str, Any]) -> str:
    version = body.get("version")
    if not isinstance(version, str) or state.model.lists["Versions"].by_name(version) is None:
        names = [v.name for v in state.model.lists["Versions"].items()]
        raise ControlError(400, f"'version' must be one of {names}")
    return version


async def approve(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _body(request)
    version = _version(state, body)
    approved = body.get("approved", True)
    if not isinstance(approved, bool):
        raise ControlError(400, "'approved' must be true or false")
    model = state.model
    status = model.modules["Version Status"]
    item = model.lists["Versions"].by_name(version)
    assert item is not None
    key = status.key((item.position,))
    stamp = state.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ") if approved else ""
    status.set("Approved", key, approved)
    status.set("Approved At", key, stamp)
    return json_response({"version": version, "approved": approved, "approvedAt": stamp or None})


async def regenerate_budget(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _body(request)
    version = _version(state, body)
    rows = body.get("rows")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int)):
        raise ControlError(400, "'rows' must be an integer")
    _refuse_while_busy(state)
    try:
        cells = budget.generate(state.model, state.ctx.seed, version, rows)
    except ValueError as exc:
        raise ControlError(400, str(exc)) from exc
    budget.replace_version(state.model, version, cells)
    return json_response({"version": version, "cells": len(cells)})


async def budget_cells(request: web.Request) -> web.Response:
    """A planner typing figures into the Budget module: set (or, with ``amount: null``, clear)
    single cells of a version. Members are named as an import names them (list codes, month
    names such as ``Jan 27``)."""
    state = request.app[STATE]
    body = await _body(request)
    version = _version(state, body)
    cells = body.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise ControlError(400, "'cells' must be a list of objects")
    _refuse_while_busy(state)
    module = state.model.modules["Budget"]
    lookups = [(d, d.lookup()) for d in module.dimensions]
    amounts = module.cells["Amount"]
    changes = []
    for cell in cells:
        positions = []
        for dimension, lookup in lookups:
            member = version if dimension.name == "Versions" else cell.get(dimension.name)
            if not isinstance(member, str) or member not in lookup:
                raise ControlError(400, f"{dimension.name} member {member!r} not found")
            positions.append(lookup[member])
        amount = cell.get("amount")
        try:
            value = None if amount is None else to_stored(Decimal(str(amount)))
        except ArithmeticError as exc:
            raise ControlError(400, f"amount {amount!r} is not a number") from exc
        changes.append((Module.key(positions), value))
    for key, value in changes:
        if value is None:
            amounts.pop(key, None)
        else:
            module.set("Amount", key, value)
    return json_response({"version": version, "cells": len(changes)})


async def fail_tasks(request: web.Request) -> web.Response:
    """The next ``count`` tasks of an action end COMPLETE with ``successful: false``."""
    state = request.app[STATE]
    body = await _body(request)
    name, count = body.get("action"), body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ControlError(400, "'count' must be a whole number >= 0")
    definition = next((d for d in state.model.definitions.values() if name in (d.name, d.id)), None)
    if definition is None:
        raise ControlError(400, f"no action {name!r}")
    state.tasks.fail_next(definition.id, count)
    return json_response({"action": definition.name, "failing": count})


def _refuse_while_busy(state: AnaplanState) -> None:
    if state.tasks.busy:
        raise ControlError(409, "a task is running or queued on the model; try again when idle")


def _set_state(active_state: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        state = request.app[STATE]
        state.model.active_state = active_state
        return json_response({"modelId": state.model.id, "activeState": active_state})

    return handler


def _switch(attribute: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        state = request.app[STATE]
        body = await _body(request)
        enabled = body.get("enabled")
        if not isinstance(enabled, bool):
            raise ControlError(400, 'expected {"enabled": true|false}')
        if attribute == "hold":
            state.tasks.hold(enabled)
        elif attribute == "cert-v1":
            state.certificates.accept_v1 = enabled
        else:
            state.busy_conflicts = enabled
        return json_response({attribute: enabled})

    return handler


async def rate_limit(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _body(request)
    if "per_minute" in body:
        per_minute = body["per_minute"]
        if isinstance(per_minute, bool) or not isinstance(per_minute, int) or per_minute < 1:
            raise ControlError(400, "'per_minute' must be a positive integer")
        state.rate_limiter.configure(per_minute)
    if body.get("reset"):
        state.rate_limiter.reset()
    return json_response({"per_minute": state.rate_limiter.per_minute})


async def reset(request: web.Request) -> web.Response:
    state = request.app[STATE]
    _refuse_while_busy(state)
    state.reset_model()
    return json_response({"modelId": state.model.id, "reset": True})


@web.middleware
async def control_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ControlError as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)


def add_routes(app: web.Application) -> None:
    app.middlewares.append(control_errors)
    router = app.router
    router.add_get(PREFIX, overview)
    router.add_get(PREFIX + "/models/{modelId}/lists/{name}", inspect_list)
    router.add_get(PREFIX + "/models/{modelId}/modules/{name}/cells", inspect_cells)
    router.add_get(PREFIX + "/models/{modelId}/modules/{name}/totals", inspect_totals)
    router.add_get(PREFIX + "/models/{modelId}/tasks", inspect_tasks)
    router.add_post(PREFIX + "/approve", approve)
    router.add_post(PREFIX + "/budget", regenerate_budget)
    router.add_post(PREFIX + "/budget/cells", budget_cells)
    router.add_post(PREFIX + "/fail-tasks", fail_tasks)
    router.add_post(PREFIX + "/archive", _set_state(ARCHIVED))
    router.add_post(PREFIX + "/lock", _set_state(LOCKED))
    router.add_post(PREFIX + "/unlock", _set_state(UNLOCKED))
    router.add_post(PREFIX + "/busy", _switch("busy"))
    router.add_post(PREFIX + "/hold", _switch("hold"))
    router.add_post(PREFIX + "/cert-v1", _switch("cert-v1"))
    router.add_post(PREFIX + "/rate-limit", rate_limit)
    router.add_post(PREFIX + "/reset", reset)
