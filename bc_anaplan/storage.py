"""Where the connector keeps its own state: Azure Table Storage and Blob Storage.

Tables hold small, queryable facts (run records, audit rows, cursors, the member mapping); blobs
hold bulk state that must outlive one activity but must never pass through orchestration history
(period snapshots of aggregated cells, downloaded export files). Everything lives in the storage
account of ``AzureWebJobsStorage`` (Azurite locally), named after the task hub so that two
deployments sharing an account do not see each other's state.

Calls to Azure Storage go through the Azure SDK's own pipeline (its authentication, signing and
retry policy), not through ``bc_anaplan.http``: the SDK owns that protocol. Transactions are
capped here at 100 operations and one partition, because Azurite does not enforce the service's
limits faithfully.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode
from azure.storage.blob import BlobServiceClient, ContainerClient

from bc_anaplan.config import StorageSettings

MAX_BATCH = 100
MAX_BATCH_BYTES = 3_500_000  # the service allows 4 MiB; keep headroom for envelopes
_KEY_UNSAFE = re.compile(r"[/\\#?%\x00-\x1f\x7f]")


def safe_key(value: str) -> str:
    """A PartitionKey/RowKey-safe rendering of ``value`` (``/ \\ # ?`` and controls escaped)."""
    return _KEY_UNSAFE.sub(lambda m: f"%{ord(m.group(0)):02X}", value)


def unsafe_key(value: str) -> str:
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


class Storage:
    """Table and blob clients of the connector's state, created once per process."""

    def __init__(self, settings: StorageSettings) -> None:
        self.prefix = settings.task_hub
        if settings.connection_string:
            self.tables = TableServiceClient.from_connection_string(settings.connection_string)
            self.blobs = BlobServiceClient.from_connection_string(settings.connection_string)
        else:
            from azure.identity import DefaultAzureCredential

            account = settings.account_name
            credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
            self.tables = TableServiceClient(
                f"https://{account}.table.core.windows.net", credential=credential
            )
            self.blobs = BlobServiceClient(
                f"https://{account}.blob.core.windows.net", credential=credential
            )
        self._tables: dict[str, TableClient] = {}
        self._containers: dict[str, ContainerClient] = {}
        self._lock = threading.Lock()

    def table(self, suffix: str) -> TableClient:
        """The table ``<taskhub><Suffix>``, created on first use."""
        name = f"{self.prefix}{suffix}"
        with self._lock:
            client = self._tables.get(name)
            if client is None:
                with contextlib.suppress(ResourceExistsError):
                    self.tables.create_table(name)
                client = self.tables.get_table_client(name)
                self._tables[name] = client
            return client

    def container(self, suffix: str) -> ContainerClient:
        """The blob container ``<taskhub>-<suffix>`` (lowercase), created on first use."""
        name = f"{self.prefix}-{suffix}".lower()
        with self._lock:
            client = self._containers.get(name)
            if client is None:
                client = self.blobs.get_container_client(name)
                with contextlib.suppress(ResourceExistsError):
                    client.create_container()
                self._containers[name] = client
            return client


def _entity_size(entity: dict[str, Any]) -> int:
    return sum(len(str(k)) + len(str(v)) for k, v in entity.items()) * 2 + 64


def upsert_batched(table: TableClient, entities: Iterable[dict[str, Any]]) -> int:
    """Upsert entities in transactions of at most 100 operations per partition.

    Entities are grouped by PartitionKey in arrival order; each group is flushed when it reaches
    the operation or byte limit. Returns the number of entities written.
    """
    pending: dict[str, list[dict[str, Any]]] = {}
    sizes: dict[str, int] = {}
    written = 0
    for entity in entities:
        pk = entity["PartitionKey"]
        size = _entity_size(entity)
        if pk in pending and (len(pending[pk]) >= MAX_BATCH or sizes[pk] + size > MAX_BATCH_BYTES):
            written += _submit(table, pending.pop(pk))
            sizes.pop(pk)
        pending.setdefault(pk, []).append(entity)
        sizes[pk] = sizes.get(pk, 0) + size
    for group in pending.values():
        written += _submit(table, group)
    return written


def _submit(table: TableClient, group: list[dict[str, Any]]) -> int:
    operations: list[Any] = [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in group]
    table.submit_transaction(operations)
    return len(group)


def query_partition(
    table: TableClient, partition: str, prefix: str | None = None
) -> Iterator[dict[str, Any]]:
    """All entities of one partition, optionally only RowKeys starting with ``prefix``."""
    if prefix is None:
        query = "PartitionKey eq @pk"
        params: dict[str, Any] = {"pk": partition}
    else:
        query = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
        params = {"pk": partition, "lo": prefix, "hi": prefix + "\uffff"}
    yield from table.query_entities(query, parameters=params)
