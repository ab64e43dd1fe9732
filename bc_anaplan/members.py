"""List members on both sides, and the drift between them.

Business Central is the master of accounts, dimension values and employees; Anaplan keeps them
as list members. A member is compared by its *code* (the BC account number, dimension value code
or employee number), by its *name* -- by convention ``"<code> <BC display name>"``, which keeps
names unique in Anaplan even where BC display names repeat -- and by the list properties the
connector maintains (category, group, blocked, department, ...).

``compare`` produces the drift report: members missing in Anaplan, members whose name or
properties changed, and members Anaplan still has but BC no longer does (list imports never
delete, so those are reported and, where the model has a flag property, flagged).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

MAX_NAME_LENGTH = 60  # Anaplan list item names


def member_name(code: str, display_name: str) -> str:
    """The Anaplan member name for a BC code: ``"<code> <display name>"``, cut to 60 characters.

    BC display names run to 50 characters and codes to 20, Anaplan names stop at 60: the display
    name is shortened, never the code, so names stay unique because codes are.
    """
    display_name = " ".join(display_name.split())
    name = f"{code} {display_name}" if display_name else code
    return name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH].rstrip()


def normalise(value: object) -> str:
    """A property value as compared across systems (booleans lowercase, blanks empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text.lower() if text.lower() in ("true", "false") else text


@dataclass(frozen=True)
class Member:
    code: str
    name: str
    properties: Mapping[str, str] = field(default_factory=dict)


class ListItem(Protocol):
    """What the connector needs of an Anaplan list item."""

    @property
    def code(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def properties(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class MemberChange:
    code: str
    fields: tuple[str, ...]  # "name" and/or property names that differ
    before: Mapping[str, str]
    after: Mapping[str, str]


@dataclass(frozen=True)
class Drift:
    list_name: str
    missing: tuple[Member, ...]  # in BC, not in Anaplan
    changed: tuple[tuple[Member, MemberChange], ...]  # in both, name or properties differ
    gone: tuple[Member, ...]  # in Anaplan, no longer in BC (as Anaplan has it)
    unchanged: int

    @property
    def is_clean(self) -> bool:
        return not (self.missing or self.changed or self.gone)

    def summary(self) -> dict[str, int]:
        return {
            "missing": len(self.missing),
            "changed": len(self.changed),
            "gone": len(self.gone),
            "unchanged": self.unchanged,
        }


def compare(
    list_name: str,
    bc_members: Iterable[Member],
    anaplan_items: Iterable[ListItem],
    managed_properties: Sequence[str],
) -> Drift:
    """Drift between BC (the master) and an Anaplan list, by member code.

    Only ``managed_properties`` -- the properties the connector maintains *and* the list has --
    are compared; anything else in the model belongs to the model builder.
    """
    anaplan = {item.code: item for item in anaplan_items if item.code}
    missing, changed, unchanged = [], [], 0
    seen: set[str] = set()
    for member in bc_members:
        seen.add(member.code)
        item = anaplan.get(member.code)
        if item is None:
            missing.append(member)
            continue
        change = _difference(member, item, managed_properties)
        if change is None:
            unchanged += 1
        else:
            changed.append((member, change))
    gone = [
        Member(code, item.name, dict(item.properties))
        for code, item in sorted(anaplan.items())
        if code not in seen
    ]
    return Drift(list_name, tuple(missing), tuple(changed), tuple(gone), unchanged)


def _difference(member: Member, item: ListItem, managed: Sequence[str]) -> MemberChange | None:
    fields: list[str] = []
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    if item.name != member.name:
        fields.append("name")
        before["name"], after["name"] = item.name, member.name
    for prop in managed:
        old = normalise(item.properties.get(prop))
        new = normalise(member.properties.get(prop))
        if old != new:
            fields.append(prop)
            before[prop], after[prop] = old, new
    if not fields:
        return None
    return MemberChange(member.code, tuple(fields), before, after)


def import_rows(drift: Drift, columns: Sequence[str], flag_property: str | None) -> list[list[str]]:
    """Rows for the list's HIERARCHY_DATA import: additions, changes and flagged departures.

    ``columns`` is ``["Code", "Name", *properties]``; members gone from BC are re-sent with
    ``flag_property`` set to true when the list has that property (list imports cannot delete).
    """
    rows = []
    for member in drift.missing:
        rows.append(_row(member, columns))
    for member, _ in drift.changed:
        rows.append(_row(member, columns))
    if flag_property and flag_property in columns:
        for member in drift.gone:
            if normalise(member.properties.get(flag_property)) != "true":
                flagged = Member(
                    member.code, member.name, {**member.properties, flag_property: "true"}
                )
                rows.append(_row(flagged, columns))
    return rows


def _row(member: Member, columns: Sequence[str]) -> list[str]:
    values = {"Code": member.code, "Name": member.name}
    return [values.get(c, normalise(member.properties.get(c))) for c in columns]
