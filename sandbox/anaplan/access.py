"""Finding the model a request names, and what the model's state lets that request do.

Ids are compared exactly: a workspace id in uppercase or a model id in lowercase is not the same
object, and gets 404 like any unknown id. Then, by kind of call:

* ``DESCRIBE`` (``GET /models/{id}``, model status): always answered;
* ``READ`` (action definitions, tasks, dumps): 422 when archived; never waits;
* ``WAIT`` (lists, list items, modules, line items, file reads): 422 when archived; while a task
  holds the model the call waits for its turn (or answers 409 in the opt-in busy mode);
* ``WRITE`` (uploads, file deletes): 422 when archived, 423 when locked;
* ``START`` (starting a task): 422 when archived, 423 when locked, 409 in busy mode while busy.
"""

from __future__ import annotations

from enum import Enum

from aiohttp import web

from sandbox.anaplan.envelope import ApiError
from sandbox.anaplan.model import ARCHIVED, LOCKED, PlanModel
from sandbox.anaplan.state import STATE
from sandbox.anaplan.users import AnaplanUser

USER = "anaplan.user"


class Access(Enum):
    DESCRIBE = "describe"
    READ = "read"
    WAIT = "wait"
    WRITE = "write"
    START = "start"


def current_user(request: web.Request) -> AnaplanUser:
    user: AnaplanUser = request[USER]
    return user


def workspace_matches(request: web.Request) -> None:
    state = request.app[STATE]
    workspace = request.match_info.get("workspaceId")
    if workspace is not None and workspace != state.model.workspace.id:
        raise ApiError(404)


async def open_model(request: web.Request, access: Access) -> PlanModel:
    state = request.app[STATE]
    workspace_matches(request)
    model = state.model_by_id(request.match_info["modelId"])
    if model is None:
        raise ApiError(404)
    if access is Access.DESCRIBE:
        return model
    if model.active_state == ARCHIVED:
        raise ApiError(422, "Model archived. Unarchive the model, then try the request again.")
    if access in (Access.WRITE, Access.START) and model.active_state == LOCKED:
        raise ApiError(423, "Model locked")
    if access in (Access.WAIT, Access.START) and state.busy_conflicts and state.tasks.busy:
        raise ApiError(409, "Model is busy: an action is running. Retry later.")
    if access is Access.WAIT:
        await state.tasks.wait_turn()
    return model
