"""Malformed records of every other BC entity set the connector reads: a clear error, never a
half-sent list or module.

``test_bad_bc_input`` covers G/L entries; this module covers the rest: accounts, dimensions,
dimension values, employees (with their default dimensions), purchase orders (with their lines
and dimension set lines) and trial balances. The same hostile HTTPS server
(``hostile.TamperingProxy``) stands in front of the BC simulator and edits one record of one
read; everything else is the real simulator.

* **Decoding**: each malformed record (a wrong type, a missing field, an impossible or absurd
  value) read through the connector's own stream raises ``BcDecodeError`` whose message names
  the entity, the record (its number or code, or its id when the number is what is missing)
  and the field.
* **Flows**: one representative case per entity through the flow that reads it, on a sandbox
  with real drift pending (the sandbox's deliberate drift, a new department, a new hire, a new
  purchase order): the run fails with that message; the Anaplan import of the list or module
  the record feeds never ran (the sandbox's task log) and the list's members or the module's
  cells are exactly what they were; the same host then runs the same flow cleanly and the
  pending change lands, one import task.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from bc_anaplan.bc import streams
from bc_anaplan.bc.errors import BcDecodeError
from bc_anaplan.periods import Period
from tests.reliability.bad_payloads import (
    BadRecord,
    Change,
    anything,
    in_first,
    reading,
    removing,
    replacing,
    setting,
)
from tests.reliability.harness import run_to_end, tasks_per_action
from tests.reliability.hostile import TamperingProxy, connector_behind_proxy
from tests.support.connector import ConnectorUnderTest

MARCH = Period(2025, 3)
IMPORT_GL_ACCOUNTS = "112000000001"
IMPORT_DEPARTMENTS = "112000000002"
IMPORT_COST_CENTERS = "112000000003"
IMPORT_EMPLOYEES = "112000000005"
IMPORT_GL_ACTUALS = "112000000006"
IMPORT_COMMITMENTS = "112000000007"
IMPORT_HEADCOUNT = "112000000008"


@pytest.fixture(scope="module")
def behind_proxy(
    tmp_path_factory: pytest.TempPathFactory, azurite: str
) -> Iterator[tuple[ConnectorUnderTest, TamperingProxy]]:
    workdir = tmp_path_factory.mktemp("hostile-bc-records")
    with connector_behind_proxy("bc", workdir, azurite) as (c, hostile):
        yield c, hostile


@pytest.fixture(scope="module")
def app(behind_proxy: tuple[ConnectorUnderTest, TamperingProxy]) -> ConnectorUnderTest:
    """The connector through the proxy; no reference sync yet (the flow tests need the drift)."""
    return behind_proxy[0]


@pytest.fixture
def hostile(behind_proxy: tuple[ConnectorUnderTest, TamperingProxy]) -> Iterator[TamperingProxy]:
    yield behind_proxy[1]
    behind_proxy[1].clear()


# --- which record to break ---------------------------------------------------------------------


def posting_account(record: dict[str, Any]) -> bool:
    return record.get("accountType") == "Posting"


def with_lines(record: dict[str, Any]) -> bool:
    return bool(record.get("purchaseOrderLines"))


def case(
    entity_set: str,
    name: str,
    change: Change,
    field: str,
    entity: str,
    pick: Callable[[dict[str, Any]], bool] = anything,
) -> Any:  # a pytest ParameterSet
    return pytest.param(entity_set, change, pick, field, entity, id=f"{entity_set}: {name}")


DECODE_CASES = [
    # accounts
    case("accounts", "missing number", removing("number"), "number", "account", posting_account),
    case("accounts", "number as a JSON number", setting("number", 61010), "number", "account"),
    case("accounts", "number null", setting("number", None), "number", "account"),
    case(
        "accounts",
        "blocked as the text 'false'",
        setting("blocked", "false"),
        "blocked",
        "account",
        posting_account,
    ),
    case("accounts", "blocked null", setting("blocked", None), "blocked", "account"),
    case("accounts", "accountType a number", setting("accountType", 3), "accountType", "account"),
    case("accounts", "missing category", removing("category"), "category", "account"),
    case(
        "accounts",
        "displayName an object",
        setting("displayName", {"en-US": "Rent"}),
        "displayName",
        "account",
    ),
    case(
        "accounts",
        "lastModifiedDateTime month 13",
        setting("lastModifiedDateTime", "2025-13-01T00:00:00Z"),
        "lastModifiedDateTime",
        "account",
    ),
    case("accounts", "a record that is a string", replacing("61010"), "JSON object", "account"),
    # dimensions
    case("dimensions", "missing code", removing("code"), "code", "dimension"),
    case("dimensions", "code a list", setting("code", ["DEPARTMENT"]), "code", "dimension"),
    # dimension values
    case("dimensionValues", "missing code", removing("code"), "code", "dimension value"),
    case(
        "dimensionValues", "code as a JSON number", setting("code", 100), "code", "dimension value"
    ),
    case("dimensionValues", "code blank", setting("code", ""), "code", "dimension value"),
    case(
        "dimensionValues",
        "displayName a list",
        setting("displayName", ["Sales"]),
        "displayName",
        "dimension value",
    ),
    case(
        "dimensionValues",
        "lastModifiedDateTime without zone",
        setting("lastModifiedDateTime", "2025-03-02T08:00:00"),
        "lastModifiedDateTime",
        "dimension value",
    ),
    # employees
    case("employees", "missing number", removing("number"), "number", "employee"),
    case("employees", "status a number", setting("status", 1), "status", "employee"),
    case(
        "employees",
        "employmentDate 30 February",
        setting("employmentDate", "2025-02-30"),
        "employmentDate",
        "employee",
    ),
    case(
        "employees",
        "employmentDate a JSON number",
        setting("employmentDate", 20250101),
        "employmentDate",
        "employee",
    ),
    case(
        "employees",
        "employmentDate with trailing text",
        setting("employmentDate", "2025-01-01 or so"),
        "employmentDate",
        "employee",
    ),
    case(
        "employees",
        "terminationDate day first",
        setting("terminationDate", "31/12/2025"),
        "terminationDate",
        "employee",
    ),
    case(
        "employees",
        "defaultDimensions a string",
        setting("defaultDimensions", "PROD"),
        "defaultDimensions",
        "employee",
    ),
    case(
        "employees",
        "a default dimension without dimensionValueCode",
        setting("defaultDimensions", [{"dimensionCode": "DEPARTMENT"}]),
        "dimensionValueCode",
        "employee",
    ),
    case("employees", "a record that is a list", replacing(["E0001"]), "JSON object", "employee"),
    # purchase orders and their lines
    case("purchaseOrders", "missing number", removing("number"), "number", "purchase order"),
    case(
        "purchaseOrders",
        "orderDate 30 February",
        setting("orderDate", "2025-02-30"),
        "orderDate",
        "purchase order",
    ),
    case(
        "purchaseOrders",
        "totalAmountExcludingTax 'NaN'",
        setting("totalAmountExcludingTax", "NaN"),
        "totalAmountExcludingTax",
        "purchase order",
    ),
    case(
        "purchaseOrders",
        "totalAmountExcludingTax beyond BC's decimal range",
        setting("totalAmountExcludingTax", 1e300),
        "totalAmountExcludingTax",
        "purchase order",
    ),
    case(
        "purchaseOrders",
        "fullyReceived as the text 'true'",
        setting("fullyReceived", "true"),
        "fullyReceived",
        "purchase order",
    ),
    case(
        "purchaseOrders",
        "purchaseOrderLines an object",
        setting("purchaseOrderLines", {"sequence": 10000}),
        "purchaseOrderLines",
        "purchase order",
    ),
    case(
        "purchaseOrders",
        "line sequence text",
        in_first("purchaseOrderLines", setting("sequence", "1a")),
        "sequence",
        "purchase order",
        with_lines,
    ),
    case(
        "purchaseOrders",
        "line sequence null",
        in_first("purchaseOrderLines", setting("sequence", None)),
        "sequence",
        "purchase order",
        with_lines,
    ),
    case(
        "purchaseOrders",
        "line sequence a fraction",
        in_first("purchaseOrderLines", setting("sequence", 1.5)),
        "sequence",
        "purchase order",
        with_lines,
    ),
    case(
        "purchaseOrders",
        "line quantity null",
        in_first("purchaseOrderLines", setting("quantity", None)),
        "quantity",
        "purchase order",
        with_lines,
    ),
    case(
        "purchaseOrders",
        "line amountExcludingTax '-Infinity'",
        in_first("purchaseOrderLines", setting("amountExcludingTax", "-Infinity")),
        "amountExcludingTax",
        "purchase order",
        with_lines,
    ),
    case(
        "purchaseOrders",
        "line amountExcludingTax 10^16",
        in_first("purchaseOrderLines", setting("amountExcludingTax", 1e16)),
        "amountExcludingTax",
        "purchase order",
        with_lines,
    ),
    case(
        "purchaseOrders",
        "line expectedReceiptDate 31 April",
        in_first("purchaseOrderLines", setting("expectedReceiptDate", "2026-04-31")),
        "expectedReceiptDate",
        "purchase order",
        with_lines,
    ),
    case(
        "purchaseOrders",
        "line without lineType",
        in_first("purchaseOrderLines", removing("lineType")),
        "lineType",
        "purchase order",
        with_lines,
    ),
    case(
        "purchaseOrders",
        "dimension set line without valueCode",
        setting("dimensionSetLines", [{"code": "DEPARTMENT"}]),
        "valueCode",
        "purchase order",
    ),
]

STREAMS: dict[str, Callable[[Any], Iterator[Any]]] = {
    "accounts": streams.iter_accounts,
    "dimensions": streams.iter_dimensions,
    "dimensionValues": streams.iter_dimension_values,
    "employees": streams.iter_employees,
    "purchaseOrders": streams.iter_purchase_orders,
}


@pytest.mark.parametrize(("entity_set", "change", "pick", "field", "entity"), DECODE_CASES)
def test_a_malformed_record_is_a_decode_error_naming_entity_record_and_field(
    app: ConnectorUnderTest,
    hostile: TamperingProxy,
    entity_set: str,
    change: Change,
    pick: Callable[[dict[str, Any]], bool],
    field: str,
    entity: str,
) -> None:
    bad = BadRecord(change, pick)
    hostile.tamper(reading(entity_set), bad)
    with pytest.raises(BcDecodeError) as raised:
        for _ in STREAMS[entity_set](app.rt.bc()):
            pass
    message = str(raised.value)
    assert field in message and entity in message, message
    if field != "JSON object":
        assert any(name in message for name in bad.names), (message, bad.names)


TRIAL_BALANCE_CASES = [
    pytest.param(removing("totalDebit"), "totalDebit", id="missing totalDebit"),
    pytest.param(setting("totalDebit", 1234.5), "totalDebit", id="totalDebit a JSON number"),
    pytest.param(setting("totalCredit", "12.34.56"), "totalCredit", id="totalCredit not a number"),
    pytest.param(setting("totalCredit", "NaN"), "totalCredit", id="totalCredit 'NaN'"),
    pytest.param(
        setting("totalDebit", "1,000,000,000,000,000.00"),
        "totalDebit",
        id="totalDebit beyond BC's decimal range",
    ),
    pytest.param(removing("number"), "number", id="missing number"),
]


@pytest.mark.parametrize(("change", "field"), TRIAL_BALANCE_CASES)
def test_a_malformed_trial_balance_row_is_a_decode_error_naming_account_and_field(
    app: ConnectorUnderTest, hostile: TamperingProxy, change: Change, field: str
) -> None:
    bad = BadRecord(change, posting_account)
    hostile.tamper(reading("trialBalances"), bad)
    with pytest.raises(BcDecodeError) as raised:
        for _ in streams.iter_trial_balance(app.rt.bc(), MARCH.first_day, MARCH.last_day):
            pass
    message = str(raised.value)
    assert field in message and "trial balance" in message, message
    assert any(name in message for name in bad.names), (message, bad.names)


# --- through the flows ---------------------------------------------------------------------------


def members_by_code(c: ConnectorUnderTest, anaplan_list: str) -> dict[str, Any]:
    return {m["code"]: m for m in c.sandbox.members(anaplan_list)}


def assert_failed_naming(run: dict[str, Any], *words: str) -> None:
    assert run["runtime_status"] == "Failed" and run["state"] == "failed", run
    assert all(w in run["error"] for w in words), (words, run["error"][:600])


def test_a_malformed_account_stops_the_sync_before_the_accounts_list_is_touched(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    """The sandbox's deliberate drift includes a renamed account: the accounts list has work to
    do. A posting account whose ``blocked`` arrives as the text "false" must not be sent as
    blocked (``bool("false")`` is true), nor any other row of the list."""
    before = members_by_code(app, "GL Accounts")
    stale = [m for m in before.values() if m["name"].endswith("Software Licences")]
    assert stale, "the sandbox's deliberate account drift is gone"
    tasks = tasks_per_action(app.sandbox)
    bad = BadRecord(setting("blocked", "false"), posting_account)
    hostile.tamper(reading("accounts"), bad)
    run = run_to_end(app, "reference_sync", {"trigger": "cli"})
    assert_failed_naming(run, "account", "blocked")
    assert any(name in run["error"] for name in bad.names), run["error"][:600]
    after_failure = tasks_per_action(app.sandbox)
    assert after_failure[IMPORT_GL_ACCOUNTS] == tasks[IMPORT_GL_ACCOUNTS] == 0
    assert members_by_code(app, "GL Accounts") == before
    # lists are aligned one at a time, each whole: the seeded cost-center drift, before accounts
    assert after_failure[IMPORT_COST_CENTERS] == 1
    hostile.clear()
    clean = run_to_end(app, "reference_sync", {"trigger": "cli"})
    assert clean["state"] == "succeeded", clean
    assert tasks_per_action(app.sandbox)[IMPORT_GL_ACCOUNTS] == 1
    after = members_by_code(app, "GL Accounts")
    assert after[stale[0]["code"]]["name"].endswith("Software Subscriptions")
    (tampered,) = set(after) & bad.names
    assert before[tampered]["properties"]["Blocked"] is False
    assert after[tampered]["properties"]["Blocked"] is False


def test_a_malformed_dimension_value_leaves_its_list_as_it_was(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    app.sandbox.post(
        "bc",
        "/_sandbox/bc/dimension-values",
        {"action": "create", "dimension": "DEPARTMENT", "code": "TREASURY", "name": "Treasury"},
    )
    before = members_by_code(app, "Departments")
    tasks = tasks_per_action(app.sandbox)[IMPORT_DEPARTMENTS]
    bad = BadRecord(setting("code", 100), anything)
    hostile.tamper(reading("dimensionValues"), bad)
    run = run_to_end(app, "reference_sync", {"trigger": "cli"})
    assert_failed_naming(run, "dimension value", "code")
    assert tasks_per_action(app.sandbox)[IMPORT_DEPARTMENTS] == tasks
    assert members_by_code(app, "Departments") == before and "TREASURY" not in before
    hostile.clear()
    clean = run_to_end(app, "reference_sync", {"trigger": "cli"})
    assert clean["state"] == "succeeded", clean
    assert tasks_per_action(app.sandbox)[IMPORT_DEPARTMENTS] == tasks + 1
    assert "TREASURY" in members_by_code(app, "Departments")


def test_a_malformed_employee_sends_neither_the_employee_list_nor_head_count(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    hired = app.sandbox.post(
        "bc",
        "/_sandbox/bc/employees",
        {"action": "hire", "givenName": "Ada", "surname": "Quinn", "department": "SALES"},
    )
    before = members_by_code(app, "Employees")
    headcount = app.sandbox.cells("Headcount")
    tasks = tasks_per_action(app.sandbox)
    bad = BadRecord(setting("defaultDimensions", "SALES"), anything)
    hostile.tamper(reading("employees"), bad)
    run = run_to_end(app, "employees_load", {"trigger": "cli"})
    assert_failed_naming(run, "employee", "defaultDimensions")
    after = tasks_per_action(app.sandbox)
    assert after[IMPORT_EMPLOYEES] == tasks[IMPORT_EMPLOYEES]
    assert after[IMPORT_HEADCOUNT] == tasks[IMPORT_HEADCOUNT]
    assert members_by_code(app, "Employees") == before and hired["number"] not in before
    assert app.sandbox.cells("Headcount") == headcount
    hostile.clear()
    clean = run_to_end(app, "employees_load", {"trigger": "cli"})
    assert clean["state"] == "succeeded", clean
    assert tasks_per_action(app.sandbox)[IMPORT_EMPLOYEES] == tasks[IMPORT_EMPLOYEES] + 1
    assert members_by_code(app, "Employees")[hired["number"]]["properties"]["Department"] == "SALES"


def test_a_malformed_trial_balance_stops_the_load_before_the_import(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    cells = app.sandbox.cells("GL Actuals", Time="Mar 25")
    tasks = tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS]
    hostile.tamper(
        reading("trialBalances"), BadRecord(setting("totalDebit", 1234.5), posting_account)
    )
    run = run_to_end(app, "actuals_load", {"mode": "period", "periods": ["2025-03"]})
    assert_failed_naming(run, "trial balance", "totalDebit")
    assert tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS] == tasks
    assert app.sandbox.cells("GL Actuals", Time="Mar 25") == cells
    hostile.clear()
    clean = run_to_end(app, "actuals_load", {"mode": "period", "periods": ["2025-03"]})
    assert clean["state"] == "succeeded", clean
    assert tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS] == tasks + 1


def new_order(c: ConnectorUnderTest, expected: str = "2027-02-15") -> dict[str, Any]:
    return c.sandbox.post(
        "bc",
        "/_sandbox/bc/purchase-orders",
        {
            "action": "create",
            "status": "Open",
            "department": "PROD",
            "costCenter": "CC340",
            "lines": [
                {
                    "accountNumber": "51010",
                    "quantity": 10,
                    "directUnitCost": 123.45,
                    "expectedReceiptDate": expected,
                }
            ],
        },
    )


def test_a_malformed_purchase_order_line_sends_no_commitments(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    order = new_order(app)
    cells = app.sandbox.cells("Commitments")
    tasks = tasks_per_action(app.sandbox)[IMPORT_COMMITMENTS]
    bad = BadRecord(in_first("purchaseOrderLines", setting("quantity", "NaN")), with_lines)
    hostile.tamper(reading("purchaseOrders"), bad)
    run = run_to_end(app, "commitments_load", {"trigger": "cli"})
    assert_failed_naming(run, "purchase order", "quantity")
    assert tasks_per_action(app.sandbox)[IMPORT_COMMITMENTS] == tasks
    assert app.sandbox.cells("Commitments") == cells
    hostile.clear()
    clean = run_to_end(app, "commitments_load", {"trigger": "cli"})
    assert clean["state"] in ("succeeded", "partially_succeeded"), clean
    assert tasks_per_action(app.sandbox)[IMPORT_COMMITMENTS] == tasks + 1
    landed = app.sandbox.cells("Commitments", **{"GL Accounts": "51010", "Time": "Feb 27"})
    assert any(c["dimensions"]["Cost Centers"].startswith("CC340") for c in landed), order


def test_a_dimension_without_code_stops_the_sync_before_any_list_is_compared(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    app.sandbox.post(
        "bc",
        "/_sandbox/bc/dimension-values",
        {"action": "create", "dimension": "COSTCENTER", "code": "CC995", "name": "Audit"},
    )
    before = members_by_code(app, "Cost Centers")
    tasks = tasks_per_action(app.sandbox)
    hostile.tamper(reading("dimensions"), BadRecord(removing("code"), anything))
    run = run_to_end(app, "reference_sync", {"trigger": "cli"})
    assert_failed_naming(run, "field 'code' is missing from dimension with id")
    assert tasks_per_action(app.sandbox) == tasks  # no import of any list
    assert members_by_code(app, "Cost Centers") == before and "CC995" not in before
    hostile.clear()
    assert run_to_end(app, "reference_sync", {"trigger": "cli"})["state"] == "succeeded"
    assert "CC995" in members_by_code(app, "Cost Centers")


def test_an_absurd_employment_date_is_mirrored_as_bc_holds_it(
    app: ConnectorUnderTest,
) -> None:
    """BC accepts an employment date in 2999 (a typo): the connector neither fails nor invents a
    correction. The list shows the date BC holds, so the typo is visible in Anaplan, and head
    count never counts the employee (not employed at any month's end)."""
    headcount = app.sandbox.cells("Headcount")
    hired = app.sandbox.post(
        "bc",
        "/_sandbox/bc/employees",
        {"action": "hire", "givenName": "Tim", "surname": "Late", "department": "HR",
         "employmentDate": "2999-01-01"},
    )  # fmt: skip
    run = run_to_end(app, "employees_load", {"trigger": "cli"})
    assert run["state"] == "succeeded", run
    member = members_by_code(app, "Employees")[hired["number"]]
    assert member["properties"]["Start Date"] == "2999-01-01"
    assert app.sandbox.cells("Headcount") == headcount


def test_a_commitment_due_in_a_century_to_come_is_not_booked_a_century_early(
    app: ConnectorUnderTest,
) -> None:
    def march_2025() -> list[dict[str, Any]]:
        cells = app.sandbox.cells("Commitments", **{"GL Accounts": "51010", "Time": "Mar 25"})
        return [c for c in cells if c["dimensions"]["Cost Centers"].startswith("CC340")]

    before = march_2025()
    order = new_order(app, expected="2125-03-15")
    run = run_to_end(app, "commitments_load", {"trigger": "cli"})
    assert run["state"] in ("succeeded", "partially_succeeded"), run
    assert march_2025() == before, order["number"]
    quarantined = list(app.rt.audit.records(run["run_id"], "quarantined"))
    assert any(order["number"] in r.key for r in quarantined), quarantined


def test_an_amount_a_float_cannot_carry_is_still_read_exactly(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    """Strict is not lossy: 17 significant digits within BC's range decode to the exact
    decimal BC wrote (the page is re-parsed with ``Decimal``), not to an error or a float."""

    def long_amount(body: Any) -> bytes:
        body = copy.deepcopy(body)
        order = next(o for o in body["value"] if with_lines(o))
        order["purchaseOrderLines"][0]["amountExcludingTax"] = "LONG"
        return json.dumps(body).encode().replace(b'"LONG"', b"123456789012345.67")

    hostile.tamper(reading("purchaseOrders"), long_amount)
    amounts = {
        line.amount_excluding_tax
        for order in streams.iter_purchase_orders(app.rt.bc())
        for line in order.lines
    }
    assert Decimal("123456789012345.67") in amounts
