"""General journals as the APIV2 pages run them: lines, their dimension sets, and posting.

The checks are those the AL code behind the pages performs, in its order, with its messages:
the account must resolve (``'The "accountNumber" does not match to an Account.'``), then
``CheckGLAcc`` (posting account, not blocked) and direct posting; dimension set lines resolve
their dimension and value and refuse blocked values; posting refuses an empty batch, an
unbalanced document, and anything blocked since the line was written.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sandbox.bc.encoding import BLANK_DATE, NULL_GUID, format_amount_message
from sandbox.bc.errors import BcError, dialog, test_field
from sandbox.bc.store import GENERAL_TEMPLATE, Company

Row = dict[str, Any]
JOURNAL_LINE_PARENT = "Journal Line"


# --- accounts ---------------------------------------------------------------------------------
def check_posting_account(account: Row) -> None:
    """``G/L Account.CheckGLAcc`` then the journal line's direct-posting check."""
    key = f"No.={account['number']}"
    if account["accountType"] != "Posting":
        raise test_field("Account Type", "Posting", "G/L Account", key, account["accountType"])
    if account["blocked"]:
        raise test_field("Blocked", "No", "G/L Account", key, "Yes")
    if not account["directPosting"]:
        raise test_field("Direct Posting", "Yes", "G/L Account", key, "No")


def resolve_account(
    company: Company, account_type: str, account_id: str | None, number: str | None, prefix: str
) -> Row | None:
    """The account named by a line's id and/or number; ``prefix``: account/balancingAccount."""
    if account_type not in ("G/L Account", "Bank Account"):
        raise dialog(f"The {prefix} type must be G/L Account or Bank Account on a journal line.")
    by_id = None
    if account_id and account_id != NULL_GUID:
        by_id = company.accounts.get(account_id) if account_type == "G/L Account" else None
        if by_id is None:
            raise dialog(f'The "{prefix}Id" does not match to an Account.')
    if number:
        by_number = company.account_by_number.get(number) if account_type == "G/L Account" else None
        if by_id is not None and by_id["number"] != number:
            raise dialog("The account values do not match to a specific Account.")
        if by_number is None:
            raise dialog(f'The "{prefix}Number" does not match to an Account.')
        return by_number
    return by_id


# --- journal lines ----------------------------------------------------------------------------
def apply_line_values(company: Company, line: Row, values: dict[str, Any]) -> None:
    """Validate and apply API values to a (new or existing) journal line."""
    if "journalDisplayName" in values:
        raise dialog("The Journal Batch Display Name isn't editable.")
    account_fields = {"accountType", "accountId", "accountNumber"}
    if account_fields & values.keys():
        account_type = values.get("accountType", line["accountType"])
        number = values.get("accountNumber") if "accountNumber" in values else None
        account_id = values.get("accountId") if "accountId" in values else None
        if number is None and account_id is None and "accountType" in values:
            number = line["accountNumber"] or None
        account = resolve_account(company, account_type, account_id, number, "account")
        if account is not None:
            check_posting_account(account)
        line["accountType"] = account_type
        line["accountId"] = account["id"] if account else NULL_GUID
        line["accountNumber"] = account["number"] if account else ""
        if account is not None and not values.get("description") and not line["description"]:
            line["description"] = account["displayName"]
    balancing_fields = {"balanceAccountType", "balancingAccountId", "balancingAccountNumber"}
    if balancing_fields & values.keys():
        account_type = values.get("balanceAccountType", line["balanceAccountType"])
        account = resolve_account(
            company,
            account_type,
            values.get("balancingAccountId"),
            values.get("balancingAccountNumber"),
            "balancingAccount",
        )
        if account is not None:
            check_posting_account(account)
        line["balanceAccountType"] = account_type
        line["balancingAccountId"] = account["id"] if account else NULL_GUID
        line["balancingAccountNumber"] = account["number"] if account else ""
    for name in (
        "postingDate",
        "documentNumber",
        "externalDocumentNumber",
        "amount",
        "description",
        "comment",
        "taxCode",
    ):
        if name in values:
            line[name] = values[name]


