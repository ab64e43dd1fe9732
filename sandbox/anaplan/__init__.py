"""A faithful local Anaplan: the authentication API and the Integration API v2.

Built from ``../shared/docs/reference/anaplan-api.md`` only. One tenant with one workspace and
the FP&A model (``dataset.py``), imports and exports that really read and write the model, one
task at a time per model, and the rules Anaplan enforces (tokens, case-sensitive ids, paging,
rate limit, model state). Documentation: ``sandbox/anaplan/README.md``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.anaplan.api_service import build_api_app
from sandbox.anaplan.auth_service import build_auth_app
from sandbox.anaplan.ids import model_id, workspace_id
from sandbox.anaplan.state import AnaplanState
from sandbox.common.context import SandboxContext
from sandbox.common.credentials import credentials

STATE_KEY = "anaplan"  # ctx.shared entry owned by this package


def build(ctx: SandboxContext) -> dict[str, web.Application]:
    state = AnaplanState(ctx)
    ctx.shared[STATE_KEY] = state
    return {"anaplan_auth": build_auth_app(state), "anaplan_api": build_api_app(state)}


def describe(ctx: SandboxContext) -> dict[str, Any]:
    creds = credentials(ctx.seed)
    return {
        "anaplan_user": creds.anaplan_user,
        "anaplan_password": creds.anaplan_password,
        "anaplan_cert": str(ctx.tls.anaplan_cert_path),
        "anaplan_key": str(ctx.tls.anaplan_key_path),
        "workspace_id": workspace_id(ctx.seed),
        "model_id": model_id(ctx.seed),
        "connector_env": {
            "ANAPLAN_AUTH_URL": ctx.urls["anaplan_auth"],
            "ANAPLAN_API_URL": ctx.urls["anaplan_api"],
            "ANAPLAN_AUTH_MODE": "basic",
            "ANAPLAN_USER": creds.anaplan_user,
            "ANAPLAN_WORKSPACE_ID": workspace_id(ctx.seed),
            "ANAPLAN_MODEL_ID": model_id(ctx.seed),
        },
    }
