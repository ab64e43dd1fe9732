"""The FP&A model a model builder set up for this company, deterministic from the seed.

Lists are seeded from the BC master data (``sandbox.masterdata``), every synced list item named
``"<code> <BC name>"``, then made to drift the way a real model drifts between syncs:

* two cost centers and one product line that BC has gained are not in Anaplan yet
  (``MISSING_COST_CENTERS``, ``MISSING_PRODUCT_LINES``);
* one cost center, ``CC990 Old Warehouse``, still exists in Anaplan although BC no longer has it
  (``RETIRED_COST_CENTER``), and the budget still plans rent and utilities on it;
* one G/L account carries its old name in Anaplan (``OUTDATED_ACCOUNT``).

The import data source files start out holding the sample the model builder created each import
from: the header row plus three rows of real members, so anyone can download the expected layout.
"""

from __future__ import annotations

from sandbox.anaplan import budget
from sandbox.anaplan.csvfile import render_csv
from sandbox.anaplan.definitions import (
    HIERARCHY_DATA,
    MODULE_DATA,
    Definition,
    DeleteDefinition,
    ExportDefinition,
    ImportDefinition,
    ProcessDefinition,
)
from sandbox.anaplan.files import FileDefinition, FileStore
from sandbox.anaplan.ids import (
    ACTION_PREFIX,
    EXPORT_PREFIX,
    FILE_PREFIX,
    IMPORT_PREFIX,
    LINE_ITEM_PREFIX,
    LIST_PREFIX,
    MODULE_PREFIX,
    PROCESS_PREFIX,
    model_id,
    object_id,
    workspace_id,
)
from sandbox.anaplan.lists import BOOLEAN, DATE, TEXT, ListProperty, PlanList
from sandbox.anaplan.model import PlanModel, Workspace
from sandbox.anaplan.modules import BOOLEAN as BOOLEAN_ITEM
from sandbox.anaplan.modules import NUMBER, Dimension, LineItem, Module
from sandbox.anaplan.modules import TEXT as TEXT_ITEM
from sandbox.anaplan.timescale import calendar_months
from sandbox.common.clock import SimClock
from sandbox.masterdata import MasterData, master_data

MODEL_NAME = "FP&A"
WORKSPACE_NAME = "Financial Planning"
VERSIONS = ("Actual", "Budget FY27", "Forecast FY27")
BUDGET_VERSION = "Budget FY27"

MISSING_COST_CENTERS = ("Controls Software", "Supplier Quality")  # BC names of the values
MISSING_PRODUCT_LINES = ("SERVICE",)  # codes
RETIRED_COST_CENTER = ("CC990", "Old Warehouse", "LOGISTICS")  # code, name, department
OUTDATED_ACCOUNT = ("Software Subscriptions", "Software Licences")  # BC name, Anaplan's old name

_FLAGS = (ListProperty("Blocked", BOOLEAN), ListProperty("Deleted in BC", BOOLEAN))
LIST_PROPERTIES: dict[str, tuple[ListProperty, ...]] = {
    "GL Accounts": (
        ListProperty("Category", TEXT),
        ListProperty("Account Group", TEXT),
        *_FLAGS,
    ),
    "Departments": _FLAGS,
    "Cost Centers": _FLAGS,
    "Product Lines": _FLAGS,
    "Employees": (
        ListProperty("Department", TEXT),
        ListProperty("Job Title", TEXT),
        ListProperty("Status", TEXT),
        ListProperty("Start Date", DATE),
        ListProperty("End Date", DATE),
        ListProperty("Deleted in BC", BOOLEAN),
    ),
    "Versions": (),
}
SYNCED_LISTS = ("GL Accounts", "Departments", "Cost Centers", "Product Lines", "Employees")
# module name -> (dimensions, line items with their formats)
MODULE_LAYOUT: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "GL Actuals": (
        ("GL Accounts", "Cost Centers", "Departments", "Time"),
        (("Amount", NUMBER), ("Closing Balance", NUMBER)),
    ),
    "Budget": (
        ("GL Accounts", "Cost Centers", "Departments", "Versions", "Time"),
        (("Amount", NUMBER),),
    ),
    "Version Status": (("Versions",), (("Approved", BOOLEAN_ITEM), ("Approved At", TEXT_ITEM))),
    "Commitments": (
        ("GL Accounts", "Cost Centers", "Departments", "Time"),
        (("Amount", NUMBER),),
    ),
    "Headcount": (("Departments", "Time"), (("Headcount", NUMBER),)),
}
MODULE_IMPORTS = {
    "GL Actuals": "GL Actuals",
    "Commitments": "Commitments",
    "Headcount": "Headcount",
}