def new_line(company: Company, journal: Row, values: dict[str, Any]) -> Row:
    journal_id = values.get("journalId", journal["id"])
    if journal_id != journal["id"]:
        raise dialog("The Journal Batch Id isn't editable.")
    last = company.last_line_number(journal["id"])
    number = values.get("lineNumber") or (last + 10000 if last is not None else 10000)
    _check_line_number_free(company, journal, number)
    line: Row = {
        "id": company.new_id(),
        "journalId": journal["id"],
        "journalDisplayName": journal["code"],
        "lineNumber": number,
        "accountType": "G/L Account",
        "accountId": NULL_GUID,
        "accountNumber": "",
        "postingDate": BLANK_DATE,
        "documentNumber": "",
        "externalDocumentNumber": "",
        "amount": 0,
        "description": "",
        "comment": "",
        "taxCode": "",
        "balanceAccountType": "G/L Account",
        "balancingAccountId": NULL_GUID,
        "balancingAccountNumber": "",
        "lastModifiedDateTime": 0,
        "_v": 0,
        "_dims": {},
    }
    apply_line_values(company, line, {k: v for k, v in values.items() if k != "journalId"})
    company.touch(line)
    company.add_line(line)
    return line


def update_line(company: Company, line: Row, values: dict[str, Any]) -> bool:
    """Apply a PATCH; False (line not touched) when it changed nothing."""
    if "journalId" in values and values["journalId"] != line["journalId"]:
        raise dialog("The Journal Batch Id isn't editable.")
    before = company.row_state(line)
    if "lineNumber" in values and values["lineNumber"] != line["lineNumber"]:
        journal = company.journals[line["journalId"]]
        _check_line_number_free(company, journal, values["lineNumber"])
        company.renumber_line(line, values["lineNumber"])
    apply_line_values(company, line, {k: v for k, v in values.items() if k != "journalId"})
    if company.row_state(line) == before:
        return False
    company.touch(line)
    return True


def _check_line_number_free(company: Company, journal: Row, number: int) -> None:
    if company.line_number_taken(journal["id"], number):
        raise BcError(
            400,
            "Internal_EntityWithSameKeyExists",
            "The Gen. Journal Line already exists. Identification fields and values: Journal "
            f"Template Name='{GENERAL_TEMPLATE}',Journal Batch Name='{journal['code']}',Line "
            f"No.='{number}'",
        )


# --- dimension set lines ----------------------------------------------------------------------
def resolve_dimension_line(
    company: Company, values: dict[str, Any], current_dimension: Row | None = None
) -> tuple[Row, Row]:
    """(dimension, value) named by a dimension set line body, with the page's checks in order."""
    dimension = current_dimension
    if current_dimension is None:
        if values.get("id"):
            dimension = company.dimensions.get(values["id"])
            if dimension is None:
                raise dialog('The "id" does not match to a Dimension.')
        if values.get("code"):
            by_code = company.dimension_by_code(values["code"])
            if dimension is not None and (by_code is None or by_code["id"] != dimension["id"]):
                raise dialog("The dimension field values do not match to a specific Dimension.")
            if by_code is None:
                raise dialog('The "code" does not match to a Dimension.')
            dimension = by_code
        if dimension is None:
            raise dialog('The "id" or "code" field must be filled in.')
    assert dimension is not None
    value = None
    if values.get("valueId"):
        value = company.dimension_values.get(values["valueId"])
        if value is None or value["dimensionId"] != dimension["id"]:
            raise dialog('The "valueId" does not match to a Dimension Value.')
    if values.get("valueCode"):
        by_code = company.value_by_code(dimension["code"], values["valueCode"])
        if value is not None and (by_code is None or by_code["id"] != value["id"]):
            raise dialog(
                'The values of the "dimensionCode" field and the "dimensionId" field do not '
                "refer to the same Dimension Value."
            )
        if by_code is None:
            raise dialog('The "valueCode" does not match to a Dimension Value.')
        value = by_code
    if value is None:
        raise dialog('The "valueId" or "valueCode" field must be filled in.')
    if value["_blocked"]:
        raise dialog(f"Dimension Value {dimension['code']} - {value['code']} is blocked.")
    return dimension, value


