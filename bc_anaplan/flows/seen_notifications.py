"""Which BC notification items the endpoint already acted on, so each starts work only once.

BC retries a delivery it got no 2xx for, may deliver the same change twice, and combines
whatever is pending into one POST, so one change can arrive alone and again next to others.
Deduplicating whole deliveries would start it twice; this remembers each *item* by a stable
identity -- subscription, resource, change type and ``lastModifiedDateTime``, the same in every
retry -- as one Table Storage row.

Rows are partitioned by the UTC day of the item's ``lastModifiedDateTime`` (a retry carries the
same value, so it finds the row without searching several days), and ``forget_before`` drops
whole old days: BC gives up retrying within about 36 hours (reference §8.6), so a week of rows
is plenty and the table never grows beyond that. The subscription renewal run calls it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from bc_anaplan.audit import utc_now
from bc_anaplan.storage import MAX_BATCH, Storage, upsert_batched

TABLE = "SeenNotifications"
KEEP = timedelta(days=7)
PARALLEL_READS = 16  # point reads at once for a large delivery (they wait on the network)


def identity(item: dict[str, str]) -> str:
    return "|".join(
        (item["subscriptionId"], item["resource"], item["changeType"], item["lastModifiedDateTime"])
    )


def _day(item: dict[str, str]) -> str:
    try:
        moment = datetime.fromisoformat(item["lastModifiedDateTime"])
    except ValueError:
        moment = datetime.now(UTC)  # not a time (BC always sends one): file it under today
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date().isoformat()


def row_of(item: dict[str, str]) -> tuple[str, str]:
    """(PartitionKey, RowKey) of an item's row."""
    return _day(item), hashlib.sha256(identity(item).encode()).hexdigest()[:48]


class SeenNotifications:
    def __init__(self, storage: Storage) -> None:
        self.table = storage.table(TABLE)

    def _seen(self, item: dict[str, str]) -> bool:
        partition, row = row_of(item)
        try:
            self.table.get_entity(partition, row, select=["RowKey"])
        except ResourceNotFoundError:
            return False
        return True

    def unseen(self, items: list[dict[str, str]]) -> list[dict[str, str]]:
        """The items with no row yet, in their order; repeats inside ``items`` count once."""
        distinct = list({identity(i): i for i in items}.values())
        if len(distinct) <= 2:
            flags = [self._seen(i) for i in distinct]
        else:
            with ThreadPoolExecutor(min(PARALLEL_READS, len(distinct))) as pool:
                flags = list(pool.map(self._seen, distinct))
        return [item for item, seen in zip(distinct, flags, strict=True) if not seen]

    def remember(self, items: Iterable[dict[str, str]], started: dict[str, str]) -> int:
        """Write a row per item (in transactions per day); ``started``: identity -> instance."""
        now = utc_now()
        rows: list[dict[str, Any]] = []
        for item in items:
            partition, row = row_of(item)
            rows.append(
                {
                    "PartitionKey": partition,
                    "RowKey": row,
                    "Instance": started.get(identity(item), ""),
                    "SeenAt": now,
                }
            )
        return upsert_batched(self.table, rows)

    def forget_before(self, day: date) -> int:
        """Delete every row of the days before ``day``; returns how many went."""
        old = self.table.query_entities(
            "PartitionKey lt @day",
            parameters={"day": day.isoformat()},
            select=["PartitionKey", "RowKey"],
        )
        by_day: dict[str, list[str]] = {}
        for entity in old:
            by_day.setdefault(entity["PartitionKey"], []).append(entity["RowKey"])
        deleted = 0
        for partition, keys in by_day.items():
            for start in range(0, len(keys), MAX_BATCH):
                group = keys[start : start + MAX_BATCH]
                self.table.submit_transaction(
                    [("delete", {"PartitionKey": partition, "RowKey": k}) for k in group]
                )
                deleted += len(group)
        return deleted

    def forget_old(self, now: datetime | None = None) -> int:
        return self.forget_before(((now or datetime.now(UTC)) - KEEP).date())
