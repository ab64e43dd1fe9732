"""Sandbox-only controls under ``/_sandbox/bc/``: drive the scenarios a connector must handle.

These stand in for what users do in BC's own UI (post entries, rename or block a cost center,
hire and terminate staff, release and receive purchase orders) and for knobs a test needs
(throttling limits, webhook state). They never exist on the real service.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from aiohttp import web

from sandbox.bc import purchasing, schema
from sandbox.bc.encoding import BLANK_DATE, sql_datetime_ms
from sandbox.bc.odata.render import field_plan, render_row
from sandbox.bc.resources import CompanyApi
from sandbox.bc.store import Company
from sandbox.bc.throttle import Throttle
from sandbox.bc.webhooks import Webhooks

Row = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ControlError(ValueError):
    pass


def _json(entity: schema.EntityType, row: Row) -> dict[str, Any]:
    out = render_row(row, field_plan(entity, ()))
    out.pop("@odata.etag", None)
    return out


def _date(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ControlError(f"{name} must be a date YYYY-MM-DD, got {value!r}") from exc


class Controls:
    def __init__(
        self, company: Company, api: CompanyApi, webhooks: Webhooks, throttle: Throttle
    ) -> None:
        self.company = company
        self.api = api
        self.webhooks = webhooks
        self.throttle = throttle
        self._documents = itertools.count(1)

    def register(self, app: web.Application) -> None:
        routes = {
            "/_sandbox/bc/post-entries": self.post_entries,
            "/_sandbox/bc/dimension-values": self.dimension_values,
            "/_sandbox/bc/employees": self.employees,
            "/_sandbox/bc/purchase-orders": self.purchase_orders,
            "/_sandbox/bc/limits": self.set_limits,
            "/_sandbox/bc/webhooks/flush": self.flush_webhooks,
        }
        for path, action in routes.items():
            app.router.add_post(path, self._wrap(action))
        app.router.add_get("/_sandbox/bc/limits", self._wrap(lambda _: self.throttle.describe()))
        app.router.add_get(
            "/_sandbox/bc/subscriptions", self._wrap(lambda _: self.webhooks.describe())
        )

    @staticmethod
    def _wrap(action: Callable[[dict[str, Any]], Any]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            body: dict[str, Any] = {}
            if request.method == "POST" and request.can_read_body:
                try:
                    body = await request.json()
                except ValueError:
                    return web.json_response({"error": "body must be JSON"}, status=400)
                if not isinstance(body, dict):
                    return web.json_response({"error": "body must be a JSON object"}, status=400)
            try:
                return web.json_response(action(body))
            except (ControlError, ValueError, KeyError, TypeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)

        return handler

    # --- ledger ------------------------------------------------------------------------------
    def post_entries(self, body: dict[str, Any]) -> dict[str, Any]:
        count = int(body.get("count", 0))
        if count < 2:
            raise ControlError("count must be at least 2: a document needs a debit and a credit")
        year, month = (int(p) for p in str(body.get("period", "")).split("-"))
        days = [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]
        company, ledger = self.company, self.company.ledger
        created: list[Row] = []
        accounts = ledger.history.chart.accounts
        for day, template, lines in ledger.generated_documents(count, days):
            number = f"{template.prefix}-S{next(self._documents):06d}"
            postings = [
                (accounts[a].id, accounts[a].number, amount, dims) for a, amount, dims in lines
            ]
            created += ledger.post(
                day,
                number,
                template.document_type,
                f"{template.label} {number}",
                postings,
                company.new_id,
            )
        for row in created:
            company.changed("generalLedgerEntries", row, "created")
        return {
            "count": len(created),
            "firstEntryNumber": created[0]["entryNumber"],
            "lastEntryNumber": created[-1]["entryNumber"],
            "entries": [_json(schema.GL_ENTRY, r) for r in created[:50]],
        }

    # --- dimension values --------------------------------------------------------------------
    def dimension_values(self, body: dict[str, Any]) -> dict[str, Any]:
        c = self.company
        action = body.get("action")
        dimension = c.dimension_by_code(str(body.get("dimension", "")))
        if dimension is None:
            raise ControlError(f"unknown dimension {body.get('dimension')!r}")
        code = str(body.get("code", "")).upper()
        if action == "create":
            if not code or c.value_by_code(dimension["code"], code):
                raise ControlError(f"code {code!r} is empty or exists already")
            row: Row = {
                "id": c.new_id(),
                "code": code,
                "dimensionId": dimension["id"],
                "displayName": str(body.get("name", code)),
                "consolidationCode": "",
                "lastModifiedDateTime": 0,
                "_v": 0,
                "_dimension": dimension["code"],
                "_blocked": bool(body.get("blocked", False)),
            }
            c.touch(row)
            c.dimension_values[row["id"]] = row
            c.changed("dimensionValues", row, "created")
            return _json(schema.DIMENSION_VALUE, row) | {"blocked": row["_blocked"]}
        found = c.value_by_code(dimension["code"], code)
        if found is None:
            raise ControlError(f"no value {code!r} in dimension {dimension['code']}")
        row = found
        if action == "rename":
            new_code = str(body.get("newCode", code)).upper()
            if new_code != code and c.value_by_code(dimension["code"], new_code):
                raise ControlError(f"code {new_code!r} exists already")
            row["code"] = new_code
            row["displayName"] = str(body.get("name", row["displayName"]))
        elif action in ("block", "unblock"):
            row["_blocked"] = action == "block"
        else:
            raise ControlError("action must be create, rename, block or unblock")
        c.touch(row)
        c.changed("dimensionValues", row, "updated")
        return _json(schema.DIMENSION_VALUE, row) | {"blocked": row["_blocked"]}

    # --- employees ---------------------------------------------------------------------------
    def employees(self, body: dict[str, Any]) -> dict[str, Any]:
        c = self.company
        action = body.get("action")
        fields = {
            k: v
            for k, v in body.items()
            if k in ("givenName", "middleName", "surname", "jobTitle", "email", "city")
        }
        department = body.get("department")
        if action == "hire":
            values = dict(fields)
            values["employmentDate"] = _date(
                body.get("employmentDate", c.clock.now().date().isoformat()), "employmentDate"
            )
            row = self.api.create_employee(values)
        else:
            row = next((e for e in c.employees.values() if e["number"] == body.get("number")), None)
            if row is None:
                raise ControlError(f"no employee number {body.get('number')!r}")
            if action == "terminate":
                fields["status"] = "Terminated"
                fields["terminationDate"] = _date(
                    body.get("terminationDate", c.clock.now().date().isoformat()),
                    "terminationDate",
                )
            elif action == "change":
                if "status" in body:
                    fields["status"] = body["status"]
                    if body["status"] == "Active":
                        fields["terminationDate"] = BLANK_DATE
            else:
                raise ControlError("action must be hire, change or terminate")
        if department is not None:
            value = c.value_by_code("DEPARTMENT", str(department))
            if value is None:
                raise ControlError(f"unknown department {department!r}")
            fields["_department"] = value["id"]
        if action != "hire" or department is not None:
            self.api.update_employee(row, fields)
        return _json(schema.EMPLOYEE, row)

    # --- purchase orders ---------------------------------------------------------------------
    def purchase_orders(self, body: dict[str, Any]) -> dict[str, Any]:
        c = self.company
        action = body.get("action")
        stamp: int | None = None
        if action == "create":
            order = purchasing.new_order(
                c,
                str(body.get("vendorNumber", "V10010")),
                _date(body.get("orderDate", c.clock.now().date().isoformat()), "orderDate"),
                str(body.get("status", "Open")),
            )
            if order["status"] not in schema.PURCHASE_ORDER_STATUSES:
                raise ControlError(f"status must be one of {schema.PURCHASE_ORDER_STATUSES}")
            purchasing.set_dimensions(
                c, order, str(body.get("department", "PROD")), str(body.get("costCenter", "CC320"))
            )
            c.purchase_orders[order["id"]] = order
            for spec in body.get("lines") or [
                {"accountNumber": "66010", "quantity": 1, "directUnitCost": 100}
            ]:
                self._add_order_line(order, spec)
        elif action == "change":
            order = next(
                (o for o in c.purchase_orders.values() if o["number"] == str(body.get("number"))),
                None,
            )
            if order is None:
                raise ControlError(f"no purchase order number {body.get('number')!r}")
            stamp = self._late_stamp(order, body.get("stampedAt"))
            self._change_order(order, body)
        else:
            raise ControlError("action must be create or change")
        purchasing.recalculate(c, order)
        c.touch(order)
        if stamp is not None:
            order["lastModifiedDateTime"] = stamp
        lines = sorted(
            (ln for ln in c.purchase_lines.values() if ln["documentId"] == order["id"]),
            key=lambda ln: ln["sequence"],
        )
        return _json(schema.PURCHASE_ORDER, order) | {
            "purchaseOrderLines": [_json(schema.PURCHASE_ORDER_LINE, ln) for ln in lines]
        }

    def _late_stamp(self, order: Row, value: Any) -> int | None:
        """``stampedAt``: a transaction that wrote at that instant and commits only now keeps
        the earlier time, so the change appears behind rows already read (BC stamps
        ``lastModifiedDateTime`` when the row is written, not when the transaction commits).
        Row locks keep it later than the order's own last change and not in the future."""
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise ControlError(f"stampedAt must be an ISO 8601 instant, got {value!r}") from None
        if moment.tzinfo is None:
            raise ControlError("stampedAt needs a time zone")
        stamp = sql_datetime_ms(moment.timestamp())
        if not order["lastModifiedDateTime"] < stamp <= self.company.now_ms():
            raise ControlError(
                "stampedAt must be after the order's last change and not in the future"
            )
        return stamp

    def _add_order_line(self, order: Row, spec: dict[str, Any]) -> None:
        c = self.company
        account = c.account_by_number.get(str(spec.get("accountNumber")))
        if account is None or account["accountType"] != "Posting":
            raise ControlError(f"no posting account {spec.get('accountNumber')!r}")
        expected = _date(
            spec.get("expectedReceiptDate", order["requestedReceiptDate"].isoformat()),
            "expectedReceiptDate",
        )
        line = purchasing.new_line(
            c,
            order,
            account,
            float(spec.get("quantity", 1)),
            float(spec.get("directUnitCost", 0)),
            expected,
        )
        c.touch(line, stamp=False)
        c.purchase_lines[line["id"]] = line

    def _change_order(self, order: Row, body: dict[str, Any]) -> None:
        c = self.company
        if "status" in body:
            if body["status"] not in schema.PURCHASE_ORDER_STATUSES:
                raise ControlError(f"status must be one of {schema.PURCHASE_ORDER_STATUSES}")
            order["status"] = body["status"]
        if "requestedReceiptDate" in body:
            order["requestedReceiptDate"] = _date(
                body["requestedReceiptDate"], "requestedReceiptDate"
            )
        lines = {
            ln["sequence"]: ln
            for ln in c.purchase_lines.values()
            if ln["documentId"] == order["id"]
        }
        if body.get("receiveAll"):
            for line in lines.values():
                line["receivedQuantity"] = line["quantity"]
                c.touch(line, stamp=False)
        for spec in body.get("lines") or []:
            line = lines.get(int(spec.get("sequence", -1)))
            if line is None:
                self._add_order_line(order, spec)
                continue
            for name in ("quantity", "directUnitCost", "receivedQuantity", "invoicedQuantity"):
                if name in spec:
                    line[name] = float(spec[name])
            if "expectedReceiptDate" in spec:
                line["expectedReceiptDate"] = _date(
                    spec["expectedReceiptDate"], "expectedReceiptDate"
                )
            c.touch(line, stamp=False)

    # --- knobs -------------------------------------------------------------------------------
    def set_limits(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("reset"):
            self.throttle.reset()
        self.throttle.limits.update({k: v for k, v in body.items() if k != "reset"})
        return self.throttle.describe()

    def flush_webhooks(self, body: dict[str, Any]) -> dict[str, Any]:
        self.webhooks.flush()
        return {"flushed": True}
