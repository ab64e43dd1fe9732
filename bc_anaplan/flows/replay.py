"""Replay: send again what a run could not deliver, once the cause is fixed.

A run's audit trail says what was left out and why: entries quarantined for lack of an Anaplan
member, rows Anaplan rejected, plan lines that failed validation or that BC refused. A replay runs
the same flow again for exactly that scope -- never for a run that left nothing out -- in the way
each flow allows:

* ``actuals_load`` -- the months of the quarantined and rejected records (and of any month whose
  figures did not reconcile with BC's trial balance), recomputed completely in period mode, so
  the result is the same as if nothing had ever been left out and nothing is sent twice. Entries
  quarantined while computing the *opening balances* (posted before ``actuals.first_period``)
  belong to no month of the model: they are replayed by recomputing the opening balances, which
  re-sends every loaded month's closing balances (``"opening": true``). Entries posted *beyond
  the planning horizon* cannot be replayed by sending any month: they are reported (what, why,
  what to do in BC) and the rest is replayed.
* ``plan_writeback`` -- the version again, with the run's policy: the export is validated anew,
  and when the valid lines are the same revision the writer finds the lines BC already holds by
  their keys and writes only the missing ones (the refused); when lines that failed validation
  are valid now (a new revision), the revision is written and the previous revision's drafts are
  retired (drafts only: posted lines are never touched).
* ``reference_sync`` and the Employees list -- aligned again: only members that still differ
  (those Anaplan rejected, and any drift since) are sent.
* ``employees_load`` head count and ``commitments_load`` -- their cells are aggregates (head count
  per department and month, open amounts per account and month), so a left-out record can only be
  placed by recomputing them: the replay recomputes the whole picture. A commitments load skips
  when no purchase order changed, so its replay first forgets the poll mark.

``replay_request`` is pure reading: the ops API calls it to validate before starting, the
``replay`` orchestration calls it again (as an activity) to get the flow and input it runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bc_anaplan.cursors import CursorConflict
from bc_anaplan.flows.actuals import BEYOND_HORIZON, HORIZON_MONTHS, OPENING_BALANCE
from bc_anaplan.periods import Period
from bc_anaplan.pipeline import Pipeline
from bc_anaplan.runtime import Runtime
from bc_anaplan.storage import safe_key

REPLAYABLE = (
    "actuals_load",
    "reference_sync",
    "employees_load",
    "plan_writeback",
    "commitments_load",
)
COMMITMENTS_MARK = "purchaseOrders"  # the commitments poll mark (flows/commitments.RESOURCE)


class NotReplayable(Exception):
    """The run cannot be replayed: an unknown run, a flow without replay, or a run whose
    left-out records no replay can send (the message says what to do instead)."""


class NothingToReplay(NotReplayable):
    """The run left nothing out: replay would re-send nothing."""


@dataclass
class ActualsScope:
    """What an actuals run left out, sorted by how a replay can send it."""

    periods: set[Period] = field(default_factory=set)
    opening: bool = False
    mismatched: set[Period] = field(default_factory=set)
    beyond_horizon: list[dict[str, Any]] = field(default_factory=list)
    unplaceable: Counter[str] = field(default_factory=Counter)  # label or reason -> records

    @property
    def replayable(self) -> bool:
        return bool(self.periods or self.opening)

    def not_replayed(self) -> list[dict[str, Any]]:
        """What the replay leaves out, for the operator: what, why, and what to do."""
        out = []
        if self.beyond_horizon:
            dates = sorted({e["posting_date"] for e in self.beyond_horizon if e["posting_date"]})
            shown = ", ".join(dates[:5]) + (" …" if len(dates) > 5 else "")
            out.append(
                {
                    "what": f"{len(self.beyond_horizon)} G/L entries posted beyond the planning "
                    f"horizon ({HORIZON_MONTHS} months ahead)"
                    + (f", posting dates {shown}" if shown else ""),
                    "records": len(self.beyond_horizon),
                    "entries": [e["entry_number"] for e in self.beyond_horizon[:20]],
                    "why": "they belong to no month the model plans, so no period can be "
                    "re-sent for them; a date that far ahead is a typo BC accepted",
                    "action": "correct them in BC: reverse each entry and post it again with "
                    "the right posting date; the next incremental actuals load sends the "
                    "corrected entries (no replay needed)",
                }
            )
        for label, count in sorted(self.unplaceable.items()):
            out.append(
                {
                    "what": f"{count} rejected or quarantined records without a month of the "
                    f"model ({label})",
                    "records": count,
                    "why": "the record names no period a load could recompute",
                    "action": "look at the records in the run report; re-run the run or load "
                    "the months concerned in period mode once the cause is fixed",
                }
            )
        return out


def replay_request(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The flow and input that re-send a run's failed or quarantined records.

    Also ``scope`` (what the replay will do, in words), ``not_replayed`` (what it cannot send,
    with what the operator must do) and ``forget_mark`` (a poll mark to forget first, or None).
    Raises ``NothingToReplay`` for a run that left nothing out, ``NotReplayable`` otherwise.
    """
    run_id = request["run_id"]
    run = rt.audit.get_run(run_id)
    if run is None:
        raise NotReplayable(f"run {run_id} does not exist in the audit trail")
    flow = run["flow"]
    if flow not in REPLAYABLE:
        raise NotReplayable(
            f"runs of {flow} cannot be replayed (replayable: {', '.join(REPLAYABLE)})"
        )
    base = {"pipeline": run["pipeline"], "trigger": "replay", "replay_of": run_id}
    if flow == "actuals_load":
        return _actuals(rt, run, base)
    left_out = _left_out(rt, run_id)
    if not left_out:
        raise NothingToReplay(_nothing_left_out(run))
    recorded = {
        k: v
        for k, v in (run["input"] or {}).items()
        if k not in ("trigger", "rerun_of", "replay_of", "not_replayed")
    }
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(left_out.items()))
    return {
        "flow": flow,
        "input": {**recorded, **base},
        "scope": f"{flow} again for the {counts} records: {FLOW_SCOPE[flow]}",
        "not_replayed": [],
        "forget_mark": COMMITMENTS_MARK if flow == "commitments_load" else None,
    }


