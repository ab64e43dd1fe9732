"""Reference data alignment: BC accounts, dimension values and employees onto Anaplan lists.

For each configured list, ``prepare_list`` reads the BC side and the Anaplan list, computes the
drift (``bc_anaplan.members``), records every difference in the audit trail and stages the
import file of additions, changes and departures to flag. The import itself runs under the model
lock (``orchestrators/anaplan_tasks``). ``finish_list`` then re-reads the list -- what Anaplan
*has*, not what was sent -- and rewrites the mapping table from it.

Which properties are sent is decided by the list itself (its metadata): the ones the connector
can source from BC are filled from BC; the others the import maps but BC cannot provide (BC API
v2.0 does not expose whether a dimension value is blocked) are passed through unchanged from
Anaplan, so the import's mapping is satisfied without inventing values.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bc_anaplan.audit import AuditRecord, StepRecord, utc_now
from bc_anaplan.bc import streams
from bc_anaplan.bc.records import Account, Employee
from bc_anaplan.mapping import GONE, MAPPED, MISSING, MemberMapping
from bc_anaplan.members import Member, compare, import_rows, member_name, normalise
from bc_anaplan.pipeline import Pipeline
from bc_anaplan.runtime import Runtime

ACCOUNT_PROPERTIES = ("Category", "Account Group", "Blocked")
DIMENSION_PROPERTIES: tuple[str, ...] = ()
EMPLOYEE_PROPERTIES = ("Department", "Job Title", "Status", "Start Date", "End Date")
PERSONAL_PROPERTIES = {
    "birthDate": "Birth Date",
    "personalEmail": "Personal Email",
    "mobilePhone": "Mobile Phone",
    "phoneNumber": "Phone Number",
    "email": "Email",
}


@dataclass(frozen=True)
class ListSpec:
    """One Anaplan list the connector maintains, and where its members come from in BC."""

    key: str  # "accounts", "dimension:COSTCENTER", "employees"
    anaplan_list: str
    import_action: str
    bc_dimension: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "list": self.anaplan_list, "import": self.import_action}


def reference_lists(pipeline: Pipeline) -> list[ListSpec]:
    """Dimension lists first (in configured order), then accounts."""
    specs = [
        ListSpec(f"dimension:{d.bc_dimension}", d.anaplan_list, d.import_action, d.bc_dimension)
        for d in pipeline.dimensions
    ]
    specs.append(
        ListSpec("accounts", pipeline.accounts.anaplan_list, pipeline.accounts.import_action)
    )
    return specs


def employee_list(pipeline: Pipeline) -> ListSpec:
    if pipeline.employees is None:
        raise ValueError(f"pipeline {pipeline.name} has no [pipeline.employees] section")
    return ListSpec("employees", pipeline.employees.anaplan_list, pipeline.employees.list_import)


def spec_for(pipeline: Pipeline, key: str) -> ListSpec:
    for spec in [*reference_lists(pipeline), *_employee_specs(pipeline)]:
        if spec.key == key:
            return spec
    raise ValueError(f"pipeline {pipeline.name} maintains no list {key!r}")


def _employee_specs(pipeline: Pipeline) -> list[ListSpec]:
    return [employee_list(pipeline)] if pipeline.employees else []


# --- BC members ----------------------------------------------------------------------------------


def account_groups(accounts: Iterable[Account]) -> dict[str, str]:
    """Account number -> display name of the innermost Begin-Total section it sits in.

    BC has no parent field: the chart is a sequence in which Begin-Total opens a section and
    End-Total closes it (the indentation BC shows), so the group is found by walking it.
    """
    groups: dict[str, str] = {}
    open_sections: list[str] = []
    for account in sorted(accounts, key=lambda a: a.number):
        if account.account_type == "Begin-Total":
            open_sections.append(account.display_name)
        elif account.account_type == "End-Total":
            if open_sections:
                open_sections.pop()
        else:
            groups[account.number] = open_sections[-1] if open_sections else ""
    return groups


def account_members(accounts: list[Account]) -> list[Member]:
    groups = account_groups(accounts)
    return [
        Member(
            a.number,
            member_name(a.number, a.display_name),
            {
                "Category": a.category.strip(),
                "Account Group": groups.get(a.number, ""),
                "Blocked": normalise(a.blocked),
            },
        )
        for a in accounts
        if a.account_type == "Posting"
    ]


def employee_members(
    employees: Iterable[Employee],
    department_dimension: str | None,
    personal_fields: tuple[str, ...],
) -> list[Member]:
    members = []
    for e in employees:
        properties = {
            "Department": (e.dimension(department_dimension) or "") if department_dimension else "",
            "Job Title": e.job_title,
            "Status": e.status,
            "Start Date": e.employment_date.isoformat() if e.employment_date else "",
            "End Date": e.termination_date.isoformat() if e.termination_date else "",
        }
        for field in personal_fields:
            value = e.personal.get(field)
            properties[PERSONAL_PROPERTIES[field]] = "" if value is None else str(value)
        members.append(Member(e.number, member_name(e.number, e.display_name), properties))
    return members


def bc_members(
    rt: Runtime, pipeline: Pipeline, spec: ListSpec
) -> tuple[list[Member], tuple[str, ...]]:
    """The BC members of a list and the properties the connector sources from BC for it.

    Every member BC has is, by definition, not deleted: the flag property is sourced as false.
    """
    members, sourced = _bc_members(rt, pipeline, spec)
    flag = pipeline.deleted_flag_property
    if not flag:
        return members, sourced
    flagged = [Member(m.code, m.name, {**m.properties, flag: "false"}) for m in members]
    return flagged, (*sourced, flag)


def _bc_members(
    rt: Runtime, pipeline: Pipeline, spec: ListSpec
) -> tuple[list[Member], tuple[str, ...]]:
    bc = rt.bc(pipeline.name)
    if spec.key == "accounts":
        return account_members(list(streams.iter_accounts(bc))), ACCOUNT_PROPERTIES
    if spec.key == "employees":
        assert pipeline.employees is not None
        personal = pipeline.employees.personal_fields
        employees = streams.iter_employees(bc, personal_fields=personal)
        members = employee_members(employees, pipeline.employees.department_dimension, personal)
        return members, EMPLOYEE_PROPERTIES + tuple(PERSONAL_PROPERTIES[f] for f in personal)
    dimension = next((d for d in streams.iter_dimensions(bc) if d.code == spec.bc_dimension), None)
    if dimension is None:
        raise ValueError(f"BC has no dimension {spec.bc_dimension} (pipeline {pipeline.name})")
    values = streams.iter_dimension_values(bc, dimension.id)
    members = [Member(v.code, member_name(v.code, v.display_name), {}) for v in values]
    return members, DIMENSION_PROPERTIES


# --- steps ---------------------------------------------------------------------------------------


def prepare_list(rt: Runtime, spec_input: dict[str, Any]) -> dict[str, Any]:
    """Compare one list, audit the drift, and stage its import file if anything must change."""
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = spec_input["run_id"], rt.settings.pipeline(spec_input["pipeline"])
    spec = spec_for(pipeline, spec_input["list_key"])
    members, sourced = bc_members(rt, pipeline, spec)
    client = rt.anaplan(pipeline.name)
    list_properties = client.list_metadata(spec.anaplan_list).properties
    items = list(client.list_items(spec.anaplan_list))
    managed = [p for p in sourced if p in list_properties]
    passthrough = [p for p in list_properties if p not in sourced]
    members = _with_passthrough(members, items, passthrough)
    drift = compare(spec.anaplan_list, members, _coded(items), managed)
    columns = ["Code", "Name", *managed, *passthrough]
    flag = pipeline.deleted_flag_property
    flag = flag if flag in list_properties else None
    rows = import_rows(drift, columns, flag)
    rt.audit.record(run_id, _drift_records(spec, drift))
    staged = None
    if rows:
        staged = f"{pipeline.name}/{run_id}/list-{spec.key.replace(':', '-')}.csv.gz"
        rt.staging.write(staged, columns, rows, key_columns=1)
    counts = {f"drift_{k}": v for k, v in drift.summary().items()}
    counts["list_rows_staged"] = len(rows)
    rt.audit.record_step(
        run_id,
        StepRecord(
            spec_input["step_id"],
            f"compare {spec.anaplan_list}",
            started_at,
            int((time.monotonic() - started) * 1000),
            counts,
            {"list": spec.anaplan_list, "drift": drift.summary(), "columns": columns},
        ),
    )
    return {
        "list_key": spec.key,
        "list": spec.anaplan_list,
        "import": spec.import_action,
        "rows": len(rows),
        "staged_blob": staged,
        "drift": drift.summary(),
    }


def _coded(items: Iterable[Any]) -> list[Any]:
    return [i for i in items if i.code]


def _with_passthrough(
    members: list[Member], items: Iterable[Any], passthrough: list[str]
) -> list[Member]:
    if not passthrough:
        return members
    current = {i.code: i.properties for i in items if i.code}
    result = []
    for m in members:
        existing: Mapping[str, Any] = current.get(m.code, {})
        extra = {p: normalise(existing.get(p)) for p in passthrough}
        result.append(Member(m.code, m.name, {**m.properties, **extra}))
    return result


def _drift_records(spec: ListSpec, drift: Any) -> Iterable[AuditRecord]:
    for member in drift.missing:
        yield AuditRecord(
            "member_change",
            f"{spec.anaplan_list}:{member.code}",
            "missing in Anaplan: added",
            {
                "list": spec.anaplan_list,
                "change": "added",
                "after": {"name": member.name, **member.properties},
            },
        )
    for member, change in drift.changed:
        yield AuditRecord(
            "member_change",
            f"{spec.anaplan_list}:{member.code}",
            f"changed in BC: {', '.join(change.fields)}",
            {
                "list": spec.anaplan_list,
                "change": "changed",
                "before": dict(change.before),
                "after": dict(change.after),
            },
        )
    for member in drift.gone:
        yield AuditRecord(
            "member_change",
            f"{spec.anaplan_list}:{member.code}",
            "no longer in BC: reported and flagged where the list allows",
            {"list": spec.anaplan_list, "change": "gone", "name": member.name},
        )


def finish_list(rt: Runtime, spec_input: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the mapping table from what the Anaplan list holds after the import."""
    run_id, pipeline = spec_input["run_id"], rt.settings.pipeline(spec_input["pipeline"])
    spec = spec_for(pipeline, spec_input["list_key"])
    members, _ = bc_members(rt, pipeline, spec)
    items = {i.code: i for i in rt.anaplan(pipeline.name).list_items(spec.anaplan_list) if i.code}
    mappings = []
    bc_codes = set()
    for member in members:
        bc_codes.add(member.code)
        item = items.get(member.code)
        if item is None:
            mappings.append(MemberMapping(member.code, "", "", MISSING))
        else:
            mappings.append(MemberMapping(member.code, member.code, item.name, MAPPED))
    for code, item in items.items():
        if code not in bc_codes:
            mappings.append(MemberMapping(code, code, item.name, GONE))
    rt.mappings.save(pipeline.name, spec.anaplan_list, mappings, run_id)
    missing = [m.bc_code for m in mappings if m.status == MISSING]
    return {
        "list": spec.anaplan_list,
        "mapped": sum(m.status == MAPPED for m in mappings),
        "missing": len(missing),
        "missing_codes": missing[:50],
        "gone": sum(m.status == GONE for m in mappings),
    }
