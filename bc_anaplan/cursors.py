"""Durable cursors: how far each incremental read has been durably handled, per pipeline.

A cursor is committed only after the work it covers succeeded (for actuals: after Anaplan
reported the import successful), so a crash between reading and committing re-reads, never skips.
Commits use optimistic concurrency: a commit based on an older version of the cursor fails
instead of moving it backwards.

A cursor carries the ids it already handled inside its lag window; after a burst of postings
that can be tens of thousands of ids, more than a Table Storage property holds (64 KiB). So the
cursor value lives in an immutable blob per commit, and the table row -- the unit of optimistic
concurrency -- points at it.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from bc_anaplan.audit import utc_now
from bc_anaplan.storage import Storage, safe_key


class CursorConflict(Exception):
    """Another run committed the cursor since this run read it."""


class CursorStore:
    def __init__(self, storage: Storage) -> None:
        self.table = storage.table("Cursors")
        self.blobs = storage.container("state")

    def get(self, pipeline: str, resource: str) -> tuple[dict[str, Any] | None, str | None]:
        """The committed cursor value and its version (etag), or ``(None, None)``."""
        try:
            entity = self.table.get_entity(safe_key(pipeline), safe_key(resource))
        except ResourceNotFoundError:
            return None, None
        data = self.blobs.download_blob(entity["Blob"]).readall()
        return json.loads(data), entity.metadata["etag"]

    def commit(
        self,
        pipeline: str,
        resource: str,
        cursor: dict[str, Any],
        run_id: str,
        expected_version: str | None,
    ) -> None:
        """Store ``cursor`` if the stored one is still ``expected_version`` (None = absent)."""
        blob = f"{pipeline}/cursors/{resource}/{uuid.uuid4().hex}.json"
        self.blobs.upload_blob(blob, json.dumps(cursor, sort_keys=True).encode(), overwrite=False)
        entity = {
            "PartitionKey": safe_key(pipeline),
            "RowKey": safe_key(resource),
            "Blob": blob,
            "CommittedBy": run_id,
            "CommittedAt": utc_now(),
        }
        previous = self._blob_of(pipeline, resource) if expected_version else None
        try:
            if expected_version is None:
                self.table.create_entity(entity)
            else:
                self.table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=expected_version,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError) as exc:
            self._delete(blob)
            raise CursorConflict(
                f"cursor {pipeline}/{resource} was committed by another run meanwhile"
            ) from exc
        if previous and previous != blob:
            self._delete(previous)

    def _blob_of(self, pipeline: str, resource: str) -> str | None:
        try:
            return str(self.table.get_entity(safe_key(pipeline), safe_key(resource))["Blob"])
        except ResourceNotFoundError:
            return None

    def _delete(self, blob: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.blobs.delete_blob(blob)
