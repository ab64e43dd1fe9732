"""Period snapshots: what the last successful actuals load sent for each period, in Blob Storage.

A snapshot holds a period's cells (net change) and, for balance-sheet cells, closing balances.
They make three things possible without re-reading the whole ledger: rolling closing balances
forward from the previous period, sending zero for cells that disappeared since the last load,
and proving or replaying exactly what a run sent.

A run first *stages* its snapshots (``pending/<run id>``); they become *current* only when
Anaplan reported the import successful, so a failed import never moves the baseline.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from azure.core.exceptions import ResourceNotFoundError

from bc_anaplan.actuals import CellKey
from bc_anaplan.periods import Period
from bc_anaplan.storage import Storage

_SEP = "\x1f"  # unit separator: cannot occur in BC codes


@dataclass(frozen=True)
class PeriodSnapshot:
    period: Period
    cells: dict[CellKey, Decimal]
    closing: dict[CellKey, Decimal]

    def to_bytes(self) -> bytes:
        body = {
            "period": self.period.key,
            "cells": {_SEP.join(k): str(v) for k, v in sorted(self.cells.items())},
            "closing": {_SEP.join(k): str(v) for k, v in sorted(self.closing.items())},
        }
        return gzip.compress(json.dumps(body, sort_keys=True).encode(), mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes) -> PeriodSnapshot:
        body = json.loads(gzip.decompress(data))
        return cls(
            Period.parse(body["period"]),
            {tuple(k.split(_SEP)): Decimal(v) for k, v in body["cells"].items()},
            {tuple(k.split(_SEP)): Decimal(v) for k, v in body["closing"].items()},
        )

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()


class SnapshotStore:
    def __init__(self, storage: Storage) -> None:
        self.container = storage.container("state")

    @staticmethod
    def _current(pipeline: str, period: Period) -> str:
        return f"{pipeline}/actuals/{period.key}/current.json.gz"

    @staticmethod
    def _pending(pipeline: str, period: Period, run_id: str) -> str:
        return f"{pipeline}/actuals/{period.key}/pending/{run_id.replace('/', '_')}.json.gz"

    def current(self, pipeline: str, period: Period) -> PeriodSnapshot | None:
        try:
            data = self.container.download_blob(self._current(pipeline, period)).readall()
        except ResourceNotFoundError:
            return None
        return PeriodSnapshot.from_bytes(data)

    def stage(self, pipeline: str, run_id: str, snapshot: PeriodSnapshot) -> None:
        name = self._pending(pipeline, snapshot.period, run_id)
        self.container.upload_blob(name, snapshot.to_bytes(), overwrite=True)

    def staged(self, pipeline: str, run_id: str, period: Period) -> PeriodSnapshot | None:
        try:
            data = self.container.download_blob(self._pending(pipeline, period, run_id)).readall()
        except ResourceNotFoundError:
            return None
        return PeriodSnapshot.from_bytes(data)

    def promote(self, pipeline: str, run_id: str, periods: Iterable[Period]) -> int:
        """Make a run's staged snapshots current (after Anaplan accepted the import)."""
        promoted = 0
        for period in periods:
            pending = self._pending(pipeline, period, run_id)
            try:
                data = self.container.download_blob(pending).readall()
            except ResourceNotFoundError:
                continue  # promoted by an earlier attempt of this activity
            self.container.upload_blob(self._current(pipeline, period), data, overwrite=True)
            self.container.delete_blob(pending)
            promoted += 1
        return promoted

    def loaded_periods(self, pipeline: str) -> list[Period]:
        """Periods with a current snapshot, ascending."""
        periods = []
        for blob in self.container.list_blobs(name_starts_with=f"{pipeline}/actuals/"):
            parts = blob.name.split("/")
            if len(parts) == 4 and parts[3] == "current.json.gz":
                periods.append(Period.parse(parts[2]))
        return sorted(periods)
