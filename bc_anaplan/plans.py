"""Approved plan lines: parsed from an Anaplan export and validated against BC before any write.

Every exported row of the requested version becomes either a ``ValidLine`` (a draft journal line
BC will accept: a posting account that is not blocked and allows direct posting, dimension values
that exist, a posting date, a non-zero decimal amount) or an ``InvalidLine`` with the reason.
Nothing is written to BC until every line has been judged, so the ``all-or-nothing`` policy can
stop before BC is touched.

Members are mapped back through the mapping table (Anaplan member code -> BC code); a row that
names a member by its Anaplan *name* instead of its code is recognised too. Amounts are parsed as
decimals, never floats, and only in unambiguous notations: ``1234.56``, ``-1234.56``,
``1,234.56`` -- never ``1.234,56``, which a different locale would read differently.

The *revision* of a plan is a hash of its valid lines, independent of row order: the same
approved figures always give the same revision, so writing them twice can be recognised.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from bc_anaplan.periods import PeriodNaming

_PLAIN = re.compile(r"^-?\d+(\.\d+)?$")
_GROUPED = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
MAX_AMOUNT = Decimal("1e15")
CENT = Decimal("0.01")


class AmountError(ValueError):
    pass


def parse_amount(text: str) -> Decimal:
    """An exported amount as an exact ``Decimal``; ``AmountError`` if it is not unambiguous."""
    value = text.strip().replace("\u00a0", "")
    if _PLAIN.match(value):
        number = Decimal(value)
    elif _GROUPED.match(value):
        number = Decimal(value.replace(",", ""))
    else:
        raise AmountError(f"amount {text!r} is not a plain decimal number")
    if abs(number) >= MAX_AMOUNT:
        raise AmountError(f"amount {text!r} is out of range")
    return number


def to_cents(amount: Decimal) -> Decimal:
    """BC journal amounts are in cents: half a cent rounds away from zero, as finance does."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class AccountFacts:
    number: str
    account_type: str
    blocked: bool
    direct_posting: bool


@dataclass(frozen=True)
class Dictionary:
    """Everything validation consults, read once before judging the lines."""

    accounts: Mapping[str, AccountFacts]  # BC account number -> facts
    account_members: Mapping[str, str]  # Anaplan code or name -> BC account number
    dimension_members: Mapping[str, Mapping[str, str]]  # BC dim code -> (code or name -> BC code)
    dimension_values: Mapping[str, frozenset[str]]  # BC dim code -> BC value codes


@dataclass(frozen=True)
class Columns:
    account: str
    dimensions: Mapping[str, str]  # BC dimension code -> export column
    period: str
    version: str
    amount: str


@dataclass(frozen=True)
class ValidLine:
    row_key: str
    account_number: str
    posting_date: date
    amount: Decimal
    dimensions: tuple[tuple[str, str], ...]  # (BC dimension code, BC value code), sorted
    exported: Decimal | None = None  # the amount as exported, before rounding to cents

    def canonical(self) -> str:
        dims = ",".join(f"{c}={v}" for c, v in self.dimensions)
        return f"{self.row_key}|{self.account_number}|{self.posting_date}|{dims}|{self.amount}"


@dataclass(frozen=True)
class InvalidLine:
    row_key: str
    line: int  # row number in the export (header = 1)
    reason: str
    values: Mapping[str, str]


@dataclass
class Judgement:
    version: str
    rows_exported: int  # rows of this version in the export
    valid: list[ValidLine]
    invalid: list[InvalidLine]

    @property
    def revision(self) -> str:
        return plan_revision(self.valid)


