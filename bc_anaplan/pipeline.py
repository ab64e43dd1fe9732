"""The pipeline file (``connector.toml``): which BC company feeds which Anaplan model, and how.

A pipeline names the BC company, the Anaplan workspace and model, the import and export actions
a model builder created (by *name*: ids are discovered at runtime), how BC dimensions map to
Anaplan lists, how months are named in Anaplan, and where plan figures are written back.

String values may refer to app settings as ``${NAME}`` so that ids can live in app settings
while the shape lives in the file. Everything is validated when the file is loaded; errors name
the file and the key (``connector.toml: pipeline[0].actuals.import: ...``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bc_anaplan.periods import PeriodNaming

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

BC_CATEGORIES = ("Assets", "Liabilities", "Equity", "Income", "Cost of Goods Sold", "Expense")


@dataclass(frozen=True)
class DimensionMapping:
    """One BC dimension mirrored as one Anaplan list."""

    bc_dimension: str  # BC dimension code, e.g. COSTCENTER
    anaplan_list: str  # Anaplan list name, e.g. Cost Centers
    import_action: str  # HIERARCHY_DATA import that maintains the list
    column: str  # column name of this dimension in module imports/exports
    blank_member: str | None = None  # Anaplan member for entries without a value, if any


@dataclass(frozen=True)
class AccountsConfig:
    anaplan_list: str
    import_action: str
    column: str
    balance_sheet_categories: frozenset[str]


@dataclass(frozen=True)
class ActualsConfig:
    import_action: str
    dimensions: tuple[str, ...]  # BC dimension codes that are axes of the actuals module
    period_column: str
    amount_column: str
    closing_balance_column: str | None
    # first month the Anaplan model holds ("YYYY-MM"); earlier history only feeds the opening
    # balances of balance-sheet accounts. None: the first month BC has entries for.
    first_period: str | None = None


@dataclass(frozen=True)
class EmployeesConfig:
    anaplan_list: str
    list_import: str
    headcount_import: str | None
    department_dimension: str | None  # BC dimension giving the employee's department
    headcount_column: str
    personal_fields: tuple[str, ...]  # extra BC fields sent only when listed here
    headcount_first_period: str | None  # "YYYY-MM"; default: start of the previous fiscal year


@dataclass(frozen=True)
class CommitmentsConfig:
    import_action: str
    amount_column: str


WEBHOOK_CAPABLE = ("accounts", "dimensionValues", "employees", "generalLedgerEntries")


@dataclass(frozen=True)
class WebhooksConfig:
    # BC entity sets the connector subscribes to; anything not subscribed is polled
    resources: tuple[str, ...] = WEBHOOK_CAPABLE
    # true: new G/L entries start an incremental actuals load at once (else the nightly one)
    autoload_actuals: bool = False


@dataclass(frozen=True)
class WritebackConfig:
    export_action: str
    status_export_action: str | None
    journal: str
    posting_date: Literal["first-day", "last-day"]
    policy: Literal["all-or-nothing", "continue"]
    allow_zero_amounts: bool
    version_column: str
    amount_column: str = "Amount"
    lines_per_activity: int = 500  # a crash loses at most this many lines' work
    # the Export Plan Status export: version, approved flag and approval time columns
    status_version_column: str = "Versions"
    status_approved_column: str = "Approved"
    status_approved_at_column: str = "Approved At"


@dataclass(frozen=True)
class Pipeline:
    name: str
    bc_company_id: str
    anaplan_workspace_id: str  # normalised to lowercase hex, as Anaplan requires
    anaplan_model_id: str  # normalised to uppercase hex, as Anaplan requires
    periods: PeriodNaming
    accounts: AccountsConfig
    dimensions: tuple[DimensionMapping, ...]
    actuals: ActualsConfig
    employees: EmployeesConfig | None
    commitments: CommitmentsConfig | None
    writeback: WritebackConfig | None
    webhooks: WebhooksConfig = WebhooksConfig()
    # boolean list property that marks members gone from BC (list imports cannot delete);
    # None: gone members are only reported
    deleted_flag_property: str | None = "Deleted in BC"

    def dimension(self, bc_code: str) -> DimensionMapping:
        for mapping in self.dimensions:
            if mapping.bc_dimension == bc_code:
                return mapping
        raise KeyError(bc_code)


class _Table:
    """A TOML table with its location, for error messages that point at the key.

    Every key the parser asks for is remembered, so that after parsing, a key nobody asked for
    -- a typo such as ``lines_per_activty`` that would otherwise silently fall back to the
    default -- is refused by name (``unknown_keys``).
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        where: str,
        environ: Mapping[str, str],
        allowed: frozenset[str],
        family: list[_Table] | None = None,
    ) -> None:
        self.data = data
        self.where = where
        self.environ = environ
        self.allowed = allowed  # settings a ${NAME} reference may name
        self.asked: set[str] = set()
        self.family = family if family is not None else []  # every table of the file
        self.family.append(self)

    def child(self, data: Mapping[str, Any], where: str) -> _Table:
        return _Table(data, where, self.environ, self.allowed, self.family)

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return self.data.get(key, default)

    def has(self, key: str) -> bool:
        self.asked.add(key)
        return key in self.data

    def unknown_keys(self) -> None:
        """Refuse the first key, in any table of the file, that the parser never asked for."""
        for table in self.family:
            unknown = sorted(set(table.data) - table.asked)
            if unknown:
                known = ", ".join(sorted(table.asked)) or "none"
                raise ValueError(
                    f"{table.where}.{unknown[0]}: unknown key (known keys here: {known})"
                )

    def error(self, key: str, expected: str) -> ValueError:
        return ValueError(f"{self.where}.{key}: {expected}")

    def _expand(self, key: str, value: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.allowed:
                raise self.error(key, f"refers to ${{{name}}}, which is not a declared app setting")
            if not self.environ.get(name, "").strip():
                raise self.error(key, f"refers to ${{{name}}}, but setting {name} is not set")
            return self.environ[name].strip()

        return _VAR.sub(substitute, value)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "expected a non-empty string")
        return self._expand(key, value).strip()

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else None

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "expected true or false")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.error(key, f"expected a whole number from {low} to {high}")
        return value

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, "expected a list of non-empty strings")
        return tuple(value)

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in options:
            raise self.error(key, f"expected one of {', '.join(options)}, got {value!r}")
        return value

    def table(self, key: str, required: bool = True) -> _Table | None:
        value = self.get(key)
        if value is None:
            if required:
                raise self.error(key, "section is missing")
            return None
        if not isinstance(value, dict):
            raise self.error(key, "expected a table")
        return self.child(value, f"{self.where}.{key}")

    def tables(self, key: str) -> list[_Table]:
        value = self.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, "expected an array of tables ([[...]])")
        return [self.child(v, f"{self.where}.{key}[{i}]") for i, v in enumerate(value)]


