"""Durable state in Azure Table Storage: one table per task hub, one partition per instance.

Everything the host knows about an orchestration instance or an entity lives in *one* partition
of ``<hub>Instances`` (partition key = instance id, entity ids look like ``@counter@key``), so
that each step commits as one entity-group transaction:

=============================  ============================================================
RowKey                         row
=============================  ============================================================
``meta``                       status, input, output, custom status / entity state
``h<gen:06d>-<index:07d>``     one history event of execution ``gen`` (continue-as-new and
                               restarts start a new ``gen``)
``i<arrival id>``              inbox: a message not yet consumed (activity result, timer,
                               raised event, entity request, ...)
``o<arrival id>``              outbox: a message for another partition, written in the same
                               transaction as the step that produced it, deleted once delivered
=============================  ============================================================

Each row's payload is JSON in the string columns ``D0``, ``D1``, ... (a column holds at most
64 KiB); ``meta`` rows also carry ``Name``, ``RuntimeStatus`` and times as plain columns so a
person can read the table in a storage explorer.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

META = "meta"
_CHUNK = 15_000  # characters per column: < 64 KiB even at 4 bytes per character
_MAX_OPS = 100  # entity-group transaction limit
_MAX_BATCH_CHARS = 1_500_000  # stay well under the 4 MiB transaction payload limit
_ids = itertools.count()
Row = dict[str, Any]
Op = tuple[str, str, Any]  # ("upsert", row_key, payload) or ("delete", row_key, None)

DEV_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


def arrival_id() -> str:
    """Sortable and unique: inbox order is arrival order, across restarts too."""
    return f"{time.time_ns():020d}{next(_ids) % 100_000:05d}"


_ESCAPES = (("%", "%25"), ("/", "%2F"), ("\\", "%5C"), ("#", "%23"), ("?", "%3F"))


def partition_key(instance: str) -> str:
    """Instance ids may contain characters Table Storage forbids in keys."""
    for char, code in _ESCAPES:
        instance = instance.replace(char, code)
    return instance


def instance_id(key: str) -> str:
    for char, code in reversed(_ESCAPES):
        key = key.replace(code, char)
    return key


class Store:
    """The task hub's table; all methods are blocking and thread-safe."""

    def __init__(self, connection_string: str, task_hub: str) -> None:
        if connection_string.strip().rstrip(";") == "UseDevelopmentStorage=true":
            connection_string = DEV_STORAGE
        service = TableServiceClient.from_connection_string(connection_string)
        self.table: TableClient = service.get_table_client(f"{task_hub}Instances")

    def create(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.table.create_table()

    def load(self, instance_id: str) -> dict[str, Any]:
        """All rows of one partition, decoded: ``{row_key: payload}`` in row-key order."""
        query = self.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": partition_key(instance_id)}
        )
        return {row["RowKey"]: _decode(row) for row in sorted(query, key=lambda r: r["RowKey"])}

    def meta(self, instance_id: str) -> dict[str, Any] | None:
        try:
            return _decode(self.table.get_entity(partition_key(instance_id), META))
        except ResourceNotFoundError:
            return None

    def metas(self) -> list[dict[str, Any]]:
        return [_decode(row) for row in self.table.query_entities(f"RowKey eq '{META}'")]

    def pending_partitions(self) -> set[str]:
        """Partitions with an inbox or outbox row: work a stopped host left behind."""
        query = "(RowKey ge 'i' and RowKey lt 'j') or (RowKey ge 'o' and RowKey lt 'p')"
        rows = self.table.query_entities(query, select=["PartitionKey"])
        return {instance_id(row["PartitionKey"]) for row in rows}

    def put(self, instance_id: str, row_key: str, payload: Any) -> None:
        self.table.upsert_entity(_encode(instance_id, row_key, payload), mode=UpdateMode.REPLACE)

    def commit(self, instance_id: str, ops: list[Op]) -> None:
        """Apply ``ops`` in order, in as few transactions as the limits allow.

        Callers put the ``meta`` row last: if the host dies between two transactions of a
        large step, the ``meta`` row still describes the previous step and the rest is ignored.
        """
        for batch in _batches(instance_id, ops):
            self.table.submit_transaction(batch)

    def delete_partition(self, instance_id: str) -> int:
        pk = partition_key(instance_id)
        keys = [r["RowKey"] for r in self.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": pk}, select=["RowKey"])]  # fmt: skip
        self.commit(instance_id, [("delete", key, None) for key in keys])
        return len(keys)


def _batches(instance_id: str, ops: list[Op]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    size = 0
    for kind, row_key, payload in ops:
        if kind == "upsert":
            row = _encode(instance_id, row_key, payload)
            weight = sum(len(v) for k, v in row.items() if k.startswith("D"))
            item: Any = ("upsert", row, {"mode": UpdateMode.REPLACE})
        else:
            weight, item = (
                0,
                ("delete", {"PartitionKey": partition_key(instance_id), "RowKey": row_key}),
            )
        if batch and (len(batch) == _MAX_OPS or size + weight > _MAX_BATCH_CHARS):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += weight
    if batch:
        yield batch


def _encode(instance_id: str, row_key: str, payload: Any) -> Row:
    text = json.dumps(payload, separators=(",", ":"))
    row: Row = {"PartitionKey": partition_key(instance_id), "RowKey": row_key}
    for index, start in enumerate(range(0, max(len(text), 1), _CHUNK)):
        row[f"D{index}"] = text[start : start + _CHUNK]
    if row_key == META:
        for column in ("name", "status", "created", "updated"):
            if payload.get(column) is not None:
                row[column.capitalize()] = str(payload[column])
    return row


def _decode(row: Row) -> Any:
    parts: Iterable[str] = (row[f"D{i}"] for i in itertools.takewhile(
        lambda i: f"D{i}" in row, itertools.count()))  # fmt: skip
    return json.loads("".join(parts))
