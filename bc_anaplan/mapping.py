"""The member mapping: which Anaplan list member stands for which BC code, per list.

Reference sync writes it after every list import (with the run that last confirmed each pair);
the actuals load reads it to decide which entries can be sent and which must be quarantined; the
plan writeback reads it backwards, from Anaplan member codes to BC codes. Keeping it in Table
Storage (partition = pipeline and list) makes that a single cheap partition read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bc_anaplan.audit import utc_now
from bc_anaplan.storage import Storage, query_partition, safe_key, unsafe_key, upsert_batched

MAPPED = "mapped"  # exists on both sides
MISSING = "missing"  # in BC, not (yet) in Anaplan
GONE = "gone"  # in Anaplan, no longer in BC


@dataclass(frozen=True)
class MemberMapping:
    bc_code: str
    anaplan_code: str
    anaplan_name: str
    status: str
    confirmed_by: str = ""
    confirmed_at: str = ""


class MappingStore:
    def __init__(self, storage: Storage) -> None:
        self.table = storage.table("Mappings")

    @staticmethod
    def _partition(pipeline: str, list_name: str) -> str:
        return safe_key(f"{pipeline}|{list_name}")

    def save(
        self, pipeline: str, list_name: str, mappings: Iterable[MemberMapping], run_id: str
    ) -> int:
        partition = self._partition(pipeline, list_name)
        now = utc_now()
        return upsert_batched(
            self.table,
            (
                {
                    "PartitionKey": partition,
                    "RowKey": safe_key(m.bc_code),
                    "AnaplanCode": m.anaplan_code,
                    "AnaplanName": m.anaplan_name,
                    "Status": m.status,
                    "ConfirmedBy": run_id,
                    "ConfirmedAt": now,
                }
                for m in mappings
            ),
        )

    def load(self, pipeline: str, list_name: str) -> dict[str, MemberMapping]:
        """BC code -> mapping, for one list."""
        result = {}
        for row in query_partition(self.table, self._partition(pipeline, list_name)):
            code = unsafe_key(row["RowKey"])
            result[code] = MemberMapping(
                code,
                row["AnaplanCode"],
                row["AnaplanName"],
                row["Status"],
                row.get("ConfirmedBy", ""),
                row.get("ConfirmedAt", ""),
            )
        return result

    def mapped(self, pipeline: str, list_name: str) -> dict[str, str]:
        """BC code -> Anaplan member code, only for members that exist on both sides."""
        return {
            code: m.anaplan_code
            for code, m in self.load(pipeline, list_name).items()
            if m.status == MAPPED
        }

    def reverse(self, pipeline: str, list_name: str) -> dict[str, str]:
        """Anaplan member code -> BC code, only for members that exist on both sides."""
        return {a: b for b, a in self.mapped(pipeline, list_name).items()}
