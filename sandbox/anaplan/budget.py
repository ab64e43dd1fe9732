"""A plausible next-year budget, generated from the model's own lists.

A planner budgets each P&L account on the cost centers that spend or earn it: revenue on the
sales cost centers, materials and direct labour on production, personnel costs everywhere, and
so on (``_PLANNED_BY``). The department of a budget line is the cost center's department. Each
line gets twelve monthly amounts, deterministic from the seed, version, account and cost center,
in BC's sign convention (debit positive: expenses positive, income negative) so that budget and
actuals compare directly.

``generate(..., rows=N)`` produces exactly N budget cells for load tests: the plausible lines
first, then every other (account, cost center) pair, month by month.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal

from sandbox.anaplan.lists import ListItem
from sandbox.anaplan.model import PlanModel
from sandbox.anaplan.modules import CellKey, Module
from sandbox.anaplan.numbers import Stored, to_stored
from sandbox.anaplan.timescale import budget_months, calendar_months
from sandbox.masterdata import INCOME_STATEMENT

ALL = "*"
# account group (the BC Begin-Total group) -> departments whose cost centers plan it
_PLANNED_BY: dict[str, tuple[str, ...]] = {
    "Product Sales": ("SALES",),
    "Service Revenue": ("SALES",),
    "Other Income": ("SALES",),
    "Materials": ("PROD",),
    "Direct Labour": ("PROD",),
    "Manufacturing Overhead": ("PROD",),
    "Personnel": (ALL,),
    "Facilities": ("ADMIN",),
    "Sales and Marketing": ("SALES", "MARKETING"),
    "Travel": ("SALES", "MARKETING", "ADMIN"),
    "IT and Communication": ("IT",),
    "Administration": ("ADMIN", "FINANCE"),
    "Research and Development": ("RND",),
    "Depreciation": ("FINANCE",),
    "Financial Items": ("FINANCE",),
    "Taxes": ("FINANCE",),
}
# monthly amount range per account group for one cost center
_MONTHLY_RANGE: dict[str, tuple[int, int]] = {
    "Product Sales": (40_000, 120_000),
    "Service Revenue": (10_000, 40_000),
    "Other Income": (500, 5_000),
    "Materials": (20_000, 80_000),
    "Direct Labour": (15_000, 50_000),
    "Manufacturing Overhead": (2_000, 15_000),
    "Personnel": (3_000, 25_000),
    "Facilities": (1_000, 12_000),
    "Sales and Marketing": (500, 8_000),
    "Travel": (300, 4_000),
    "IT and Communication": (500, 6_000),
    "Administration": (200, 5_000),
    "Research and Development": (1_000, 10_000),
    "Depreciation": (1_000, 9_000),
    "Financial Items": (200, 4_000),
    "Taxes": (1_000, 10_000),
}
_CENT = Decimal("0.01")
# Budget lines the model builder keeps on a cost center BC no longer has (demo drift).
RETIRED_COST_CENTER_LINES = (("CC990", "Facilities"),)

Pair = tuple[ListItem, ListItem]  # (GL account, cost center)


def _planning_accounts(model: PlanModel) -> list[ListItem]:
    return [
        item
        for item in model.lists["GL Accounts"].items()
        if item.properties.get("Category") in INCOME_STATEMENT
        and not item.properties.get("Blocked")
        and not item.properties.get("Deleted in BC")
    ]


def _planning_cost_centers(model: PlanModel) -> list[ListItem]:
    departments = model.lists["Departments"]
    return [
        item
        for item in model.lists["Cost Centers"].items()
        if not item.properties.get("Blocked")
        and not item.properties.get("Deleted in BC")
        and departments.by_code(model.cost_center_departments.get(item.code, "")) is not None
    ]


def _pairs(model: PlanModel, everything: bool) -> Iterator[Pair]:
    accounts = _planning_accounts(model)
    cost_centers = _planning_cost_centers(model)
    seen: set[tuple[str, str]] = set()
    for account in accounts:
        planners = _PLANNED_BY.get(str(account.properties.get("Account Group")), ())
        for cc in cost_centers:
            department = model.cost_center_departments[cc.code]
            if ALL in planners or department in planners:
                seen.add((account.id, cc.id))
                yield account, cc
    if everything:
        for account in accounts:
            for cc in cost_centers:
                if (account.id, cc.id) not in seen:
                    yield account, cc


def _retired_pairs(model: PlanModel) -> Iterator[Pair]:
    cost_centers = model.lists["Cost Centers"]
    for cc_code, group in RETIRED_COST_CENTER_LINES:
        cc = cost_centers.by_code(cc_code)
        if cc is None:
            continue
        for account in _planning_accounts(model):
            if account.properties.get("Account Group") == group:
                yield account, cc


def _monthly_amounts(
    seed: int, version: str, account: ListItem, cc: ListItem, filler: bool
) -> Iterator[Decimal]:
    group = str(account.properties.get("Account Group"))
    low, high = _MONTHLY_RANGE.get(group, (100, 2_000))
    if filler:
        low, high = max(1, low // 20), max(2, high // 20)
    rng = random.Random(f"budget:{seed}:{version}:{account.code}:{cc.code}")
    base = rng.uniform(low, high)
    sign = -1 if account.properties.get("Category") == "Income" else 1
    for month_index in range(12):
        seasonal = 1.0 + 0.12 * ((month_index % 3) - 1) + rng.uniform(-0.05, 0.05)
        amount = Decimal(str(round(base * seasonal, 2))).quantize(_CENT) * sign
        yield amount


def generate(
    model: PlanModel, seed: int, version: str, rows: int | None = None
) -> dict[CellKey, Stored]:
    """Budget cells of ``version`` keyed like the Budget module; exactly ``rows`` if given."""
    version_item = model.lists["Versions"].by_name(version)
    if version_item is None:
        raise ValueError(f"unknown version {version!r}")
    months = budget_months()
    month_positions = {m: i for i, m in enumerate(calendar_months())}
    cells: dict[CellKey, Stored] = {}
    plausible = list(_pairs(model, everything=False))
    if rows is None:
        selected = [(pair, False) for pair in plausible]
        selected += [(pair, False) for pair in _retired_pairs(model)]
    else:
        everything = list(_pairs(model, everything=True))
        limit = len(everything) * len(months)
        if not 0 <= rows <= limit:
            raise ValueError(f"rows must be within 0..{limit} for this model")
        selected = [(pair, index >= len(plausible)) for index, pair in enumerate(everything)]
    for (account, cc), filler in selected:
        department_code = model.cost_center_departments.get(cc.code, "")
        department = model.lists["Departments"].by_code(department_code)
        if department is None:
            continue
        amounts = _monthly_amounts(seed, version, account, cc, filler)
        for month, amount in zip(months, amounts, strict=True):
            if rows is not None and len(cells) >= rows:
                return cells
            if amount == 0:
                amount = Decimal("1.00")
            positions = (
                account.position,
                cc.position,
                department.position,
                version_item.position,
                month_positions[month],
            )
            cells[Module.key(positions)] = to_stored(amount)
    return cells


def replace_version(model: PlanModel, version: str, cells: dict[CellKey, Stored]) -> None:
    """Replace every Budget cell of ``version`` with ``cells``."""
    budget = model.modules["Budget"]
    version_item = model.lists["Versions"].by_name(version)
    assert version_item is not None
    index = budget.dimension_index("Versions")
    assert index is not None
    amounts = budget.cells["Amount"]
    for key in [k for k in amounts if budget.position_in(k, index) == version_item.position]:
        del amounts[key]
    amounts.update(cells)
