"""Simulated Azure Key Vault (secrets only), preloaded with the sandbox's credentials.
See ``sandbox/README.md``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.common.context import SandboxContext
from sandbox.keyvault.app import build_app


def build(ctx: SandboxContext) -> dict[str, web.Application]:
    return {"keyvault": build_app(ctx)}


def describe(ctx: SandboxContext) -> dict[str, Any]:
    return {"connector_env": {"KEY_VAULT_URL": ctx.urls["keyvault"]}}