def _named(code: str, name: str) -> str:
    return f"{code} {name}"


def _build_lists(data: MasterData) -> dict[str, PlanList]:
    lists = {
        name: PlanList(object_id(LIST_PREFIX, n), name, LIST_PROPERTIES[name], f"{300 + n}")
        for n, name in enumerate((*SYNCED_LISTS, "Versions"), start=1)
    }
    by_number = {a.number: a for a in data.accounts}
    for account in data.posting_accounts:
        shown = OUTDATED_ACCOUNT[1] if account.name == OUTDATED_ACCOUNT[0] else account.name
        group = by_number.get(account.parent_number)
        lists["GL Accounts"].add(
            account.number,
            _named(account.number, shown),
            {
                "Category": account.category,
                "Account Group": group.name if group else "",
                "Blocked": account.blocked,
                "Deleted in BC": False,
            },
        )
    for value in data.dimension("DEPARTMENT").values:
        flags = {"Blocked": value.blocked, "Deleted in BC": False}
        lists["Departments"].add(value.code, _named(value.code, value.name), flags)
    for value in data.dimension("COSTCENTER").values:
        if value.name in MISSING_COST_CENTERS:
            continue
        flags = {"Blocked": value.blocked, "Deleted in BC": False}
        lists["Cost Centers"].add(value.code, _named(value.code, value.name), flags)
    code, name, _ = RETIRED_COST_CENTER
    lists["Cost Centers"].add(code, _named(code, name), {"Blocked": False, "Deleted in BC": False})
    for value in data.dimension("PRODUCTLINE").values:
        if value.code in MISSING_PRODUCT_LINES:
            continue
        flags = {"Blocked": value.blocked, "Deleted in BC": False}
        lists["Product Lines"].add(value.code, _named(value.code, value.name), flags)
    for employee in data.employees:
        lists["Employees"].add(
            employee.number,
            _named(employee.number, f"{employee.given_name} {employee.surname}"),
            {
                "Department": employee.department_code,
                "Job Title": employee.job_title,
                "Status": employee.status,
                "Start Date": employee.employment_date.isoformat(),
                "End Date": employee.termination_date.isoformat()
                if employee.termination_date
                else None,
                "Deleted in BC": False,
            },
        )
    for version in VERSIONS:
        lists["Versions"].add("", version, {})
    return lists


def _build_modules(lists: dict[str, PlanList]) -> list[Module]:
    months = calendar_months()
    dimensions = {name: Dimension(name, plan_list) for name, plan_list in lists.items()}
    dimensions["Time"] = Dimension("Time", None, months)
    modules = []
    line_item_number = 1
    for number, (name, (dims, items)) in enumerate(MODULE_LAYOUT.items(), start=1):
        line_items = []
        for item_name, item_format in items:
            line_items.append(
                LineItem(object_id(LINE_ITEM_PREFIX, line_item_number), item_name, item_format)
            )
            line_item_number += 1
        modules.append(
            Module(
                object_id(MODULE_PREFIX, number),
                name,
                tuple(dimensions[d] for d in dims),
                tuple(line_items),
            )
        )
    return modules


def _hierarchy_sample(plan_list: PlanList) -> tuple[tuple[str, ...], bytes]:
    columns = ("Code", "Name", *(p.name for p in plan_list.properties))
    rows = [
        [item.code, item.name, *(p.render(item.properties[p.name]) for p in plan_list.properties)]
        for item in plan_list.items()[:3]
    ]
    return columns, render_csv(columns, rows)


