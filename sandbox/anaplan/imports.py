"""Running an import: read the uploaded file, validate every row, stage, then commit at once.

Nothing touches the model until the whole file has been read and the task was not cancelled:
the runner calls ``ImportOutcome.commit`` only then, which is how a cancelled import leaves the
model exactly as it was. Rules, as Anaplan applies them:

* **MODULE_DATA**: list members are matched by code, Time and Versions by name (exact, case
  sensitive); a row whose member does not exist or whose value does not parse is rejected into
  the dump; a blank value leaves that cell unchanged; several rows for the same cell are summed
  for numbers (Anaplan aggregates duplicates in module imports), the last one wins otherwise.
* **HIERARCHY_DATA**: items are matched by code; unknown codes are added, known ones updated
  (name and properties), nothing is ever deleted; a second row with the same code is rejected
  (Anaplan's default "import first occurrence"); names must stay unique in the list and, like
  codes, at most 60 characters.

An import whose rows all fail completes with ``successful: false``; one with some failures is
successful with ``failureDumpAvailable: true``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.anaplan.definitions import HIERARCHY_DATA, ImportDefinition
from sandbox.anaplan.files import FileContent
from sandbox.anaplan.lists import (
    MAX_CODE_LENGTH,
    MAX_NAME_LENGTH,
    ListItem,
    PlanList,
    PropertyFormatError,
    PropertyValue,
)
from sandbox.anaplan.model import PlanModel
from sandbox.anaplan.modules import (
    BOOLEAN,
    NUMBER,
    POSITION_BITS,
    Dimension,
    LineItem,
    Module,
    StoredValue,
    is_empty,
)
from sandbox.anaplan.numbers import NumberFormatError, add, parse_number
from sandbox.anaplan.pace import Pace
from sandbox.anaplan.source import FailureDump, MappingError, SourceFormatError, SourceRows

BATCH_ROWS = 2_000


@dataclass
class ImportOutcome:
    successful: bool
    details: list[dict[str, Any]]
    dump: bytes | None = None
    rows: int = 0
    commit: Callable[[], None] = field(default=lambda: None)


def detail(kind: str, text: str, values: list[str]) -> dict[str, Any]:
    return {"localMessageText": text, "occurrences": 0, "type": kind, "values": values}


def _failed(
    text: str, kind: str = "importFailed", values: list[str] | None = None
) -> ImportOutcome:
    return ImportOutcome(False, [detail(kind, text, values or [])])


async def run_import(
    model: PlanModel, definition: ImportDefinition, content: FileContent | None, pace: Pace
) -> ImportOutcome:
    source_file = model.files.definition(definition.file_id)
    assert source_file is not None
    if content is None or content.chunk_count == 0:
        return _failed(f"The import source file {source_file.name} has not been uploaded")
    if not content.is_complete:
        return _failed(
            f"The upload of {source_file.name} is not complete: "
            f"{content.chunk_count} chunk(s) received"
            + (f" of {content.expected}" if content.expected is not None else "")
            + "; mark it complete or upload every announced chunk"
        )
    rows = SourceRows(content, source_file)
    try:
        mapping = rows.map_columns(definition.columns)
        if definition.import_type == HIERARCHY_DATA:
            return await _import_list(model.lists[definition.target], rows, mapping, pace)
        return await _import_module(model.modules[definition.target], rows, mapping, pace)
    except MappingError as exc:
        return _failed(str(exc), "missingColumns", [v for c in exc.columns for v in ("column", c)])
    except SourceFormatError as exc:
        return _failed(str(exc), "fileFormatError")


# -- module data ---------------------------------------------------------------------------------
def _parse_cell(line_item: LineItem, text: str) -> StoredValue | None:
    if text == "":
        return None  # a blank value leaves the cell as it is
    if line_item.format == NUMBER:
        return parse_number(text)
    if line_item.format == BOOLEAN:
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise NumberFormatError(f"Invalid boolean value for {line_item.name}: {text}")
        return lowered == "true"
    return text


def _row_error(
    members: list[tuple[dict[str, int], int, Dimension]],
    line_items: list[tuple[LineItem, int]],
    fields: list[str],
) -> str:
    """Why a row was rejected: the first member that does not exist, else the first bad value."""
    width = len(fields)
    for lookup, index, dimension in members:
        text = fields[index] if index < width else ""
        if text not in lookup:
            return dimension.not_found_message(text)
    for line_item, index in line_items:
        try:
            _parse_cell(line_item, fields[index] if index < width else "")
        except NumberFormatError as exc:
            return str(exc)
    return "Invalid row"


async def _import_module(
    module: Module, rows: SourceRows, mapping: dict[str, int], pace: Pace
) -> ImportOutcome:
    # The hot loop of a two-million-row load: plain dict lookups on a fast path, and the
    # slower, explaining path only for rows that fail.
    members = [(d.lookup(), mapping[d.name], d) for d in module.dimensions]
    line_items = [(li, mapping[li.name]) for li in module.line_items]
    numbers_only = all(li.format == NUMBER for li in module.line_items)
    staged: dict[str, dict[int, StoredValue]] = {li.name: {} for li in module.line_items}
    targets = [staged[li.name] for li, _ in line_items]
    dump = FailureDump(rows.header)
    succeeded = failed = 0
    for number, fields in rows:
        try:
            key = 0
            for lookup, index, _ in members:
                key = (key << POSITION_BITS) | lookup[fields[index]]
            values: list[StoredValue | None]
            if numbers_only:
                values = [
                    None if fields[index] == "" else parse_number(fields[index])
                    for _, index in line_items
                ]
            else:
                values = [_parse_cell(li, fields[index]) for li, index in line_items]
        except (KeyError, IndexError, NumberFormatError):
            failed += 1
            dump.reject(number, _row_error(members, line_items, fields), fields)
        else:
            if all(v is None for v in values):
                rows.ignored += 1
            else:
                for (line_item, _), target, value in zip(line_items, targets, values, strict=True):
                    if value is None:
                        continue
                    previous = target.get(key)
                    if previous is not None and line_item.format == NUMBER:
                        value = add(previous, value)  # type: ignore[arg-type]
                    target[key] = value
                succeeded += 1
        if rows.total % BATCH_ROWS == 0:
            await pace.step(rows.total, rows.fraction_read)
    await pace.finish(rows.total)

    def commit() -> None:
        for name, cells in staged.items():
            target = module.cells[name]
            if not target:
                module.cells[name] = {k: v for k, v in cells.items() if not is_empty(v)}
                continue
            for key, value in cells.items():
                module.set(name, key, value)

    counts = [
        "moduleName", module.name,
        "successRowCount", str(succeeded),
        "failedCount", str(failed),
        "ignoredCount", str(rows.ignored),
        "totalRowCount", str(rows.total),
    ]  # fmt: skip
    text = f"{module.name}: {succeeded} rows successful, {failed} failed, {rows.ignored} ignored"
    kind = "moduleRowsProcessedWithFailures" if failed else "moduleRowsProcessed"
    return ImportOutcome(
        successful=not (failed and not succeeded),
        details=[detail(kind, text, counts)],
        dump=dump.content(),
        rows=rows.total,
        commit=commit,
    )


# -- hierarchy data ------------------------------------------------------------------------------
@dataclass
class _ItemChange:
    code: str
    name: str
    properties: dict[str, PropertyValue]
    existing: ListItem | None


def _check_item(code: str, name: str) -> str | None:
    if code == "":
        return "Code is blank"
    if len(code) > MAX_CODE_LENGTH:
        return f"Code is longer than {MAX_CODE_LENGTH} characters: {code}"
    if name == "":
        return "Name is blank"
    if len(name) > MAX_NAME_LENGTH:
        return f"Name is longer than {MAX_NAME_LENGTH} characters: {name}"
    return None


async def _import_list(
    plan_list: PlanList, rows: SourceRows, mapping: dict[str, int], pace: Pace
) -> ImportOutcome:
    code_at, name_at = mapping["Code"], mapping["Name"]
    properties = [
        (prop, mapping[prop.name]) for prop in plan_list.properties if prop.name in mapping
    ]
    name_owner = {item.name.casefold(): item.code for item in plan_list.items()}
    seen: set[str] = set()
    changes: list[_ItemChange] = []
    dump = FailureDump(rows.header)
    created = updated = renamed = failed = 0
    for number, fields in rows:
        width = len(fields)
        code = fields[code_at] if code_at < width else ""
        name = fields[name_at] if name_at < width else ""
        error = _check_item(code, name)
        if error is None and code in seen:
            error = f"Duplicate code in source, first occurrence imported: {code}"
        values: dict[str, PropertyValue] = {}
        if error is None:
            for prop, index in properties:
                try:
                    values[prop.name] = prop.parse(fields[index] if index < width else "")
                except PropertyFormatError as exc:
                    error = str(exc)
                    break
        if error is None:
            owner = name_owner.get(name.casefold())
            if owner is not None and owner != code:
                error = f"Name already used by item {owner} in {plan_list.name}: {name}"
        if error is not None:
            failed += 1
            dump.reject(number, error, fields)
        else:
            seen.add(code)
            existing = plan_list.by_code(code)
            if existing is not None:
                name_owner.pop(existing.name.casefold(), None)
                updated += 1
                renamed += existing.name != name
            else:
                created += 1
            name_owner[name.casefold()] = code
            changes.append(_ItemChange(code, name, values, existing))
        if rows.total % BATCH_ROWS == 0:
            await pace.step(rows.total, rows.fraction_read)
    await pace.finish(rows.total)

    def commit() -> None:
        for change in changes:
            if change.existing is not None:
                plan_list.update(change.existing, change.name, change.properties)
            else:
                plan_list.add(change.code, change.name, change.properties)

    succeeded = created + updated
    counts = [
        "hierarchyName", plan_list.name,
        "successRowCount", str(succeeded),
        "successCreateCount", str(created),
        "successUpdateCount", str(updated),
        "warningsRowCount", "0",
        "warningsCreateCount", "0",
        "warningsUpdateCount", "0",
        "failedCount", str(failed),
        "ignoredCount", str(rows.ignored),
        "totalRowCount", str(rows.total),
        "totalCreateCount", str(created),
        "totalUpdateCount", str(updated),
        "invalidCount", "0",
        "updatedCount", str(updated),
        "renamedCount", str(renamed),
        "createdCount", str(created),
    ]  # fmt: skip
    failures = f"{failed} failed, " if failed else ""
    text = (
        f"{plan_list.name}: {succeeded} ({created}/{updated}) rows successful, "
        f"{failures}{rows.ignored} ignored "
    )
    kind = "hierarchyRowsProcessedWithFailures" if failed else "hierarchyRowsProcessed"
    return ImportOutcome(
        successful=not (failed and not succeeded),
        details=[detail(kind, text, counts)],
        dump=dump.content(),
        rows=rows.total,
        commit=commit,
    )