def _ids(t: _Table) -> tuple[str, str, str]:
    company = t.text("bc_company_id").lower()
    if not _GUID.match(company):
        raise t.error("bc_company_id", f"expected the BC company id (a GUID), got {company!r}")
    workspace = t.text("anaplan_workspace_id")
    if not _HEX32.match(workspace):
        raise t.error("anaplan_workspace_id", f"expected 32 hex digits, got {workspace!r}")
    model = t.text("anaplan_model_id")
    if not _HEX32.match(model):
        raise t.error("anaplan_model_id", f"expected 32 hex digits, got {model!r}")
    return company, workspace.lower(), model.upper()


def _dimensions(t: _Table) -> tuple[DimensionMapping, ...]:
    mappings = []
    for d in t.tables("dimensions"):
        anaplan_list = d.text("anaplan_list")
        mappings.append(
            DimensionMapping(
                bc_dimension=d.text("bc_dimension").upper(),
                anaplan_list=anaplan_list,
                import_action=d.text("import"),
                column=d.text("column", anaplan_list),
                blank_member=d.optional_text("blank_member"),
            )
        )
    codes = [m.bc_dimension for m in mappings]
    if len(set(codes)) != len(codes):
        raise t.error("dimensions", "each BC dimension may be mapped only once")
    return tuple(mappings)


def _accounts(t: _Table) -> AccountsConfig:
    a = t.table("accounts")
    assert a is not None
    anaplan_list = a.text("anaplan_list", "GL Accounts")
    categories = a.strings("balance_sheet_categories", ("Assets", "Liabilities", "Equity"))
    unknown = sorted(set(categories) - set(BC_CATEGORIES))
    if unknown:
        raise a.error(
            "balance_sheet_categories",
            f"unknown BC account categories {unknown}; known: {', '.join(BC_CATEGORIES)}",
        )
    return AccountsConfig(
        anaplan_list, a.text("import"), a.text("column", anaplan_list), frozenset(categories)
    )


def _actuals(t: _Table, dimensions: tuple[DimensionMapping, ...]) -> ActualsConfig:
    a = t.table("actuals")
    assert a is not None
    axes = tuple(code.upper() for code in a.strings("dimensions"))
    mapped = {m.bc_dimension for m in dimensions}
    for code in axes:
        if code not in mapped:
            raise a.error("dimensions", f"{code} is not mapped in [[pipeline.dimensions]]")
    closing = a.get("closing_balance_column", "Closing Balance")
    if closing is not False and (not isinstance(closing, str) or not closing):
        raise a.error("closing_balance_column", "expected a column name or false")
    return ActualsConfig(
        import_action=a.text("import"),
        dimensions=axes,
        period_column=a.text("period_column", "Time"),
        amount_column=a.text("amount_column", "Amount"),
        closing_balance_column=closing or None,
        first_period=_period_key(a, "first_period"),
    )


