"""Commitments: open purchase order amounts by account, dimensions and expected receipt month.

Purchase orders are not webhook capable, so they are polled (``flows.polling``): ``stage``
re-reads the orders modified since the last load's mark minus ``POLL_LAG_SECONDS`` (a change
committed late with an earlier timestamp is still seen; one already seen with the same timestamp
is not a change) and compares the set of order ids with the last load's (a deleted order moves
no timestamp -- only its absence shows it). When nothing changed it stops. Otherwise it
recomputes the whole commitment picture -- a changed or deleted order can move amounts between
cells, so a delta would be wrong, and the open orders are few -- from every released (``Open``)
order that is not fully received: per ``Account`` line, the amount not yet received
(``amountExcludingTax x (quantity - receivedQuantity) / quantity``) in the month of its expected
receipt date, with the order's dimensions. Cells that had a commitment last time and have none
now (the lines of a deleted, received or reopened order) are sent as zero. Lines that cannot be
placed (no Anaplan member, foreign currency -- the API gives no local-currency amount, an expected
receipt month before the model's first month or beyond the planning horizon) are quarantined
with the reason. The horizon matters beyond tidiness: Anaplan names months ``Mar 25``, so a
receipt date typed as 2125-03-15 would otherwise land in March 2025.

The snapshot and the poll mark are committed only after Anaplan accepted the import.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from bc_anaplan.actuals import CellKey, format_amount
from bc_anaplan.audit import AuditRecord, StepRecord, utc_now
from bc_anaplan.bc import streams
from bc_anaplan.bc.records import PurchaseOrder, PurchaseOrderLine, dimension_map
from bc_anaplan.flows import polling
from bc_anaplan.flows.actuals import HORIZON_MONTHS, first_allowed_period, horizon_period
from bc_anaplan.periods import Period
from bc_anaplan.pipeline import CommitmentsConfig, Pipeline
from bc_anaplan.runtime import Runtime

RESOURCE = "purchaseOrders"
CENT = Decimal("0.01")
_SEP = "\x1f"


def outstanding(line: PurchaseOrderLine) -> Decimal:
    """The part of a line not yet received, in the order's currency, rounded to cents."""
    if line.quantity <= 0 or line.received_quantity >= line.quantity:
        return Decimal(0)
    remaining = line.quantity - line.received_quantity
    return (line.amount_excluding_tax * remaining / line.quantity).quantize(CENT, ROUND_HALF_UP)


class CommitmentCells:
    def __init__(
        self,
        accounts: dict[str, str],
        axes: list[tuple[str, dict[str, str]]],
        months: tuple[Period | None, Period],
    ) -> None:
        self.accounts = accounts
        self.axes = axes
        self.first_month, self.horizon = months  # the months a commitment may be placed in
        self.cells: dict[CellKey, Decimal] = {}
        self.quarantined: list[AuditRecord] = []
        self.orders = 0

    def add(self, order: PurchaseOrder) -> None:
        if order.status != "Open" or order.fully_received:
            return
        self.orders += 1
        dims = dimension_map(order.dimensions)
        for line in order.lines:
            if line.line_type != "Account":
                continue
            amount = outstanding(line)
            if amount == 0:
                continue
            key, reason = self._key(order, line, dims)
            if key is None:
                self.quarantined.append(
                    AuditRecord(
                        "quarantined",
                        f"po:{order.number}:{line.sequence}",
                        reason,
                        {
                            "order": order.number,
                            "account": line.line_object_number,
                            "amount": str(amount),
                            "currency": order.currency_code,
                        },
                    )
                )
                continue
            self.cells[key] = self.cells.get(key, Decimal(0)) + amount

    def _key(
        self, order: PurchaseOrder, line: PurchaseOrderLine, dims: dict[str, str]
    ) -> tuple[CellKey | None, str]:
        if order.currency_code:
            return None, (
                f"order is in {order.currency_code}: the API gives no local-currency "
                "amount, so it is not converted"
            )
        account = self.accounts.get(line.line_object_number)
        if account is None:
            return None, f"account {line.line_object_number} has no Anaplan member"
        key = [account]
        for code, members in self.axes:
            value = dims.get(code, "")
            member = members.get(value)
            if member is None:
                return None, (
                    f"{code} value {value} has no Anaplan member"
                    if value
                    else f"order has no {code} value"
                )
            key.append(member)
        when = line.expected_receipt_date or order.order_date
        if when is None:
            return None, "line has no expected receipt date and the order no order date"
        month = Period.of(when)
        if self.first_month is not None and month < self.first_month:
            return None, (
                f"expected receipt {when.isoformat()} is before the model's first month "
                f"{self.first_month.key} (actuals.first_period)"
            )
        if month > self.horizon:
            return None, (
                f"expected receipt {when.isoformat()} is more than {HORIZON_MONTHS} months "
                f"ahead (after {self.horizon.key}): check the date on the order in BC"
            )
        key.append(month.key)
        return tuple(key), ""


