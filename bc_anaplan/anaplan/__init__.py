"""The Anaplan client: everything the connector asks of Anaplan goes through this package.

Built on the one resilient HTTP layer (``bc_anaplan.http``) with two API specs, the
authentication service and the Integration API v2. What each module owns:

=============  ====================================================================================
``auth``       one token per process and credential set; basic or CA-certificate login (v2
               payload), refresh before expiry, re-login on 401, logout
``ids``        workspace ids lowercase, model ids uppercase, malformed ids rejected before a call
``api``        model-scoped paths, JSON envelopes, paging by ``totalSize`` that cannot loop
``actions``    the model's imports, exports, processes, actions, files and lists, found by name
``csvio``      CSV in a file's layout, gzip chunks cut on row boundaries, streamed reading
``files``      chunked gzip uploads (only to listed files), atomic chunked downloads
``tasks``      starting a task exactly once, typed status, row counts, cancel, blocking wait
``dumps``      failure dumps downloaded right away and parsed into rejected rows
``exports``    export downloads only from this run's successful task (stale-export guard)
``lists``      list items with code, name, parent and properties
``errors``     Anaplan's error envelopes as typed exceptions (busy, locked, archived, not found)
``client``     ``AnaplanClient``, the facade the flows use
=============  ====================================================================================
"""

from __future__ import annotations

from bc_anaplan.anaplan.actions import (
    Action,
    ExportAction,
    ImportAction,
    ModelAction,
    ModelFile,
    ModelList,
    ProcessAction,
    action_from_dict,
)
from bc_anaplan.anaplan.client import AnaplanClient
from bc_anaplan.anaplan.dumps import FailureDump, RejectedRow, RejectedRows
from bc_anaplan.anaplan.errors import (
    AnaplanAuthError,
    AnaplanError,
    AnaplanNotFoundError,
    DumpGoneError,
    FileGuardError,
    InvalidIdError,
    ModelArchivedError,
    ModelBusyError,
    ModelLockedError,
    TaskDeadlineError,
    TaskFailedError,
    TaskStartError,
    UnknownNameError,
)
from bc_anaplan.anaplan.exports import ExportFile
from bc_anaplan.anaplan.files import UploadResult
from bc_anaplan.anaplan.lists import ListItem
from bc_anaplan.anaplan.tasks import RowCounts, TaskHandle, TaskResult, TaskStatus, poll_interval

__all__ = [
    "Action",
    "AnaplanAuthError",
    "AnaplanClient",
    "AnaplanError",
    "AnaplanNotFoundError",
    "DumpGoneError",
    "ExportAction",
    "ExportFile",
    "FailureDump",
    "FileGuardError",
    "ImportAction",
    "InvalidIdError",
    "ListItem",
    "ModelAction",
    "ModelArchivedError",
    "ModelBusyError",
    "ModelFile",
    "ModelList",
    "ModelLockedError",
    "ProcessAction",
    "RejectedRow",
    "RejectedRows",
    "RowCounts",
    "TaskDeadlineError",
    "TaskFailedError",
    "TaskHandle",
    "TaskResult",
    "TaskStartError",
    "TaskStatus",
    "UnknownNameError",
    "UploadResult",
    "action_from_dict",
    "poll_interval",
]
