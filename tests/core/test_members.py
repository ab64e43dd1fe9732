"""Member naming and drift between BC (the master) and an Anaplan list."""

from __future__ import annotations

from dataclasses import dataclass, field

from bc_anaplan.members import Member, compare, import_rows, member_name


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    properties: dict[str, str] = field(default_factory=dict)


COLUMNS = ["Code", "Name", "Blocked", "Deleted in BC"]


def test_member_names_follow_the_convention() -> None:
    assert member_name("CC100", "Executive  Office ") == "CC100 Executive Office"
    assert member_name("E0001", "") == "E0001"
    long = member_name("CC12345678901234567", "A display name of fifty characters, padded out..")
    assert len(long) == 60 and long.startswith("CC12345678901234567 A display")


def test_drift_finds_missing_changed_and_gone() -> None:
    bc = [
        Member("CC100", "CC100 Executive Office", {"Blocked": "false", "Deleted in BC": "false"}),
        Member("CC110", "CC110 Legal Affairs", {"Blocked": "false", "Deleted in BC": "false"}),
        Member("CC120", "CC120 Facilities", {"Blocked": "true", "Deleted in BC": "false"}),
        Member("CC130", "CC130 Reception", {"Blocked": "False", "Deleted in BC": "false"}),
    ]
    anaplan = [
        Item("CC100", "CC100 Executive Office", {"Blocked": "FALSE", "Deleted in BC": "false"}),
        Item("CC110", "CC110 Legal", {"Blocked": "false", "Deleted in BC": "false"}),
        Item("CC120", "CC120 Facilities", {"Blocked": "false", "Deleted in BC": "false"}),
        Item("CC990", "CC990 Old Warehouse", {"Blocked": "false", "Deleted in BC": "false"}),
        Item("", "Unnamed without code", {}),
    ]
    drift = compare("Cost Centers", bc, anaplan, ["Blocked", "Deleted in BC"])
    assert [m.code for m in drift.missing] == ["CC130"]
    assert [(m.code, c.fields) for m, c in drift.changed] == [
        ("CC110", ("name",)),
        ("CC120", ("Blocked",)),
    ]
    assert [m.code for m in drift.gone] == ["CC990"]
    assert drift.summary() == {"missing": 1, "changed": 2, "gone": 1, "unchanged": 1}

    rows = import_rows(drift, COLUMNS, "Deleted in BC")
    assert rows == [
        ["CC130", "CC130 Reception", "false", "false"],
        ["CC110", "CC110 Legal Affairs", "false", "false"],
        ["CC120", "CC120 Facilities", "true", "false"],
        ["CC990", "CC990 Old Warehouse", "false", "true"],
    ]


def test_gone_members_are_not_flagged_without_a_flag_property_or_twice() -> None:
    drift = compare("Departments", [], [Item("OLD", "OLD Old", {"Deleted in BC": "true"})], [])
    assert import_rows(drift, ["Code", "Name"], None) == []
    assert import_rows(drift, COLUMNS, "Deleted in BC") == []  # already flagged
