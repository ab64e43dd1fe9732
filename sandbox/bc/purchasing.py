"""Open purchase orders: the commitments a planning model wants next to actuals.

A few dozen orders from a dozen suppliers, deterministic from the seed: drafts and released
(``Open``) orders, some fully received, each with ``Account`` lines on expense accounts and a
department/cost center dimension set. ``recalculate`` keeps header totals and the
``fullyReceived`` flag consistent with the lines after every change.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.bc.encoding import NULL_GUID, sql_datetime_ms
from sandbox.bc.store import Company

Row = dict[str, Any]
TAX_PERCENT = 20.0
ORDER_COUNT = 36
_VENDORS = (
    ("V10010", "Midland Steel Supplies"),
    ("V10020", "Precision Castings Ltd"),
    ("V10030", "Northern Electrics"),
    ("V10040", "Apex Hydraulics"),
    ("V10050", "Clearview Office Solutions"),
    ("V10060", "Rapid Freight Services"),
    ("V10070", "Sentinel Security Group"),
    ("V10080", "BrightSpark IT Services"),
    ("V10090", "Greenway Facilities"),
    ("V10100", "Kestrel Tooling"),
    ("V10110", "Harbour Packaging"),
    ("V10120", "Summit Consulting Partners"),
)
_EXPENSE_SUBCATEGORIES = (
    "Materials",
    "Manufacturing Overhead",
    "Facilities",
    "IT and Communication",
    "Administration",
    "Research and Development",
    "Sales and Marketing",
)
_DEPARTMENTS = ("PROD", "PURCHASE", "LOGISTICS", "IT", "ADMIN", "RND", "MARKETING")


def _money(value: float) -> float:
    return round(value + 1e-9, 2)


def recalculate(company: Company, order: Row) -> None:
    lines = [line for line in company.purchase_lines.values() if line["documentId"] == order["id"]]
    for line in lines:
        amount = _money(line["quantity"] * line["directUnitCost"] - line["discountAmount"])
        tax = _money(amount * line["taxPercent"] / 100)
        line.update(
            amountExcludingTax=amount,
            totalTaxAmount=tax,
            amountIncludingTax=_money(amount + tax),
            netAmount=amount,
            netTaxAmount=tax,
            netAmountIncludingTax=_money(amount + tax),
            receiveQuantity=_money(line["quantity"] - line["receivedQuantity"]),
            invoiceQuantity=_money(line["receivedQuantity"] - line["invoicedQuantity"]),
        )
    excluding = _money(sum(line["amountExcludingTax"] for line in lines))
    tax = _money(sum(line["totalTaxAmount"] for line in lines))
    order.update(
        totalAmountExcludingTax=excluding,
        totalTaxAmount=tax,
        totalAmountIncludingTax=_money(excluding + tax),
        fullyReceived=bool(lines) and all(ln["receivedQuantity"] >= ln["quantity"] for ln in lines),
    )


def vendor(number: str) -> tuple[str, str] | None:
    return next((v for v in _VENDORS if v[0] == number), None)


def new_order(company: Company, vendor_number: str, order_date: date, status: str) -> Row:
    number, name = vendor(vendor_number) or _VENDORS[0]
    existing = [int(o["number"]) for o in company.purchase_orders.values()]
    vendor_id = _vendor_id(company, number)
    return {
        "id": company.new_id(),
        "number": str(max(existing, default=106000) + 1),
        "orderDate": order_date,
        "postingDate": order_date,
        "vendorId": vendor_id,
        "vendorNumber": number,
        "vendorName": name,
        "payToName": name,
        "payToVendorId": vendor_id,
        "payToVendorNumber": number,
        "shipToName": company.name,
        "shipToContact": "Goods In",
        **{f"buyFrom{a}": "" for a in ("AddressLine2", "State")},
        "buyFromAddressLine1": "Unit 4, Enterprise Park",
        "buyFromCity": "Birmingham",
        "buyFromCountry": "GB",
        "buyFromPostCode": "B7 4BB",
        **{f"payTo{a}": "" for a in ("AddressLine2", "State")},
        "payToAddressLine1": "Unit 4, Enterprise Park",
        "payToCity": "Birmingham",
        "payToCountry": "GB",
        "payToPostCode": "B7 4BB",
        "shipToAddressLine1": "1 Foundry Road",
        "shipToAddressLine2": "",
        "shipToCity": "Coventry",
        "shipToCountry": "GB",
        "shipToState": "",
        "shipToPostCode": "CV1 2AB",
        "shortcutDimension1Code": "",
        "shortcutDimension2Code": "",
        "currencyId": NULL_GUID,
        "currencyCode": "",
        "pricesIncludeTax": False,
        "paymentTermsId": NULL_GUID,
        "shipmentMethodId": NULL_GUID,
        "purchaser": "",
        "requestedReceiptDate": order_date + timedelta(days=21),
        "discountAmount": 0,
        "discountAppliedBeforeTax": True,
        "totalAmountExcludingTax": 0,
        "totalTaxAmount": 0,
        "totalAmountIncludingTax": 0,
        "fullyReceived": False,
        "status": status,
        "lastModifiedDateTime": company.now_ms(),
        "_v": 0,
        "_dims": (),
    }


def new_line(
    company: Company, order: Row, account: Row, quantity: float, unit_cost: float, expected: date
) -> Row:
    sequences = [
        ln["sequence"] for ln in company.purchase_lines.values() if ln["documentId"] == order["id"]
    ]
    return {
        "id": company.new_id(),
        "documentId": order["id"],
        "sequence": max(sequences, default=0) + 10000,
        "itemId": NULL_GUID,
        "accountId": account["id"],
        "lineType": "Account",
        "lineObjectNumber": account["number"],
        "description": account["displayName"],
        "description2": "",
        "unitOfMeasureId": NULL_GUID,
        "unitOfMeasureCode": "",
        "quantity": quantity,
        "directUnitCost": unit_cost,
        "discountAmount": 0,
        "discountPercent": 0,
        "discountAppliedBeforeTax": True,
        "amountExcludingTax": 0,
        "taxCode": "STANDARD",
        "taxPercent": TAX_PERCENT,
        "totalTaxAmount": 0,
        "amountIncludingTax": 0,
        "invoiceDiscountAllocation": 0,
        "netAmount": 0,
        "netTaxAmount": 0,
        "netAmountIncludingTax": 0,
        "expectedReceiptDate": expected,
        "receivedQuantity": 0,
        "invoicedQuantity": 0,
        "invoiceQuantity": 0,
        "receiveQuantity": quantity,
        "itemVariantId": NULL_GUID,
        "locationId": NULL_GUID,
        "_v": 0,
        "_dims": order["_dims"],
    }


def set_dimensions(company: Company, order: Row, department: str, cost_center: str) -> None:
    values = [
        company.value_by_code("DEPARTMENT", department),
        company.value_by_code("COSTCENTER", cost_center),
    ]
    if any(v is None for v in values):
        raise ValueError(f"unknown department {department!r} or cost center {cost_center!r}")
    order["_dims"] = tuple(v["id"] for v in values if v is not None)
    order["shortcutDimension1Code"] = department
    order["shortcutDimension2Code"] = cost_center


def _vendor_id(company: Company, number: str) -> str:
    return str(uuid.uuid5(uuid.UUID(company.id), f"vendor:{number}"))


def load_purchase_orders(company: Company, seed: int) -> None:
    rng = random.Random(f"purchase-orders:{seed}")
    accounts = [
        a
        for a in company.accounts.values()
        if a["accountType"] == "Posting"
        and a["directPosting"]
        and not a["blocked"]
        and a["subCategory"] in _EXPENSE_SUBCATEGORIES
    ]
    cost_centers = {
        d: [
            v
            for v in company.data.dimension("COSTCENTER").values
            if v.parent_code == d and not v.blocked
        ]
        for d in _DEPARTMENTS
    }
    for _ in range(ORDER_COUNT):
        order_date = date(2026, 9, 1) + timedelta(days=rng.randint(0, 80))
        status = "Draft" if rng.random() < 0.3 else "Open"
        order = new_order(company, rng.choice(_VENDORS)[0], order_date, status)
        department = rng.choice(_DEPARTMENTS)
        set_dimensions(company, order, department, rng.choice(cost_centers[department]).code)
        company.purchase_orders[order["id"]] = order
        received_share = rng.choice((0.0, 0.0, 0.5, 1.0)) if status == "Open" else 0.0
        for _ in range(rng.randint(1, 4)):
            line = new_line(
                company,
                order,
                rng.choice(accounts),
                float(rng.randint(1, 40)),
                _money(rng.uniform(15, 2500)),
                order_date + timedelta(days=rng.randint(7, 60)),
            )
            received = float(int(line["quantity"] * received_share))
            line["receivedQuantity"] = received
            line["invoicedQuantity"] = float(int(received * rng.choice((0.0, 0.5, 1.0))))
            line["_v"] = company.touch(line, stamp=False)["_v"]
            company.purchase_lines[line["id"]] = line
        recalculate(company, order)
        company.touch(order, stamp=False)
        stamp = datetime(order_date.year, order_date.month, order_date.day, 10, tzinfo=UTC)
        order["lastModifiedDateTime"] = min(sql_datetime_ms(stamp.timestamp()), company.horizon_ms)
