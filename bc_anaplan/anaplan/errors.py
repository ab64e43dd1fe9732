"""What Anaplan says when it says no, as exceptions an orchestration can act on.

Both Anaplan services wrap errors in their own envelope: the Integration API answers
``{"status": {"code": 404, "message": "Not Found"}, "path": ..., "timestamp": ...}`` and the
authentication service ``{"status": "FAILURE_BAD_CREDENTIAL", "statusMessage": ...}`` (a string
status there). The decoders below turn either into a typed ``AnaplanError`` (an ``ApiError`` of
the HTTP layer, so the one error table in ``bc_anaplan.http`` still decides what is retried).

The types carry the decision an orchestration has to make:

* ``ModelBusyError`` (409) and ``ModelLockedError`` (423): wait with a durable timer, try again;
* ``ModelArchivedError`` (422): stop, a person must unarchive the model;
* ``AnaplanNotFoundError`` (404 on a model-scoped call): a configuration problem, and the
  message says which ones are likely, because Anaplan answers 404 for an id in the wrong case
  and for a model the integration user has no access to alike.

Errors that are not HTTP answers (a configured name the model does not have, a file Anaplan would
silently create, a task that ended badly) live here too, so callers import them from one place.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from bc_anaplan.config import ConfigError
from bc_anaplan.http import ApiError

AUTH_API = "anaplan_auth"
INTEGRATION_API = "anaplan_api"


class AnaplanError(ApiError):
    """An error answer of an Anaplan service: status, message and the server's path."""

    hint = ""

    def __init__(self, api: str, status: int, message: str, **kwargs: Any) -> None:
        self.server_path: str | None = kwargs.pop("server_path", None)
        super().__init__(api, status, message, **kwargs)

    def _text(self) -> str:
        text = super()._text()
        return f"{text}. {self.hint}" if self.hint else text


class AnaplanAuthError(AnaplanError):
    """The authentication service refused to issue or refresh a token."""

    hint = "Check the Anaplan user, password or certificate (and that the user may log in)"


class AnaplanNotFoundError(AnaplanError):
    """404 on a model-scoped call: wrong id, wrong case, or no access."""

    hint = (
        "Likely causes: the workspace or model id is wrong or in the wrong case (workspace ids "
        "are lowercase hex, model ids uppercase hex), the object was deleted or renamed, or the "
        "integration user has no access to the model (Anaplan answers 404, not 403, for that)"
    )


class ModelBusyError(AnaplanError):
    """409: the model is busy with another action; wait and try again."""

    hint = "The model is busy; wait for the running action to finish and try again"


class ModelLockedError(AnaplanError):
    """423: the model is locked (read-only) for an update; wait and try again."""

    hint = "The model is locked for an update; wait until it is unlocked and try again"


class ModelArchivedError(AnaplanError):
    """422: the model is archived (or cannot process the action in its state); do not retry."""

    hint = "The model is archived or in a state that cannot run this; unarchive it first"


_BY_STATUS: dict[int, type[AnaplanError]] = {
    409: ModelBusyError,
    422: ModelArchivedError,
    423: ModelLockedError,
}


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def _plain_text(response: httpx.Response) -> str:
    text = response.text[:300].strip() if response.content else ""
    return text or response.reason_phrase or "no details"


def decode_api_error(response: httpx.Response) -> ApiError:
    """The Integration API's ``{"status": {"code", "message"}, "path"}`` as a typed error."""
    body = _json(response)
    status = response.status_code
    message, server_path = _plain_text(response), None
    if isinstance(body, dict):
        envelope = body.get("status")
        if isinstance(envelope, dict) and envelope.get("message"):
            message = str(envelope["message"])
        server_path = body.get("path") if isinstance(body.get("path"), str) else None
    kind = _BY_STATUS.get(status, AnaplanError)
    if status == 404 and "/models/" in response.request.url.path:
        kind = AnaplanNotFoundError
    return kind(INTEGRATION_API, status, message, server_path=server_path)


def decode_auth_error(response: httpx.Response) -> ApiError:
    """The auth service's ``{"status": "FAILURE_...", "statusMessage"}`` as a typed error."""
    body = _json(response)
    message, code = _plain_text(response), None
    if isinstance(body, dict):
        if isinstance(body.get("status"), str):
            code = body["status"]
        if body.get("statusMessage"):
            message = str(body["statusMessage"])
    kind = AnaplanAuthError if response.status_code in (400, 401, 403) else AnaplanError
    return kind(AUTH_API, response.status_code, message, code=code)


class UnknownNameError(ConfigError):
    """A name from the pipeline file (an action, a file, a list) that the model does not have."""

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        self.kind, self.name, self.available = kind, name, available
        shown = ", ".join(repr(n) for n in sorted(available)) or "none"
        near = [n for n in available if n.casefold() == name.casefold()]
        hint = f" (did you mean {near[0]!r}? names are case-sensitive)" if near else ""
        super().__init__(f"Anaplan model has no {kind} named {name!r}{hint}; available: {shown}")


class InvalidIdError(ConfigError):
    """A workspace, model or object id that cannot be an Anaplan id; raised before any call."""


class FileGuardError(Exception):
    """Anaplan would (or did) write to a file other than the one the import reads.

    A POST to ``/files/{id}`` with an id that is not a file of the model *creates* a new file
    instead of failing, so an upload into the wrong id would succeed and the import would then
    read stale data. Uploads only go to ids the model listed, and the id Anaplan echoes must match.
    """


class TaskStartError(Exception):
    """A task could not be started, and no task started by this attempt exists on the server."""


class TaskFailedError(Exception):
    """A task ended without a usable result (cancelled, or complete but not successful)."""


class TaskDeadlineError(Exception):
    """``wait_for_task`` gave up at its overall deadline; the task was asked to cancel."""


class DumpGoneError(Exception):
    """Anaplan said a failure dump existed but no longer has it (overwritten, or > 48 h old)."""


class ProtocolError(Exception):
    """Anaplan answered 2xx with a body this client cannot understand."""