def add_dimension(company: Company, line: Row, values: dict[str, Any]) -> Row:
    dimension, value = resolve_dimension_line(company, values)
    if dimension["code"] in line["_dims"]:
        raise dialog(
            "The dimension set line already exists. Check existing dimension set lines and the "
            "default dimension set lines on the parent."
        )
    line["_dims"][dimension["code"]] = value["id"]
    company.touch(line)
    return dimension


def change_dimension(company: Company, line: Row, dimension: Row, values: dict[str, Any]) -> bool:
    """Set the line's value of a dimension; False (line not touched) when it is already set."""
    if ("id" in values and values["id"] != dimension["id"]) or (
        "code" in values and values["code"].upper() != dimension["code"]
    ):
        raise dialog('The "id" and "code" fields cannot be modified.')
    _, value = resolve_dimension_line(company, values, current_dimension=dimension)
    if line["_dims"][dimension["code"]] == value["id"]:
        return False
    line["_dims"][dimension["code"]] = value["id"]
    company.touch(line)
    return True


# --- posting ----------------------------------------------------------------------------------
def post_journal(company: Company, journal: Row) -> list[Row]:
    """``Microsoft.NAV.post``: the batch's lines become G/L entries; the lines are deleted."""
    lines = [
        line for line in company.lines_of(journal["id"]) if line["accountNumber"] or line["amount"]
    ]
    if not lines:
        raise dialog("There is nothing to post.")
    balance: dict[tuple[date, str], int] = defaultdict(int)
    for line in lines:
        _check_line_for_posting(company, journal, line)
        if line["balancingAccountNumber"]:
            continue
        balance[(line["postingDate"], line["documentNumber"])] += round(line["amount"] * 100)
    for (_, document), cents in balance.items():
        if cents:
            raise dialog(
                f"Document {document} is out of balance by {format_amount_message(cents)}."
            )
    created: list[Row] = []
    for line in lines:
        cents = round(line["amount"] * 100)
        dims = tuple(line["_dims"][code] for code in sorted(line["_dims"]))
        postings = [(line["accountId"], line["accountNumber"], cents, dims)]
        if line["balancingAccountNumber"]:
            postings.append(
                (line["balancingAccountId"], line["balancingAccountNumber"], -cents, dims)
            )
        created += company.ledger.post(
            line["postingDate"],
            line["documentNumber"],
            " ",
            line["description"],
            postings,
            company.new_id,
        )
    company.remove_lines(lines)
    for line in lines:
        company.tombstones[line["id"]] = (journal["code"], line["lineNumber"])
        company.changed("journalLines", line, "deleted")
    for row in created:
        company.changed("generalLedgerEntries", row, "created")
    return created


def _check_line_for_posting(company: Company, journal: Row, line: Row) -> None:
    where = (
        f"Gen. Journal Line: Journal Template Name={GENERAL_TEMPLATE}, Journal Batch "
        f"Name={journal['code']}, Line No.={line['lineNumber']}"
    )
    for field, caption in (
        ("accountNumber", "Account No."),
        ("postingDate", "Posting Date"),
        ("documentNumber", "Document No."),
    ):
        if line[field] in ("", BLANK_DATE):
            raise BcError(
                400,
                "Application_FieldValidationException",
                f"{caption} must have a value in {where}. It cannot be zero or empty.",
            )
    for account_id in (line["accountId"], line["balancingAccountId"]):
        if account_id != NULL_GUID:
            check_posting_account(company.accounts[account_id])
    for code, value_id in sorted(line["_dims"].items()):
        value = company.dimension_values[value_id]
        if value["_blocked"]:
            raise dialog(
                f"A dimension used in Gen. Journal Line {GENERAL_TEMPLATE}, {journal['code']}, "
                f"{line['lineNumber']} has caused an error. Dimension Value {code} - "
                f"{value['code']} is blocked."
            )
