"""Stable names for units of work, from which orchestration instance ids are made.

Two triggers for the same work -- a nightly timer and an operator's re-run, or BC sending the
same webhook twice -- must not run it twice at the same time. Each unit of work has a *work key*
derived only from what it does (``actuals:<company>:<model>:<window>``); an instance id is the
work key plus the start time (``<work key>@20261126T023000Z``), so every run keeps its own
history and audit record while a second start of running work is refused by looking for a
running instance with the same work-key prefix.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime

from bc_anaplan.periods import Period
from bc_anaplan.pipeline import Pipeline

_UNSAFE = re.compile(r"[^A-Za-z0-9:._+-]")


def _clean(part: str) -> str:
    return _UNSAFE.sub("-", part)


def _scope(pipeline: Pipeline) -> str:
    return f"{pipeline.bc_company_id}:{pipeline.anaplan_model_id}"


def reference_sync(pipeline: Pipeline) -> str:
    return f"reference:{_scope(pipeline)}"


def employees_load(pipeline: Pipeline) -> str:
    return f"employees:{_scope(pipeline)}"


def actuals_load(
    pipeline: Pipeline, periods: Iterable[str] | None = None, opening: bool = False
) -> str:
    """``opening``: the work also recomputes the opening balances (every month's closing)."""
    keys = sorted({Period.parse(p).key for p in periods or ()})
    if not keys and not opening:
        return f"actuals:{_scope(pipeline)}:incremental"
    parts = (["opening"] if opening else []) + keys
    window = "+".join(parts)
    if len(window) > 80:
        window = f"{parts[0]}..{parts[-1]}#" + hashlib.sha256(window.encode()).hexdigest()[:12]
    return f"actuals:{_scope(pipeline)}:{window}"


def plan_writeback(pipeline: Pipeline, version: str) -> str:
    return f"writeback:{_scope(pipeline)}:{_clean(version)}"


def approval_watch(pipeline: Pipeline) -> str:
    return f"watch:{_scope(pipeline)}"


def commitments_load(pipeline: Pipeline) -> str:
    return f"commitments:{_scope(pipeline)}"


def renew_subscriptions(pipeline: Pipeline) -> str:
    return f"subscriptions:{_scope(pipeline)}"


def poll_changes(pipeline: Pipeline) -> str:
    return f"poll:{_scope(pipeline)}"


def instance_id(work_key: str, now: datetime) -> str:
    """A new instance id for ``work_key`` started at ``now`` (UTC)."""
    return f"{work_key}@{now.strftime('%Y%m%dT%H%M%S%fZ')}"


def work_key_of(instance: str) -> str:
    return instance.split("@", 1)[0]
