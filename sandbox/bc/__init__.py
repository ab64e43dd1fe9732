"""Simulated Dynamics 365 Business Central API v2.0 for one company, CRONUS Manufacturing Ltd.,
built from ``../shared/docs/reference/bc-api.md``. See ``sandbox/README.md``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.bc.app import build_app
from sandbox.common.context import SandboxContext
from sandbox.common.credentials import credentials
from sandbox.masterdata import master_data


def build(ctx: SandboxContext) -> dict[str, web.Application]:
    return {"bc": build_app(ctx)}


def describe(ctx: SandboxContext) -> dict[str, Any]:
    creds = credentials(ctx.seed)
    company_id = master_data(ctx.seed).company_id
    return {
        "environment": creds.environment,
        "company_id": company_id,
        "webhook_client_state": creds.webhook_client_state,
        "connector_env": {
            "BC_API_BASE_URL": ctx.urls["bc"],
            "BC_TENANT_ID": creds.tenant_id,
            "BC_ENVIRONMENT": creds.environment,
            "BC_CLIENT_ID": creds.client_id,
            "BC_COMPANY_ID": company_id,
        },
    }
