"""Every entity set of a company, wired to the company's records as ``Collection`` objects.

This is the map of the API surface: which sets exist, their default order, which navigations
each entity has, which sets are read-only, which can be written and through which rules, and
which changes notify webhook subscribers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from sandbox.bc import journal, schema
from sandbox.bc.collection import Collection, OrderBy
from sandbox.bc.encoding import BLANK_DATE, NULL_GUID, format_amount_text
from sandbox.bc.errors import BcError, dialog, invalid_skiptoken
from sandbox.bc.ledger import ORDERED_FIELDS
from sandbox.bc.odata.filter import Node, bounds
from sandbox.bc.reading import resume_key
from sandbox.bc.store import GENERAL_TEMPLATE, Company

Row = dict[str, Any]
# the entity sets a subscription may name (reference §8.7), the one list of them. purchaseOrders
# is deliberately not one: the project requires subscribing to it to fail as BC does (§8.7
# leaves it unconfirmed)
WEBHOOK_SETS = frozenset(
    {
        "accounts",
        "dimensions",
        "dimensionValues",
        "employees",
        "generalLedgerEntries",
        "journals",
        "journalLines",
    }
)


def _employee_exists(number: str) -> BcError:
    return BcError(
        400,
        "Internal_EntityWithSameKeyExists",
        f"The Employee already exists. Identification fields and values: No.='{number}'",
    )


def _filtered_on(node: Node | None, field: str) -> bool:
    found = bounds(node, field)
    return found.lo is not None and found.lo == found.hi


class CompanyApi:
    """The collections under ``companies({id})/``."""

    def __init__(self, company: Company, today: Callable[[], date]) -> None:
        self.company = company
        self.today = today
        c = company
        self.sets: dict[str, Collection] = {
            "accounts": Collection(
                "accounts",
                schema.ACCOUNT,
                "G/L Account",
                self._accounts,
                lambda r: (r["number"],),
                find=c.accounts.get,
            ),
            "generalLedgerEntries": Collection(
                "generalLedgerEntries",
                schema.GL_ENTRY,
                "G/L Entry",
                lambda: c.ledger.scan(None),
                lambda r: (r["entryNumber"],),
                find=c.ledger.get,
                scan=self._scan_ledger,
                ordered=self._ordered_ledger,
                navigations={"dimensionSetLines": self._gl_dimensions},
                expanders={
                    "dimensionSetLines": lambda r: c.dimension_set_lines(
                        r["id"], "General Ledger Entry", r["_dims"]
                    )
                },
            ),
            "dimensions": Collection(
                "dimensions",
                schema.DIMENSION,
                "Dimension",
                lambda: sorted(c.dimensions.values(), key=lambda r: r["code"]),
                lambda r: (r["code"],),
                find=c.dimensions.get,
                navigations={"dimensionValues": self._values_of_dimension},
            ),
            "dimensionValues": self._dimension_values(None),
            "dimensionSetLines": Collection(
                "dimensionSetLines",
                schema.DIMENSION_SET_LINE,
                "Dimension Set Line",
                lambda: [],
                lambda r: (r["code"],),
                read_error=lambda _: dialog(
                    "You must get to the parent first to get to the dimension set line."
                ),
                create=self._orphan_dimension_line,
            ),
            "employees": Collection(
                "employees",
                schema.EMPLOYEE,
                "Employee",
                lambda: sorted(c.employees.values(), key=lambda r: r["number"]),
                lambda r: (r["number"],),
                find=c.employees.get,
                navigations={"defaultDimensions": self._default_dimensions},
                create=self.create_employee,
                update=self.update_employee,
                delete=self._delete_employee,
                tombstones=c.tombstones,
            ),
            "journals": Collection(
                "journals",
                schema.JOURNAL,
                "Gen. Journal Batch",
                lambda: sorted(c.journals.values(), key=lambda r: (GENERAL_TEMPLATE, r["code"])),
                lambda r: (GENERAL_TEMPLATE, r["code"]),
                find=c.journals.get,
                navigations={"journalLines": self._lines_of_journal},
                create=self._create_journal,
                update=self._update_journal,
                delete=self._delete_journal,
                actions={"Microsoft.NAV.post": self._post},
                tombstones=c.tombstones,
            ),
            "journalLines": self._journal_lines(None),
            "purchaseOrders": Collection(
                "purchaseOrders",
                schema.PURCHASE_ORDER,
                "Purchase Header",
                lambda: sorted(c.purchase_orders.values(), key=lambda r: r["number"]),
                lambda r: (r["number"],),
                find=c.purchase_orders.get,
                navigations={
                    "purchaseOrderLines": self._lines_of_order,
                    "dimensionSetLines": self._order_dimensions,
                },
                delete=self._delete_purchase_order,
                tombstones=c.tombstones,
            ),
            "purchaseOrderLines": Collection(
                "purchaseOrderLines",
                schema.PURCHASE_ORDER_LINE,
                "Purchase Line",
                lambda: sorted(
                    c.purchase_lines.values(), key=lambda r: (r["documentId"], r["sequence"])
                ),
                lambda r: (r["documentId"], r["sequence"]),
                find=c.purchase_lines.get,
                navigations={"dimensionSetLines": self._order_line_dimensions},
                read_error=lambda node: (
                    None
                    if _filtered_on(node, "documentId")
                    else dialog("You must specify an Id or a Document Id to get the lines.")
                ),
            ),
            "trialBalances": self._trial_balances(),
        }

    # --- accounts and ledger -----------------------------------------------------------------
    def _accounts(self) -> list[Row]:
        rows = sorted(self.company.accounts.values(), key=lambda r: r["number"])
        totals = self.company.ledger.totals(None, None)
        begins: list[int] = []
        running: list[int] = []
        for row in rows:
            debit, credit = totals.get(row["id"], (0, 0))
            net = debit - credit
            if row["accountType"] == "Posting":
                running = [r + net for r in running]
                row["netChange"] = net / 100
            elif row["accountType"] == "Begin-Total":
                begins.append(len(running))
                running.append(0)
                row["netChange"] = 0
            elif row["accountType"] in ("End-Total", "Total") and begins:
                begins.pop()
                row["netChange"] = running.pop() / 100
            else:
                row["netChange"] = 0
        return rows

    def _scan_ledger(self, node: Node | None, token: str | None) -> Iterator[Row]:
        after = -1
        if token is not None:
            position = self.company.ledger.position_of(token)
            if position is None:
                raise invalid_skiptoken(token)
            after = position
        return self.company.ledger.scan(node, after)

    def _ordered_ledger(
        self, node: Node | None, orderby: OrderBy, after: Row | None
    ) -> Iterator[Row] | None:
        """``$orderby`` on one field the history is ordered on (a trailing ``entryNumber`` asc
        changes nothing: ties are in entry-number order anyway), else None (sort)."""
        keys = list(orderby)
        numbered = next((i for i, (name, _) in enumerate(keys) if name == "entryNumber"), None)
        if numbered is not None:
            del keys[numbered + 1 :]  # entry numbers are unique: later keys never decide
        if len(keys) == 2 and keys[1] == ("entryNumber", False):
            keys.pop()
        if len(keys) != 1 or keys[0][0] not in ORDERED_FIELDS:
            return None
        name, descending = keys[0]
        return self.company.ledger.ordered(node, name, descending, after)

    def _gl_dimensions(self, entry: Row) -> Collection:
        parent_type = "General Ledger Entry"

        def read_only(*_: Any) -> Row:
            raise dialog(
                f"Parent with ID {entry['id']} does not exist or dimension set lines are read "
                f"only for parent type {parent_type}."
            )

        return self._dimension_lines(
            lambda: self.company.dimension_set_lines(entry["id"], parent_type, entry["_dims"]),
            create=read_only,
            update=read_only,
            delete=read_only,
        )

    def _dimension_lines(self, rows: Callable[[], list[Row]], **writes: Any) -> Collection:
        return Collection(
            "dimensionSetLines",
            schema.DIMENSION_SET_LINE,
            "Dimension Set Line",
            rows,
            lambda r: (r["code"],),
            **writes,
        )

    def _orphan_dimension_line(self, values: dict[str, Any]) -> Row:
        raise dialog("You must get to the parent first to create a dimension set line.")

    # --- dimensions --------------------------------------------------------------------------
    def _dimension_values(self, dimension_id: str | None) -> Collection:
        c = self.company

        def rows() -> list[Row]:
            selected = (
                v
                for v in c.dimension_values.values()
                if dimension_id is None or v["dimensionId"] == dimension_id
            )
            return sorted(selected, key=lambda r: (r["_dimension"], r["code"]))

        return Collection(
            "dimensionValues",
            schema.DIMENSION_VALUE,
            "Dimension Value",
            rows,
            lambda r: (r["_dimension"], r["code"]),
            find=c.dimension_values.get,
        )

    def _values_of_dimension(self, dimension: Row) -> Collection:
        return self._dimension_values(dimension["id"])

    # --- employees ---------------------------------------------------------------------------
    def _default_dimensions(self, employee: Row) -> Collection:
        return Collection(
            "defaultDimensions",
            schema.DEFAULT_DIMENSION,
            "Default Dimension",
            lambda: self.company.default_dimensions(employee),
            lambda r: (r["dimensionCode"],),
        )

    def create_employee(self, values: dict[str, Any]) -> Row:
        c = self.company
        number = values.get("number") or f"E{len(c.employees) + 1:04d}"
        if any(e["number"] == number for e in c.employees.values()):
            raise _employee_exists(number)
        row: Row = {f.name: "" for f in schema.EMPLOYEE.fields if f.kind is schema.Kind.STRING}
        row.update(
            id=c.new_id(),
            number=number,
            employmentDate=BLANK_DATE,
            terminationDate=BLANK_DATE,
            birthDate=BLANK_DATE,
            status="Active",
            lastModifiedDateTime=0,
            _v=0,
            _department=None,
        )
        row.update(values)
        row["displayName"] = f"{row['givenName']} {row['surname']}".strip()
        c.touch(row)
        c.employees[row["id"]] = row
        c.changed("employees", row, "created")
        return row

    def update_employee(self, row: Row, values: dict[str, Any]) -> Row:
        c = self.company
        if "number" in values and any(
            e["number"] == values["number"] and e["id"] != row["id"] for e in c.employees.values()
        ):
            raise _employee_exists(values["number"])
        before = c.row_state(row)
        row.update(values)
        row["displayName"] = f"{row['givenName']} {row['surname']}".strip()
        if c.row_state(row) == before:
            return row  # a no-op update: not stamped, not notified (reference §8.5)
        c.touch(row)
        c.changed("employees", row, "updated")
        return row

    def _delete_employee(self, row: Row) -> None:
        c = self.company
        del c.employees[row["id"]]
        c.tombstones[row["id"]] = (row["number"],)
        c.changed("employees", row, "deleted")

    # --- purchase orders ---------------------------------------------------------------------
    def _delete_purchase_order(self, row: Row) -> None:
        """``DELETE purchaseOrders({id})`` (reference §4: Delete yes): the order and its lines."""
        c = self.company
        del c.purchase_orders[row["id"]]
        for line_id in [i for i, ln in c.purchase_lines.items() if ln["documentId"] == row["id"]]:
            del c.purchase_lines[line_id]
        c.tombstones[row["id"]] = (row["number"],)
        c.changed("purchaseOrders", row, "deleted")

    # --- journals ----------------------------------------------------------------------------
    def _create_journal(self, values: dict[str, Any]) -> Row:
        c = self.company
        code = str(values.get("code", "")).upper()
        if not code:
            raise dialog(
                "Name must have a value in Gen. Journal Batch. It cannot be zero or empty."
            )
        if any(j["code"] == code for j in c.journals.values()):
            raise BcError(
                400,
                "Internal_EntityWithSameKeyExists",
                "The Gen. Journal Batch already exists. Identification fields and values: "
                f"Journal Template Name='{GENERAL_TEMPLATE}',Name='{code}'",
            )
        row: Row = {
            "id": c.new_id(),
            "code": code,
            "displayName": values.get("displayName", ""),
            "templateDisplayName": GENERAL_TEMPLATE,
            "balancingAccountId": NULL_GUID,
            "balancingAccountNumber": "",
            "lastModifiedDateTime": 0,
            "_v": 0,
        }
        self._set_journal_balancing(row, values)
        c.touch(row)
        c.journals[row["id"]] = row
        c.changed("journals", row, "created")
        return row

    def _set_journal_balancing(self, row: Row, values: dict[str, Any]) -> None:
        if "balancingAccountId" not in values:
            return
        account_id = values["balancingAccountId"]
        account = self.company.accounts.get(account_id)
        if account_id != NULL_GUID and account is None:
            raise dialog('The "balancingAccountId" does not match to an Account.')
        row["balancingAccountId"] = account_id
        row["balancingAccountNumber"] = account["number"] if account else ""

    def _update_journal(self, row: Row, values: dict[str, Any]) -> Row:
        if "code" in values and values["code"].upper() != row["code"]:
            raise dialog("You cannot rename a journal batch through this API.")
        before = self.company.row_state(row)
        if "displayName" in values:
            row["displayName"] = values["displayName"]
        self._set_journal_balancing(row, values)
        if self.company.row_state(row) == before:
            return row  # a no-op update: not stamped, not notified (reference §8.5)
        self.company.touch(row)
        self.company.changed("journals", row, "updated")
        return row

    def _delete_journal(self, row: Row) -> None:
        c = self.company
        lines = c.lines_of(row["id"])
        c.remove_lines(lines)
        for line in lines:
            c.changed("journalLines", line, "deleted")
        del c.journals[row["id"]]
        c.tombstones[row["id"]] = (GENERAL_TEMPLATE, row["code"])
        c.changed("journals", row, "deleted")

    def _post(self, journal_row: Row) -> None:
        journal.post_journal(self.company, journal_row)

    def _lines_of_journal(self, journal_row: Row) -> Collection:
        return self._journal_lines(journal_row)

    def _journal_lines(self, journal_row: Row | None) -> Collection:
        c = self.company

        def rows() -> list[Row]:
            if journal_row is not None:
                return c.lines_of(journal_row["id"])
            return list(c.lines_in_order(c.journals))

        def scan(node: Node | None, token: str | None) -> Iterator[Row]:
            """Rows after the token's order key, from the journal line index (no full sort);
            a ``journalId eq`` filter narrows the unscoped set to that journal."""
            after = None if token is None else resume_key(collection, token)
            if journal_row is not None:
                journal_ids = [journal_row["id"]]
            elif (found := bounds(node, "journalId")).lo is not None and found.lo == found.hi:
                journal_ids = [found.lo] if found.lo in c.journals else []
            else:
                journal_ids = list(c.journals)
            return c.lines_in_order(journal_ids, after)

        def find(line_id: str) -> Row | None:
            line = c.journal_lines.get(line_id)
            if line is None or (journal_row is not None and line["journalId"] != journal_row["id"]):
                return None
            return line

        def create(values: dict[str, Any]) -> Row:
            target = journal_row
            if target is None:
                journal_id = values.get("journalId")
                if not journal_id or journal_id == NULL_GUID:
                    raise dialog(
                        "You must specify a journal batch ID or a journal ID to get a journal line."
                    )
                target = c.journals.get(journal_id)
                if target is None:
                    raise dialog(f"The General Journal Batch with ID {journal_id} cannot be found.")
            line = journal.new_line(c, target, values)
            c.changed("journalLines", line, "created")
            return line

        def update(line: Row, values: dict[str, Any]) -> Row:
            if journal.update_line(c, line, values):
                c.changed("journalLines", line, "updated")
            return line

        def delete(line: Row) -> None:
            c.remove_line(line)
            c.tombstones[line["id"]] = (c.journals[line["journalId"]]["code"], line["lineNumber"])
            c.changed("journalLines", line, "deleted")

        def read_error(node: Node | None) -> Exception | None:
            if journal_row is None and not _filtered_on(node, "journalId"):
                return dialog(
                    "You must specify a journal batch ID or a journal ID to get a journal line."
                )
            return None

        collection = Collection(
            "journalLines",
            schema.JOURNAL_LINE,
            "Gen. Journal Line",
            rows,
            lambda r: (c.journals[r["journalId"]]["code"], r["lineNumber"]),
            find=find,
            scan=scan,
            navigations={"dimensionSetLines": self._line_dimensions},
            create=create,
            update=update,
            delete=delete,
            tombstones=c.tombstones,
            read_error=read_error,
        )
        return collection

    def _line_dimensions(self, line: Row) -> Collection:
        c = self.company

        def rows() -> list[Row]:
            return c.dimension_set_lines(
                line["id"], journal.JOURNAL_LINE_PARENT, list(line["_dims"].values())
            )

        def versioned() -> list[Row]:
            return self._versioned(rows(), line)

        def create(values: dict[str, Any]) -> Row:
            dimension = journal.add_dimension(c, line, values)
            c.changed("journalLines", line, "updated")
            return next(r for r in versioned() if r["id"] == dimension["id"])

        def update(row: Row, values: dict[str, Any]) -> Row:
            dimension = c.dimensions[row["id"]]
            if journal.change_dimension(c, line, dimension, values):
                c.changed("journalLines", line, "updated")
            return next(r for r in versioned() if r["id"] == dimension["id"])

        def delete(row: Row) -> None:
            del line["_dims"][row["code"]]
            c.touch(line)
            c.changed("journalLines", line, "updated")

        return self._dimension_lines(versioned, create=create, update=update, delete=delete)

    # --- purchase orders ---------------------------------------------------------------------
    def _lines_of_order(self, order: Row) -> Collection:
        c = self.company
        return Collection(
            "purchaseOrderLines",
            schema.PURCHASE_ORDER_LINE,
            "Purchase Line",
            lambda: sorted(
                (ln for ln in c.purchase_lines.values() if ln["documentId"] == order["id"]),
                key=lambda r: r["sequence"],
            ),
            lambda r: (r["sequence"],),
            navigations={"dimensionSetLines": self._order_line_dimensions},
        )

    def _order_dimensions(self, order: Row) -> Collection:
        return self._dimension_lines(
            lambda: self._versioned(
                self.company.dimension_set_lines(order["id"], "Purchase Order", order["_dims"]),
                order,
            )
        )

    def _order_line_dimensions(self, line: Row) -> Collection:
        return self._dimension_lines(
            lambda: self._versioned(
                self.company.dimension_set_lines(line["id"], "Purchase Order Line", line["_dims"]),
                line,
            )
        )

    @staticmethod
    def _versioned(rows: list[Row], parent: Row) -> list[Row]:
        for row in rows:
            row["_v"] = parent["_v"]
        return rows

    # --- trial balance -----------------------------------------------------------------------
    def _trial_balances(self) -> Collection:
        def scan(node: Node | None, token: str | None) -> Iterator[Row]:
            """The rows for the filter's ``dateFilter`` range, after the token's account."""
            rows = self._trial_balance(node)
            if token is None:
                return iter(rows)
            after = resume_key(collection, token)
            return (r for r in rows if collection.order_key(r) > after)

        collection = Collection(
            "trialBalances",
            schema.TRIAL_BALANCE,
            "Trial Balance Entity Buffer",
            lambda: self._trial_balance(None),
            lambda r: (r["number"],),
            scan=scan,
        )
        return collection

    def _trial_balance(self, node: Node | None) -> list[Row]:
        """One row per account for the ``dateFilter`` range (default: today)."""
        days = bounds(node, "dateFilter")
        last = (
            days.hi if days.hi is not None else (days.lo if days.lo is not None else self.today())
        )
        if days.hi is not None and not days.hi_inclusive:
            last -= timedelta(days=1)
        first = days.lo if days.lo is not None else last
        if days.lo is not None and not days.lo_inclusive:
            first += timedelta(days=1)
        ledger = self.company.ledger
        activity = ledger.totals(first, last)
        balance = ledger.totals(None, last)
        rows = []
        running: list[list[int]] = []
        for account in sorted(self.company.accounts.values(), key=lambda r: r["number"]):
            kind = account["accountType"]
            debit, credit = activity.get(account["id"], (0, 0))
            bal_debit, bal_credit = balance.get(account["id"], (0, 0))
            figures: list[int] | None = None
            if kind == "Posting":
                figures = [debit, credit, bal_debit - bal_credit]
                for group in running:
                    for i in range(3):
                        group[i] += figures[i]
            elif kind == "Begin-Total":
                running.append([0, 0, 0])
            elif kind in ("End-Total", "Total") and running:
                figures = running.pop()
            rows.append(self._trial_balance_row(account, figures, last))
        return rows

    @staticmethod
    def _trial_balance_row(account: Row, figures: list[int] | None, last: date) -> Row:
        text = ["", "", "", ""]
        if figures is not None:
            debit, credit, balance = figures
            text = [
                format_amount_text(debit),
                format_amount_text(credit),
                format_amount_text(balance if balance > 0 else 0),
                format_amount_text(-balance if balance < 0 else 0),
            ]
        return {
            "number": account["number"],
            "accountId": account["id"],
            "accountType": account["accountType"],
            "display": account["displayName"],
            "totalDebit": text[0],
            "totalCredit": text[1],
            "balanceAtDateDebit": text[2],
            "balanceAtDateCredit": text[3],
            "dateFilter": last,
            "_v": account["_v"],
        }
