"""Typed records of the BC entities the connector reads, and their decoders.

Each decoder takes one parsed JSON object (as BC sent it, narrowed by ``$select``) and returns a
frozen dataclass with plain Python values: ``Decimal`` amounts, ``date``/aware ``datetime``,
unescaped enum names, ``None`` for BC's blank dates. Nothing past this module sees a BC
encoding. Employees carry no personal data unless the caller asks for named fields
(``personal``).

Decoding is strict about types, because a lenient reading turns bad input into wrong data in
Anaplan rather than an error: ``bool("false")`` is true (an account sent as blocked), ``str(100)``
is a dimension value code BC never had (a member added, the real one flagged as gone). A record
that is not a JSON object, a missing field, or a value of the wrong type or out of BC's range
raises ``BcDecodeError`` naming the entity, the record (its number or code, else its id) and the
field, so the run fails with a message a finance admin can act on. G/L entries, millions at a
time, keep a fast path that reads fields directly and explains a failure afterwards
(``diagnose_entry``); the other entity sets are small and go through ``_Fields``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

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

# AL's Decimal holds -999,999,999,999,999.99 .. +999,999,999,999,999.99 (the "Decimal Data
# Type" page of the AL reference): no BC field can carry more. A larger number is not an amount
# BC sent, and one near 1e300 would lose its cents silently in 28-digit Decimal arithmetic.
BC_DECIMAL_MAX = Decimal("999999999999999.99")
_LOWEST = -BC_DECIMAL_MAX
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORMATTED_AMOUNT = re.compile(r"-?\d+(\.\d+)?")  # once the thousands separators are gone


def _refuse(expected: str, value: Any) -> NoReturn:
    raise BcDecodeError(f"expected {expected}, got {value!r}")


# --- value decoders: one BC encoding each, raising BcDecodeError that says what was expected ---


def _text(value: Any) -> str:
    """Text; BC writes blanks as ``""``, ``null`` is read as blank too."""
    if value is None:
        return ""
    return value if isinstance(value, str) else _refuse("text", value)


def _code(value: Any) -> str:
    """A record's key (account number, dimension value code, ...): text, never blank in BC."""
    return value if isinstance(value, str) and value.strip() else _refuse("a non-blank code", value)


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else _refuse("true or false", value)


