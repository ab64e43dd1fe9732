"""Running an export: render the module's current cells into the export's output file.

Tabular multi-column CSV as Anaplan writes it: a header row, ``,`` separator, ``"`` delimiter
where needed, UTF-8, numbers as plain decimals with ``.``; list members as codes, Time and
Versions by name. Only non-empty cells are exported.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.anaplan.csvfile import render_csv
from sandbox.anaplan.definitions import ExportDefinition
from sandbox.anaplan.model import PlanModel
from sandbox.anaplan.numbers import plain, to_decimal


def approved_versions(model: PlanModel) -> set[int]:
    """Positions of the versions whose ``Approved`` flag is set in Version Status."""
    status = model.modules["Version Status"]
    return {status.positions(key)[0] for key, value in status.cells["Approved"].items() if value}


def _approved_budget_rows(model: PlanModel) -> Iterator[list[str]]:
    budget = model.modules["Budget"]
    approved = approved_versions(model)
    if not approved:
        return
    version_index = budget.dimension_index("Versions")
    assert version_index is not None
    gl, cc, dept, versions, time = budget.dimensions
    amounts = budget.cells["Amount"]
    for key in sorted(k for k in amounts if budget.position_in(k, version_index) in approved):
        p_gl, p_cc, p_dept, p_version, p_time = budget.positions(key)
        yield [
            gl.exported(p_gl),
            cc.exported(p_cc),
            dept.exported(p_dept),
            time.exported(p_time),
            versions.exported(p_version),
            plain(to_decimal(amounts[key])),  # type: ignore[arg-type]
        ]


def _plan_status_rows(model: PlanModel) -> Iterator[list[str]]:
    status = model.modules["Version Status"]
    for version in model.lists["Versions"].items():
        key = status.key((version.position,))
        approved = bool(status.get("Approved", key))
        approved_at = status.get("Approved At", key) or ""
        yield [version.name, "true" if approved else "false", str(approved_at)]


def export_rows(model: PlanModel, export: ExportDefinition) -> Iterator[list[str]]:
    if export.source == "approved_budget":
        return _approved_budget_rows(model)
    return _plan_status_rows(model)


def render_export(model: PlanModel, export: ExportDefinition) -> tuple[bytes, int]:
    """The export file's bytes and its number of data rows."""
    rows = list(export_rows(model, export))
    return render_csv(export.columns, rows), len(rows)


def row_count(model: PlanModel, export: ExportDefinition) -> int:
    return sum(1 for _ in export_rows(model, export))
