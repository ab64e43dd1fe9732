"""What operators send, validated before anything starts or changes.

Every mistake becomes an ``OpsError`` with the HTTP status, a stable code and a message that
says what is wrong and what is expected, so the API, the CLI and the portal all show the same
words. Nothing here has side effects: a rejected request has changed nothing.

A flow start names the flow and gives only that flow's fields; the result (``StartSpec``)
carries the orchestration input and the *work key* that keeps the same work from running twice
(``bc_anaplan.workkeys``). A re-run goes through the same validation with the input the run
recorded, so a run whose input no longer fits the configuration is refused with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bc_anaplan import workkeys
from bc_anaplan.anaplan.errors import InvalidIdError
from bc_anaplan.anaplan.ids import model_id, workspace_id
from bc_anaplan.audit import FINAL_STATES, instant
from bc_anaplan.config import ConfigError, Settings
from bc_anaplan.flows.runs import FLOWS
from bc_anaplan.periods import Period
from bc_anaplan.pipeline import Pipeline

MAX_BODY_BYTES = 16_384
MAX_PERIODS = 120
MAX_PAGE = 500
DEFAULT_PAGE = 50
POLICIES = ("all-or-nothing", "continue")
RUN_STATES = ("running", *FINAL_STATES)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# input fields a run records that are about how it was started, not what it does
START_FIELDS = ("trigger", "rerun_of", "replay_of", "not_replayed")


class OpsError(Exception):
    """A request the ops API refuses: HTTP status, stable code, a message for people."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


def bad_request(message: str, code: str = "BadRequest") -> OpsError:
    return OpsError(400, code, message)


