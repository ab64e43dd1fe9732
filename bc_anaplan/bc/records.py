"""Typed records of the BC entities the connector reads, and their decoders.

Each decoder takes one parsed JSON object (as BC sent it, narrowed by ``$select``) and returns a
frozen dataclass with plain Python values: ``Decimal`` amounts, ``date``/aware ``datetime``,
unescaped enum names, ``None`` for BC's blank dates. Nothing past this module sees a BC
encoding. A missing or malformed field raises ``BcDecodeError`` naming the entity and field.
Employees carry no personal data unless the caller asks for named fields (``personal``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from bc_anaplan.bc.encoding import (
    InexactNumber,
    parse_date,
    parse_datetime,
    to_decimal,
    unescape_enum,
)
from bc_anaplan.bc.errors import BcDecodeError

Json = Mapping[str, Any]
T = TypeVar("T")


def _get(raw: Json, name: str) -> Any:
    try:
        return raw[name]
    except KeyError:
        raise BcDecodeError(f"field {name!r} is missing from a BC record") from None


def _text(raw: Json, name: str) -> str:
    value = _get(raw, name)
    return "" if value is None else str(value)


def _children(raw: Json, name: str, decode: Callable[[Json], T]) -> tuple[T, ...]:
    """An ``$expand``ed navigation; absent when not expanded."""
    return tuple(decode(child) for child in raw.get(name) or ())


@dataclass(frozen=True, slots=True)
class DimensionSetLine:
    code: str  # dimension code, e.g. DEPARTMENT
    value_code: str  # dimension value code, e.g. SALES
    dimension_id: str | None = None
    value_id: str | None = None


# Millions of entries share a few thousand dimension sets: decode each distinct set once and
# share the (immutable) tuple, which keeps decoding fast and a page's records small.
_SETS: dict[tuple[tuple[Any, ...], ...], tuple[DimensionSetLine, ...]] = {}
_MAX_SETS = 65_536


def _dimension_set(raw: Json) -> tuple[DimensionSetLine, ...]:
    children = raw.get("dimensionSetLines")
    if not children:
        return ()
    try:
        key = tuple((c["code"], c["valueCode"], c.get("id"), c.get("valueId")) for c in children)
    except (KeyError, TypeError, AttributeError):
        raise BcDecodeError("a dimension set line has no 'code' or 'valueCode'") from None
    found = _SETS.get(key)
    if found is None:
        found = tuple(DimensionSetLine(*k) for k in key)
        if len(_SETS) < _MAX_SETS:
            _SETS[key] = found
    return found


def decode_dimension_set(raw: Json) -> tuple[DimensionSetLine, ...]:
    """The (shared, immutable) dimension set of a record with expanded dimension set lines."""
    return _dimension_set(raw)


def dimension_map(lines: tuple[DimensionSetLine, ...]) -> dict[str, str]:
    """``{dimension code: value code}`` of a dimension set."""
    return {line.code: line.value_code for line in lines}


@dataclass(frozen=True, slots=True)
class Company:
    id: str
    name: str
    display_name: str


def decode_company(raw: Json) -> Company:
    return Company(_text(raw, "id"), _text(raw, "name"), _text(raw, "displayName"))


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    number: str
    display_name: str
    category: str  # "Assets", ..., "Cost of Goods Sold", "Expense", or " " when unset
    sub_category: str
    account_type: str  # "Posting", "Heading", "Total", "Begin-Total", "End-Total"
    blocked: bool
    direct_posting: bool
    last_modified: datetime | None


def decode_account(raw: Json) -> Account:
    return Account(
        id=_text(raw, "id"),
        number=_text(raw, "number"),
        display_name=_text(raw, "displayName"),
        category=unescape_enum(_get(raw, "category")),
        sub_category=_text(raw, "subCategory"),
        account_type=unescape_enum(_get(raw, "accountType")),
        blocked=bool(_get(raw, "blocked")),
        direct_posting=bool(_get(raw, "directPosting")),
        last_modified=parse_datetime(_get(raw, "lastModifiedDateTime")),
    )


@dataclass(frozen=True, slots=True)
class GlEntry:
    id: str
    entry_number: int
    posting_date: date
    document_number: str
    document_type: str  # " ", "Payment", "Invoice", "Credit Memo", ...
    account_id: str
    account_number: str
    description: str
    debit: Decimal
    credit: Decimal
    last_modified: datetime | None
    dimensions: tuple[DimensionSetLine, ...] = ()

    @property
    def amount(self) -> Decimal:
        """Signed amount: debit positive, credit negative."""
        return self.debit - self.credit

    def dimension(self, code: str) -> str | None:
        """The value code of dimension ``code`` on this entry, or ``None``."""
        for line in self.dimensions:
            if line.code == code:
                return line.value_code
        return None


def decode_gl_entry(raw: Json) -> GlEntry:
    try:
        posting_date = parse_date(raw["postingDate"])
        if posting_date is None:
            raise BcDecodeError(f"G/L entry {raw.get('entryNumber')} has a blank posting date")
        return GlEntry(
            raw["id"],
            int(raw["entryNumber"]),
            posting_date,
            raw["documentNumber"],
            unescape_enum(raw["documentType"]),
            raw["accountId"],
            raw["accountNumber"],
            raw["description"],
            to_decimal(raw["debitAmount"]),
            to_decimal(raw["creditAmount"]),
            parse_datetime(raw["lastModifiedDateTime"]),
            _dimension_set(raw),
        )
    except KeyError as exc:  # the hot path reads fields directly; name the missing one
        raise BcDecodeError(f"field {exc.args[0]!r} is missing from a G/L entry") from None
    except InexactNumber:
        raise  # the pager re-parses the page with exact decimals
    except (ValueError, TypeError, AttributeError) as exc:
        raise diagnose_entry(raw, exc) from None


# field -> how it must decode; used only to explain a record the fast path could not decode
_ENTRY_FIELDS: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    (
        "entryNumber",
        lambda v: (
            int(v)
            if isinstance(v, int) and not isinstance(v, bool)
            else _refuse("a whole number", v)
        ),
    ),
    ("postingDate", lambda v: parse_date(v) or _refuse("a date, not a blank posting date", v)),
    ("debitAmount", to_decimal),
    ("creditAmount", to_decimal),
    ("lastModifiedDateTime", parse_datetime),
    ("dimensionSetLines", lambda v: v is None or isinstance(v, list) or _refuse("a list", v)),
)


def _refuse(expected: str, value: Any) -> Any:
    raise BcDecodeError(f"expected {expected}, got {value!r}")


def diagnose_entry(raw: Any, cause: Exception) -> BcDecodeError:
    """Name the entry and the field a G/L entry record failed on (slow path, errors only)."""
    if not isinstance(raw, Mapping):
        return BcDecodeError(f"a G/L entry record is not a JSON object: {str(raw)[:80]!r}")
    entry = raw.get("entryNumber", "?")
    for name, check in _ENTRY_FIELDS:
        if name not in raw:
            continue
        try:
            check(raw[name])
        except (ValueError, TypeError, AttributeError) as exc:
            return BcDecodeError(f"field {name!r} of G/L entry {entry} is not valid: {exc}")
    return BcDecodeError(f"G/L entry {entry} could not be decoded: {cause}")


@dataclass(frozen=True, slots=True)
class Dimension:
    id: str
    code: str
    display_name: str
    last_modified: datetime | None


def decode_dimension(raw: Json) -> Dimension:
    return Dimension(
        _text(raw, "id"),
        _text(raw, "code"),
        _text(raw, "displayName"),
        parse_datetime(_get(raw, "lastModifiedDateTime")),
    )


@dataclass(frozen=True, slots=True)
class DimensionValue:
    id: str
    code: str
    dimension_id: str
    display_name: str
    consolidation_code: str
    last_modified: datetime | None


def decode_dimension_value(raw: Json) -> DimensionValue:
    return DimensionValue(
        id=_text(raw, "id"),
        code=_text(raw, "code"),
        dimension_id=_text(raw, "dimensionId"),
        display_name=_text(raw, "displayName"),
        consolidation_code=_text(raw, "consolidationCode"),
        last_modified=parse_datetime(_get(raw, "lastModifiedDateTime")),
    )


@dataclass(frozen=True, slots=True)
class DefaultDimension:
    dimension_code: str
    value_code: str


def decode_default_dimension(raw: Json) -> DefaultDimension:
    return DefaultDimension(_text(raw, "dimensionCode"), _text(raw, "dimensionValueCode"))


@dataclass(frozen=True, slots=True)
class Employee:
    id: str
    number: str
    display_name: str
    job_title: str
    status: str  # "Active", "Inactive", "Terminated"
    employment_date: date | None
    termination_date: date | None
    last_modified: datetime | None
    default_dimensions: tuple[DefaultDimension, ...] = ()
    # only the personal fields the pipeline lists (employees.personal_fields), by BC field name
    personal: Mapping[str, Any] = field(default_factory=dict)

    def dimension(self, code: str) -> str | None:
        for default in self.default_dimensions:
            if default.dimension_code == code:
                return default.value_code
        return None


def employee_decoder(personal_fields: tuple[str, ...] = ()) -> Callable[[Json], Employee]:
    def decode(raw: Json) -> Employee:
        return Employee(
            id=_text(raw, "id"),
            number=_text(raw, "number"),
            display_name=_text(raw, "displayName"),
            job_title=_text(raw, "jobTitle"),
            status=unescape_enum(_get(raw, "status")),
            employment_date=parse_date(_get(raw, "employmentDate")),
            termination_date=parse_date(_get(raw, "terminationDate")),
            last_modified=parse_datetime(_get(raw, "lastModifiedDateTime")),
            default_dimensions=_children(raw, "defaultDimensions", decode_default_dimension),
            personal={name: _personal(raw, name) for name in personal_fields},
        )

    return decode


def _personal(raw: Json, name: str) -> Any:
    value = _get(raw, name)
    return parse_date(value) if name == "birthDate" else value


@dataclass(frozen=True, slots=True)
class PurchaseOrderLine:
    id: str
    document_id: str
    sequence: int
    line_type: str  # "Account", "Item", "Comment", ...
    line_object_number: str  # account or item number
    description: str
    quantity: Decimal
    direct_unit_cost: Decimal
    amount_excluding_tax: Decimal
    received_quantity: Decimal
    invoiced_quantity: Decimal
    expected_receipt_date: date | None


def decode_purchase_order_line(raw: Json) -> PurchaseOrderLine:
    return PurchaseOrderLine(
        id=_text(raw, "id"),
        document_id=_text(raw, "documentId"),
        sequence=int(_get(raw, "sequence")),
        line_type=unescape_enum(_get(raw, "lineType")),
        line_object_number=_text(raw, "lineObjectNumber"),
        description=_text(raw, "description"),
        quantity=to_decimal(_get(raw, "quantity")),
        direct_unit_cost=to_decimal(_get(raw, "directUnitCost")),
        amount_excluding_tax=to_decimal(_get(raw, "amountExcludingTax")),
        received_quantity=to_decimal(_get(raw, "receivedQuantity")),
        invoiced_quantity=to_decimal(_get(raw, "invoicedQuantity")),
        expected_receipt_date=parse_date(_get(raw, "expectedReceiptDate")),
    )


@dataclass(frozen=True, slots=True)
class PurchaseOrder:
    id: str
    number: str
    order_date: date | None
    vendor_number: str
    vendor_name: str
    currency_code: str  # "" = local currency
    status: str  # "Draft", "In Review", "Open"
    total_amount_excluding_tax: Decimal
    fully_received: bool
    last_modified: datetime | None
    lines: tuple[PurchaseOrderLine, ...] = ()
    dimensions: tuple[DimensionSetLine, ...] = ()


def decode_purchase_order(raw: Json) -> PurchaseOrder:
    return PurchaseOrder(
        id=_text(raw, "id"),
        number=_text(raw, "number"),
        order_date=parse_date(_get(raw, "orderDate")),
        vendor_number=_text(raw, "vendorNumber"),
        vendor_name=_text(raw, "vendorName"),
        currency_code=_text(raw, "currencyCode"),
        status=unescape_enum(_get(raw, "status")),
        total_amount_excluding_tax=to_decimal(_get(raw, "totalAmountExcludingTax")),
        fully_received=bool(_get(raw, "fullyReceived")),
        last_modified=parse_datetime(_get(raw, "lastModifiedDateTime")),
        lines=_children(raw, "purchaseOrderLines", decode_purchase_order_line),
        dimensions=_dimension_set(raw),
    )


@dataclass(frozen=True, slots=True)
class Journal:
    id: str
    code: str
    display_name: str
    template_display_name: str
    last_modified: datetime | None


def decode_journal(raw: Json) -> Journal:
    return Journal(
        id=_text(raw, "id"),
        code=_text(raw, "code"),
        display_name=_text(raw, "displayName"),
        template_display_name=_text(raw, "templateDisplayName"),
        last_modified=parse_datetime(_get(raw, "lastModifiedDateTime")),
    )


@dataclass(frozen=True, slots=True)
class JournalLine:
    id: str
    journal_id: str
    line_number: int
    account_type: str  # "G/L Account", ...
    account_number: str
    posting_date: date | None
    document_number: str
    external_document_number: str
    amount: Decimal
    description: str
    last_modified: datetime | None
    etag: str  # for PATCH/DELETE (If-Match)
    dimensions: tuple[DimensionSetLine, ...] = ()


def decode_journal_line(raw: Json) -> JournalLine:
    return JournalLine(
        id=_text(raw, "id"),
        journal_id=_text(raw, "journalId"),
        line_number=int(_get(raw, "lineNumber")),
        account_type=unescape_enum(_get(raw, "accountType")),
        account_number=_text(raw, "accountNumber"),
        posting_date=parse_date(_get(raw, "postingDate")),
        document_number=_text(raw, "documentNumber"),
        external_document_number=_text(raw, "externalDocumentNumber"),
        amount=to_decimal(_get(raw, "amount")),
        description=_text(raw, "description"),
        last_modified=parse_datetime(_get(raw, "lastModifiedDateTime")),
        etag=_text(raw, "@odata.etag"),
        dimensions=_dimension_set(raw),
    )
