"""``$metadata``: an EDMX document generated from the same declarations the API serves."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from sandbox.bc import schema
from sandbox.bc.schema import EntityType, Kind

_TYPES = (
    schema.COMPANY,
    schema.ACCOUNT,
    schema.GL_ENTRY,
    schema.DIMENSION,
    schema.DIMENSION_VALUE,
    schema.DIMENSION_SET_LINE,
    schema.EMPLOYEE,
    schema.DEFAULT_DIMENSION,
    schema.JOURNAL,
    schema.JOURNAL_LINE,
    schema.PURCHASE_ORDER,
    schema.PURCHASE_ORDER_LINE,
    schema.TRIAL_BALANCE,
    schema.SUBSCRIPTION,
)
_SETS = {
    "company": "companies",
    "account": "accounts",
    "generalLedgerEntry": "generalLedgerEntries",
    "dimension": "dimensions",
    "dimensionValue": "dimensionValues",
    "dimensionSetLine": "dimensionSetLines",
    "employee": "employees",
    "defaultDimension": "defaultDimensions",
    "journal": "journals",
    "journalLine": "journalLines",
    "purchaseOrder": "purchaseOrders",
    "purchaseOrderLine": "purchaseOrderLines",
    "trialBalance": "trialBalances",
    "subscription": "subscriptions",
}


def _enum_name(entity: EntityType, field_name: str) -> str:
    return f"{entity.name}{field_name[0].upper()}{field_name[1:]}"


def metadata_document() -> str:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        '<Schema Namespace="Microsoft.NAV" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
    ]
    for entity in _TYPES:
        for field in entity.fields:
            if field.kind is Kind.ENUM:
                out.append(f'<EnumType Name="{_enum_name(entity, field.name)}">')
                for value, option in enumerate(field.options):
                    escaped = quoteattr(option.replace(" ", "_x0020_").replace("/", "_x002F_"))
                    out.append(f'<Member Name={escaped} Value="{value}" />')
                out.append("</EnumType>")
        out.append(f'<EntityType Name="{entity.name}">')
        out.append(f'<Key><PropertyRef Name="{entity.key}" /></Key>')
        for field in entity.fields:
            kind = (
                f"Microsoft.NAV.{_enum_name(entity, field.name)}"
                if field.kind is Kind.ENUM
                else field.kind.edm
            )
            length = f' MaxLength="{field.max_length}"' if field.max_length else ""
            out.append(f'<Property Name="{field.name}" Type="{kind}"{length} />')
        for navigation in entity.navigations:
            target = schema.navigation_target(entity, navigation)
            assert target is not None
            out.append(
                f'<NavigationProperty Name="{navigation}" '
                f'Type="Collection(Microsoft.NAV.{target.name})" ContainsTarget="true" />'
            )
        out.append("</EntityType>")
    out.append('<Action Name="post" IsBound="true">')
    out.append('<Parameter Name="bindingParameter" Type="Microsoft.NAV.journal" />')
    out.append("</Action>")
    out.append('<EntityContainer Name="NAV">')
    for entity in _TYPES:
        out.append(
            f'<EntitySet Name="{_SETS[entity.name]}" EntityType="Microsoft.NAV.{entity.name}" />'
        )
    out.append("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")
    return "\n".join(out)
