"""Anaplan identifiers, normalised and checked at the client's boundary.

Anaplan matches ids case-sensitively and answers 404 for the wrong case: workspace ids must be
sent as lowercase hex and model ids as uppercase hex ("otherwise the object will not be
recognized"). Configuration written by people holds whatever case was copied, so the client
normalises every id it is given and rejects anything that cannot be an id *before* the first
call, with an error that names the setting, instead of a puzzling 404 later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bc_anaplan.anaplan.errors import InvalidIdError

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
# object ids (imports, files, exports, lists...) are 12-digit strings such as "112000000007"
_OBJECT = re.compile(r"^[0-9]{12}$")
# task ids are 32 hex digits; sub-tasks of a process may carry a "-NN" suffix
_TASK = re.compile(r"^[0-9A-Fa-f]{32}(-[0-9]+)?$")


def workspace_id(value: str, setting: str = "anaplan_workspace_id") -> str:
    """``value`` as Anaplan wants a workspace id: 32 lowercase hex digits."""
    text = (value or "").strip()
    if not _HEX32.match(text):
        raise InvalidIdError(
            f"{setting} must be 32 hex digits (an Anaplan workspace id), got {text!r}"
        )
    return text.lower()


def model_id(value: str, setting: str = "anaplan_model_id") -> str:
    """``value`` as Anaplan wants a model id: 32 uppercase hex digits."""
    text = (value or "").strip()
    if not _HEX32.match(text):
        raise InvalidIdError(f"{setting} must be 32 hex digits (an Anaplan model id), got {text!r}")
    return text.upper()


def object_id(value: str, what: str = "object id") -> str:
    """A 12-digit Anaplan object id (import, file, export, process, action, list)."""
    text = str(value or "").strip()
    if not _OBJECT.match(text):
        raise InvalidIdError(f"{what} must be a 12-digit Anaplan id, got {text!r}")
    return text


def task_id(value: str) -> str:
    """A task id as Anaplan issues it (uppercase hex, optional ``-NN`` sub-task suffix)."""
    text = str(value or "").strip()
    if not _TASK.match(text):
        raise InvalidIdError(f"task id must be 32 hex digits, got {text!r}")
    return text.upper()


@dataclass(frozen=True)
class ModelRef:
    """One model in one workspace, ids already normalised. Builds the model-scoped paths."""

    workspace_id: str
    model_id: str

    @classmethod
    def of(cls, workspace: str, model: str) -> ModelRef:
        return cls(workspace_id(workspace), model_id(model))

    @property
    def base_path(self) -> str:
        """``/workspaces/{ws}/models/{m}`` (relative to the API's ``/2/0`` base)."""
        return f"/workspaces/{self.workspace_id}/models/{self.model_id}"

    def path(self, *parts: str) -> str:
        return "/".join((self.base_path, *parts))