FLOW_SCOPE = {
    "plan_writeback": "the version is exported and validated again; lines BC already holds are "
    "found by their keys and not written again, so only the refused lines are written (a new "
    "revision, if lines that failed validation are valid now, replaces the version's drafts)",
    "reference_sync": "the lists are compared again and only members that still differ are sent",
    "employees_load": "the Employees list is compared again (only members that still differ are "
    "sent) and the head count, an aggregate per department and month, is recomputed",
    "commitments_load": "the open commitments, aggregates per account and month, are recomputed "
    "from every open purchase order (the poll mark is forgotten so the load does not skip)",
}


def _left_out(rt: Runtime, run_id: str) -> Counter[str]:
    """Quarantined and rejected rows of the run, counted from their keys alone."""
    counts: Counter[str] = Counter()
    for kind in ("quarantined", "rejected"):
        rows = rt.audit.rows.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": safe_key(run_id), "lo": f"{kind}:", "hi": f"{kind}:\uffff"},
            select=["RowKey"],
        )
        counts[kind] += sum(1 for _ in rows)
    return +counts


def _nothing_left_out(run: dict[str, Any]) -> str:
    message = (
        f"run {run['run_id']} left nothing out: it has no quarantined or rejected records "
        f"(state {run['state']})"
    )
    mismatch = (run["summary"] or {}).get("reconciliation_mismatch")
    if mismatch:
        message += (
            f"; its figures did not reconcile ({mismatch.get('detail', '')}), which a replay "
            "cannot repair for this flow: see the run report"
        )
    elif run["state"] == "failed":
        message += "; it failed as a whole: re-run it instead (POST /api/runs/<id>/rerun)"
    return message


# --- actuals -------------------------------------------------------------------------------------