def _employees(t: _Table, dimensions: tuple[DimensionMapping, ...]) -> EmployeesConfig | None:
    e = t.table("employees", required=False)
    if e is None:
        return None
    department = e.optional_text("department_dimension")
    if department and department.upper() not in {m.bc_dimension for m in dimensions}:
        raise e.error("department_dimension", f"{department} is not mapped in dimensions")
    allowed_personal = ("birthDate", "personalEmail", "mobilePhone", "phoneNumber", "email")
    personal = e.strings("personal_fields")
    for field in personal:
        if field not in allowed_personal:
            raise e.error("personal_fields", f"{field!r} is not one of {allowed_personal}")
    return EmployeesConfig(
        anaplan_list=e.text("anaplan_list", "Employees"),
        list_import=e.text("list_import"),
        headcount_import=e.optional_text("headcount_import"),
        department_dimension=department.upper() if department else None,
        headcount_column=e.text("headcount_column", "Headcount"),
        personal_fields=personal,
        headcount_first_period=_period_key(e, "headcount_first_period"),
    )


def _period_key(t: _Table, key: str) -> str | None:
    value = t.optional_text(key)
    if value is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise t.error(key, f"expected a month as YYYY-MM, got {value!r}")
    return value


def _commitments(t: _Table) -> CommitmentsConfig | None:
    c = t.table("commitments", required=False)
    if c is None:
        return None
    return CommitmentsConfig(c.text("import"), c.text("amount_column", "Amount"))


def _writeback(t: _Table) -> WritebackConfig | None:
    w = t.table("writeback", required=False)
    if w is None:
        return None
    posting = w.choice("posting_date", "first-day", ("first-day", "last-day"))
    policy = w.choice("policy", "all-or-nothing", ("all-or-nothing", "continue"))
    return WritebackConfig(
        export_action=w.text("export"),
        status_export_action=w.optional_text("status_export"),
        journal=w.text("journal"),
        posting_date="first-day" if posting == "first-day" else "last-day",
        policy="all-or-nothing" if policy == "all-or-nothing" else "continue",
        allow_zero_amounts=w.boolean("allow_zero_amounts", False),
        version_column=w.text("version_column", "Versions"),
        amount_column=w.text("amount_column", "Amount"),
        lines_per_activity=w.integer("lines_per_activity", 500, 50, 5000),
        status_version_column=w.text("status_version_column", "Versions"),
        status_approved_column=w.text("status_approved_column", "Approved"),
        status_approved_at_column=w.text("status_approved_at_column", "Approved At"),
    )


def _pipeline(t: _Table) -> Pipeline:
    name = t.text("name")
    if not _NAME.match(name):
        raise t.error("name", "expected lowercase letters, digits, '-' or '_' (max 40)")
    company, workspace, model = _ids(t)
    p = t.table("periods", required=False) or t.child({}, f"{t.where}.periods")
    try:
        periods = PeriodNaming(
            p.text("anaplan_format", "MMM YY"), p.integer("fiscal_year_start_month", 1, 1, 12)
        )
    except ValueError as exc:
        raise p.error("anaplan_format", str(exc)) from None
    dimensions = _dimensions(t)
    return Pipeline(
        name=name,
        bc_company_id=company,
        anaplan_workspace_id=workspace,
        anaplan_model_id=model,
        periods=periods,
        accounts=_accounts(t),
        dimensions=dimensions,
        actuals=_actuals(t, dimensions),
        employees=_employees(t, dimensions),
        commitments=_commitments(t),
        writeback=_writeback(t),
        deleted_flag_property=_flag(t),
        webhooks=_webhooks(t),
    )


def _webhooks(t: _Table) -> WebhooksConfig:
    w = t.table("webhooks", required=False)
    if w is None:
        return WebhooksConfig()
    resources = w.strings("resources", WEBHOOK_CAPABLE)
    unknown = [r for r in resources if r not in WEBHOOK_CAPABLE]
    if unknown:
        raise w.error(
            "resources",
            f"{unknown} cannot be subscribed to; choose from "
            f"{', '.join(WEBHOOK_CAPABLE)} (purchase orders are polled)",
        )
    return WebhooksConfig(tuple(dict.fromkeys(resources)), w.boolean("autoload_actuals", False))


def _flag(t: _Table) -> str | None:
    value = t.get("deleted_flag_property", "Deleted in BC")
    if not isinstance(value, str):
        raise t.error("deleted_flag_property", 'expected a property name, or "" for none')
    return value.strip() or None


def load_pipelines(
    path: Path, environ: Mapping[str, str], allowed: frozenset[str]
) -> tuple[Pipeline, ...]:
    """Parse and validate the pipeline file. Raises ``ValueError`` with a one-line message."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"setting CONNECTOR_CONFIG_PATH: pipeline file {path} does not exist"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path.name}: not valid TOML: {exc}") from None
    root = _Table(data, path.name, environ, allowed)
    tables = root.tables("pipeline")
    if not tables:
        raise ValueError(f"{path.name}: no [[pipeline]] defined")
    pipelines = tuple(_pipeline(t) for t in tables)
    root.unknown_keys()
    names = [p.name for p in pipelines]
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: pipeline names must be unique, got {names}")
    return pipelines
