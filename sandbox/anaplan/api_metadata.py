"""Lists, list items, modules and line items of a model.

These read the model itself, so while a task holds the model they wait their turn (see
``access.py``). List items come as JSON (``listItems``) or, with ``Accept: text/csv``, as CSV.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.anaplan.access import Access, open_model
from sandbox.anaplan.csvfile import render_csv
from sandbox.anaplan.envelope import ApiError, envelope, paged
from sandbox.anaplan.lists import ListItem, PlanList
from sandbox.anaplan.model import PlanModel
from sandbox.anaplan.routing import add_model_route


def _list(model: PlanModel, request: web.Request) -> PlanList:
    plan_list = model.list_by_id(request.match_info["listId"])
    if plan_list is None:
        raise ApiError(404)
    return plan_list


async def get_lists(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WAIT)
    items = [{"id": pl.id, "name": pl.name} for pl in model.lists.values()]
    return paged(request, "lists", items, "list", model.id)


async def get_list_metadata(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WAIT)
    plan_list = _list(model, request)
    metadata = {
        "id": plan_list.id,
        "name": plan_list.name,
        "properties": [
            {"name": p.name, "format": p.format, "notes": "", "referencedBy": ""}
            for p in plan_list.properties
        ],
        "hasSelectiveAccess": False,
        "managedBy": "",
        "numberedList": False,
        "useTopLevelAsPageDefault": False,
        "itemCount": len(plan_list),
        "workflowEnabled": False,
        "productionData": False,
        "nextItemIndex": plan_list.next_item_index,
    }
    return envelope(request, "metadata", metadata, "listMetadata", model.id)


def _item_body(plan_list: PlanList, item: ListItem, include_all: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": item.id,
        "name": item.name,
        "code": item.code,
        "listId": plan_list.id,
        "listName": plan_list.name,
    }
    if include_all:
        body["subsets"] = {}
        body["properties"] = {
            p.name: p.render(item.properties[p.name]) for p in plan_list.properties
        }
    return body


async def get_list_items(request: web.Request) -> web.StreamResponse:
    model = await open_model(request, Access.WAIT)
    plan_list = _list(model, request)
    if "text/csv" in request.headers.get("Accept", ""):
        header = ["Name", "Code", *(p.name for p in plan_list.properties)]
        rows = [
            [
                item.name,
                item.code,
                *(p.render(item.properties[p.name]) for p in plan_list.properties),
            ]
            for item in plan_list.items()
        ]
        return web.Response(body=render_csv(header, rows), content_type="text/csv")
    include_all = request.query.get("includeAll", "false").lower() == "true"
    items = [_item_body(plan_list, item, include_all) for item in plan_list.items()]
    return paged(request, "listItems", items, "listItem", model.id)


async def get_modules(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WAIT)
    items = [{"id": m.id, "name": m.name} for m in model.modules.values()]
    return paged(request, "modules", items, "module", model.id)


def _line_items(model: PlanModel, module_id: str | None) -> list[dict[str, Any]]:
    return [
        {"moduleId": m.id, "moduleName": m.name, "id": li.id, "name": li.name}
        for m in model.modules.values()
        if module_id is None or m.id == module_id
        for li in m.line_items
    ]


async def get_line_items(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WAIT)
    return paged(request, "items", _line_items(model, None), "lineItem", model.id)


async def get_module_line_items(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WAIT)
    module_id = request.match_info["moduleId"]
    if model.module_by_id(module_id) is None:
        raise ApiError(404)
    return paged(request, "items", _line_items(model, module_id), "lineItem", model.id)


def add_routes(app: web.Application) -> None:
    add_model_route(app, "GET", "/lists", get_lists)
    add_model_route(app, "GET", "/lists/{listId}", get_list_metadata)
    add_model_route(app, "GET", "/lists/{listId}/items", get_list_items)
    add_model_route(app, "GET", "/modules", get_modules)
    add_model_route(app, "GET", "/lineItems", get_line_items)
    add_model_route(app, "GET", "/modules/{moduleId}/lineItems", get_module_line_items)
