"""The connector's process-wide services, built once from the validated settings.

Activities run many times in one worker process; they share one configuration, one secret cache,
one set of pooled HTTP clients and tokens, and one set of storage clients. ``get_runtime()``
builds those lazily on first use and hands the same object to every activity. API clients are
cheap objects over that shared state (no login per client), so one is made per activity.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from bc_anaplan.anaplan.client import AnaplanClient
from bc_anaplan.audit import AuditTrail
from bc_anaplan.config import Settings, load_settings
from bc_anaplan.cursors import CursorStore
from bc_anaplan.mapping import MappingStore
from bc_anaplan.secrets import SecretStore
from bc_anaplan.snapshots import SnapshotStore
from bc_anaplan.staging import StagingArea
from bc_anaplan.storage import Storage

if TYPE_CHECKING:
    from bc_anaplan.bc.client import BcClient


class Runtime:
    def __init__(self, settings: Settings, environ: Mapping[str, str]) -> None:
        self.settings = settings
        self.environ = environ
        self.secrets = SecretStore(settings, environ=environ)

    @cached_property
    def storage(self) -> Storage:
        return Storage(self.settings.storage)

    @cached_property
    def audit(self) -> AuditTrail:
        return AuditTrail(self.storage)

    @cached_property
    def cursors(self) -> CursorStore:
        return CursorStore(self.storage)

    @cached_property
    def mappings(self) -> MappingStore:
        return MappingStore(self.storage)

    @cached_property
    def snapshots(self) -> SnapshotStore:
        return SnapshotStore(self.storage)

    @cached_property
    def staging(self) -> StagingArea:
        return StagingArea(self.storage)

    def anaplan(self, pipeline: str | None = None) -> AnaplanClient:
        return AnaplanClient.for_pipeline(self.settings, self.secrets, pipeline)

    def bc(self, pipeline: str | None = None) -> BcClient:
        from bc_anaplan.bc.client import BcClient

        company = self.settings.pipeline(pipeline).bc_company_id
        return BcClient(self.settings, self.secrets, company)


_runtime: Runtime | None = None
_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process's runtime, built from the environment on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime(load_settings(), os.environ)
        return _runtime


def use_environment(environ: Mapping[str, str]) -> Runtime:
    """Replace the process's runtime with one for ``environ`` (tests, the CLI, the demo)."""
    global _runtime
    with _lock:
        _runtime = Runtime(load_settings(environ), environ)
        return _runtime


@contextmanager
def environment(environ: Mapping[str, str]) -> Iterator[Runtime]:
    """Use a runtime for ``environ`` for the duration of a block, then restore the previous one.

    Tests and tools that run several connectors in one process (one per sandbox) use this so
    that leaving one does not leave the process pointing at a sandbox that is gone.
    """
    global _runtime
    with _lock:
        previous = _runtime
    runtime = use_environment(environ)
    try:
        yield runtime
    finally:
        with _lock:
            _runtime = previous
