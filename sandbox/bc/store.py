"""The company's records: master data from ``sandbox.masterdata``, plus everything that changes.

Rows are plain dicts of *typed* values keyed by API field name (dates as ``date``, datetimes as
epoch milliseconds, enums as their plain option names); keys starting with ``_`` are internal
(row version for the ETag, dimension set, blocked flags the API page does not expose). Every write
goes through ``touch`` (new row version, ``lastModifiedDateTime`` from the simulated clock) and
``changed`` (webhook listeners), so no path can forget either.

Journal lines are also indexed per journal by line number (``JournalLineIndex``), so inserting,
finding a free number, renumbering, deleting and reading a page of a journal's lines never scan
the other lines: add, remove and renumber them through ``add_line``, ``remove_line`` and
``renumber_line``, never by writing ``journal_lines`` directly.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sandbox.bc.encoding import BLANK_DATE, NULL_GUID, sql_datetime_ms
from sandbox.bc.ledger import GeneralLedger
from sandbox.common.clock import SimClock
from sandbox.masterdata import MasterData

Row = dict[str, Any]
ChangeListener = Callable[[str, Row, str], None]  # (entity set, row, change type)

# When the company was set up in BC: master data rows carry this as their last change.
SETUP_TIME = datetime(2024, 12, 16, 8, 0, tzinfo=UTC)
GENERAL_TEMPLATE = "GENERAL"
_STREETS = ("High", "Station", "Mill", "Church", "Park")


def moment_ms(moment: datetime) -> int:
    return sql_datetime_ms(moment.timestamp())


class JournalLineIndex:
    """One journal's lines by line number, the numbers kept sorted (line numbers are unique
    within a journal). Appending the next number is O(1); finding, inserting or removing a
    number is a binary search plus, in the middle, a shift of the number array."""

    __slots__ = ("by_number", "numbers")

    def __init__(self) -> None:
        self.numbers: list[int] = []
        self.by_number: dict[int, Row] = {}

    def __len__(self) -> int:
        return len(self.numbers)

    def add(self, row: Row) -> None:
        number = row["lineNumber"]
        if not self.numbers or number > self.numbers[-1]:
            self.numbers.append(number)
        else:
            bisect.insort(self.numbers, number)
        self.by_number[number] = row

    def discard(self, number: int) -> None:
        if self.by_number.pop(number, None) is not None:
            del self.numbers[bisect.bisect_left(self.numbers, number)]

    def last(self) -> int | None:
        return self.numbers[-1] if self.numbers else None

    def rows(self, start: int = 0) -> Iterator[Row]:
        """The rows from position ``start`` on, lazily: a page costs its own rows only."""
        by_number, numbers = self.by_number, self.numbers
        return (by_number[numbers[i]] for i in range(start, len(numbers)))

    def discard_many(self, numbers: set[int]) -> None:
        for number in numbers:
            self.by_number.pop(number, None)
        self.numbers = [n for n in self.numbers if n not in numbers]

    def after(self, code: str, key: tuple[Any, ...] | None) -> Iterator[Row]:
        """The rows whose order key ``(journal code, line number)`` is greater than ``key``.

        ``key`` comes from a ``$skiptoken`` (a row's or a tombstone's order key), so it may be
        any tuple; the common case, a line key, is a binary search."""
        if not key or not self.numbers:
            return self.rows()
        if key[0] != code:
            return self.rows() if (code,) > key[:1] else iter(())
        if len(key) == 1:
            return self.rows()
        number = key[1]
        if isinstance(number, int) and not isinstance(number, bool):
            return self.rows(bisect.bisect_right(self.numbers, number))
        return (row for row in self.rows() if (code, row["lineNumber"]) > key)


class Company:
    def __init__(self, data: MasterData, ledger: GeneralLedger, clock: SimClock, seed: int) -> None:
        self.id = data.company_id
        self.name = data.company_name
        self.data = data
        self.ledger = ledger
        self.clock = clock
        self._versions = itertools.count(1_000_000)
        self._ids = random.Random(f"bc-new-ids:{seed}")
        self.listeners: list[ChangeListener] = []
        self._held: list[tuple[str, Row, str]] | None = None
        # dimension set line rows per (value ids, parent type), minus the parent id: a page of
        # 20,000 entries shares a few thousand distinct sets
        self._dimension_line_templates: dict[tuple[Any, ...], list[Row]] = {}
        # sort keys of deleted rows, so a $skiptoken naming one still resumes at the right place
        self.tombstones: dict[str, tuple[Any, ...]] = {}
        self.horizon_ms = sql_datetime_ms(clock.time() - 3600)
        self.accounts: dict[str, Row] = {}
        self.dimensions: dict[str, Row] = {}
        self.dimension_values: dict[str, Row] = {}
        self.employees: dict[str, Row] = {}
        self.journals: dict[str, Row] = {}
        self.journal_lines: dict[str, Row] = {}
        self._line_index: dict[str, JournalLineIndex] = {}  # journal id -> its lines
        self.purchase_orders: dict[str, Row] = {}
        self.purchase_lines: dict[str, Row] = {}
        self._load_accounts()
        self._load_dimensions()
        self._load_employees()
        self._load_journals()

    # --- bookkeeping shared by every write ---------------------------------------------------
    def new_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def now_ms(self) -> int:
        return sql_datetime_ms(self.clock.time())

    @staticmethod
    def row_state(row: Row) -> Row:
        """What an update must change to count (reference §8.5: no-op updates are dropped):
        every value but the row version and ``lastModifiedDateTime``, copied deeply."""
        return copy.deepcopy(
            {k: v for k, v in row.items() if k not in ("_v", "lastModifiedDateTime")}
        )

    def touch(self, row: Row, stamp: bool = True) -> Row:
        row["_v"] = next(self._versions)
        if stamp and "lastModifiedDateTime" in row:
            row["lastModifiedDateTime"] = self.now_ms()
        return row

    def changed(self, entity_set: str, row: Row, change_type: str) -> None:
        if entity_set in ("dimensionValues", "dimensions"):
            self._dimension_line_templates.clear()
        if self._held is not None:
            self._held.append((entity_set, row, change_type))
            return
        for listener in list(self.listeners):
            listener(entity_set, row, change_type)

    def hold_changes(self) -> None:
        """Collect change notifications instead of sending them (a transactional ``$batch``)."""
        self._held = []

    def release_changes(self, commit: bool) -> None:
        held, self._held = self._held or [], None
        if commit:
            for change in held:
                self.changed(*change)

    def snapshot(self) -> dict[str, Any]:
        """Everything a transactional ``$batch`` may change, to restore on failure."""
        return {
            name: copy.deepcopy(getattr(self, name))
            for name in (
                "employees",
                "journals",
                "journal_lines",
                "dimension_values",
                "purchase_orders",
                "purchase_lines",
                "tombstones",
            )
        } | {"ledger": self.ledger.snapshot()}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Put a snapshot back *in place*: collections hold references to these dicts."""
        self.ledger.restore(snapshot.pop("ledger"))
        for name, saved in snapshot.items():
            current = getattr(self, name)
            current.clear()
            current.update(saved)
        self._line_index.clear()
        for row in self.journal_lines.values():
            self._line_index.setdefault(row["journalId"], JournalLineIndex()).add(row)

    def _setup_stamp(self, offset_s: int) -> dict[str, int]:
        return {
            "lastModifiedDateTime": moment_ms(SETUP_TIME) + offset_s * 1000,
            "_v": next(self._versions),
        }

    # --- accounts ----------------------------------------------------------------------------
    def _load_accounts(self) -> None:
        for i, a in enumerate(self.data.accounts):
            self.accounts[a.id] = {
                "id": a.id,
                "number": a.number,
                "displayName": a.name,
                "category": a.category or " ",
                "subCategory": a.sub_category,
                "blocked": a.blocked,
                "accountType": a.account_type,
                "directPosting": a.direct_posting,
                "netChange": 0,
                "consolidationTranslationMethod": "Average Rate (Manual)",
                "consolidationDebitAccount": "",
                "consolidationCreditAccount": "",
                "excludeFromConsolidation": False,
                **self._setup_stamp(i),
            }
        self.account_by_number = {row["number"]: row for row in self.accounts.values()}

    # --- dimensions --------------------------------------------------------------------------
    def _load_dimensions(self) -> None:
        offset = len(self.accounts)
        for d in self.data.dimensions:
            self.dimensions[d.id] = {
                "id": d.id,
                "code": d.code,
                "displayName": d.name,
                "consolidationCode": "",
                **self._setup_stamp(offset),
            }
            offset += 1
            for v in d.values:
                self.dimension_values[v.id] = {
                    "id": v.id,
                    "code": v.code,
                    "dimensionId": d.id,
                    "displayName": v.name,
                    "consolidationCode": "",
                    "_dimension": d.code,
                    "_blocked": v.blocked,
                    **self._setup_stamp(offset),
                }
                offset += 1

    def dimension_by_code(self, code: str) -> Row | None:
        return next((d for d in self.dimensions.values() if d["code"] == code.upper()), None)

    def value_by_code(self, dimension_code: str, code: str) -> Row | None:
        dimension_code, code = dimension_code.upper(), code.upper()
        return next(
            (
                v
                for v in self.dimension_values.values()
                if v["_dimension"] == dimension_code and v["code"] == code
            ),
            None,
        )

    def dimension_set_lines(
        self, parent_id: str, parent_type: str, value_ids: Iterable[str]
    ) -> list[Row]:
        """The dimension set of a parent as ``dimensionSetLines`` rows (id = the Dimension's id)."""
        key = (tuple(value_ids), parent_type)
        templates = self._dimension_line_templates.get(key)
        if templates is None:
            templates = []
            for value_id in key[0]:
                value = self.dimension_values[value_id]
                dimension = self.dimensions[value["dimensionId"]]
                templates.append(
                    {
                        "id": dimension["id"],
                        "code": dimension["code"],
                        "consolidationCode": dimension["consolidationCode"],
                        "parentType": parent_type,
                        "displayName": dimension["displayName"],
                        "valueId": value["id"],
                        "valueCode": value["code"],
                        "valueConsolidationCode": value["consolidationCode"],
                        "valueDisplayName": value["displayName"],
                        "_v": value["_v"],
                    }
                )
            templates.sort(key=lambda r: r["code"])
            self._dimension_line_templates[key] = templates
        return [{**t, "parentId": parent_id} for t in templates]

    # --- employees ---------------------------------------------------------------------------
    def _load_employees(self) -> None:
        rng = random.Random(f"employee-addresses:{self.data.company_id}")
        cities = [
            ("Birmingham", "B1 1AA"),
            ("Coventry", "CV1 2AB"),
            ("Leeds", "LS1 4DY"),
            ("Manchester", "M1 1AE"),
            ("Wolverhampton", "WV1 1AA"),
            ("Derby", "DE1 2FS"),
        ]
        for e in self.data.employees:
            city, postcode = rng.choice(cities)
            changed = datetime(
                e.employment_date.year,
                e.employment_date.month,
                e.employment_date.day,
                9,
                tzinfo=UTC,
            )
            if e.termination_date:
                t = e.termination_date
                changed = max(changed, datetime(t.year, t.month, t.day, 17, tzinfo=UTC))
            department = self.value_by_code("DEPARTMENT", e.department_code)
            assert department is not None
            self.employees[e.id] = {
                "id": e.id,
                "number": e.number,
                "displayName": f"{e.given_name} {e.surname}",
                "givenName": e.given_name,
                "middleName": "",
                "surname": e.surname,
                "jobTitle": e.job_title,
                "addressLine1": f"{rng.randint(1, 240)} {rng.choice(_STREETS)} Street",
                "addressLine2": "",
                "city": city,
                "state": "",
                "country": "GB",
                "postalCode": postcode,
                "phoneNumber": "",
                "mobilePhone": f"+44 7700 9{rng.randint(0, 99999):05d}",
                "email": e.email,
                "personalEmail": "",
                "employmentDate": e.employment_date,
                "terminationDate": e.termination_date or BLANK_DATE,
                "status": e.status,
                "birthDate": e.birth_date,
                "statisticsGroupCode": "",
                "bankBranchNumber": "",
                "bankAccountNumber": "",
                "iban": "",
                "lastModifiedDateTime": min(moment_ms(changed), self.horizon_ms),
                "_v": next(self._versions),
                "_department": department["id"],
            }

    def default_dimensions(self, employee: Row) -> list[Row]:
        if employee.get("_department") not in self.dimension_values:
            return []
        value = self.dimension_values[employee["_department"]]
        return [
            {
                "id": str(uuid.uuid5(uuid.UUID(employee["id"]), value["dimensionId"])),
                "parentType": "Employee",
                "parentId": employee["id"],
                "dimensionId": value["dimensionId"],
                "dimensionCode": value["_dimension"],
                "dimensionValueId": value["id"],
                "dimensionValueCode": value["code"],
                "postingValidation": " ",
                "_v": employee["_v"],
            }
        ]

    # --- journals ----------------------------------------------------------------------------
    def _load_journals(self) -> None:
        rng = random.Random(f"journals:{self.data.company_id}")
        for offset, (code, name) in enumerate(
            (("DEFAULT", "Default Journal Batch"), ("PLAN", "Plan write-back (Anaplan)"))
        ):
            journal_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            self.journals[journal_id] = {
                "id": journal_id,
                "code": code,
                "displayName": name,
                "templateDisplayName": GENERAL_TEMPLATE,
                "balancingAccountId": NULL_GUID,
                "balancingAccountNumber": "",
                **self._setup_stamp(10_000 + offset),
            }

    # --- journal lines -----------------------------------------------------------------------
    def lines_of(self, journal_id: str) -> list[Row]:
        """A journal's lines in line number order."""
        index = self._line_index.get(journal_id)
        return list(index.rows()) if index is not None else []

    def lines_in_order(
        self, journal_ids: Iterable[str], after: tuple[Any, ...] | None = None
    ) -> Iterator[Row]:
        """The lines of these journals in key order (journal code, line number), optionally only
        those after an order key; lazy, so reading a page costs the page, not the journal."""
        for journal_id in sorted(journal_ids, key=lambda j: self.journals[j]["code"]):
            index = self._line_index.get(journal_id)
            if index is not None:
                yield from index.after(self.journals[journal_id]["code"], after)

    def last_line_number(self, journal_id: str) -> int | None:
        index = self._line_index.get(journal_id)
        return index.last() if index is not None else None

    def line_number_taken(self, journal_id: str, number: int) -> bool:
        index = self._line_index.get(journal_id)
        return index is not None and number in index.by_number

    def add_line(self, row: Row) -> None:
        self.journal_lines[row["id"]] = row
        self._line_index.setdefault(row["journalId"], JournalLineIndex()).add(row)

    def remove_line(self, row: Row) -> None:
        del self.journal_lines[row["id"]]
        index = self._line_index.get(row["journalId"])
        if index is not None:
            index.discard(row["lineNumber"])
            if not index:
                del self._line_index[row["journalId"]]

    def remove_lines(self, rows: Iterable[Row]) -> None:
        """Remove many lines at once (posting, deleting a journal): one pass per journal."""
        numbers: dict[str, set[int]] = {}
        for row in rows:
            del self.journal_lines[row["id"]]
            numbers.setdefault(row["journalId"], set()).add(row["lineNumber"])
        for journal_id, gone in numbers.items():
            index = self._line_index.get(journal_id)
            if index is not None:
                index.discard_many(gone)
                if not index:
                    del self._line_index[journal_id]

    def renumber_line(self, row: Row, number: int) -> None:
        index = self._line_index[row["journalId"]]
        index.discard(row["lineNumber"])
        row["lineNumber"] = number
        index.add(row)