def plan_revision(lines: Iterable[ValidLine]) -> str:
    digest = hashlib.sha256()
    for text in sorted(line.canonical() for line in lines):
        digest.update(text.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def totals_by_account(lines: Iterable[ValidLine]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for line in lines:
        totals[line.account_number] = totals.get(line.account_number, Decimal(0)) + line.amount
    return totals


class PlanValidator:
    def __init__(
        self,
        dictionary: Dictionary,
        columns: Columns,
        naming: PeriodNaming,
        posting_date: Literal["first-day", "last-day"],
        allow_zero: bool,
    ) -> None:
        self.d = dictionary
        self.columns = columns
        self.naming = naming
        self.posting_date = posting_date
        self.allow_zero = allow_zero

    def judge(
        self, version: str, header: Sequence[str], rows: Iterable[Sequence[str]]
    ) -> Judgement:
        missing = [c for c in self._required() if c not in header]
        if missing:
            raise ValueError(
                f"the export has no column {', '.join(missing)}; its columns are "
                f"{', '.join(header)} (check the writeback columns in connector.toml)"
            )
        index = {name: i for i, name in enumerate(header)}
        judgement = Judgement(version, 0, [], [])
        seen: dict[str, int] = {}
        for number, row in enumerate(rows, start=2):
            values = {name: (row[i] if i < len(row) else "") for name, i in index.items()}
            if values[self.columns.version] != version:
                continue
            judgement.rows_exported += 1
            if len(row) != len(header):
                # a shifted row (an unquoted "1,234.56") must not be judged on its first fields
                reason = f"the row has {len(row)} fields, the header {len(header)}"
                judgement.invalid.append(InvalidLine(self._row_key(values), number, reason, values))
                continue
            self._judge_row(number, values, judgement, seen)
        return judgement

    def _required(self) -> list[str]:
        c = self.columns
        return [c.account, c.period, c.version, c.amount, *c.dimensions.values()]

    def _row_key(self, values: Mapping[str, str]) -> str:
        c = self.columns
        parts = [
            values[c.account],
            *(values[col] for col in c.dimensions.values()),
            values[c.period],
        ]
        return "|".join(parts)

    def _judge_row(
        self, number: int, values: dict[str, str], judgement: Judgement, seen: dict[str, int]
    ) -> None:
        key = self._row_key(values)
        if key in seen:
            judgement.invalid.append(
                InvalidLine(
                    key,
                    number,
                    f"duplicate of export row {seen[key]} (same account, dimensions and period)",
                    values,
                )
            )
            return
        seen[key] = number
        try:
            line = self._line(key, values)
        except ValueError as exc:
            judgement.invalid.append(InvalidLine(key, number, str(exc), values))
            return
        if line is not None:
            judgement.valid.append(line)

    def _line(self, key: str, values: Mapping[str, str]) -> ValidLine | None:
        c = self.columns
        account = self._account(values[c.account])
        dimensions = tuple(
            sorted(
                (code, value)
                for code, column in c.dimensions.items()
                if (value := self._dimension(code, values[column])) is not None
            )
        )
        period = self.naming.parse(values[c.period])
        posting = period.first_day if self.posting_date == "first-day" else period.last_day
        exported = parse_amount(values[c.amount])
        amount = to_cents(exported)
        if amount == 0 and not self.allow_zero:
            raise ValueError("amount is zero (writeback.allow_zero_amounts is false)")
        return ValidLine(key, account, posting, amount, dimensions, exported)

    def _account(self, member: str) -> str:
        if not member.strip():
            raise ValueError("the row has no account")
        number = self.d.account_members.get(member.strip())
        if number is None:
            raise ValueError(f"account {member!r} has no BC account (not in the mapping table)")
        facts = self.d.accounts.get(number)
        if facts is None:
            raise ValueError(f"account {number} does not exist in BC")
        if facts.account_type != "Posting":
            raise ValueError(f"account {number} is a {facts.account_type} account, not Posting")
        if facts.blocked:
            raise ValueError(f"account {number} is blocked in BC")
        if not facts.direct_posting:
            raise ValueError(f"account {number} does not allow direct posting")
        return number

    def _dimension(self, code: str, member: str) -> str | None:
        if not member.strip():
            return None
        value = self.d.dimension_members.get(code, {}).get(member.strip())
        if value is None:
            raise ValueError(
                f"{code} member {member!r} has no BC dimension value "
                "(not in the mapping table, or gone from BC)"
            )
        if value not in self.d.dimension_values.get(code, frozenset()):
            raise ValueError(f"{code} value {value} does not exist in BC")
        return value
