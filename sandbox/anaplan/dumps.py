"""Failure dumps, kept the way Anaplan keeps them.

Per user and per action: the next run of the same import (or process) by the same user replaces
the dump, or removes it when that run had no failures, so an older task may still report
``failureDumpAvailable: true`` while its dump is gone (404). A dump is also removed 48 hours
after it was recorded, on the simulated clock; reading it does not extend that. A process keeps
one dump per failed child action, addressed by the child's object id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.common.clock import SimClock

RETENTION_S = 48 * 3600.0
DUMP_CHUNK_BYTES = 10 * 1024 * 1024


@dataclass
class StoredDump:
    task_id: str
    parts: dict[str, bytes]  # object id of the failed import -> dump CSV
    recorded_at: float


class DumpStore:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._dumps: dict[tuple[str, str], StoredDump] = {}

    def record(self, user: str, action_id: str, task_id: str, parts: dict[str, bytes]) -> None:
        if parts:
            self._dumps[(user, action_id)] = StoredDump(task_id, parts, self.clock.time())
        else:
            self._dumps.pop((user, action_id), None)

    def get(self, user: str, action_id: str, task_id: str, object_id: str) -> bytes | None:
        stored = self._dumps.get((user, action_id))
        if stored is None:
            return None
        if self.clock.time() - stored.recorded_at >= RETENTION_S:
            del self._dumps[(user, action_id)]
            return None
        if stored.task_id != task_id or object_id not in stored.parts:
            return None
        return stored.parts[object_id]

    def clear(self) -> None:
        self._dumps.clear()


def dump_chunks(data: bytes) -> list[bytes]:
    return [data[i : i + DUMP_CHUNK_BYTES] for i in range(0, len(data), DUMP_CHUNK_BYTES)]