def _module_sample(module: Module, lists: dict[str, PlanList]) -> tuple[tuple[str, ...], bytes]:
    columns = (*(d.name for d in module.dimensions), *(li.name for li in module.line_items))
    accounts = [i for i in lists["GL Accounts"].items() if i.properties["Category"] == "Expense"][
        :3
    ]
    cost_centers = lists["Cost Centers"].items()[:3]
    departments = lists["Departments"].items()[:3]
    months = calendar_months()[:3]
    rows = []
    for n in range(3):
        members = {
            "GL Accounts": accounts[n].code,
            "Cost Centers": cost_centers[n].code,
            "Departments": departments[0].code
            if module.name != "Headcount"
            else departments[n].code,
            "Time": months[n],
        }
        values = {"Amount": f"{1250 + 310 * n}.50", "Closing Balance": f"{1250 + 1560 * n}.50"}
        values["Headcount"] = str(12 + n)
        rows.append(
            [members[d.name] for d in module.dimensions]
            + [values[li.name] for li in module.line_items]
        )
    return columns, render_csv(columns, rows)


def _definitions_and_files(
    lists: dict[str, PlanList], modules: dict[str, Module]
) -> tuple[list[Definition], list[FileDefinition]]:
    definitions: list[Definition] = []
    files: list[FileDefinition] = []
    targets = [(name, HIERARCHY_DATA) for name in SYNCED_LISTS]
    targets += [(name, MODULE_DATA) for name in MODULE_IMPORTS]
    for number, (target, import_type) in enumerate(targets, start=1):
        if import_type == HIERARCHY_DATA:
            columns, sample = _hierarchy_sample(lists[target])
        else:
            columns, sample = _module_sample(modules[target], lists)
        file_id = object_id(FILE_PREFIX, number)
        files.append(FileDefinition(file_id, f"{target}.csv", "import", default_content=sample))
        definitions.append(
            ImportDefinition(
                object_id(IMPORT_PREFIX, number),
                f"Import {target}",
                import_type,
                target,
                file_id,
                columns,
            )
        )
    exports = [
        ExportDefinition(
            object_id(EXPORT_PREFIX, 1),
            "Export Approved Budget",
            "approved_budget",
            ("GL Accounts", "Cost Centers", "Departments", "Time", "Versions", "Amount"),
            ("GL Accounts", "Cost Centers", "Departments", "Time", "Versions", ""),
            ("ENTITY", "ENTITY", "ENTITY", "ENTITY", "ENTITY", "NUMBER"),
        ),
        ExportDefinition(
            object_id(EXPORT_PREFIX, 2),
            "Export Plan Status",
            "plan_status",
            ("Versions", "Approved", "Approved At"),
            ("Versions", "", ""),
            ("ENTITY", "BOOLEAN", "TEXT"),
        ),
    ]
    for export in exports:
        definitions.append(export)
        files.append(FileDefinition(export.id, export.name, "export", 0, 0))
    definitions.append(
        DeleteDefinition(
            object_id(ACTION_PREFIX, 1),
            "Delete Cost Centers Deleted in BC",
            "Cost Centers",
            "Deleted in BC",
        )
    )
    list_imports = tuple(
        d.id for d in definitions if isinstance(d, ImportDefinition) and d.target in SYNCED_LISTS
    )
    definitions.append(
        ProcessDefinition(object_id(PROCESS_PREFIX, 1), "Sync Lists from BC", list_imports)
    )
    return definitions, files


def build_model(seed: int, clock: SimClock) -> PlanModel:
    data = master_data(seed)
    lists = _build_lists(data)
    modules = {m.name: m for m in _build_modules(lists)}
    definitions, files = _definitions_and_files(lists, modules)
    departments = {
        v.code: v.parent_code for v in data.dimension("COSTCENTER").values if v.parent_code
    }
    departments[RETIRED_COST_CENTER[0]] = RETIRED_COST_CENTER[2]
    model = PlanModel(
        model_id(seed),
        MODEL_NAME,
        Workspace(workspace_id(seed), WORKSPACE_NAME, 10 * 1024**3),
        list(lists.values()),
        list(modules.values()),
        definitions,
        FileStore(clock, files, next_number=len(files) + 100),
        departments,
    )
    model.last_modified_ms = int(clock.time() * 1000)
    budget.replace_version(model, BUDGET_VERSION, budget.generate(model, seed, BUDGET_VERSION))
    return model