def _actuals(rt: Runtime, run: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    run_id = run["run_id"]
    pipeline = rt.settings.pipeline(run["pipeline"] or None)
    scope = actuals_scope(rt, run, pipeline)
    if not scope.replayable:
        not_replayed = scope.not_replayed()
        if not not_replayed:
            raise NothingToReplay(_nothing_left_out(run))
        raise NotReplayable(
            f"run {run_id} left out only records a replay cannot send: "
            + "; ".join(f"{n['what']}: {n['why']}. What to do: {n['action']}" for n in not_replayed)
        )
    periods = sorted(scope.periods)
    flow_input: dict[str, Any] = {**base, "mode": "period", "periods": [p.key for p in periods]}
    words = []
    if periods:
        words.append(f"the months {', '.join(p.key for p in periods)} recomputed completely")
    if scope.mismatched:
        words.append(
            f"(re-reading {', '.join(p.key for p in sorted(scope.mismatched))}, whose figures "
            "did not reconcile with BC's trial balance)"
        )
    if scope.opening:
        flow_input["opening"] = True
        words.append(
            f"the opening balances before {pipeline.actuals.first_period} recomputed from the "
            "history, so every loaded month's closing balances are re-sent"
        )
    not_replayed = scope.not_replayed()
    if not_replayed:
        flow_input["not_replayed"] = not_replayed
    return {
        "flow": "actuals_load",
        "input": flow_input,
        "scope": "actuals_load for " + "; ".join(words),
        "not_replayed": not_replayed,
        "forget_mark": None,
    }


def actuals_scope(rt: Runtime, run: dict[str, Any], pipeline: Pipeline) -> ActualsScope:
    """Sort an actuals run's left-out records by how a replay can send them."""
    scope = ActualsScope()
    first = Period.parse(pipeline.actuals.first_period) if pipeline.actuals.first_period else None
    for record in rt.audit.records(run["run_id"], "quarantined"):
        label = record.period
        if label == BEYOND_HORIZON:
            scope.beyond_horizon.append(
                {
                    "entry_number": record.data.get("entry_number"),
                    "posting_date": record.data.get("posting_date") or _date_in(record.reason),
                    "account": record.data.get("account"),
                    "amount": record.data.get("amount"),
                }
            )
            continue
        if label == OPENING_BALANCE:
            scope.opening = True
            continue
        period = _period(label)
        if period is None:
            scope.unplaceable[label or "no period"] += 1
        elif first is not None and period < first:
            scope.opening = True  # a run from before opening entries had their own label
        else:
            scope.periods.add(period)
    time_column = pipeline.actuals.period_column
    for record in rt.audit.records(run["run_id"], "rejected"):
        name = (record.data.get("values") or {}).get(time_column)
        period = _named_period(pipeline, name)
        if period is None:
            scope.unplaceable[f"rejected, {time_column} {name!r}"] += 1
        else:
            scope.periods.add(period)
    for line in (run["summary"] or {}).get("reconciliation") or []:
        trial = line.get("trial_balance") or {}
        if line.get("balanced") is False or trial.get("matches") is False:
            period = _period(line.get("period"))
            if period is not None:
                scope.periods.add(period)
                scope.mismatched.add(period)
    return scope


def _period(label: Any) -> Period | None:
    try:
        return Period.parse(str(label))
    except (TypeError, ValueError):
        return None


def _named_period(pipeline: Pipeline, name: Any) -> Period | None:
    """A period as the model names it (``Jan 28``), or None."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return pipeline.periods.parse(name)
    except ValueError:
        return None


def _date_in(text: str) -> str:
    """The posting date a beyond-horizon reason names (rows written before it had its field)."""
    words = text.split()
    return words[1].rstrip(",") if len(words) > 1 and words[0] == "posted" else ""


def forget_mark(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Make the next load of ``request["resource"]`` see everything as changed.

    A commitments load skips when no purchase order changed since its poll mark; a replay exists
    precisely because something else changed (a member was added), so it forgets the mark. The
    mark is replaced (optimistically) by one that records who forgot it; a poll that committed a
    newer mark meanwhile wins, and that is reported rather than overwritten.
    """
    pipeline = rt.settings.pipeline(request["pipeline"] or None)
    stored, version = rt.cursors.get(pipeline.name, request["resource"])
    if stored is None:
        return {"forgotten": False, "reason": "no mark: the load recomputes anyway"}
    try:
        rt.cursors.commit(
            pipeline.name,
            request["resource"],
            {"forgotten_by": request["run_id"]},
            request["run_id"],
            version,
        )
    except CursorConflict as exc:
        return {"forgotten": False, "reason": str(exc)}
    return {"forgotten": True}
