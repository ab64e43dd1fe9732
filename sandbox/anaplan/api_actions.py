"""Action definitions: imports, exports, processes and other actions, with their metadata.

These stay available while a task holds the model (Anaplan lets a client find and start actions
on a busy model), so they never wait.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.anaplan.access import Access, open_model
from sandbox.anaplan.definitions import (
    Definition,
    DeleteDefinition,
    ExportDefinition,
    ImportDefinition,
    ProcessDefinition,
)
from sandbox.anaplan.envelope import ApiError, envelope, paged
from sandbox.anaplan.exports import row_count
from sandbox.anaplan.model import PlanModel
from sandbox.anaplan.routing import Handler, add_model_route

KINDS: dict[str, type] = {
    "imports": ImportDefinition,
    "exports": ExportDefinition,
    "processes": ProcessDefinition,
    "actions": DeleteDefinition,
}
ID_PARAMS = {"imports": "importId", "exports": "exportId", "processes": "processId",
             "actions": "actionId"}  # fmt: skip


def definition_of(model: PlanModel, kind: str, object_id: str) -> Definition:
    definition = model.definition(object_id)
    if definition is None or not isinstance(definition, KINDS[kind]):
        raise ApiError(404)
    return definition


def _import_metadata(model: PlanModel, definition: ImportDefinition) -> dict[str, Any]:
    source = model.files.definition(definition.file_id)
    assert source is not None
    return {
        "name": definition.name,
        "type": "FILE",
        "source": {
            "textEncoding": source.encoding,
            "columnSeparator": source.separator,
            "textDelimiter": source.delimiter,
            "headerRow": source.header_row,
            "firstDataRow": source.first_data_row,
            "decimalSeparator": ".",
            "headerNames": list(definition.columns),
            "columnCount": len(definition.columns),
        },
    }


def _export_metadata(model: PlanModel, definition: ExportDefinition) -> dict[str, Any]:
    return {
        "columnCount": len(definition.columns),
        "dataTypes": list(definition.data_types),
        "delimiter": '"',
        "encoding": "UTF-8",
        "exportFormat": "text/csv",
        "headerNames": list(definition.columns),
        "listNames": list(definition.list_names),
        "rowCount": row_count(model, definition),
        "separator": ",",
    }


def _process_action(model: PlanModel, action_id: str, with_source: bool) -> dict[str, Any]:
    definition = model.definition(action_id)
    if isinstance(definition, ImportDefinition):
        body = {**definition.summary(), "actionType": "IMPORT"}
        if with_source:
            body["importDataSource"] = {"importDataSourceId": definition.file_id, "type": "FILE"}
        return body
    if isinstance(definition, ExportDefinition):
        return {**definition.summary(), "actionType": "EXPORT"}
    assert isinstance(definition, DeleteDefinition)
    return definition.summary()


def _list_handler(kind: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        model = await open_model(request, Access.READ)
        items = [d.summary() for d in model.definitions.values() if isinstance(d, KINDS[kind])]
        return paged(request, kind, items, kind[:-1] if kind != "processes" else "process",
                     model.id)  # fmt: skip

    return handler


async def get_import(request: web.Request) -> web.Response:
    model = await open_model(request, Access.READ)
    definition = definition_of(model, "imports", request.match_info["importId"])
    assert isinstance(definition, ImportDefinition)
    return envelope(request, "importMetadata", _import_metadata(model, definition),
                    "importMetadata", model.id)  # fmt: skip


async def get_export(request: web.Request) -> web.Response:
    model = await open_model(request, Access.READ)
    definition = definition_of(model, "exports", request.match_info["exportId"])
    assert isinstance(definition, ExportDefinition)
    return envelope(request, "exportMetadata", _export_metadata(model, definition),
                    "exportMetadata", model.id)  # fmt: skip


async def get_process(request: web.Request) -> web.Response:
    model = await open_model(request, Access.READ)
    definition = definition_of(model, "processes", request.match_info["processId"])
    assert isinstance(definition, ProcessDefinition)
    with_source = request.query.get("showImportDataSource", "false").lower() == "true"
    metadata = {
        "name": definition.name,
        "actions": [_process_action(model, a, with_source) for a in definition.action_ids],
    }
    return envelope(request, "processMetadata", metadata, "processMetadata", model.id)


async def get_action(request: web.Request) -> web.Response:
    model = await open_model(request, Access.READ)
    definition = definition_of(model, "actions", request.match_info["actionId"])
    return envelope(request, "actionMetadata", definition.summary(), "actionMetadata", model.id)


def add_routes(app: web.Application) -> None:
    for kind in KINDS:
        add_model_route(app, "GET", f"/{kind}", _list_handler(kind))
    add_model_route(app, "GET", "/imports/{importId}", get_import)
    add_model_route(app, "GET", "/exports/{exportId}", get_export)
    add_model_route(app, "GET", "/processes/{processId}", get_process)
    add_model_route(app, "GET", "/actions/{actionId}", get_action)
