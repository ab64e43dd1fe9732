"""What the connector knows per plan version: its revisions, which one is current, who writes.

One ``Writebacks`` table row per (pipeline, plan version). ``claim`` makes a run the version's
writer: conditional on the row's ETag, so two runs claiming the same version at the same instant
cannot both win, and refused while the owning run is still running -- whichever way the runs
were started (``POST /api/writeback``, the approval watch, a replay).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode

from bc_anaplan.runtime import Runtime
from bc_anaplan.storage import safe_key

_JSON_FIELDS = ("Retire", "Previous", "Revisions")


def plan_version_key(version: str, revision: str) -> str:
    """The plan version as the journal sees it: one per revision of the approved figures."""
    return f"{version}#{revision}"


def plan_description(version: str, row_key: str) -> str:
    """A line's description, which its G/L entries keep when finance posts it."""
    return f"{version} {row_key}"


@dataclass(frozen=True)
class Claim:
    """The outcome of ``WritebackState.claim``: the version is this run's, or another's."""

    busy_run: str | None  # set: another run is writing this version now; nothing was recorded
    previous: dict[str, Any] | None = None  # the revision current before this one
    revisions: list[str] = field(default_factory=list)  # every revision begun, this one last


class WritebackState:
    """Per plan version: the current and the pending revision, and every revision begun.

    ``Revisions`` lists each revision of the version whose lines may be in BC -- as drafts, or
    posted by finance -- oldest first. Posted rows of *any* of them must not be written again,
    so a revision leaves the list only when none of its lines is in the batch and none was
    posted (see ``retire``).
    """

    def __init__(self, rt: Runtime) -> None:
        self.table = rt.storage.table("Writebacks")

    def get(self, pipeline: str, version: str) -> dict[str, Any]:
        try:
            entity = self.table.get_entity(safe_key(pipeline), safe_key(version))
        except ResourceNotFoundError:
            return {}
        return _decoded(entity)

    def update(self, pipeline: str, version: str, **fields: Any) -> None:
        entity = {"PartitionKey": safe_key(pipeline), "RowKey": safe_key(version)}
        for key, value in fields.items():
            entity[key] = json.dumps(value) if isinstance(value, dict | list) else value
        self.table.upsert_entity(entity, mode=UpdateMode.MERGE)

    def versions(self, pipeline: str) -> list[dict[str, Any]]:
        rows = self.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": safe_key(pipeline)}
        )
        return [dict(r) for r in rows]

    def claim(
        self,
        pipeline: str,
        version: str,
        run_id: str,
        revision: str,
        alive: Callable[[str], bool],
    ) -> Claim:
        """Make ``revision`` the version's pending revision, owned by ``run_id``.

        Refused (``busy_run`` set, nothing written) while another run that is still running
        owns the version; a run that failed or was terminated is taken over. The write is
        conditional on the entity's ETag, so of two runs claiming at the same instant one wins
        and the other re-reads and is refused.
        """
        pk, rk = safe_key(pipeline), safe_key(version)
        for _ in range(10):
            try:
                entity: Any = self.table.get_entity(pk, rk)
                etag = entity.metadata["etag"]
                state = _decoded(entity)
            except ResourceNotFoundError:
                entity, etag, state = None, None, {}
            owner = str(state.get("PendingRun") or "")
            if state.get("Pending") and owner and owner != run_id and alive(owner):
                return Claim(owner)
            revisions = revisions_of(state)
            if revision not in revisions:
                revisions.append(revision)
            current = state.get("CurrentRevision")
            previous: dict[str, Any] | None = None
            if state.get("Pending") == revision:
                previous = state.get("Previous") or None
            elif current and current != revision:
                previous = {"revision": current, "lines": int(state.get("CurrentLines") or 0)}
            fields = {
                "PartitionKey": pk,
                "RowKey": rk,
                "Pending": revision,
                "PendingRun": run_id,
                "Previous": json.dumps(previous or {}),
                "Revisions": json.dumps(revisions),
            }
            try:
                if entity is None:
                    self.table.create_entity(fields)
                else:
                    self.table.update_entity(
                        fields,
                        mode=UpdateMode.MERGE,
                        etag=etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceExistsError, ResourceModifiedError):
                continue  # another run wrote meanwhile: look again
            return Claim(None, previous, revisions)
        raise RuntimeError(f"plan version {version!r}: its writeback state kept changing")


def _decoded(entity: Any) -> dict[str, Any]:
    return {k: (json.loads(v) if k in _JSON_FIELDS and v else v) for k, v in entity.items()}


def revisions_of(state: dict[str, Any]) -> list[str]:
    """The version's revisions, oldest first (state written before the list existed: the
    current, previous and pending revisions it names)."""
    listed = state.get("Revisions")
    if isinstance(listed, list):
        return [str(r) for r in listed]
    previous = state.get("Previous") or {}
    named = (previous.get("revision"), state.get("CurrentRevision"), state.get("Pending"))
    return list(dict.fromkeys(str(r) for r in named if r))


def run_is_running(rt: Runtime, run_id: str) -> bool:
    """Whether the run's audit record says it is still running (not ended, failed or
    terminated): the owner of a version's pending revision, alive or to be taken over."""
    run = rt.audit.get_run(run_id)
    return run is not None and run["state"] == "running"
