"""Files: metadata, single and chunked uploads (plain or gzip), downloads, deletes.

Upload paths, as documented: one ``PUT files/{id}`` with ``application/octet-stream``; or
``POST files/{id}`` with ``{"chunkCount": N}`` (or ``-1``), ``PUT files/{id}/chunks/{n}`` with
``application/octet-stream`` or ``application/x-gzip`` (inflated here), and, for ``-1``,
``POST files/{id}/complete`` with the file's JSON. A ``POST files/{id}`` for an id that is not a
file of the model quietly creates a new file with a new id, as Anaplan does, so a client that
does not check the returned ``file.id`` uploads into a file no import reads. Content is per user
and kept 48 hours. Reading a file (list, download, chunk list, chunk download) waits while a
task holds the model: Anaplan's list of calls that stay available on a busy model has no file
calls, and "all other endpoints wait". Uploads and deletes do not wait: files are not locked, a
file can be overwritten while an import reads it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.anaplan.access import Access, current_user, open_model
from sandbox.anaplan.envelope import ApiError, envelope, json_object, paged
from sandbox.anaplan.files import MAX_CHUNKS, ChunkError, FileDefinition
from sandbox.anaplan.model import PlanModel
from sandbox.anaplan.routing import add_model_route

OCTET = "application/octet-stream"
GZIP = "application/x-gzip"


def _definition(model: PlanModel, request: web.Request) -> FileDefinition:
    definition = model.files.definition(request.match_info["fileId"])
    if definition is None:
        raise ApiError(404)
    return definition


def _describe(model: PlanModel, definition: FileDefinition, user: str) -> dict[str, Any]:
    content = model.files.current(user, definition.id)
    return definition.describe(content.chunk_count if content else 0)


async def list_files(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WAIT)
    user = current_user(request).guid
    items = [_describe(model, d, user) for d in model.files.definitions.values()]
    return paged(request, "files", items, "file", model.id)


async def download_file(request: web.Request) -> web.StreamResponse:
    model = await open_model(request, Access.WAIT)
    definition = _definition(model, request)
    content = model.files.current(current_user(request).guid, definition.id)
    if content is None or content.chunk_count == 0:
        raise ApiError(404)
    return web.Response(body=b"".join(content.iter_bytes()), content_type=OCTET)


async def upload_whole(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WRITE)
    definition = _definition(model, request)
    if request.content_type != OCTET:
        raise ApiError(415, f"Content-Type must be {OCTET}")
    data = await request.read()
    try:
        model.files.put_whole(current_user(request).guid, definition.id, data)
    except ChunkError as exc:
        raise ApiError(400, str(exc)) from exc
    return web.Response(status=204)


async def _json_body(request: web.Request, required: bool) -> dict[str, Any]:
    if not await request.read():
        if required:
            # the real service has answered 500 to a /complete without a body
            raise ApiError(500, "Internal Server Error")
        raise ApiError(400, "Request body is required")
    return await json_object(request)


async def start_upload(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WRITE)
    body = await _json_body(request, required=False)
    count = body.get("chunkCount")
    if isinstance(count, bool) or not isinstance(count, int) or not -1 <= count <= MAX_CHUNKS:
        raise ApiError(400, f"chunkCount must be -1 or an integer from 0 to {MAX_CHUNKS}")
    definition = model.files.definition(request.match_info["fileId"])
    if definition is None:
        name = str(body.get("name") or request.match_info["fileId"])
        definition = model.files.create(name)
    user = current_user(request).guid
    model.files.begin_upload(user, definition.id, None if count == -1 else count)
    file_body = definition.describe(0)
    file_body["chunkCount"] = count
    return envelope(request, "file", file_body, "file", model.id)


async def list_chunks(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WAIT)
    definition = _definition(model, request)
    content = model.files.current(current_user(request).guid, definition.id)
    indices = sorted(content.chunks) if content else []
    items = [{"id": str(i), "name": f"Chunk {i}"} for i in indices]
    return paged(request, "chunks", items, "chunk", model.id)


async def download_chunk(request: web.Request) -> web.StreamResponse:
    model = await open_model(request, Access.WAIT)
    definition = _definition(model, request)
    content = model.files.current(current_user(request).guid, definition.id)
    raw = request.match_info["chunkId"]
    if content is None or not raw.isdigit() or int(raw) not in content.chunks:
        raise ApiError(404)
    return web.Response(body=content.chunks[int(raw)].content(), content_type=OCTET)


async def upload_chunk(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WRITE)
    definition = _definition(model, request)
    raw = request.match_info["chunkId"]
    if not raw.isdigit():
        raise ApiError(400, f"Invalid chunk id {raw}")
    if request.content_type not in (OCTET, GZIP):
        raise ApiError(415, f"Content-Type must be {OCTET} or {GZIP}")
    data = await request.read()
    try:
        model.files.put_chunk(
            current_user(request).guid, definition.id, int(raw), data, request.content_type == GZIP
        )
    except ChunkError as exc:
        raise ApiError(400, str(exc)) from exc
    return web.Response(status=204)


async def complete_upload(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WRITE)
    definition = _definition(model, request)
    await _json_body(request, required=True)
    try:
        content = model.files.complete(current_user(request).guid, definition.id)
    except ChunkError as exc:
        raise ApiError(400, str(exc)) from exc
    return envelope(request, "file", definition.describe(content.chunk_count), "file", model.id)


async def delete_file(request: web.Request) -> web.Response:
    model = await open_model(request, Access.WRITE)
    definition = _definition(model, request)
    model.files.delete(current_user(request).guid, definition.id)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    add_model_route(app, "GET", "/files", list_files)
    add_model_route(app, "GET", "/files/{fileId}", download_file)
    add_model_route(app, "PUT", "/files/{fileId}", upload_whole)
    add_model_route(app, "POST", "/files/{fileId}", start_upload)
    add_model_route(app, "DELETE", "/files/{fileId}", delete_file)
    add_model_route(app, "GET", "/files/{fileId}/chunks", list_chunks)
    add_model_route(app, "GET", "/files/{fileId}/chunks/{chunkId}", download_chunk)
    add_model_route(app, "PUT", "/files/{fileId}/chunks/{chunkId}", upload_chunk)
    add_model_route(app, "POST", "/files/{fileId}/complete", complete_upload)
