"""The dispatcher: runs episodes, entity batches, activities and timers in background threads.

Every orchestration instance and every entity is a *partition* (see :mod:`local_host.store`)
with an inbox. Delivering a message persists it first and then queues the partition; a worker
thread takes the partition, processes *all* its queued messages in one step (an orchestration
episode or an entity batch), commits the step as one row and only then dispatches what the step
produced. A partition is queued at most once, so episodes of one instance and operations
of one entity never run concurrently. Activities run in a thread pool sized like
``maxConcurrentActivityFunctions``; their results are persisted into the inbox before the next
replay, so a host that dies loses at most the activities that were running.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import json
import logging
import threading
import time
import traceback
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from azure.functions import meta as func_meta
from azure.functions.durable_functions import ActivityTriggerConverter

from local_host import history as h
from local_host.clock import Clock
from local_host.config import FunctionIndex, HostSettings
from local_host.episode import Message, Outcome, run_entity_batch, run_episode, terminate
from local_host.store import META, Store, arrival_id, commit_key

log = logging.getLogger("local_host")

ACTIVE = ("Pending", "Running")
TERMINAL = ("Completed", "Failed", "Terminated")
_ENTITY_BATCH = 50
_KEEP_PROCESSED = 500  # entity request ids remembered to drop redelivered requests
_GARBAGE_BATCH = 50  # consumed inbox rows are deleted in batches of this size


class NotFound(LookupError):
    pass


class Gone(Exception):
    """The instance has already finished."""


class AlreadyExists(Exception):
    pass


class UnknownFunction(ValueError):
    pass


class NotTerminal(Exception):
    pass


def entity_instance_id(name: str, key: str) -> str:
    """The scheduler id the SDK uses: ``@<lower-case name>@<key>``."""
    return f"@{name.lower()}@{key}"


@dataclass(eq=False)
class Partition:
    pid: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    meta: dict[str, Any] | None = None
    history: list[h.Event] = field(default_factory=list)
    inbox: dict[str, Message] = field(default_factory=dict)  # row key -> message
    loaded: bool = False
    scheduled: bool = False  # queued or being processed
    step: int = 0  # number of the next commit row of the current execution
    garbage: list[str] = field(default_factory=list)  # rows to delete, oldest first
    outbox: list[dict[str, Any]] = field(default_factory=list)  # last step's, after a load


class Engine:
    def __init__(
        self, index: FunctionIndex, store: Store, clock: Clock, settings: HostSettings
    ) -> None:
        self.index, self.store, self.clock, self.settings = index, store, clock, settings
        self.cv = threading.Condition()
        self.parts: dict[str, Partition] = {}
        self.ready: deque[str] = deque()
        self.busy = 0  # queued or running partitions and activities; 0 means "only timers left"
        self.timers: list[tuple[Any, ...]] = []
        self.canceled: set[tuple[str, int, int]] = set()
        self.stopping = False
        self._timer_ids = itertools.count()
        self.pool = ThreadPoolExecutor(settings.max_activities, thread_name_prefix="activity")
        self.threads: list[threading.Thread] = []

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.store.create()
        workers = max(2, min(self.settings.max_orchestrations, 8))
        for n in range(workers):
            self._spawn(self._worker_loop, f"local-host-worker-{n}")
        self._spawn(self._timer_loop, "local-host-timers")
        self._recover()

    def stop(self) -> None:
        with self.cv:
            self.stopping = True
            self.cv.notify_all()
        self.pool.shutdown(wait=True, cancel_futures=True)
        for thread in self.threads:
            thread.join(timeout=30)

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    # ---- client operations -----------------------------------------------------------------

    def start_instance(
        self, name: str, input_text: str | None, instance_id: str | None = None,
        parent: dict[str, Any] | None = None,
    ) -> str:  # fmt: skip
        if name not in self.index.orchestrators:
            raise UnknownFunction(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                "function."
            )
        iid = instance_id or uuid.uuid4().hex
        if not iid or iid.startswith("@"):
            raise ValueError(f"invalid instance id {iid!r}")
        p = self._partition(iid)
        with p.lock:
            self._ensure_loaded(p)
            old = p.meta or {}
            if old.get("kind") == "orchestration" and old.get("status") in ACTIVE:
                raise AlreadyExists(
                    f"An Orchestration instance with the status {old['status']} already exists."
                )
            now, gen = self.clock.now(), old.get("gen", 0) + 1
            meta = {
                "kind": "orchestration", "id": iid, "name": name, "gen": gen,
                "status": "Pending", "input": input_text, "output": None, "custom_status": None,
                "created": h.timestamp(now), "updated": h.timestamp(now), "parent": parent,
            }  # fmt: skip
            started = h.event(h.EXECUTION_STARTED, now, Name=name, Version="", Input=input_text)
            message, row = {"type": "event", "gen": gen, "event": started}, "i" + arrival_id()
            self.store.put(iid, row, message)
            self.store.put(iid, commit_key(gen, 0), _commit_row([], meta))
            self.store.put(iid, META, meta)
            with self.cv:
                p.garbage += [commit_key(old["gen"], n) for n in range(p.step)] if old else []
                p.meta, p.history, p.step, p.inbox[row] = meta, [], 1, message
                self._schedule(p)
        log.info("orchestration %s (%s) scheduled", iid, name)
        return iid

    def raise_event(self, instance_id: str, name: str, input_text: str | None) -> None:
        self._require_active(instance_id)
        event = h.event(h.EVENT_RAISED, self.clock.now(), Name=name, Input=input_text)
        self.deliver(instance_id, {"type": "event", "gen": None, "event": event})

    def terminate(self, instance_id: str, reason: str) -> None:
        meta = self._require_active(instance_id)
        event = h.event(h.EXECUTION_TERMINATED, self.clock.now(), Input=reason)
        self.deliver(instance_id, {"type": "event", "gen": meta["gen"], "event": event})

    def signal_entity(self, entity_id: str, operation: str, input_text: str | None) -> None:
        request = {"type": "op", "id": str(uuid.uuid4()), "op": operation, "input": input_text,
                   "signal": True, "parent": None}  # fmt: skip
        self.deliver(entity_id, request)

    def status(self, instance_id: str) -> dict[str, Any] | None:
        p = self.parts.get(instance_id)
        if p is not None and p.loaded:
            return p.meta
        return self.store.meta(instance_id)

    def history(self, instance_id: str) -> list[h.Event]:
        return _decode(instance_id, self.store.load(instance_id)).history

    def purge(self, instance_id: str) -> int:
        meta = self.status(instance_id)
        if meta is None:
            return 0
        if meta.get("kind") == "orchestration" and meta.get("status") not in TERMINAL:
            raise NotTerminal(f"instance {instance_id} is {meta.get('status')}, not finished")
        p = self._partition(instance_id)
        with p.lock:
            self.store.delete_partition(instance_id)
            with self.cv:
                p.meta, p.history, p.inbox, p.loaded, p.step, p.garbage = None, [], {}, True, 0, []
        return 1

    def wait(self, instance_id: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            meta = self.status(instance_id)
            if meta is not None and meta.get("status") in TERMINAL:
                return meta
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = meta.get("status") if meta else "not found"
                raise TimeoutError(f"instance {instance_id} still {state} after {timeout_s} s")
            with self.cv:
                self.cv.wait(min(remaining, 0.25))

    def _require_active(self, instance_id: str) -> dict[str, Any]:
        meta = self.status(instance_id)
        if meta is None or meta.get("kind") != "orchestration":
            raise NotFound(f"No instance with ID {instance_id} found.")
        if meta.get("status") in TERMINAL:
            raise Gone(f"Instance with ID {instance_id} is gone: either completed or failed")
        return meta

    # ---- delivery and scheduling -----------------------------------------------------------

    def deliver(self, pid: str, message: Message, row: str | None = None) -> None:
        """Persist ``message`` into ``pid``'s inbox, then queue the partition."""
        row = row or "i" + arrival_id()
        self.store.put(pid, row, message)
        with self.cv:
            p = self._partition_locked(pid)
            p.inbox[row] = message
            self._schedule(p)

    def _partition(self, pid: str) -> Partition:
        with self.cv:
            return self._partition_locked(pid)

    def _partition_locked(self, pid: str) -> Partition:
        p = self.parts.get(pid)
        if p is None:
            p = self.parts[pid] = Partition(pid)
        return p

    def _schedule(self, p: Partition) -> None:  # caller holds self.cv
        if not p.scheduled:
            p.scheduled = True
            self.busy += 1
            self.ready.append(p.pid)
            self.cv.notify_all()

    def _worker_loop(self) -> None:
        while True:
            with self.cv:
                while not self.ready and not self.stopping:
                    self.cv.wait()
                if self.stopping:
                    return
                p = self.parts[self.ready.popleft()]
            ok = True
            try:
                with p.lock:
                    self._ensure_loaded(p)
                    if p.pid.startswith("@"):
                        self._entity_step(p)
                    else:
                        self._orchestration_step(p)
            except Exception:
                ok = False
                log.exception("local host failed to process %s; its messages stay queued", p.pid)
            with self.cv:
                if ok and p.inbox:
                    self.ready.append(p.pid)
                else:
                    p.scheduled = False
                    self.busy -= 1
                self.cv.notify_all()

    def _ensure_loaded(self, p: Partition) -> None:
        """Read the partition once (caller holds ``p.lock``)."""
        if p.loaded:
            return
        state = _decode(p.pid, self.store.load(p.pid))
        with self.cv:
            p.meta, p.history, p.step, p.loaded = state.meta, state.history, state.step, True
            p.garbage, p.outbox = state.garbage, state.outbox
            for key, message in state.inbox.items():
                p.inbox.setdefault(key, message)

    # ---- orchestrations --------------------------------------------------------------------

    def _orchestration_step(self, p: Partition) -> None:
        with self.cv:
            batch = sorted(p.inbox.items())
        consumed = [key for key, _ in batch]
        meta = p.meta
        if meta is None or meta.get("status") in TERMINAL:
            return self._drop(p, consumed)
        events, ended = self._admit(meta, p.history, [m for _, m in batch])
        now = self.clock.now()
        if ended is not None:
            outcome = terminate(meta, str(ended.get("Input") or ""), now)
        elif events:
            handle = self.index.orchestrators.get(meta["name"])
            outcome = run_episode(handle, meta, p.history, events, now)
        else:
            return self._drop(p, consumed)
        self._commit(p, consumed, outcome, meta)

    def _admit(
        self, meta: dict[str, Any], history: list[h.Event], messages: list[Message]
    ) -> tuple[list[h.Event], h.Event | None]:
        """The new events of an episode: stale executions and duplicates are dropped."""
        done = h.completed_task_ids(history)
        answered = {e["Name"] for e in history if e["EventType"] == h.EVENT_RAISED}
        events: list[h.Event] = []
        for message in messages:
            if message.get("gen") not in (None, meta["gen"]):
                continue
            event, etype = message["event"], message["event"]["EventType"]
            if etype == h.EXECUTION_TERMINATED:
                return [], event
            key = h.COMPLETIONS.get(etype)
            if etype == h.EXECUTION_STARTED and history:
                continue
            if key is not None:
                if event[key] in done:
                    continue
                done.add(event[key])
            if etype == h.EVENT_RAISED and message.get("response"):
                if event["Name"] in answered:
                    continue
                answered.add(event["Name"])
            events.append(event)
        return events, None

    def _drop(self, p: Partition, consumed: list[str]) -> None:
        """Messages nobody can use (late, duplicate, for a finished or unknown instance)."""
        self.store.delete(p.pid, consumed)
        with self.cv:
            for key in consumed:
                p.inbox.pop(key, None)

    def _commit(
        self, p: Partition, consumed: list[str], outcome: Outcome, meta: dict[str, Any]
    ) -> None:
        """Write the step's commit row, then act on it: dispatch, deliver, update ``meta``."""
        gen, now = meta["gen"], self.clock.now()
        played = [dict(e, IsPlayed=True) for e in outcome.events]
        outbox = [{"key": arrival_id(), "to": to, "msg": msg} for to, msg in outcome.outbox]
        new_meta = dict(meta, status=outcome.status, custom_status=outcome.custom_status,
                        updated=h.timestamp(now))  # fmt: skip
        restart: tuple[str, Message] | None = None
        if outcome.status == "ContinuedAsNew":  # the next execution starts from its own row
            new_meta.update(status="Running", gen=gen + 1, input=outcome.next_input)
            started = h.event(h.EXECUTION_STARTED, now, Name=meta["name"], Version="",
                              Input=outcome.next_input)  # fmt: skip
            restart = ("i" + arrival_id(), {"type": "event", "gen": gen + 1, "event": started})
            self.store.put(p.pid, *restart)
            key = commit_key(gen + 1, 0)
            self.store.put(p.pid, key, _commit_row([], new_meta, consumed, outbox))
        else:
            if outcome.status in TERMINAL:
                new_meta["output"] = outcome.output
            key = commit_key(gen, p.step)
            self.store.put(p.pid, key, _commit_row(played, new_meta, consumed, outbox))
        with self.cv:
            p.meta, p.garbage = new_meta, p.garbage + consumed
            for consumed_key in consumed:
                p.inbox.pop(consumed_key, None)
            if restart:
                p.garbage += [commit_key(gen, n) for n in range(p.step)]
                p.history, p.step, p.inbox[restart[0]] = [], 1, restart[1]
            else:
                p.history, p.step = p.history + played, p.step + 1
            self.cv.notify_all()
        self._log_outcome(meta, outcome)
        self._dispatch(p.pid, gen, outcome)
        self._after_commit(p, outbox, finished=outcome.status in TERMINAL or restart is not None)
        if outcome.status in TERMINAL:
            with self.cv:  # finished: free the memory; a later read loads it again
                p.history, p.loaded = [], False

    def _after_commit(self, p: Partition, outbox: list[dict[str, Any]], finished: bool) -> None:
        """Deliver the step's messages, then refresh the ``meta`` copy (so a ``meta`` row that
        still shows the previous step means: deliver again after a restart), then collect."""
        self._deliver_outbox(outbox)
        assert p.meta is not None
        self.store.put(p.pid, META, p.meta)
        if p.garbage and (finished or len(p.garbage) >= _GARBAGE_BATCH):
            with self.cv:
                garbage, p.garbage = p.garbage, []
            self.store.delete(p.pid, garbage)

    def _log_outcome(self, meta: dict[str, Any], outcome: Outcome) -> None:
        iid, name = meta["id"], meta["name"]
        if meta["status"] == "Pending":
            log.info("orchestration %s (%s) started", iid, name)
        if outcome.status == "Failed":
            first_line = str(outcome.output).splitlines()[0] if outcome.output else ""
            log.error("orchestration %s (%s) failed: %s", iid, name, first_line)
        elif outcome.status in ("Completed", "Terminated"):
            log.info("orchestration %s (%s) %s", iid, name, outcome.status.lower())
        elif outcome.status == "ContinuedAsNew":
            log.info("orchestration %s (%s) continued as new", iid, name)

    def _dispatch(self, pid: str, gen: int, outcome: Outcome) -> None:
        for seq, name, input_text in outcome.activities:
            self._submit_activity(pid, gen, seq, name, input_text)
        for seq, fire_at in outcome.timers:
            if seq not in outcome.canceled_timers:
                self._arm(pid, gen, seq, fire_at)
        if outcome.canceled_timers:
            with self.cv:
                self.canceled.update((pid, gen, seq) for seq in outcome.canceled_timers)

    def _deliver_outbox(self, outbox: list[dict[str, Any]]) -> None:
        """Deliver to other partitions, idempotently: the inbox row key derives from the
        message's own key, so a delivery repeated after a restart overwrites, not duplicates."""
        for item in outbox:
            target, message = item["to"], item["msg"]
            if message["type"] == "start":
                self._start_child(target, message)
                continue
            if message["type"] == "event" and message["event"]["EventType"] == h.EVENT_RAISED:
                message = dict(message, response=True)
            self.deliver(target, message, row="i" + item["key"])

    def _start_child(self, child: str, message: Message) -> None:
        parent = message["parent"]
        try:
            self.start_instance(message["name"], message["input"], child, parent=parent)
        except (AlreadyExists, UnknownFunction, ValueError) as exc:
            existing = self.status(child) or {}
            if existing.get("parent") == parent:
                return  # redelivered after a restart: the child already runs for this parent
            failed = h.event(h.SUB_FAILED, self.clock.now(), TaskScheduledId=parent["seq"],
                             Reason=str(exc), Details="")  # fmt: skip
            self.deliver(parent["id"], {"type": "event", "gen": parent["gen"], "event": failed})

    # ---- activities and timers -------------------------------------------------------------

    def _submit_activity(self, pid: str, gen: int, seq: int, name: str, text: str | None) -> None:
        with self.cv:
            self.busy += 1
        try:
            self.pool.submit(self._run_activity, pid, gen, seq, name, text)
        except RuntimeError:  # shutting down: the activity runs again after a restart
            with self.cv:
                self.busy -= 1

    def _run_activity(self, pid: str, gen: int, seq: int, name: str, text: str | None) -> None:
        log.info("activity %s started for %s (task %d)", name, pid, seq)
        started = time.monotonic()
        try:
            if name not in self.index.activities:
                raise LookupError(f"The function '{name}' doesn't exist, is disabled, or is not "
                                  "an activity function.")  # fmt: skip
            fn, param = self.index.activities[name]
            datum = func_meta.Datum(text if text is not None else "null", "json")
            value = ActivityTriggerConverter.decode(datum, trigger_metadata=None)
            result = fn(**{param: value})
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
            encoded = ActivityTriggerConverter.encode(result, expected_type=None).value
            event = h.event(h.TASK_COMPLETED, self.clock.now(), TaskScheduledId=seq, Result=encoded)
            log.info("activity %s completed for %s (task %d) in %.3f s", name, pid, seq,
                     time.monotonic() - started)  # fmt: skip
        except Exception as exc:
            log.warning("activity %s failed for %s (task %d): %s: %s", name, pid, seq,
                        type(exc).__name__, exc)  # fmt: skip
            reason = f"Activity function '{name}' failed: {type(exc).__name__}: {exc}"
            # Details: the activity's own frames, not the host's.
            frames = exc.__traceback__.tb_next if exc.__traceback__ else None
            details = "".join(traceback.format_exception(type(exc), exc, frames))
            event = h.event(h.TASK_FAILED, self.clock.now(), TaskScheduledId=seq, Reason=reason,
                            Details=details)  # fmt: skip
        try:
            self.deliver(pid, {"type": "event", "gen": gen, "event": event})
        except Exception:
            log.exception("could not record the result of activity %s for %s", name, pid)
        finally:
            with self.cv:
                self.busy -= 1
                self.cv.notify_all()

    def _arm(self, pid: str, gen: int, seq: int, fire_at: str) -> None:
        entry = (h.parse_timestamp(fire_at), next(self._timer_ids), pid, gen, seq, fire_at)
        with self.cv:
            heapq.heappush(self.timers, entry)
            self.cv.notify_all()

    def _timer_loop(self) -> None:
        while True:
            with self.cv:
                entry = self._next_due_timer()
                if entry is None:
                    return
            _, _, pid, gen, seq, fire_at = entry
            if (pid, gen, seq) in self.canceled:
                continue
            event = h.event(h.TIMER_FIRED, self.clock.now(), TimerId=seq, FireAt=fire_at)
            try:
                self.deliver(pid, {"type": "event", "gen": gen, "event": event})
            except Exception:
                log.exception("could not fire timer %d of %s", seq, pid)

    def _next_due_timer(self) -> tuple[Any, ...] | None:
        """Wait (holding ``self.cv``) for the next due timer; skip time when nothing else runs."""
        while not self.stopping:
            now = self.clock.now()
            if self.timers and self.timers[0][0] <= now:
                return heapq.heappop(self.timers)
            if self.timers and self.clock.skips_time and self.busy == 0:
                self.clock.skip_to(self.timers[0][0])
                continue
            wait = (self.timers[0][0] - now).total_seconds() if self.timers else 1.0
            self.cv.wait(min(max(wait, 0.001), 1.0))
        return None

    # ---- entities --------------------------------------------------------------------------

    def _entity_step(self, p: Partition) -> None:
        with self.cv:
            batch = sorted(p.inbox.items())[:_ENTITY_BATCH]
        consumed = [key for key, _ in batch]
        now = self.clock.now()
        _, name, key = p.pid.split("@", 2)
        meta = p.meta or {"kind": "entity", "id": p.pid, "name": name, "key": key, "gen": 0,
                          "exists": False, "state": None, "processed": [],
                          "created": h.timestamp(now)}  # fmt: skip
        processed = set(meta["processed"])
        ops = [m for _, m in batch if m.get("type") == "op" and m["id"] not in processed]
        handle = self.index.entities.get(name)
        exists, state, results = run_entity_batch(handle, p.pid, meta["exists"], meta["state"], ops)
        outbox = []
        for op, result in zip(ops, results, strict=True):
            if result.get("isError"):
                log.warning("entity %s operation %s failed: %s", p.pid, op["op"], result["result"])
            if op["signal"] or not op.get("parent"):
                continue
            body = {"result": result["result"]}
            if result.get("isError"):
                body["exceptionType"] = "System.Exception"
            parent = op["parent"]
            raised = h.event(h.EVENT_RAISED, now, Name=op["id"], Input=json.dumps(body))
            message = {"type": "event", "gen": parent["gen"], "event": raised}
            outbox.append({"key": arrival_id(), "to": parent["id"], "msg": message})
        remembered = (meta["processed"] + [op["id"] for op in ops])[-_KEEP_PROCESSED:]
        new_meta = dict(meta, exists=exists, state=state, processed=remembered,
                        updated=h.timestamp(now))  # fmt: skip
        self.store.put(p.pid, commit_key(0, p.step), _commit_row([], new_meta, consumed, outbox))
        with self.cv:
            p.meta = new_meta
            p.garbage += consumed + ([commit_key(0, p.step - 1)] if p.step else [])
            p.step += 1
            for k in consumed:
                p.inbox.pop(k, None)
        self._after_commit(p, outbox, finished=False)

    def entity_state(self, entity_id: str) -> tuple[bool, str | None]:
        meta = self.status(entity_id) or {}
        return bool(meta.get("exists")), meta.get("state")

    # ---- recovery --------------------------------------------------------------------------

    def _recover(self) -> None:
        """Resume what a previous host left: messages, activities, timers, undelivered sends."""
        metas = self.store.metas()
        active = {m["id"] for m in metas if m.get("status") in ACTIVE or m.get("kind") == "entity"}
        pids = self.store.partitions_with_inbox() | active
        for pid in sorted(pids):
            p = self._partition(pid)
            with p.lock:
                self._ensure_loaded(p)
                if p.meta is not None:
                    self._deliver_outbox(p.outbox)
                    self.store.put(pid, META, p.meta)
                    if p.meta.get("kind") == "orchestration" and p.meta["status"] in ACTIVE:
                        self._resume_work(p)
            with self.cv:
                if p.inbox:
                    self._schedule(p)
        if pids:
            log.info("resumed %d instance(s) and entities with pending work", len(pids))

    def _resume_work(self, p: Partition) -> None:
        """Activities and timers the history scheduled but that have no answer yet."""
        assert p.meta is not None
        gen = p.meta["gen"]
        answered = h.completed_task_ids(p.history)
        answered |= h.completed_task_ids(
            [
                m["event"]
                for m in p.inbox.values()
                if m.get("type") == "event" and m.get("gen") == gen
            ]
        )
        for e in p.history:
            if e["EventId"] in answered:
                continue
            if e["EventType"] == h.TASK_SCHEDULED:
                self._submit_activity(p.pid, gen, e["EventId"], e["Name"], e.get("Input"))
            elif e["EventType"] == h.TIMER_CREATED:
                self._arm(p.pid, gen, e["EventId"], e["FireAt"])


