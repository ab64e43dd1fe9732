"""``/api/ping``: add your credentials and see whether the connector fits your BC and Anaplan.

Signs in to both services with the configured credentials and resolves, per pipeline of
``connector.toml``, everything a run will need by name: the BC company, the BC dimensions the
pipeline maps and the writeback journal batch; the Anaplan workspace and model (and that the
model is not archived), every import and export action and every list. Each item is one check
with the configured name and either what was found or why not (for a name the model lacks, the
names it has). It only reads: no task is started, nothing is uploaded or written.

When signing in to a service fails, that service's other checks are reported as skipped with
the reason instead of repeating the same error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bc_anaplan.anaplan.client import AnaplanClient
from bc_anaplan.bc import streams
from bc_anaplan.pipeline import Pipeline
from bc_anaplan.runtime import Runtime

_DETAIL = 600


@dataclass
class Check:
    pipeline: str
    system: str  # "bc" or "anaplan"
    what: str
    name: str
    ok: bool = False
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "system": self.system,
            "check": self.what,
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
        }


@dataclass
class _Checks:
    pipeline: str
    system: str
    items: list[Check] = field(default_factory=list)
    blocked: str = ""  # why the remaining checks cannot run

    def run(self, what: str, name: str, probe: Callable[[], str], gate: bool = False) -> None:
        check = Check(self.pipeline, self.system, what, name)
        self.items.append(check)
        if self.blocked:
            check.detail = f"skipped: {self.blocked}"
            return
        try:
            check.detail = probe()[:_DETAIL]
            check.ok = True
        except Exception as exc:  # every failure is a finding, reported with its reason
            check.detail = f"{exc}"[:_DETAIL] or type(exc).__name__
            if gate:
                self.blocked = f"{what} failed"


def ping(rt: Runtime) -> dict[str, Any]:
    checks: list[Check] = []
    for pipeline in rt.settings.pipelines:
        checks += _bc_checks(rt, pipeline)
        checks += _anaplan_checks(rt, pipeline)
    missing = [c.to_dict() for c in checks if not c.ok]
    return {
        "ok": not missing,
        "pipelines": [p.name for p in rt.settings.pipelines],
        "checks": [c.to_dict() for c in checks],
        "missing": missing,
    }


def _bc_checks(rt: Runtime, pipeline: Pipeline) -> list[Check]:
    checks = _Checks(pipeline.name, "bc")
    bc = rt.bc(pipeline.name)

    def company() -> str:
        companies = list(streams.iter_companies(bc))
        for found in companies:
            if found.id.lower() == pipeline.bc_company_id.lower():
                return f"signed in; company {found.display_name or found.name}"
        names = ", ".join(f"{c.name} ({c.id})" for c in companies) or "none"
        raise LookupError(f"signed in, but the environment has no such company; it has: {names}")

    checks.run("BC sign-in and company", pipeline.bc_company_id, company, gate=True)
    wanted = [m.bc_dimension for m in pipeline.dimensions]
    if pipeline.employees is not None and pipeline.employees.department_dimension:
        wanted.append(pipeline.employees.department_dimension)
    known: dict[str, str] = {}
    if not checks.blocked and wanted:
        try:
            known = {d.code: d.display_name for d in streams.iter_dimensions(bc)}
        except Exception as exc:  # reported on every dimension check below
            checks.blocked = f"listing dimensions failed: {exc}"
    for code in dict.fromkeys(wanted):
        checks.run("BC dimension", code, partial(_dimension, known, code))
    if pipeline.writeback is not None:
        journal = pipeline.writeback.journal
        checks.run(
            "BC journal batch",
            journal,
            lambda: f"found: {streams.find_journal(bc, journal).display_name or journal}",
        )
    return checks.items


def _dimension(known: dict[str, str], code: str) -> str:
    if code not in known:
        raise LookupError(f"BC has no dimension {code}; it has {', '.join(sorted(known))}")
    return f"found: {known[code] or code}"


def _anaplan_checks(rt: Runtime, pipeline: Pipeline) -> list[Check]:
    checks = _Checks(pipeline.name, "anaplan")
    client = AnaplanClient.for_pipeline(rt.settings, rt.secrets, pipeline.name)
    ws, model = pipeline.anaplan_workspace_id, pipeline.anaplan_model_id

    def workspace() -> str:
        found = client.api.get(f"/workspaces/{ws}").get("workspace") or {}
        return f"signed in; workspace {found.get('name', ws)}"

    def model_facts() -> str:
        found = client.api.get(f"/models/{model}").get("model") or {}
        state = found.get("activeState", "")
        if found.get("currentWorkspaceId", ws) != ws:
            raise LookupError(
                f"model {model} is in workspace {found.get('currentWorkspaceId')}, not {ws}"
            )
        if state == "ARCHIVED":
            raise RuntimeError(f"model {found.get('name', model)} is archived: unarchive it")
        return f"model {found.get('name', model)} ({state or 'state not reported'})"

    checks.run("Anaplan sign-in and workspace", ws, workspace, gate=True)
    checks.run("Anaplan model", model, model_facts, gate=True)
    for name in _imports(pipeline):
        checks.run("Anaplan import", name, partial(_found, client.find_import, name))
    for name in _exports(pipeline):
        checks.run("Anaplan export", name, partial(_found, client.find_export, name))
    for name in _lists(pipeline):
        checks.run("Anaplan list", name, partial(_found, client.catalog.list_named, name))
    return checks.items


def _found(lookup: Callable[[str], Any], name: str) -> str:
    return f"id {lookup(name).id}"


def _imports(pipeline: Pipeline) -> list[str]:
    names = [pipeline.accounts.import_action, *(d.import_action for d in pipeline.dimensions)]
    names.append(pipeline.actuals.import_action)
    if pipeline.employees is not None:
        names.append(pipeline.employees.list_import)
        if pipeline.employees.headcount_import:
            names.append(pipeline.employees.headcount_import)
    if pipeline.commitments is not None:
        names.append(pipeline.commitments.import_action)
    return list(dict.fromkeys(names))


def _exports(pipeline: Pipeline) -> list[str]:
    if pipeline.writeback is None:
        return []
    names = [pipeline.writeback.export_action]
    if pipeline.writeback.status_export_action:
        names.append(pipeline.writeback.status_export_action)
    return names


def _lists(pipeline: Pipeline) -> list[str]:
    names = [pipeline.accounts.anaplan_list, *(d.anaplan_list for d in pipeline.dimensions)]
    if pipeline.employees is not None:
        names.append(pipeline.employees.anaplan_list)
    return list(dict.fromkeys(names))