def _whole(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _refuse("a whole number", value)


def _amount(value: Any) -> Decimal:
    """A BC decimal: a JSON number (or exact decimal text), finite, within BC's range."""
    number = to_decimal(value)
    if number.is_finite() and -BC_DECIMAL_MAX <= number <= BC_DECIMAL_MAX:  # NaN: no compare
        return number
    return _refuse("a finite amount within BC's range of +/-999,999,999,999,999.99", value)


def _day(value: Any) -> date | None:
    """``YYYY-MM-DD`` (``0001-01-01`` = blank); not a number, not a date with text after it."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return _refuse("a date like 2024-03-28", value)
    return parse_date(value)


def _moment(value: Any) -> datetime | None:
    if value is not None and not isinstance(value, str):
        return _refuse("a UTC datetime like 2024-03-28T10:15:42.53Z", value)
    return parse_datetime(value)


def _list_of(decode: Callable[[Any], T]) -> Callable[[Any], tuple[T, ...]]:
    """An ``$expand``ed navigation: a JSON array of records."""

    def decode_all(value: Any) -> tuple[T, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            return _refuse("a list of records", value)
        return tuple(decode(child) for child in value)

    return decode_all


class _Fields:
    """One raw record being decoded: every error names the entity, the record and the field.

    ``entity`` is what a finance admin calls it ("account", "purchase order line"), ``key`` the
    field that identifies it to them (its number or code); when that is missing or malformed,
    the record is named by its id.
    """

    __slots__ = ("entity", "id_field", "key", "raw")

    def __init__(self, raw: Any, entity: str, key: str, id_field: str = "id") -> None:
        if not isinstance(raw, Mapping):
            raise BcDecodeError(f"a BC {entity} record is not a JSON object: {str(raw)[:80]!r}")
        self.raw, self.entity, self.key, self.id_field = raw, entity, key, id_field

    def name(self, failing: str = "") -> str:
        """The record as a finance admin knows it; by its id when its key is what failed."""
        key, record_id = self.raw.get(self.key), self.raw.get(self.id_field)
        if failing != self.key and ((isinstance(key, str) and key.strip()) or type(key) is int):
            return f"{self.entity} {key}"
        if isinstance(record_id, str) and record_id:
            return f"{self.entity} with {self.id_field} {record_id}"
        return f"a {self.entity} without {self.key} or {self.id_field}"

    def __call__(self, field: str, decode: Callable[[Any], T]) -> T:
        """The decoded value of a field the ``$select`` asked for (so it must be there)."""
        try:
            value = self.raw[field]
        except KeyError:
            raise BcDecodeError(f"field {field!r} is missing from {self.name(field)}") from None
        return self._decoded(field, value, decode)

    def expanded(self, field: str, decode: Callable[[Any], tuple[T, ...]]) -> tuple[T, ...]:
        """An ``$expand``ed navigation, absent when the read did not expand it."""
        if field not in self.raw:
            return ()
        return self._decoded(field, self.raw[field], decode)

    def _decoded(self, field: str, value: Any, decode: Callable[[Any], T]) -> T:
        try:
            return decode(value)
        except InexactNumber:
            raise  # not an error: the pager re-parses the page with exact decimals
        except (ValueError, TypeError, AttributeError) as exc:  # BcDecodeError is a ValueError
            message = f"field {field!r} of {self.name(field)} is not valid: {exc}"
            raise BcDecodeError(message) from None


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


def dimension_set(children: Any) -> tuple[DimensionSetLine, ...]:
    """The (shared, immutable) dimension set of expanded ``dimensionSetLines``."""
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


def dimension_map(lines: tuple[DimensionSetLine, ...]) -> dict[str, str]:
    """``{dimension code: value code}`` of a dimension set."""
    return {line.code: line.value_code for line in lines}


@dataclass(frozen=True, slots=True)
class Company:
    id: str
    name: str
    display_name: str


def decode_company(raw: Json) -> Company:
    f = _Fields(raw, "company", "name")
    return Company(f("id", _code), f("name", _code), f("displayName", _text))


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
    f = _Fields(raw, "account", "number")
    return Account(
        id=f("id", _code),
        number=f("number", _code),
        display_name=f("displayName", _text),
        category=f("category", unescape_enum),
        sub_category=f("subCategory", _text),
        account_type=f("accountType", unescape_enum),
        blocked=f("blocked", _flag),
        direct_posting=f("directPosting", _flag),
        last_modified=f("lastModifiedDateTime", _moment),
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


def entry_core(raw: Json) -> tuple[date, int, Decimal, Decimal]:
    """Posting date, entry number, debit and credit of a G/L entry: what every G/L decoder reads.

    The fast path of millions of entries: fields are read directly and a failure raises
    ``KeyError``/``TypeError``/``ValueError`` for the decoder to explain (``diagnose_entry``).
    """
    posting_date = parse_date(raw["postingDate"])
    if posting_date is None:
        raise BcDecodeError(f"{entry_name(raw)} has a blank posting date")
    number = raw["entryNumber"]
    if type(number) is not int:  # not int(): that takes "12" and truncates 12.7
        raise TypeError("entryNumber")
    debit, credit = to_decimal(raw["debitAmount"]), to_decimal(raw["creditAmount"])
    # BC's decimals stop at +/-999,999,999,999,999.99: anything beyond (1e300, Infinity, NaN --
    # not compared, as it is not finite) is a broken payload, refused before it is summed
    if not (
        debit.is_finite()
        and credit.is_finite()
        and _LOWEST <= debit <= BC_DECIMAL_MAX
        and _LOWEST <= credit <= BC_DECIMAL_MAX
    ):
        raise ValueError("an amount beyond BC's range")  # diagnose_entry names the field
    return posting_date, number, debit, credit


def decode_gl_entry(raw: Json) -> GlEntry:
    try:
        posting_date, number, debit, credit = entry_core(raw)
        return GlEntry(
            raw["id"],
            number,
            posting_date,
            raw["documentNumber"],
            unescape_enum(raw["documentType"]),
            raw["accountId"],
            raw["accountNumber"],
            raw["description"],
            debit,
            credit,
            parse_datetime(raw["lastModifiedDateTime"]),
            dimension_set(raw.get("dimensionSetLines")),
        )
    except InexactNumber:
        raise  # the pager re-parses the page with exact decimals
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
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
    ("debitAmount", _amount),
    ("creditAmount", _amount),
    ("lastModifiedDateTime", parse_datetime),
    ("dimensionSetLines", lambda v: v is None or isinstance(v, list) or _refuse("a list", v)),
)


def diagnose_entry(raw: Any, cause: Exception) -> BcDecodeError:
    """Name the entry and the field a G/L entry record failed on (slow path, errors only)."""
    if not isinstance(raw, Mapping):
        return BcDecodeError(f"a G/L entry record is not a JSON object: {str(raw)[:80]!r}")
    entry = entry_name(raw)
    if isinstance(cause, KeyError):  # the fast path reads fields directly
        return BcDecodeError(f"field {cause.args[0]!r} is missing from {entry}")
    for name, check in _ENTRY_FIELDS:
        if name not in raw:
            continue
        try:
            check(raw[name])
        except (ValueError, TypeError, AttributeError) as exc:
            return BcDecodeError(f"field {name!r} of {entry} is not valid: {exc}")
    return BcDecodeError(f"{entry} could not be decoded: {cause}")


def entry_name(raw: Json) -> str:
    """``G/L entry 1201``; by its id when the entry number itself is missing or malformed."""
    number, entry_id = raw.get("entryNumber"), raw.get("id")
    if type(number) is int:
        return f"G/L entry {number}"
    if isinstance(entry_id, str) and entry_id:
        return f"G/L entry with id {entry_id}"
    return "a G/L entry without entryNumber or id"


@dataclass(frozen=True, slots=True)
class Dimension:
    id: str
    code: str
    display_name: str
    last_modified: datetime | None


def decode_dimension(raw: Json) -> Dimension:
    f = _Fields(raw, "dimension", "code")
    return Dimension(
        f("id", _code),
        f("code", _code),
        f("displayName", _text),
        f("lastModifiedDateTime", _moment),
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
    f = _Fields(raw, "dimension value", "code")
    return DimensionValue(
        id=f("id", _code),
        code=f("code", _code),
        dimension_id=f("dimensionId", _code),
        display_name=f("displayName", _text),
        consolidation_code=f("consolidationCode", _text),
        last_modified=f("lastModifiedDateTime", _moment),
    )


@dataclass(frozen=True, slots=True)
class DefaultDimension:
    dimension_code: str
    value_code: str


def decode_default_dimension(raw: Json) -> DefaultDimension:
    f = _Fields(raw, "default dimension", "dimensionCode")
    return DefaultDimension(f("dimensionCode", _code), f("dimensionValueCode", _code))


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
        f = _Fields(raw, "employee", "number")
        return Employee(
            id=f("id", _code),
            number=f("number", _code),
            display_name=f("displayName", _text),
            job_title=f("jobTitle", _text),
            status=f("status", unescape_enum),
            employment_date=f("employmentDate", _day),
            termination_date=f("terminationDate", _day),
            last_modified=f("lastModifiedDateTime", _moment),
            default_dimensions=f.expanded("defaultDimensions", _list_of(decode_default_dimension)),
            personal={name: f(name, _PERSONAL.get(name, _text)) for name in personal_fields},
        )

    return decode


_PERSONAL: dict[str, Callable[[Any], Any]] = {"birthDate": _day}


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
    f = _Fields(raw, "purchase order line", "sequence")
    return PurchaseOrderLine(
        id=f("id", _code),
        document_id=f("documentId", _code),
        sequence=f("sequence", _whole),
        line_type=f("lineType", unescape_enum),
        line_object_number=f("lineObjectNumber", _text),
        description=f("description", _text),
        quantity=f("quantity", _amount),
        direct_unit_cost=f("directUnitCost", _amount),
        amount_excluding_tax=f("amountExcludingTax", _amount),
        received_quantity=f("receivedQuantity", _amount),
        invoiced_quantity=f("invoicedQuantity", _amount),
        expected_receipt_date=f("expectedReceiptDate", _day),
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
    f = _Fields(raw, "purchase order", "number")
    return PurchaseOrder(
        id=f("id", _code),
        number=f("number", _code),
        order_date=f("orderDate", _day),
        vendor_number=f("vendorNumber", _text),
        vendor_name=f("vendorName", _text),
        currency_code=f("currencyCode", _text),
        status=f("status", unescape_enum),
        total_amount_excluding_tax=f("totalAmountExcludingTax", _amount),
        fully_received=f("fullyReceived", _flag),
        last_modified=f("lastModifiedDateTime", _moment),
        lines=f.expanded("purchaseOrderLines", _list_of(decode_purchase_order_line)),
        dimensions=f.expanded("dimensionSetLines", dimension_set),
    )


@dataclass(frozen=True, slots=True)
class Journal:
    id: str
    code: str
    display_name: str
    template_display_name: str
    last_modified: datetime | None


def decode_journal(raw: Json) -> Journal:
    f = _Fields(raw, "journal batch", "code")
    return Journal(
        id=f("id", _code),
        code=f("code", _code),
        display_name=f("displayName", _text),
        template_display_name=f("templateDisplayName", _text),
        last_modified=f("lastModifiedDateTime", _moment),
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
    f = _Fields(raw, "journal line", "externalDocumentNumber")
    return JournalLine(
        id=f("id", _code),
        journal_id=f("journalId", _code),
        line_number=f("lineNumber", _whole),
        account_type=f("accountType", unescape_enum),
        account_number=f("accountNumber", _text),
        posting_date=f("postingDate", _day),
        document_number=f("documentNumber", _text),
        external_document_number=f("externalDocumentNumber", _text),
        amount=f("amount", _amount),
        description=f("description", _text),
        last_modified=f("lastModifiedDateTime", _moment),
        etag=f("@odata.etag", _text),
        dimensions=f.expanded("dimensionSetLines", dimension_set),
    )


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    """One account's line of BC's trial balance for a date range (``trialBalances``)."""

    number: str
    account_type: str  # "Posting", "Heading", "Total", "Begin-Total", "End-Total"
    total_debit: Decimal  # activity in the range, a positive magnitude
    total_credit: Decimal


def _formatted_amount(value: Any) -> Decimal:
    """A trial-balance amount: text BC formatted for display (``"72,893.84"``, asked en-US),
    ``""`` on heading rows. A JSON number, ``"NaN"`` or ``"1.2.3"`` is not what BC writes."""
    if not isinstance(value, str):
        return _refuse('an amount formatted as text, like "72,893.84"', value)
    cleaned = value.replace(",", "").strip()
    if not cleaned:
        return Decimal(0)
    if not _FORMATTED_AMOUNT.fullmatch(cleaned):
        return _refuse('an amount formatted as text, like "72,893.84"', value)
    return _amount(cleaned)


def decode_trial_balance_row(raw: Json) -> TrialBalanceRow:
    f = _Fields(raw, "trial balance row of account", "number", id_field="accountId")
    return TrialBalanceRow(
        number=f("number", _code),
        account_type=f("accountType", unescape_enum),
        total_debit=f("totalDebit", _formatted_amount),
        total_credit=f("totalCredit", _formatted_amount),
    )