@dataclass
class _Decoded:
    meta: dict[str, Any] | None
    history: list[h.Event]
    inbox: dict[str, Message]
    step: int
    garbage: list[str]
    outbox: list[dict[str, Any]]


def _decode(pid: str, rows: dict[str, Any]) -> _Decoded:
    """A partition's state from its rows: the latest commit row is the truth."""
    commits = [(key, row) for key, row in rows.items() if key.startswith("c")]
    latest = commits[-1][1] if commits else {}
    meta = latest.get("meta")
    prefix = commit_key((meta or {}).get("gen", 0), 0)[:8]
    current = [(key, row) for key, row in commits if key.startswith(prefix)]
    consumed = {key for _, row in commits for key in row["consumed"]}
    garbage = [key for key in rows if key.startswith("i") and key in consumed]
    garbage += [key for key, _ in commits if not key.startswith(prefix)]
    if pid.startswith("@"):  # an entity needs only its latest commit row
        garbage += [key for key, _ in commits[:-1]]
    return _Decoded(
        meta=meta,
        history=[e for _, row in current for e in row["events"]],
        inbox={k: m for k, m in rows.items() if k.startswith("i") and k not in consumed},
        step=int(current[-1][0].split("-")[1]) + 1 if current else 0,
        garbage=garbage,
        outbox=latest.get("outbox", []),
    )


def _commit_row(
    events: list[h.Event], meta: dict[str, Any], consumed: list[str] | None = None,
    outbox: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {"events": events, "meta": meta, "consumed": consumed or [], "outbox": outbox or []}


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
