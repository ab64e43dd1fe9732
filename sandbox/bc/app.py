"""The Business Central application: authentication, environment, throttling, then dispatch.

Order of checks as BC applies them: a valid Entra token for BC's audience (401
``Authentication_InvalidCredentials`` otherwise), a tenant in the URL that matches the token, an
existing environment (404 ``NoEnvironment`` XML otherwise), the per-user limits, and only then the
OData request itself.
"""

from __future__ import annotations

from collections import Counter

import orjson
from aiohttp import web

from sandbox.bc.batch import run_batch
from sandbox.bc.controls import Controls
from sandbox.bc.errors import BcError, fault_body, invalid_credentials, segment_not_found
from sandbox.bc.history import History
from sandbox.bc.ledger import GeneralLedger
from sandbox.bc.metadata import metadata_document
from sandbox.bc.purchasing import load_purchase_orders
from sandbox.bc.resources import CompanyApi
from sandbox.bc.routing import parse_api_path, template_of
from sandbox.bc.service import BcService, Call, Result
from sandbox.bc.store import Company
from sandbox.bc.throttle import Throttle
from sandbox.bc.webhooks import Webhooks
from sandbox.common.context import SandboxContext
from sandbox.common.credentials import credentials
from sandbox.common.service import (
    ERROR_BODY,
    INNER_LOG,
    REQUEST_LOG,
    ROUTE_OF,
    default_route_of,
)
from sandbox.entra.tokens import BC_RESOURCE, token_store
from sandbox.masterdata import master_data

JSON_TYPE = (
    "application/json; odata.metadata=minimal; odata.streaming=true; "
    "IEEE754Compatible=false; charset=utf-8"
)
NO_ENVIRONMENT = (
    '<error xmlns="http://docs.oasis-open.org/odata/ns/metadata"><code>NoEnvironment</code>'
    "<message>Environment does not exist.</message></error>"
)
MAX_BODY_BYTES = 350 * 1024 * 1024
COMPANY: web.AppKey[Company] = web.AppKey("bc_company")
WEBHOOKS: web.AppKey[Webhooks] = web.AppKey("bc_webhooks")


def to_response(result: Result) -> web.Response:
    headers = {"OData-Version": "4.0", **result.headers}
    if result.body is None:
        return web.Response(status=result.status, headers=headers)
    if isinstance(result.body, str):
        headers.setdefault("Content-Type", "application/xml")
        return web.Response(status=result.status, text=result.body, headers=headers)
    headers["Content-Type"] = JSON_TYPE
    return web.Response(status=result.status, body=orjson.dumps(result.body), headers=headers)


def error_response(error: BcError) -> web.Response:
    return to_response(Result(error.status, error.body(), error.headers))


def build_app(ctx: SandboxContext) -> web.Application:
    creds = credentials(ctx.seed)
    data = master_data(ctx.seed)
    history = History(data, ctx.seed, ctx.entries, horizon_s=ctx.clock.time() - 3600)
    company = Company(data, GeneralLedger(history, ctx.clock), ctx.clock, ctx.seed)
    load_purchase_orders(company, ctx.seed)
    # Account balances need one pass over the whole history (about 2 s at bench scale): pay it
    # at start-up rather than in the first request, and keep only per-day totals, not entries.
    company.ledger.chunk_totals()
    api = CompanyApi(company, today=lambda: ctx.clock.now().date())
    webhooks = Webhooks(ctx, company)
    throttle = Throttle(ctx.clock, ctx.fast)
    tokens = token_store(ctx)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[INNER_LOG] = Counter()

    def log(method: str, route: str, status: int) -> None:
        app[REQUEST_LOG][(method, route, status)] += 1
        app[INNER_LOG][(method, route, status)] += 1

    async def batch(call: Call) -> Result:
        return await run_batch(call, company, service.dispatch, log)

    service = BcService(company, api, webhooks, batch, metadata_document)

    async def handle(request: web.Request) -> web.Response:
        api_path = parse_api_path(request.path)
        if api_path is None:
            first = request.path.split("/")[2] if request.path.count("/") > 1 else request.path
            return error_response(segment_not_found(first or "v2.0"))
        check = tokens.check(request.headers.get("Authorization"), BC_RESOURCE)
        principal = check.principal
        if principal is None or (
            api_path.tenant is not None and api_path.tenant.lower() != principal.tenant_id
        ):
            return error_response(invalid_credentials())
        if api_path.environment.lower() != creds.environment.lower():
            return web.Response(status=404, text=NO_ENVIRONMENT, content_type="application/xml")
        call = Call(
            request.method,
            api_path,
            dict(request.query),
            request.headers,
            await request.read(),
            principal,
            ctx.urls.get("bc") or f"{request.scheme}://{request.host}",
        )
        try:
            async with throttle.slot(principal.object_id):
                return to_response(await service.dispatch(call))
        except BcError as error:
            return error_response(error)

    def route_of(request: web.Request) -> str:
        if request.path.startswith("/v2.0/"):
            return template_of(request.path)
        return default_route_of(request)

    async def start_webhooks(_: web.Application) -> None:
        await webhooks.start()

    async def stop_webhooks(_: web.Application) -> None:
        await webhooks.stop()

    app[ROUTE_OF] = route_of
    app[ERROR_BODY] = fault_body
    app[COMPANY] = company
    app[WEBHOOKS] = webhooks
    app.router.add_route("*", "/v2.0/{tail:.*}", handle)
    Controls(company, api, webhooks, throttle).register(app)
    app.on_startup.append(start_webhooks)
    app.on_cleanup.append(stop_webhooks)
    return app
