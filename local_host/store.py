"""Durable state in Azure Table Storage: one table per task hub, one partition per instance.

Everything the host knows about an orchestration instance or an entity lives in *one* partition
of ``<hub>Instances`` (partition key = instance id; entity ids look like ``@counter@key``). The
partition is a log: each step of the instance (an episode, an entity batch, a start) is durable
once its *commit row* is written, and that single upsert is the step's atomic unit. Entity-group
transactions would also be atomic, but the SDK's batch encoding costs ~10 ms per transaction,
three times a single upsert, and a long orchestration commits hundreds of steps.

=================================  ========================================================
RowKey                             row
=================================  ========================================================
``c<gen:06d>-<step:07d>``          commit row of step ``step`` of execution ``gen``: the
                                   history events it appended, the instance's metadata after
                                   it, the inbox rows it consumed, the messages it sent
``i<arrival id>``                  inbox: a message (activity result, timer, raised event,
                                   entity request, ...); ignored once a commit row lists it
                                   as consumed, deleted later in batches
``meta``                           a copy of the latest metadata (status, output, custom
                                   status, entity state) for point reads and listings; written
                                   after the step's messages were delivered
=================================  ========================================================

A payload is JSON in the string columns ``D0``, ``D1``, ... (at most 64 KiB each); one larger
than a row can hold continues in rows ``<key>~001``, ``<key>~002``... written before it. ``meta``
rows also carry ``Name``, ``Status``, ``Created`` and ``Updated`` as plain columns for people
reading the table in a storage explorer.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

META = "meta"
_CHUNK = 15_000  # characters per column: < 64 KiB even at 4 bytes per character
_ROW_CHUNKS = 16  # columns per row: < 1 MiB per entity
_MAX_OPS = 100  # entity-group transaction limit
_ids = itertools.count()
Row = dict[str, Any]

DEV_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)
_ESCAPES = (("%", "%25"), ("/", "%2F"), ("\\", "%5C"), ("#", "%23"), ("?", "%3F"))


def arrival_id() -> str:
    """Sortable and unique: inbox order is arrival order, across restarts too."""
    return f"{time.time_ns():020d}{next(_ids) % 100_000:05d}"


def commit_key(gen: int, step: int) -> str:
    return f"c{gen:06d}-{step:07d}"


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

    def load(self, instance: str) -> dict[str, Any]:
        """All rows of one partition, decoded: ``{row_key: payload}`` in row-key order."""
        rows = self.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": partition_key(instance)}
        )
        texts = {row["RowKey"]: _text(row) for row in rows}
        decoded: dict[str, Any] = {}
        for key in sorted(texts):
            if "~" in key:
                continue
            parts = [texts[key]]
            for part in itertools.count(1):
                more = texts.get(f"{key}~{part:03d}")
                if more is None:
                    break
                parts.append(more)
            decoded[key] = json.loads("".join(parts))
        return decoded

    def meta(self, instance: str) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self._full_text(self.table.get_entity(
                partition_key(instance), META))))  # fmt: skip
        except ResourceNotFoundError:
            return None

    def metas(self) -> list[dict[str, Any]]:
        rows = self.table.query_entities(f"RowKey eq '{META}'")
        return [json.loads(self._full_text(row)) for row in rows]

    def partitions_with_inbox(self) -> set[str]:
        rows = self.table.query_entities("RowKey ge 'i' and RowKey lt 'j'", select=["PartitionKey"])
        return {instance_id(row["PartitionKey"]) for row in rows}

    def put(self, instance: str, row_key: str, payload: Any) -> None:
        """Upsert one row; a payload too large for one row continues in overflow rows first."""
        text = json.dumps(payload, separators=(",", ":"))
        per_row = _CHUNK * _ROW_CHUNKS
        pieces = [text[i : i + per_row] for i in range(0, max(len(text), 1), per_row)]
        for number, piece in list(enumerate(pieces))[1:]:
            self._upsert(_row(instance, f"{row_key}~{number:03d}", piece))
        row = _row(instance, row_key, pieces[0])
        row["Parts"] = len(pieces)
        if row_key == META:
            for column in ("name", "status", "created", "updated"):
                if payload.get(column) is not None:
                    row[column.capitalize()] = str(payload[column])
        self._upsert(row)

    def delete(self, instance: str, row_keys: list[str]) -> None:
        """Delete rows (and their overflow rows) in batches; rows already gone are fine."""
        pk = partition_key(instance)
        if not row_keys:
            return
        existing = {r["RowKey"] for r in self.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": pk}, select=["RowKey"])}  # fmt: skip
        overflow: dict[str, list[str]] = {}
        for key in sorted(existing):
            if "~" in key:
                overflow.setdefault(key.split("~")[0], []).append(key)
        # In the caller's order: an inbox row goes before the commit row that consumed it.
        doomed = [k for key in row_keys if key in existing for k in [key, *overflow.get(key, [])]]
        for batch in _chunks(doomed, _MAX_OPS):
            self.table.submit_transaction(
                [("delete", {"PartitionKey": pk, "RowKey": key}) for key in batch]
            )

    def delete_partition(self, instance: str) -> None:
        pk = partition_key(instance)
        keys = [r["RowKey"] for r in self.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": pk}, select=["RowKey"])]  # fmt: skip
        for batch in _chunks(keys, _MAX_OPS):
            self.table.submit_transaction(
                [("delete", {"PartitionKey": pk, "RowKey": key}) for key in batch]
            )

    def _full_text(self, row: Row) -> str:
        """A row's payload including its overflow rows (``Parts`` says how many rows)."""
        more = (self.table.get_entity(row["PartitionKey"], f"{row['RowKey']}~{n:03d}")
                for n in range(1, int(row.get("Parts", 1))))  # fmt: skip
        return _text(row) + "".join(_text(part) for part in more)

    def _upsert(self, row: Row) -> None:
        self.table.upsert_entity(row, mode=UpdateMode.REPLACE)


def _row(instance: str, row_key: str, text: str) -> Row:
    row: Row = {"PartitionKey": partition_key(instance), "RowKey": row_key}
    for index, start in enumerate(range(0, max(len(text), 1), _CHUNK)):
        row[f"D{index}"] = text[start : start + _CHUNK]
    return row


def _text(row: Row) -> str:
    return "".join(row[f"D{i}"] for i in itertools.takewhile(
        lambda i: f"D{i}" in row, itertools.count()))  # fmt: skip


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
