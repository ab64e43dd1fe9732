"""The API v2.0 entity types the simulator serves, declared once.

Each entity type is a list of fields (name, kind, writability, length) and named navigations, as
the APIV2 AL pages define them (reference §4). Filtering, ``$select``, body validation and
rendering are all driven by these declarations, so a field the real page lacks is an unknown
property here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(Enum):
    GUID = "Edm.Guid"
    STRING = "Edm.String"
    INT = "Edm.Int32"
    DECIMAL = "Edm.Decimal"
    DATE = "Edm.Date"
    DATETIME = "Edm.DateTimeOffset"
    BOOL = "Edm.Boolean"
    ENUM = "enum"
    AMOUNT_TEXT = "amount text"  # trialBalances: Edm.String holding a formatted amount

    @property
    def edm(self) -> str:
        return "Edm.String" if self in (Kind.ENUM, Kind.AMOUNT_TEXT) else self.value


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    read_only: bool = False
    max_length: int | None = None
    options: tuple[str, ...] = ()  # enum option names, unescaped


@dataclass(frozen=True, eq=False)  # identity hash: it keys caches on every rendered row
class EntityType:
    name: str  # Microsoft.NAV.<name>
    fields: tuple[Field, ...]
    navigations: tuple[str, ...] = ()
    key: str = "id"
    by_name: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update({f.name: f for f in self.fields})

    def field(self, name: str) -> Field | None:
        return self.by_name.get(name)


def _f(name: str, kind: Kind, ro: bool = False, length: int | None = None) -> Field:
    return Field(name, kind, ro, length)


def _enum(name: str, options: tuple[str, ...], ro: bool = False) -> Field:
    return Field(name, Kind.ENUM, ro, None, options)


G, S, N, D, DT, TS, B = (
    Kind.GUID,
    Kind.STRING,
    Kind.INT,
    Kind.DECIMAL,
    Kind.DATE,
    Kind.DATETIME,
    Kind.BOOL,
)

ACCOUNT_CATEGORIES = (
    " ",
    "Assets",
    "Liabilities",
    "Equity",
    "Income",
    "Cost of Goods Sold",
    "Expense",
)
ACCOUNT_TYPES = ("Posting", "Heading", "Total", "Begin-Total", "End-Total")
GL_DOCUMENT_TYPES = (
    " ",
    "Payment",
    "Invoice",
    "Credit Memo",
    "Finance Charge Memo",
    "Reminder",
    "Refund",
)
JOURNAL_ACCOUNT_TYPES = (
    "G/L Account",
    "Customer",
    "Vendor",
    "Bank Account",
    "Fixed Asset",
    "IC Partner",
    "Employee",
    "Allocation Account",
)
DIMENSION_PARENT_TYPES = (
    " ",
    "Journal Line",
    "Sales Order",
    "Sales Order Line",
    "Purchase Order",
    "Purchase Order Line",
    "General Ledger Entry",
    "Time Registration Entry",
)
EMPLOYEE_STATUSES = ("Active", "Inactive", "Terminated")
PURCHASE_ORDER_STATUSES = ("Draft", "In Review", "Open")
PURCHASE_LINE_TYPES = ("Comment", "Account", "Item", "Resource", "Fixed Asset", "Charge")

COMPANY = EntityType(
    "company",
    (
        _f("id", G, True),
        _f("systemVersion", S, True),
        _f("timestamp", N, True),
        _f("name", S, True),
        _f("displayName", S, True),
        _f("businessProfileId", S, True),
        _f("systemCreatedAt", TS, True),
        _f("systemCreatedBy", G, True),
        _f("systemModifiedAt", TS, True),
        _f("systemModifiedBy", G, True),
    ),
)

ACCOUNT = EntityType(
    "account",
    (
        _f("id", G, True),
        _f("number", S, length=20),
        _f("displayName", S, length=100),
        _enum("category", ACCOUNT_CATEGORIES),
        _f("subCategory", S, length=80),
        _f("blocked", B),
        _enum("accountType", ACCOUNT_TYPES),
        _f("directPosting", B),
        _f("netChange", D, True),
        _enum(
            "consolidationTranslationMethod",
            (
                "Average Rate (Manual)",
                "Closing Rate",
                "Historical Rate",
                "Composite Rate",
                "Equity Rate",
            ),
        ),
        _f("consolidationDebitAccount", S, length=20),
        _f("consolidationCreditAccount", S, length=20),
        _f("excludeFromConsolidation", B),
        _f("lastModifiedDateTime", TS, True),
    ),
)

GL_ENTRY = EntityType(
    "generalLedgerEntry",
    (
        _f("id", G, True),
        _f("entryNumber", N, True),
        _f("postingDate", DT, True),
        _f("documentNumber", S, True),
        _enum("documentType", GL_DOCUMENT_TYPES, True),
        _f("accountId", G, True),
        _f("accountNumber", S, True),
        _f("description", S, True),
        _f("debitAmount", D, True),
        _f("creditAmount", D, True),
        _f("additionalCurrencyDebitAmount", D, True),
        _f("additionalCurrencyCreditAmount", D, True),
        _f("lastModifiedDateTime", TS, True),
    ),
    navigations=("dimensionSetLines",),
)

DIMENSION = EntityType(
    "dimension",
    (
        _f("id", G, True),
        _f("code", S, length=20),
        _f("displayName", S, length=30),
        _f("consolidationCode", S, length=20),
        _f("lastModifiedDateTime", TS, True),
    ),
    navigations=("dimensionValues",),
)

DIMENSION_VALUE = EntityType(
    "dimensionValue",
    (
        _f("id", G, True),
        _f("code", S, length=20),
        _f("dimensionId", G),
        _f("displayName", S, length=50),
        _f("consolidationCode", S, length=20),
        _f("lastModifiedDateTime", TS, True),
    ),
)

DIMENSION_SET_LINE = EntityType(
    "dimensionSetLine",
    (
        _f("id", G),
        _f("code", S, length=20),
        _f("consolidationCode", S, True),
        _f("parentId", G, True),
        _enum("parentType", DIMENSION_PARENT_TYPES, True),
        _f("displayName", S, length=30),
        _f("valueId", G),
        _f("valueCode", S, length=20),
        _f("valueConsolidationCode", S, True),
        _f("valueDisplayName", S, length=50),
    ),
)

EMPLOYEE = EntityType(
    "employee",
    (
        _f("id", G, True),
        _f("number", S, length=20),
        _f("displayName", S, True),
        _f("givenName", S, length=30),
        _f("middleName", S, length=30),
        _f("surname", S, length=30),
        _f("jobTitle", S, length=30),
        _f("addressLine1", S, length=100),
        _f("addressLine2", S, length=50),
        _f("city", S, length=30),
        _f("state", S, length=30),
        _f("country", S, length=10),
        _f("postalCode", S, length=20),
        _f("phoneNumber", S, length=30),
        _f("mobilePhone", S, length=30),
        _f("email", S, length=80),
        _f("personalEmail", S, length=80),
        _f("employmentDate", DT),
        _f("terminationDate", DT),
        _enum("status", EMPLOYEE_STATUSES),
        _f("birthDate", DT),
        _f("statisticsGroupCode", S, length=10),
        _f("bankBranchNumber", S, length=20),
        _f("bankAccountNumber", S, length=30),
        _f("iban", S, length=50),
        _f("lastModifiedDateTime", TS, True),
    ),
    navigations=("defaultDimensions",),
)

DEFAULT_DIMENSION = EntityType(
    "defaultDimension",
    (
        _f("id", G, True),
        _enum("parentType", (" ", "Customer", "Item", "Vendor", "Employee")),
        _f("parentId", G),
        _f("dimensionId", G),
        _f("dimensionCode", S, True),
        _f("dimensionValueId", G),
        _f("dimensionValueCode", S, True),
        _enum("postingValidation", (" ", "Code Mandatory", "Same Code", "No Code")),
    ),
)

JOURNAL = EntityType(
    "journal",
    (
        _f("id", G, True),
        _f("code", S, length=10),
        _f("displayName", S, length=100),
        _f("templateDisplayName", S, True),
        _f("lastModifiedDateTime", TS, True),
        _f("balancingAccountId", G),
        _f("balancingAccountNumber", S, True),
    ),
    navigations=("journalLines",),
)

JOURNAL_LINE = EntityType(
    "journalLine",
    (
        _f("id", G, True),
        _f("journalId", G),
        _f("journalDisplayName", S),
        _f("lineNumber", N),
        _enum("accountType", JOURNAL_ACCOUNT_TYPES),
        _f("accountId", G),
        _f("accountNumber", S, length=20),
        _f("postingDate", DT),
        _f("documentNumber", S, length=20),
        _f("externalDocumentNumber", S, length=35),
        _f("amount", D),
        _f("description", S, length=100),
        _f("comment", S, length=250),
        _f("taxCode", S, length=20),
        _enum("balanceAccountType", JOURNAL_ACCOUNT_TYPES),
        _f("balancingAccountId", G),
        _f("balancingAccountNumber", S, length=20),
        _f("lastModifiedDateTime", TS, True),
    ),
    navigations=("dimensionSetLines",),
)

_ADDRESS = ("AddressLine1", "AddressLine2", "City", "Country", "State", "PostCode")
PURCHASE_ORDER = EntityType(
    "purchaseOrder",
    (
        _f("id", G, True),
        _f("number", S, True),
        _f("orderDate", DT),
        _f("postingDate", DT),
        _f("vendorId", G),
        _f("vendorNumber", S, length=20),
        _f("vendorName", S, True),
        _f("payToName", S, True),
        _f("payToVendorId", G),
        _f("payToVendorNumber", S, length=20),
        _f("shipToName", S, length=100),
        _f("shipToContact", S, length=100),
        *(_f(f"buyFrom{a}", S, length=100) for a in _ADDRESS),
        *(_f(f"payTo{a}", S, True) for a in _ADDRESS),
        *(_f(f"shipTo{a}", S, length=100) for a in _ADDRESS),
        _f("shortcutDimension1Code", S, length=20),
        _f("shortcutDimension2Code", S, length=20),
        _f("currencyId", G),
        _f("currencyCode", S, length=10),
        _f("pricesIncludeTax", B),
        _f("paymentTermsId", G),
        _f("shipmentMethodId", G),
        _f("purchaser", S, length=20),
        _f("requestedReceiptDate", DT),
        _f("discountAmount", D),
        _f("discountAppliedBeforeTax", B, True),
        _f("totalAmountExcludingTax", D, True),
        _f("totalTaxAmount", D, True),
        _f("totalAmountIncludingTax", D, True),
        _f("fullyReceived", B, True),
        _enum("status", PURCHASE_ORDER_STATUSES, True),
        _f("lastModifiedDateTime", TS, True),
    ),
    navigations=("purchaseOrderLines", "dimensionSetLines"),
)

PURCHASE_ORDER_LINE = EntityType(
    "purchaseOrderLine",
    (
        _f("id", G, True),
        _f("documentId", G),
        _f("sequence", N),
        _f("itemId", G),
        _f("accountId", G),
        _enum("lineType", PURCHASE_LINE_TYPES),
        _f("lineObjectNumber", S, length=20),
        _f("description", S, length=100),
        _f("description2", S, length=50),
        _f("unitOfMeasureId", G),
        _f("unitOfMeasureCode", S, length=10),
        _f("quantity", D),
        _f("directUnitCost", D),
        _f("discountAmount", D),
        _f("discountPercent", D),
        _f("discountAppliedBeforeTax", B, True),
        _f("amountExcludingTax", D, True),
        _f("taxCode", S, length=20),
        _f("taxPercent", D, True),
        _f("totalTaxAmount", D, True),
        _f("amountIncludingTax", D, True),
        _f("invoiceDiscountAllocation", D, True),
        _f("netAmount", D, True),
        _f("netTaxAmount", D, True),
        _f("netAmountIncludingTax", D, True),
        _f("expectedReceiptDate", DT),
        _f("receivedQuantity", D, True),
        _f("invoicedQuantity", D, True),
        _f("invoiceQuantity", D),
        _f("receiveQuantity", D),
        _f("itemVariantId", G),
        _f("locationId", G),
    ),
    navigations=("dimensionSetLines",),
)

TRIAL_BALANCE = EntityType(
    "trialBalance",
    (
        _f("number", S, True),
        _f("accountId", G, True),
        _enum("accountType", ACCOUNT_TYPES, True),
        _f("display", S, True),
        _f("totalDebit", Kind.AMOUNT_TEXT, True),
        _f("totalCredit", Kind.AMOUNT_TEXT, True),
        _f("balanceAtDateDebit", Kind.AMOUNT_TEXT, True),
        _f("balanceAtDateCredit", Kind.AMOUNT_TEXT, True),
        _f("dateFilter", DT, True),
    ),
    key="accountId",
)

SUBSCRIPTION = EntityType(
    "subscription",
    (
        _f("subscriptionId", S, True),
        _f("notificationUrl", S, length=250),
        _f("resource", S, length=250),
        _f("timestamp", N, True),
        _f("userId", G, True),
        _f("lastModifiedDateTime", TS, True),
        _f("clientState", S, length=2048),
        _f("expirationDateTime", TS, True),
        _f("systemCreatedAt", TS, True),
        _f("systemCreatedBy", G, True),
        _f("systemModifiedAt", TS, True),
        _f("systemModifiedBy", G, True),
    ),
    key="subscriptionId",
)

NAVIGATION_TARGETS: dict[tuple[str, str], EntityType] = {
    ("generalLedgerEntry", "dimensionSetLines"): DIMENSION_SET_LINE,
    ("dimension", "dimensionValues"): DIMENSION_VALUE,
    ("employee", "defaultDimensions"): DEFAULT_DIMENSION,
    ("journal", "journalLines"): JOURNAL_LINE,
    ("journalLine", "dimensionSetLines"): DIMENSION_SET_LINE,
    ("purchaseOrder", "purchaseOrderLines"): PURCHASE_ORDER_LINE,
    ("purchaseOrder", "dimensionSetLines"): DIMENSION_SET_LINE,
    ("purchaseOrderLine", "dimensionSetLines"): DIMENSION_SET_LINE,
}


def navigation_target(entity: EntityType, name: str) -> EntityType | None:
    return NAVIGATION_TARGETS.get((entity.name, name))
