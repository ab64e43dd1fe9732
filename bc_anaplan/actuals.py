"""Actuals: G/L entries aggregated into Anaplan cells, exactly, with nothing silently dropped.

A *cell* is one account x the configured dimensions (as Anaplan member codes) x one period; its
value is the period's net change, debit minus credit, summed in ``Decimal``. Entries are many and
cells are few, so a period's entries are streamed through a ``PeriodAggregate`` that holds only
the cells.

An entry whose account or dimension value has no Anaplan member (per the mapping table) cannot be
placed in a cell: it is *quarantined* -- kept aside with the reason, counted, and excluded --
never dropped. Every aggregate reconciles by construction: the BC net change of the period equals
the sum of the cells plus the sum of the quarantined entries, to the cent, and ``reconcile``
checks that against an independent BC figure (the trial balance).

Balance-sheet accounts also carry a closing balance per period: the previous period's closing
balance plus this period's net change, rolled forward from stored snapshots (``snapshots``) so
that only the first load reads the whole history.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol

from bc_anaplan.periods import Period

CellKey = tuple[str, ...]  # (account member code, *dimension member codes)
ZERO = Decimal("0")


class DimensionLineLike(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def value_code(self) -> str: ...


class GlEntryLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def entry_number(self) -> int: ...

    @property
    def posting_date(self) -> date: ...

    @property
    def account_number(self) -> str: ...

    @property
    def debit(self) -> Decimal: ...

    @property
    def credit(self) -> Decimal: ...

    @property
    def dimensions(self) -> Iterable[DimensionLineLike]: ...

    def dimension(self, code: str) -> str | None: ...


@dataclass(frozen=True)
class Axis:
    """One BC dimension that is an axis of the actuals module."""

    bc_dimension: str
    members: Mapping[str, str]  # BC value code -> Anaplan member code (mapped members only)
    blank_member: str | None = None  # Anaplan member for entries without a value, if any


@dataclass(frozen=True)
class Quarantined:
    entry_id: str
    entry_number: int
    posting_date: str
    account: str
    amount: Decimal
    dimensions: Mapping[str, str]
    reason: str


@dataclass
class PeriodAggregate:
    period: Period
    cells: dict[CellKey, Decimal] = field(default_factory=dict)
    entries: int = 0
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    quarantined: list[Quarantined] = field(default_factory=list)

    @property
    def net(self) -> Decimal:
        """The BC net change of every entry seen, placed or not."""
        return self.debit - self.credit

    @property
    def sent(self) -> Decimal:
        return sum(self.cells.values(), ZERO)

    @property
    def quarantined_amount(self) -> Decimal:
        return sum((q.amount for q in self.quarantined), ZERO)

    def reconciliation(self) -> dict[str, str | int | bool]:
        return {
            "period": self.period.key,
            "entries": self.entries,
            "bc_debit": str(self.debit),
            "bc_credit": str(self.credit),
            "bc_net": str(self.net),
            "sent_net": str(self.sent),
            "quarantined_entries": len(self.quarantined),
            "quarantined_net": str(self.quarantined_amount),
            "cells": len(self.cells),
            "balanced": self.net == self.sent + self.quarantined_amount,
        }


class Aggregator:
    """Turns one period's entries into cells, quarantining what cannot be mapped."""

    def __init__(self, accounts: Mapping[str, str], axes: Sequence[Axis]) -> None:
        self.accounts = accounts  # BC account number -> Anaplan member code (mapped only)
        self.axes = tuple(axes)

    def aggregate(
        self, period: Period, entries: Iterable[GlEntryLike], *, history: bool = False
    ) -> PeriodAggregate:
        """Cells of ``period``; with ``history``, of every entry up to the end of ``period``."""
        result = PeriodAggregate(period)
        for entry in entries:
            posted = Period.of(entry.posting_date)
            if posted != period and not (history and posted < period):
                raise ValueError(
                    f"G/L entry {entry.entry_number} posted {entry.posting_date} is outside "
                    f"period {period}; the read window and the aggregation disagree"
                )
            self.add(result, entry)
        return result

    def add(self, result: PeriodAggregate, entry: GlEntryLike) -> None:
        """Place one entry of ``result``'s period (the caller routes entries to periods)."""
        result.entries += 1
        result.debit += entry.debit
        result.credit += entry.credit
        key, reason = self.cell_of(entry)
        amount = entry.debit - entry.credit
        if key is None:
            result.quarantined.append(_quarantine(entry, amount, reason))
            return
        cells = result.cells
        cells[key] = cells.get(key, ZERO) + amount

    def cell_of(self, entry: GlEntryLike) -> tuple[CellKey | None, str]:
        account = self.accounts.get(entry.account_number)
        if account is None:
            return None, f"account {entry.account_number} has no Anaplan member"
        key = [account]
        for axis in self.axes:
            value = entry.dimension(axis.bc_dimension)
            if not value:
                if axis.blank_member is None:
                    return None, f"entry has no {axis.bc_dimension} value"
                key.append(axis.blank_member)
                continue
            member = axis.members.get(value)
            if member is None:
                return None, f"{axis.bc_dimension} value {value} has no Anaplan member"
            key.append(member)
        return tuple(key), ""


def _quarantine(entry: GlEntryLike, amount: Decimal, reason: str) -> Quarantined:
    return Quarantined(
        entry.id,
        entry.entry_number,
        entry.posting_date.isoformat(),
        entry.account_number,
        amount,
        {line.code: line.value_code for line in entry.dimensions},
        reason,
    )


def roll_forward(
    previous_closing: Mapping[CellKey, Decimal],
    net_change: Mapping[CellKey, Decimal],
    is_balance_sheet: Mapping[str, bool],
) -> dict[CellKey, Decimal]:
    """Closing balances of balance-sheet cells: previous closing plus this period's change."""
    closing = {k: v for k, v in previous_closing.items() if is_balance_sheet.get(k[0], False)}
    for key, amount in net_change.items():
        if is_balance_sheet.get(key[0], False):
            closing[key] = closing.get(key, ZERO) + amount
    return closing


@dataclass(frozen=True)
class CellRow:
    key: CellKey
    period: Period
    amount: Decimal | None  # None = leave the line item alone for this cell
    closing: Decimal | None


def period_rows(
    period: Period,
    net_change: Mapping[CellKey, Decimal],
    previous_cells: Iterable[CellKey],
    closing: Mapping[CellKey, Decimal],
    previous_closing_cells: Iterable[CellKey] = (),
) -> Iterator[CellRow]:
    """Every cell to send for a period, sorted by key (a stable order makes a stable hash).

    Cells that had a value in the last successful load but none now are sent as zero, so that
    a reclassified entry does not leave a stale figure behind in Anaplan.
    """
    closing_keys = set(closing) | set(previous_closing_cells)
    keys = set(net_change) | set(previous_cells) | closing_keys
    for key in sorted(keys):
        amount = net_change.get(key, ZERO)
        yield CellRow(key, period, amount, closing.get(key, ZERO) if key in closing_keys else None)


def format_amount(value: Decimal) -> str:
    """An amount as a plain, exact decimal: no exponent, no rounding, no thousands separators."""
    if value == ZERO:
        return "0"
    return f"{value:f}"
