"""Simulated Entra ID (the Microsoft identity platform): client-credentials tokens for BC and
Key Vault, issued to the sandbox's one app registration. See ``sandbox/README.md``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.common.context import SandboxContext
from sandbox.common.credentials import credentials
from sandbox.entra.app import build_app


def build(ctx: SandboxContext) -> dict[str, web.Application]:
    return {"entra": build_app(ctx)}


def describe(ctx: SandboxContext) -> dict[str, Any]:
    creds = credentials(ctx.seed)
    return {
        "tenant_id": creds.tenant_id,
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "connector_env": {
            "ENTRA_AUTHORITY_HOST": ctx.urls["entra"],
            "AZURE_AUTHORITY_HOST": ctx.urls["entra"],
            "AZURE_TENANT_ID": creds.tenant_id,
            "AZURE_CLIENT_ID": creds.client_id,
            "AZURE_CLIENT_SECRET": creds.client_secret,
        },
    }
