"""Dispatching one API call to what it addresses, independent of aiohttp.

The same ``dispatch`` serves a plain HTTP request and each operation of a ``$batch``; it takes a
``Call`` (method, parsed path, query, headers, body, caller) and returns a ``Result`` (status,
JSON body, headers), raising ``BcError`` for BC's error responses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sandbox.bc import schema
from sandbox.bc.collection import Collection
from sandbox.bc.encoding import NULL_GUID, etag
from sandbox.bc.errors import BcError, method_not_allowed, record_not_found, segment_not_found
from sandbox.bc.odata.options import QueryOptions, page_size, parse_options
from sandbox.bc.odata.render import field_plan, render_row
from sandbox.bc.reading import read_page, render_entity
from sandbox.bc.resources import CompanyApi
from sandbox.bc.routing import ApiPath, Target, guid_key, quoted_key, resolve
from sandbox.bc.store import SETUP_TIME, Company, moment_ms
from sandbox.bc.webhooks import Webhooks
from sandbox.bc.writing import check_if_match, parse_json_body, typed_values
from sandbox.entra.tokens import Principal

Row = dict[str, Any]
_LINK_SAFE = "$,()'=:*-._~/@"


@dataclass(frozen=True)
class Call:
    method: str
    api: ApiPath
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    principal: Principal
    public_base: str  # what stands in for https://api.businesscentral.dynamics.com


@dataclass
class Result:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class BcService:
    def __init__(
        self,
        company: Company,
        api: CompanyApi,
        webhooks: Webhooks,
        batch: Callable[[Call], Awaitable[Result]],
        metadata: Callable[[], str],
    ) -> None:
        self.company = company
        self.api = api
        self.webhooks = webhooks
        self.batch = batch
        self.metadata = metadata
        self.companies = Collection(
            "companies",
            schema.COMPANY,
            "Company",
            lambda: [self.company_row()],
            lambda r: (r["name"],),
        )

    def company_row(self) -> Row:
        created = moment_ms(SETUP_TIME)
        return {
            "id": self.company.id,
            "systemVersion": "27.1.41698.43075",
            "timestamp": 7_348_213,
            "name": self.company.name,
            "displayName": self.company.name,
            "businessProfileId": "",
            "systemCreatedAt": created,
            "systemCreatedBy": NULL_GUID,
            "systemModifiedAt": created,
            "systemModifiedBy": NULL_GUID,
            "_v": 1,
        }

    async def dispatch(self, call: Call) -> Result:
        segments = call.api.segments
        if not segments:
            return self._service_document(call)
        head = segments[0]
        if head.name == "$metadata" and len(segments) == 1:
            return Result(200, self.metadata(), {"Content-Type": "application/xml"})
        if head.name == "$batch" and len(segments) == 1:
            if call.method != "POST":
                raise method_not_allowed(call.method, "$batch")
            return await self.batch(call)
        if head.name == "subscriptions" and len(segments) == 1:
            return await self._subscriptions(call)
        if head.name == "companies":
            if head.key is None:
                if len(segments) > 1:
                    raise segment_not_found(segments[1].name)
                return self._handle(call, Target(self.companies, context=["companies"]))
            key = guid_key(head)
            if key != self.company.id:
                raise record_not_found("Company", "Id", key)
            if len(segments) == 1:
                row = self.company_row()
                return self._handle(call, Target(self.companies, row, context=["companies"]))
            return self._handle(call, resolve(self.api.sets, segments[1:], f"companies({key})"))
        if head.name in self.api.sets:
            self._company_from_query(call)
            return self._handle(call, resolve(self.api.sets, segments, ""))
        raise segment_not_found(head.name)

    def _company_from_query(self, call: Call) -> None:
        wanted = call.query.get("company")
        if not wanted:
            raise BcError(
                400,
                "Internal_CompanyNotFound",
                "Cannot process the request because the default company cannot be found. You can "
                "specify a default company in the service configuration file, or specify one for "
                'each tenant, or you can add a query string in the form of "company=[name]". You '
                "can see the available companies by accessing the default OData web service, "
                'Company. For more information, see "OData Web Services" in Help',
            )
        if wanted.lower() not in (self.company.id, self.company.name.lower()):
            raise BcError(
                400,
                "Internal_CompanyNotFound",
                f"Cannot process the request because the company '{wanted}' cannot be found.",
            )

    # --- company-scoped entity sets ----------------------------------------------------------
    def _handle(self, call: Call, target: Target) -> Result:
        collection, row = target.collection, target.row
        method = call.method
        if target.action is not None:
            if method != "POST":
                raise method_not_allowed(method, target.action)
            assert row is not None
            collection.actions[target.action](row)
            return Result(204)
        if method == "GET":
            if row is None:
                return self._read_collection(call, target)
            return self._entity_result(call, target, row, 200)
        if method == "POST" and row is None:
            if collection.create is None:
                raise method_not_allowed("POST", collection.name)
            values = typed_values(collection.entity, parse_json_body(call.body))
            created = collection.create(values)
            return self._entity_result(call, target, created, 201)
        if method == "PATCH" and row is not None:
            if collection.update is None:
                raise method_not_allowed("PATCH", collection.name)
            body = parse_json_body(call.body)
            check_if_match(call.headers.get("If-Match"), row)
            updated = collection.update(row, typed_values(collection.entity, body))
            return self._entity_result(call, target, updated, 200)
        if method == "DELETE" and row is not None:
            if collection.delete is None:
                raise method_not_allowed("DELETE", collection.name)
            check_if_match(call.headers.get("If-Match"), row)
            collection.delete(row)
            return Result(204)
        raise method_not_allowed(method, collection.name)

    def _options(self, call: Call, collection: Collection) -> QueryOptions:
        return parse_options(call.query, collection.entity, schema.navigation_target)

    def _entity_result(self, call: Call, target: Target, row: Row, status: int) -> Result:
        options = self._options(call, target.collection) if call.method == "GET" else QueryOptions()
        body = {
            "@odata.context": self._context(call, target, options) + "/$entity",
            **render_entity(target.collection, row, options),
        }
        return Result(status, body, {"ETag": etag(row["_v"])})

    def _read_collection(self, call: Call, target: Target) -> Result:
        options = self._options(call, target.collection)
        size = page_size(call.headers.get("Prefer"))
        page = read_page(target.collection, options, size)
        body: dict[str, Any] = {"@odata.context": self._context(call, target, options)}
        body["value"] = page.values
        if page.next_skiptoken is not None:
            body["@odata.nextLink"] = self._next_link(call, page.next_skiptoken, page.next_top)
        headers = {}
        if "odata.maxpagesize" in (call.headers.get("Prefer") or ""):
            headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        return Result(200, body, headers)

    def root_url(self, call: Call) -> str:
        tenant = f"/{call.api.tenant}" if call.api.tenant is not None else ""
        return f"{call.public_base}/v2.0{tenant}/{call.api.environment}/api/v2.0"

    def _context(self, call: Call, target: Target, options: QueryOptions) -> str:
        path = "/".join(p for p in target.context if p)
        if options.select:
            path += f"({','.join(options.select)})"
        return f"{self.root_url(call)}/$metadata#{path}"

    def _next_link(self, call: Call, skiptoken: str, remaining_top: int | None) -> str:
        path = "/".join(
            s.name if s.key is None else f"{s.name}({s.key})" for s in call.api.segments
        )
        dropped = {"$skiptoken", "$skip", "$top", "aid"}
        params = [(k, v) for k, v in call.query.items() if k not in dropped]
        if remaining_top is not None:
            params.append(("$top", str(remaining_top)))
        params += [("aid", "FIN"), ("$skiptoken", skiptoken)]
        query = "&".join(f"{k}={quote(v, safe=_LINK_SAFE)}" for k, v in params)
        return f"{self.root_url(call)}/{path}?{query}"

    def _service_document(self, call: Call) -> Result:
        names = ["companies", "subscriptions", *self.api.sets]
        return Result(
            200,
            {
                "@odata.context": f"{self.root_url(call)}/$metadata",
                "value": [{"name": n, "kind": "EntitySet", "url": n} for n in names],
            },
        )

    # --- subscriptions -----------------------------------------------------------------------
    async def _subscriptions(self, call: Call) -> Result:
        segment = call.api.segments[0]
        context = f"{self.root_url(call)}/$metadata#subscriptions"
        plan = field_plan(schema.SUBSCRIPTION, ())
        if segment.key is None:
            if call.method == "GET":
                rows = [render_row(r, plan) for r in self.webhooks.rows()]
                return Result(200, {"@odata.context": context, "value": rows})
            if call.method == "POST":
                body = parse_json_body(call.body)
                row = await self.webhooks.create(body, call.principal.object_id)
                return Result(
                    201,
                    {"@odata.context": context + "/$entity", **render_row(row, plan)},
                    {"ETag": etag(row["_v"])},
                )
            raise method_not_allowed(call.method, "subscriptions")
        sub = self.webhooks.get(quoted_key(segment))
        if call.method == "GET":
            row = sub.row()
        elif call.method == "PATCH":
            body = parse_json_body(call.body)
            check_if_match(call.headers.get("If-Match"), sub.row())
            row = await self.webhooks.renew(sub, body)
        elif call.method == "DELETE":
            check_if_match(call.headers.get("If-Match"), sub.row())
            self.webhooks.delete(sub)
            return Result(204)
        else:
            raise method_not_allowed(call.method, "subscriptions")
        return Result(
            200,
            {"@odata.context": context + "/$entity", **render_row(row, plan)},
            {"ETag": etag(row["_v"])},
        )