def json_object(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}``."""
    if len(raw) > MAX_BODY_BYTES:
        raise OpsError(
            400, "BodyTooLarge", f"the body is larger than {MAX_BODY_BYTES} bytes ({len(raw)})"
        )
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_request("the body is not valid JSON", "InvalidJson") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object", "InvalidJson")
    return body


def _text(body: Mapping[str, Any], name: str, limit: int, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"'{name}' must be a non-empty string")
    if len(value) > limit or _CONTROL.search(value):
        raise bad_request(f"'{name}' must be at most {limit} characters, without control ones")
    return value.strip()


def expect_fields(body: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise bad_request(f"unknown field(s) for {what}: {', '.join(unknown)} (known: {known})")


# --- starting flows ------------------------------------------------------------------------------

# flow -> the fields its input may have besides "pipeline"
STARTABLE: dict[str, set[str]] = {
    "reference_sync": set(),
    "actuals_load": {"mode", "periods", "opening"},
    "employees_load": set(),
    "plan_writeback": {"version", "policy"},
    "approval_watch": set(),
}


@dataclass(frozen=True)
class StartSpec:
    flow: str
    work_key: str
    input: dict[str, Any] = field(default_factory=dict)


def start_spec(
    settings: Settings, flow: str, body: Mapping[str, Any], trigger: str = "ops"
) -> StartSpec:
    """Validate a start of ``flow`` with ``body``; the orchestration input and its work key."""
    if flow not in STARTABLE:
        raise OpsError(404, "UnknownFlow", f"unknown flow {flow!r}; known: {', '.join(STARTABLE)}")
    expect_fields(body, STARTABLE[flow] | {"pipeline"}, flow)
    pipeline = _pipeline(settings, body)
    request: dict[str, Any] = {"pipeline": pipeline.name, "trigger": trigger}
    if flow == "actuals_load":
        request.update(_actuals_input(pipeline, body))
        key = workkeys.actuals_load(pipeline, request.get("periods"), bool(request.get("opening")))
        return StartSpec(flow, key, request)
    if flow == "plan_writeback":
        request.update(_writeback_input(pipeline, body))
        return StartSpec(flow, workkeys.plan_writeback(pipeline, request["version"]), request)
    if flow == "employees_load":
        if pipeline.employees is None:
            raise bad_request(f"pipeline {pipeline.name} has no [pipeline.employees] section")
        return StartSpec(flow, workkeys.employees_load(pipeline), request)
    if flow == "approval_watch":
        if pipeline.writeback is None or not pipeline.writeback.status_export_action:
            raise bad_request(
                f"pipeline {pipeline.name} has no [pipeline.writeback] status_export to watch"
            )
        return StartSpec(flow, workkeys.approval_watch(pipeline), request)
    return StartSpec(flow, workkeys.reference_sync(pipeline), request)


def _pipeline(settings: Settings, body: Mapping[str, Any]) -> Pipeline:
    name = _text(body, "pipeline", 40, required=False)
    try:
        return settings.pipeline(name)
    except ConfigError as exc:
        raise bad_request(str(exc), "UnknownPipeline") from None


def _actuals_input(pipeline: Pipeline, body: Mapping[str, Any]) -> dict[str, Any]:
    mode = body.get("mode", "incremental")
    if mode not in ("incremental", "period"):
        raise bad_request("'mode' must be 'incremental' or 'period'")
    periods = body.get("periods")
    opening = body.get("opening", False)
    if not isinstance(opening, bool):
        raise bad_request("'opening' must be true or false")
    if mode == "incremental":
        if periods:
            raise bad_request("'periods' are only for mode 'period'")
        if opening:
            raise bad_request("'opening' is only for mode 'period'")
        return {"mode": "incremental"}
    if opening and not pipeline.actuals.first_period:
        raise bad_request(
            f"'opening' needs actuals.first_period: pipeline {pipeline.name} keeps no opening "
            "balances"
        )
    if not isinstance(periods, list) or not (periods or opening) or len(periods) > MAX_PERIODS:
        raise bad_request(
            f"mode 'period' needs 'periods': a list of 1 to {MAX_PERIODS} months like '2025-03'"
            ' (or none with "opening": true)'
        )
    keys = set()
    for value in periods:
        if not isinstance(value, str):
            raise bad_request(f"period {value!r} is not a string like '2025-03'", "BadPeriod")
        try:
            keys.add(Period.parse(value).key)
        except ValueError:
            raise bad_request(
                f"period {value!r} is not a month in YYYY-MM form, e.g. '2025-03'", "BadPeriod"
            ) from None
    first = pipeline.actuals.first_period
    early = sorted(k for k in keys if first and k < first)
    if early:
        raise bad_request(
            f"period {early[0]} is before actuals.first_period {first}: the model holds no such "
            'month (history before it only feeds the opening balances: send "opening": true)',
            "BadPeriod",
        )
    if opening:
        return {"mode": "period", "periods": sorted(keys), "opening": True}
    return {"mode": "period", "periods": sorted(keys)}


def _writeback_input(pipeline: Pipeline, body: Mapping[str, Any]) -> dict[str, Any]:
    if pipeline.writeback is None:
        raise bad_request(f"pipeline {pipeline.name} has no [pipeline.writeback] section")
    version = _text(body, "version", 200, required=True)
    request: dict[str, Any] = {"version": version}
    policy = body.get("policy")
    if policy is not None:
        if policy not in POLICIES:
            raise bad_request(f"'policy' must be one of {', '.join(POLICIES)}")
        request["policy"] = policy
    return request


def rerun_spec(settings: Settings, run: Mapping[str, Any]) -> StartSpec:
    """The same flow with the input ``run`` recorded, validated as a new start would be."""
    flow = run["flow"]
    if flow not in STARTABLE:
        raise OpsError(409, "NotRerunnable", f"runs of {flow} cannot be re-run from the ops API")
    recorded = {k: v for k, v in (run.get("input") or {}).items() if k not in START_FIELDS}
    try:
        spec = start_spec(settings, flow, recorded)
    except OpsError as exc:
        raise OpsError(
            409, "NotRerunnable", f"run {run['run_id']} cannot be re-run: {exc.message}"
        ) from None
    return StartSpec(spec.flow, spec.work_key, {**spec.input, "rerun_of": run["run_id"]})


# --- identifiers and filters ---------------------------------------------------------------------


def run_id(value: str) -> str:
    if not value or len(value) > 400 or _CONTROL.search(value):
        raise bad_request("the run id must be 1 to 400 characters without control characters")
    return value


@dataclass(frozen=True)
class RunFilters:
    flow: str | None = None
    state: str | None = None
    since: str | None = None
    limit: int = DEFAULT_PAGE


def run_filters(params: Mapping[str, str]) -> RunFilters:
    """``?flow=&state=&since=&limit=`` of ``GET /api/runs`` (``code`` is the function key)."""
    expect_fields(params, {"flow", "state", "since", "limit", "code"}, "the run list")
    flow = params.get("flow") or None
    if flow is not None and flow not in FLOWS:
        raise bad_request(f"unknown flow {flow!r}; known: {', '.join(FLOWS)}", "UnknownFlow")
    state = params.get("state") or None
    if state is not None and state not in RUN_STATES:
        raise bad_request(f"unknown state {state!r}; known: {', '.join(RUN_STATES)}")
    since = params.get("since") or None
    limit_text = params.get("limit") or str(DEFAULT_PAGE)
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
        raise bad_request(f"'limit' must be a whole number from 1 to {MAX_PAGE}")
    return RunFilters(flow, state, iso_instant(since) if since else None, int(limit_text))


def iso_instant(text: str) -> str:
    """An ISO 8601 date or date-time as the audit trail writes instants (UTC, ms, ``Z``)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise bad_request(
            f"'since' must be an ISO 8601 date or date-time, e.g. 2026-11-01 or "
            f"2026-11-01T02:00:00Z, got {text!r}"
        ) from None
    return instant(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@dataclass(frozen=True)
class LockRelease:
    workspace_id: str
    model_id: str
    by: str
    reason: str

    @property
    def entity_key(self) -> str:
        return f"{self.workspace_id}:{self.model_id}"


def lock_release(
    settings: Settings, workspace: str, model: str, body: Mapping[str, Any]
) -> LockRelease:
    """A forced release of one model's lock: ids of a configured model, who and why."""
    try:
        ws, mid = workspace_id(workspace, "workspace"), model_id(model, "model")
    except InvalidIdError as exc:
        raise bad_request(str(exc), "BadId") from None
    if not any(
        p.anaplan_workspace_id == ws and p.anaplan_model_id == mid for p in settings.pipelines
    ):
        raise OpsError(
            404, "UnknownModel", f"no pipeline of {settings.config_path.name} uses model {mid}"
        )
    expect_fields(body, {"by", "reason"}, "a lock release")
    by = _text(body, "by", 200, required=True)
    reason = _text(body, "reason", 500, required=True)
    assert by is not None and reason is not None
    return LockRelease(ws, mid, by, reason)


def terminate_reason(body: Mapping[str, Any]) -> str:
    expect_fields(body, {"reason"}, "a termination")
    return _text(body, "reason", 500, required=False) or "terminated by an operator"


def retention_age(body: Mapping[str, Any], default_days: int) -> int:
    expect_fields(body, {"older_than_days"}, "a retention run")
    days = body.get("older_than_days", default_days)
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 3650:
        raise bad_request("'older_than_days' must be a whole number of days from 0 to 3650")
    return days
