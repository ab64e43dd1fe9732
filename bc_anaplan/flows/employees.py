"""The employee load: employees onto the Employees list, and head count per department and month.

The list part is the reference alignment (``flows/reference``) applied to employees: number,
name, job title, department (from the employee's default dimension), status, employment and
termination dates -- and nothing more personal unless ``personal_fields`` asks for it.

Head count is a fact: for each month from ``headcount_first_period`` (default: the first month of
the previous fiscal year) to the current month, the number of employees employed at the month's
end, per department. Employees whose department has no Anaplan member are quarantined (counted
and audited, never silently left out).

Employee files carry personal data, so once imported they are deleted from Blob Storage and their
content is removed from Anaplan's import file (Anaplan would otherwise keep it for 48 hours).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bc_anaplan.audit import AuditRecord, StepRecord, utc_now
from bc_anaplan.bc import streams
from bc_anaplan.bc.records import Employee
from bc_anaplan.periods import Period, months
from bc_anaplan.pipeline import Pipeline
from bc_anaplan.runtime import Runtime


def first_headcount_period(pipeline: Pipeline, today: Period) -> Period:
    assert pipeline.employees is not None
    if pipeline.employees.headcount_first_period:
        return Period.parse(pipeline.employees.headcount_first_period)
    fiscal_year = pipeline.periods.fiscal_year(today)
    start_month = pipeline.periods.fiscal_year_start_month
    first_year = fiscal_year - 1 if start_month == 1 else fiscal_year - 2
    return Period(first_year, start_month)


def employed_at_month_end(employee: Employee, period: Period) -> bool:
    end = period.last_day
    if employee.employment_date is None or employee.employment_date > end:
        return False
    if employee.termination_date is not None:
        return employee.termination_date > end
    return employee.status != "Terminated"


def headcount(
    employees: Iterable[Employee],
    department_dimension: str,
    departments: dict[str, str],
    periods: list[Period],
) -> tuple[Counter[tuple[str, Period]], list[tuple[Employee, str]]]:
    """Head count per (Anaplan department code, period), and the employees left out (why)."""
    counts: Counter[tuple[str, Period]] = Counter()
    left_out: list[tuple[Employee, str]] = []
    for employee in employees:
        value = employee.dimension(department_dimension)
        member = departments.get(value or "")
        if member is None:
            if any(employed_at_month_end(employee, p) for p in periods):
                reason = (
                    f"department {value} has no Anaplan member"
                    if value
                    else f"employee has no {department_dimension} default dimension"
                )
                left_out.append((employee, reason))
            continue
        for period in periods:
            if employed_at_month_end(employee, period):
                counts[(member, period)] += 1
    return counts, left_out


def stage_headcount(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    started, started_at = time.monotonic(), utc_now()
    run_id, pipeline = request["run_id"], rt.settings.pipeline(request["pipeline"])
    config = pipeline.employees
    if config is None or not config.department_dimension or not config.headcount_import:
        raise ValueError(f"pipeline {pipeline.name} does not configure a headcount import")
    today = Period.of(datetime.now(UTC).date())
    periods = months(first_headcount_period(pipeline, today), today)
    department_list = pipeline.dimension(config.department_dimension).anaplan_list
    departments = rt.mappings.mapped(pipeline.name, department_list)
    employees = streams.iter_employees(rt.bc(pipeline.name))
    counts, left_out = headcount(employees, config.department_dimension, departments, periods)
    rt.audit.record(
        run_id,
        (
            AuditRecord("quarantined", f"employee:{e.number}", reason, {"employee": e.number})
            for e, reason in left_out
        ),
    )
    rows = [
        [department, pipeline.periods.name(period), str(counts.get((department, period), 0))]
        for department in sorted(set(departments.values()))
        for period in periods
    ]
    columns = [
        pipeline.dimension(config.department_dimension).column,
        pipeline.actuals.period_column,
        config.headcount_column,
    ]
    blob = f"{pipeline.name}/{run_id}/headcount.csv.gz"
    rt.staging.write(blob, columns, rows, key_columns=2, amount_column=2)
    step_counts = {"headcount_rows": len(rows), "quarantined": len(left_out)}
    rt.audit.record_step(
        run_id,
        StepRecord(
            request["step_id"],
            "head count per department",
            started_at,
            int((time.monotonic() - started) * 1000),
            step_counts,
            {"periods": [periods[0].key, periods[-1].key] if periods else []},
        ),
    )
    return {
        "staged_blob": blob,
        "rows": len(rows),
        "quarantined": len(left_out),
        "periods": len(periods),
    }


def forget_personal_files(rt: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Delete the run's staged employee file and the uploaded content in Anaplan."""
    pipeline = rt.settings.pipeline(request["pipeline"])
    deleted = rt.staging.delete_prefix(f"{pipeline.name}/{request['run_id']}/list-employees")
    if pipeline.employees is not None:
        client = rt.anaplan(pipeline.name)
        client.delete_upload(client.find_import(pipeline.employees.list_import))
    return {"staged_deleted": deleted}
