"""Commitments: open purchase order amounts by account, dimensions and expected receipt month.

Purchase orders are not webhook capable, so they are polled: ``stage`` first asks BC for the
newest ``lastModifiedDateTime`` of its purchase orders and stops when nothing changed since the
last successful load. Otherwise it recomputes the whole commitment picture -- a changed order can
move amounts between cells, so a delta would be wrong -- from every released (``Open``) order that
is not fully received: per ``Account`` line, the amount not yet received
(``amountExcludingTax x (quantity - receivedQuantity) / quantity``) in the month of its expected
receipt date, with the order's dimensions. Cells that had a commitment last time and have none
now are sent as zero. Lines that cannot be placed (no Anaplan member, foreign currency -- the
API gives no local-currency amount) are quarantined with the reason.

The snapshot and the poll mark are committed only after Anaplan accepted the import.
"""

from __future__ import annotations

import gzip
import json
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from bc_anaplan.actuals import CellKey, format_amount
from bc_anaplan.audit import AuditRecord, StepRecord, utc_now
from bc_anaplan.bc import streams
from bc_anaplan.bc.records import PurchaseOrder, PurchaseOrderLine, dimension_map
from bc_anaplan.cursors import CursorConflict
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
    def __init__(self, accounts: dict[str, str], axes: list[tuple[str, dict[str, str]]]) -> None:
        self.accounts = accounts
        self.axes = axes
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
        key.append(Period.of(when).key)
        return tuple(key), ""


def _config(pipeline: Pipeline) -> CommitmentsConfig:
    if pipeline.commitments is None:
        raise ValueError(f"pipeline {pipeline.name} has no [pipeline.commitments] section")
    return pipeline.commitments


def _newest(rt: Runtime, pipeline: Pipeline) -> str:
    bc = rt.bc(pipeline.name)
    params = {
        "$select": "lastModifiedDateTime",
        "$orderby": "lastModifiedDateTime desc",
        "$top": "1",
    }
    rows = bc.get(bc.company_url(RESOURCE), params=params).json().get("value") or []
    return str(rows[0]["lastModifiedDateTime"]) if rows else ""


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
    newest = _newest(rt, pipeline)
    previous = _read_snapshot(rt, _snapshot_blob(pipeline.name))
    mark = {"newest": newest, "version": version}
    if stored is not None and stored.get("newest") == newest and previous is not None:
        return {"changed": False, "rows": 0, "mark": mark}
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
    cells = CommitmentCells(accounts, axes)
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
    mark = request["mark"]
    try:
        rt.cursors.commit(
            pipeline.name, RESOURCE, {"newest": mark["newest"]}, run_id, mark.get("version")
        )
    except CursorConflict:
        return {"committed": False}
    return {"committed": True}
