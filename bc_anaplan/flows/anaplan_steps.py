"""Steps that run an Anaplan import or export under the model lock (see orchestrators/).

``upload_and_start`` is safe to repeat: right after taking the lease, the orchestration records
the action's newest task creation time (``task_watermark``, Anaplan's own clock); a task created
after that can only be this run's (it holds the lease), so a retried activity adopts it instead of
uploading and starting again. The start itself is given the same watermark: if its answer is lost,
the task created after it is adopted, with no task list read before the POST. Comparing Anaplan
timestamps with Anaplan timestamps means no clock skew between Azure and Anaplan can make a
previous run's task look like this one's.

Discovery happens once per action of a run: the watermark lists the action's kind afresh (so the
id whose tasks it reads is the model's current one, not one remembered from an earlier run), and
the steps after it find the action in the process's remembered listing (``anaplan.actions``). If
the model builder recreated the import in between, starting it answers 404; the client then
finds the new id, and when the new import reads another file, ``upload_and_start`` uploads again
into that file before starting it.

``task_result`` turns the final task state into counts and audit rows: every row Anaplan
rejected is read from the failure dump right away (the dump is overwritten by the next run and
deleted after 48 hours).
"""

from __future__ import annotations

import time
from typing import Any

from bc_anaplan.anaplan.errors import AnaplanNotFoundError
from bc_anaplan.anaplan.tasks import TaskHandle
from bc_anaplan.audit import AuditRecord, StepRecord, utc_now
from bc_anaplan.runtime import Runtime

MAX_REJECTED_ROWS_AUDITED = 10_000


def _task_ref(handle: TaskHandle, spec: dict[str, Any]) -> dict[str, Any]:
    """What an orchestration carries between polls: the handle plus where it belongs."""
    return {**handle.to_dict(), "pipeline": spec["pipeline"], "action_name": spec["action_name"]}


def _current_action(client: Any, spec: dict[str, Any]) -> Any:
    """The action as the model lists it now: a remembered id of a recreated action would read
    an empty task list (Anaplan answers 200 for an unknown action's tasks) and a watermark of 0."""
    if spec.get("kind") == "export":
        return client.find_export(spec["action_name"], fresh=True)
    return client.find_import(spec["action_name"], fresh=True)


def task_watermark(rt: Runtime, spec: dict[str, Any]) -> dict[str, Any]:
    """The newest creation time among the action's tasks, on Anaplan's clock (0: none yet)."""
    client = rt.anaplan(spec["pipeline"])
    times = [t.creation_time_ms or 0 for t in client.list_tasks(_current_action(client, spec))]
    return {"after_ms": max(times, default=0)}


def _adoptable(client: Any, action: Any, spec: dict[str, Any]) -> TaskHandle | None:
    """A task of ``action`` created after the watermark: started by this run's earlier attempt."""
    handle: TaskHandle | None = client.task_started_since(action, int(spec["after_ms"]))
    return handle


def upload_and_start(rt: Runtime, spec: dict[str, Any]) -> dict[str, Any]:
    client = rt.anaplan(spec["pipeline"])
    action = client.find_import(spec["action_name"])
    try:
        return _upload_and_start(rt, client, action, spec)
    except AnaplanNotFoundError:
        # recreated and reading another file (the client restarts it itself otherwise)
        current = client.recreated(action)
        if current is None:
            raise
        return _upload_and_start(rt, client, current, spec)


def _upload_and_start(
    rt: Runtime, client: Any, action: Any, spec: dict[str, Any]
) -> dict[str, Any]:
    existing = _adoptable(client, action, spec)
    if existing is not None:
        return {"task": _task_ref(existing, spec), "upload": {}, "adopted": True}
    rows = rt.staging.read(spec["staged_blob"])
    header = next(rows)
    upload = client.upload(action, rows, header=header)
    handle = client.start_task(action, after_ms=int(spec["after_ms"]))
    return {"task": _task_ref(handle, spec), "upload": upload.to_dict(), "adopted": handle.adopted}


def start_export(rt: Runtime, spec: dict[str, Any]) -> dict[str, Any]:
    client = rt.anaplan(spec["pipeline"])
    export = client.find_export(spec["action_name"])
    existing = _adoptable(client, export, spec)
    if existing is None:
        handle = client.start_task(export, after_ms=int(spec["after_ms"]))
    else:
        handle = existing
    return {"task": _task_ref(handle, spec), "adopted": existing is not None or handle.adopted}


def task_status(rt: Runtime, task: dict[str, Any], pipeline: str | None) -> dict[str, Any]:
    handle = TaskHandle.from_dict(task)
    client = rt.anaplan(pipeline)
    return client.get_task(handle.action, handle.task_id).to_dict()


def cancel_task(rt: Runtime, task: dict[str, Any], pipeline: str | None) -> dict[str, Any]:
    handle = TaskHandle.from_dict(task)
    return rt.anaplan(pipeline).cancel_task(handle.action, handle.task_id).to_dict()


def task_result(rt: Runtime, spec: dict[str, Any]) -> dict[str, Any]:
    """Final counts of an import task; rejected rows go to the audit trail with their reasons."""
    started = time.monotonic()
    handle = TaskHandle.from_dict(spec["task"])
    client = rt.anaplan(spec["pipeline"])
    status = client.get_task(handle.action, handle.task_id)
    summary = status.to_dict()
    rejected_total = 0
    if status.result is not None and status.result.failure_dump_available:
        rejected = client.rejected_rows(status, limit=MAX_REJECTED_ROWS_AUDITED)
        rejected_total = rejected.total
        rt.audit.record(
            spec["run_id"],
            (
                AuditRecord(
                    "rejected",
                    f"{spec['action_name']}:{row.line}",
                    "; ".join(row.errors) or f"rejected with status {row.status}",
                    {"action": spec["action_name"], **row.to_dict()},
                )
                for row in rejected.rows
            ),
        )
        summary["rejected_truncated"] = rejected.truncated
    counts = summary["counts"]
    summary["rejected"] = max(rejected_total, int(counts.get("failed", 0)))
    rt.audit.record_step(
        spec["run_id"],
        StepRecord(
            spec["step_id"],
            f"Anaplan {spec['action_name']}",
            utc_now(),
            int((time.monotonic() - started) * 1000),
            {"anaplan_rejected": summary["rejected"]},
            {
                "task_id": status.task_id,
                "state": status.state,
                "successful": summary["successful"],
                "anaplan_counts": counts,
                "messages": summary["messages"][:5],
            },
        ),
    )
    return summary


def download_export(rt: Runtime, spec: dict[str, Any]) -> dict[str, Any]:
    """Download a finished export completely and keep it, as staged CSV, for the next steps.

    The client refuses a task that is not ``COMPLETE`` and successful, or whose file a later
    run of the export may have overwritten (the stale-export guard), before a byte is read.
    """
    handle = TaskHandle.from_dict(spec["task"])
    client = rt.anaplan(spec["pipeline"])
    blob = f"{spec['pipeline']}/{spec['run_id']}/{spec['step_id']}.csv.gz"
    with client.download_export(handle) as export:
        records = export.records()
        header = next(records, None)
        if header is None:
            raise ValueError(f"export {spec['action_name']!r} produced an empty file")
        staged = rt.staging.write(blob, header, records, key_columns=len(header))
        size = export.download.bytes
    return {
        "staged_blob": blob,
        "rows": staged.rows,
        "bytes": size,
        "sha256": staged.sha256,
        "header": header,
    }
