"""Polling BC where no webhook serves: a ``lastModifiedDateTime`` cursor with a lag.

Purchase orders are not webhook capable, and any resource whose subscription could not be
created (or lapsed) must not lose changes either, so a timer asks BC what changed. The poll mark
(``PollMark``) is the memory between two polls:

* ``start`` -- the newest ``lastModifiedDateTime`` read so far. Each poll re-reads from
  ``start - lag`` (``POLL_LAG_SECONDS``, 5 minutes by default), because a transaction that
  commits late carries the earlier time it wrote at: comparing only the newest timestamp, as
  an equality check, never sees it.
* ``seen`` -- ``id -> lastModifiedDateTime`` of the records read inside that overlap. A record
  re-read with the same timestamp is not a change; one with *another* timestamp is, even an
  older one. Keying on the id alone would drop exactly the late commit of a record the last
  poll saw in the overlap with its previous timestamp.
* ``members`` -- for entity sets whose records can be deleted (purchase orders, employees,
  accounts, dimension values): a digest and count of every id. A deletion moves no timestamp
  and sends nothing; only the set of ids shows it. G/L entries are never deleted and are far
  too many to list, so they are not tracked.

A mark is committed (``CursorStore``, optimistic) only after the work it covers succeeded, so a
failed alignment or import is polled again. Until then it waits in a staging blob of the run --
the ``seen`` map after a storm can be large, and bulk data never passes through orchestration
history; retention removes the blob with the run's other staged files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from bc_anaplan.bc.client import BcClient
from bc_anaplan.bc.cursor import ANY_TIME
from bc_anaplan.bc.encoding import format_datetime, parse_datetime
from bc_anaplan.bc.paging import Resource, iter_pages
from bc_anaplan.cursors import CursorConflict
from bc_anaplan.runtime import Runtime

Row = dict[str, Any]


@dataclass(frozen=True)
class PollMark:
    start: datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)
    members: str | None = None
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": format_datetime(self.start) if self.start else None,
            "seen": dict(sorted(self.seen.items())),
            "members": self.members,
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PollMark | None:
        """The stored mark; None for none, or one in an older format (polled afresh once)."""
        if not data or not isinstance(data.get("seen"), dict):
            return None
        return cls(
            start=parse_datetime(data.get("start")),
            seen={str(k): str(v) for k, v in data["seen"].items()},
            members=data.get("members"),
            count=data.get("count"),
        )


@dataclass
class PollResult:
    mark: PollMark
    changed_records: int = 0  # new or changed since the last poll (the first poll: all)
    members_changed: bool = False  # ids appeared or vanished (deletions show only here)
    first: bool = False  # no previous mark: everything counts as changed

    @property
    def changed(self) -> bool:
        return self.first or self.changed_records > 0 or self.members_changed

    def counts(self) -> dict[str, int]:
        return {
            "changed_records": self.changed_records,
            "member_set_changed": int(self.members_changed),
        }


def read_changes(
    bc: BcClient,
    entity_set: str,
    previous: PollMark | None,
    lag: timedelta,
    *,
    track_members: bool,
    select: tuple[str, ...] = (),
    visit: Callable[[Row], None] | None = None,
) -> PollResult:
    """What changed in ``entity_set`` since ``previous``; ``visit`` sees each changed record."""
    start = previous.start if previous else None
    seen = previous.seen if previous else {}
    resource = Resource(entity_set, ("id", "lastModifiedDateTime", *select), _row)
    window = None if start is None else f"lastModifiedDateTime gt {format_datetime(start - lag)}"
    high, read, changed = start, {}, 0
    for page in iter_pages(bc, resource, filter_expression=window):
        for row in page:
            record_id, modified = str(row["id"]), _millis(row.get("lastModifiedDateTime"))
            if modified is None:
                continue
            stamp = format_datetime(modified)
            read[record_id] = (modified, stamp)
            if high is None or modified > high:
                high = modified
            known = seen.get(record_id)
            if start is not None and modified <= start and known in (stamp, ANY_TIME):
                continue  # read in the last poll's overlap, unchanged since
            changed += 1
            if visit is not None:
                visit(row)
    floor = None if high is None else high - lag
    overlap = {i: s for i, (m, s) in read.items() if floor is not None and m > floor}
    members, count = _members(bc, entity_set) if track_members else (None, None)
    moved = bool(previous and track_members and previous.members != members)
    return PollResult(
        PollMark(high, overlap, members, count),
        changed_records=changed,
        members_changed=moved,
        first=previous is None,
    )


def _millis(value: Any) -> datetime | None:
    """BC's timestamp at the millisecond precision a mark stores, so compares stay exact."""
    moment = parse_datetime(value)
    return None if moment is None else moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _row(raw: Any) -> Row:
    return dict(raw)


def _members(bc: BcClient, entity_set: str) -> tuple[str, int]:
    """Digest and count of every id of the entity set (one cheap ``$select=id`` read)."""
    ids: list[str] = []
    for page in iter_pages(bc, Resource(entity_set, ("id",), _row)):
        ids.extend(str(row["id"]).lower() for row in page)
    digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
    return digest, len(ids)


# --- marks waiting for their work to succeed -----------------------------------------------------


def stage_mark(
    rt: Runtime, pipeline: str, run_id: str, name: str, mark: PollMark, version: str | None
) -> dict[str, Any]:
    """Park the next mark in the run's staging area; the small reference goes to the caller."""
    blob = f"{pipeline}/{run_id.replace('/', '_')}/poll-{name}.json"
    rt.staging.container.upload_blob(blob, json.dumps(mark.to_dict()).encode(), overwrite=True)
    return {"name": name, "blob": blob, "version": version}


def commit_mark(rt: Runtime, pipeline: str, run_id: str, ref: dict[str, Any]) -> bool:
    """Commit a parked mark; False when another run committed that cursor meanwhile."""
    try:
        value = json.loads(rt.staging.container.download_blob(ref["blob"]).readall())
    except ResourceNotFoundError:
        return False  # committed by an earlier attempt of this very step
    try:
        rt.cursors.commit(pipeline, ref["name"], value, run_id, ref.get("version"))
        committed = True
    except CursorConflict:  # a concurrent poll moved it (or this step's earlier attempt did)
        committed = False
    rt.staging.container.delete_blob(ref["blob"])
    return committed