def _config(pipeline: Pipeline) -> CommitmentsConfig:
    if pipeline.commitments is None:
        raise ValueError(f"pipeline {pipeline.name} has no [pipeline.commitments] section")
    return pipeline.commitments


def _snapshot_blob(pipeline: str, run_id: str | None = None) -> str:
    leaf = "current" if run_id is None else f"pending/{run_id.replace('/', '_')}"
    return f"{pipeline}/commitments/{leaf}.json.gz"


def _read_snapshot(rt: Runtime, blob: str) -> dict[CellKey, Decimal] | None:
    try:
        data = rt.snapshots.container.download_blob(blob).readall()
    except ResourceNotFoundError:
        return None
    return {tuple(k.split(_SEP)): Decimal(v) for k, v in json.loads(gzip.decompress(data)).items()}


def _write_snapshot(rt: Runtime, blob: str, cells: dict[CellKey, Decimal]) -> None:
    body = json.dumps({_SEP.join(k): str(v) for k, v in sorted(cells.items())}).encode()
    rt.snapshots.container.upload_blob(blob, gzip.compress(body, mtime=0), overwrite=True)


def stage(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    config = _config(pipeline)
    stored, version = rt.cursors.get(pipeline.name, RESOURCE)
    polled = polling.read_changes(
        rt.bc(pipeline.name),
        RESOURCE,
        polling.PollMark.from_dict(stored),
        timedelta(seconds=rt.settings.poll_lag_s),
        track_members=True,
    )
    previous = _read_snapshot(rt, _snapshot_blob(pipeline.name))
    if not polled.changed and previous is not None:
        return {"changed": False, "rows": 0}
    mark = polling.stage_mark(rt, pipeline.name, run_id, RESOURCE, polled.mark, version)
    cells = _collect(rt, pipeline)
    rows = _rows(pipeline, cells.cells, previous or {})
    columns = [
        pipeline.accounts.column,
        *(pipeline.dimension(c).column for c in pipeline.actuals.dimensions),
        pipeline.actuals.period_column,
        config.amount_column,
    ]
    blob = f"{pipeline.name}/{run_id}/commitments.csv.gz"
    staged = rt.staging.write(
        blob, columns, rows, key_columns=len(columns) - 1, amount_column=len(columns) - 1
    )
    _write_snapshot(rt, _snapshot_blob(pipeline.name, run_id), cells.cells)
    rt.audit.record(run_id, cells.quarantined)
    counts = {
        "open_orders": cells.orders,
        "commitment_cells": len(cells.cells),
        "quarantined": len(cells.quarantined),
        "orders_changed": polled.changed_records,
        "order_set_changed": int(polled.members_changed),
    }
    rt.audit.record_step(
        run_id,
        StepRecord(
            request["step_id"],
            "open purchase order commitments",
            started_at,
            int((time.monotonic() - started) * 1000),
            counts,
            {"amount_sum": str(staged.amount_sum), "rows": staged.rows},
        ),
    )
    return {"changed": True, "rows": staged.rows, "staged_blob": blob, "mark": mark, **counts}


def _collect(rt: Runtime, pipeline: Pipeline) -> CommitmentCells:
    accounts = rt.mappings.mapped(pipeline.name, pipeline.accounts.anaplan_list)
    axes = [
        (code, rt.mappings.mapped(pipeline.name, pipeline.dimension(code).anaplan_list))
        for code in pipeline.actuals.dimensions
    ]
    months = (first_allowed_period(pipeline), horizon_period(datetime.now(UTC)))
    cells = CommitmentCells(accounts, axes, months)
    for order in streams.iter_purchase_orders(rt.bc(pipeline.name)):
        cells.add(order)
    return cells


def _rows(
    pipeline: Pipeline, cells: dict[CellKey, Decimal], previous: dict[CellKey, Decimal]
) -> list[list[str]]:
    rows = []
    for key in sorted(set(cells) | set(previous)):
        *members, period = key
        name = pipeline.periods.name(Period.parse(period))
        rows.append([*members, name, format_amount(cells.get(key, Decimal(0)))])
    return rows


def commit(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    pending = _read_snapshot(rt, _snapshot_blob(pipeline.name, run_id))
    if pending is not None:
        _write_snapshot(rt, _snapshot_blob(pipeline.name), pending)
        rt.snapshots.container.delete_blob(_snapshot_blob(pipeline.name, run_id))
    return {"committed": polling.commit_mark(rt, pipeline.name, run_id, request["mark"])}
