"""Key Vault's secrets API behind the real bearer-challenge flow.

Every request without a valid token for ``https://vault.azure.net`` gets 401 with the
``WWW-Authenticate`` challenge that tells the SDK where to get one (the sandbox Entra and tenant).
This is what ``azure-keyvault-secrets`` relies on: its first request is sent unauthenticated.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from sandbox.common.context import SandboxContext
from sandbox.common.credentials import credentials
from sandbox.common.service import ERROR_BODY
from sandbox.entra.tokens import VAULT_RESOURCE, token_store
from sandbox.keyvault.secrets import SecretVersion, preloaded_store

_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_NOT_FOUND_HELP = (
    "If you recently deleted this secret you may be able to recover it using the correct "
    "recovery command. For help resolving this issue, please see "
    "https://go.microsoft.com/fwlink/?linkid=2125182"
)
_AUTH_MESSAGES = {
    "missing": "AKV10000: Request is missing a Bearer or PoP token.",
    "unknown": "AKV10000: Request is missing a Bearer or PoP token.",
    "expired": "Token validation failed: the token is expired.",
}


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def fault_body(status: int, message: str, request: web.Request) -> dict[str, Any]:
    if status == 429:
        return {
            "error": {
                "code": "Throttled",
                "message": "Request was not processed because too many requests were received.",
            }
        }
    return {
        "error": {
            "code": "InternalServerError" if status >= 500 else "BadRequest",
            "message": message,
        }
    }


def build_app(ctx: SandboxContext) -> web.Application:
    creds = credentials(ctx.seed)
    tokens = token_store(ctx)
    store = preloaded_store(ctx)
    challenge = (
        f'Bearer authorization="{ctx.urls["entra"]}/{creds.tenant_id}", resource="{VAULT_RESOURCE}"'
    )

    def vault_url(request: web.Request) -> str:
        return ctx.urls.get("keyvault") or f"{request.scheme}://{request.host}"

    def bundle(request: web.Request, secret: SecretVersion) -> dict[str, Any]:
        body: dict[str, Any] = {
            "value": secret.value,
            "id": f"{vault_url(request)}/secrets/{secret.name}/{secret.version}",
            "attributes": secret.attributes(),
            "tags": secret.tags,
        }
        if secret.content_type:
            body["contentType"] = secret.content_type
        return body

    def properties(
        request: web.Request, secret: SecretVersion, with_version: bool
    ) -> dict[str, Any]:
        suffix = f"/{secret.version}" if with_version else ""
        body: dict[str, Any] = {
            "id": f"{vault_url(request)}/secrets/{secret.name}{suffix}",
            "attributes": secret.attributes(),
            "tags": secret.tags,
        }
        if secret.content_type:
            body["contentType"] = secret.content_type
        return body

    def not_found(name: str) -> web.Response:
        return _error(
            404,
            "SecretNotFound",
            f"A secret with (name/id) {name} was not found in this key vault. {_NOT_FOUND_HELP}",
        )

    @web.middleware
    async def authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_sandbox/"):
            return await handler(request)
        check = tokens.check(request.headers.get("Authorization"), VAULT_RESOURCE)
        if check.principal is None:
            message = _AUTH_MESSAGES.get(check.reason) or (
                f"AKV10022: Invalid audience. Expected {VAULT_RESOURCE}, found: {check.audience}."
            )
            return _error(401, "Unauthorized", message, {"WWW-Authenticate": challenge})
        if "api-version" not in request.query:
            return _error(400, "BadParameter", "The api-version query parameter is missing.")
        name = request.match_info.get("name")
        if name is not None and not _NAME.match(name):
            return _error(400, "BadParameter", f"The request URI contains an invalid name: {name}")
        return await handler(request)

    async def list_secrets(request: web.Request) -> web.Response:
        values = [properties(request, s, with_version=False) for s in store.names()]
        return web.json_response({"value": values, "nextLink": None})

    async def get_secret(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        secret = store.current(name)
        return web.json_response(bundle(request, secret)) if secret else not_found(name)

    async def get_version(request: web.Request) -> web.Response:
        name, version = request.match_info["name"], request.match_info["version"]
        if version == "versions":
            if not store.versions(name):
                return not_found(name)
            values = [properties(request, s, with_version=True) for s in store.versions(name)]
            return web.json_response({"value": values, "nextLink": None})
        secret = store.version(name, version)
        return (
            web.json_response(bundle(request, secret)) if secret else not_found(f"{name}/{version}")
        )

    async def set_secret(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            value = body["value"]
            if not isinstance(value, str):
                raise TypeError("value")
        except (ValueError, KeyError, TypeError):
            return _error(400, "BadParameter", "Property 'value' is required and must be a string.")
        secret = store.set(
            request.match_info["name"], value, body.get("contentType"), body.get("tags") or {}
        )
        return web.json_response(bundle(request, secret))

    app = web.Application(middlewares=[authenticate])
    app[ERROR_BODY] = fault_body
    app.router.add_get("/secrets", list_secrets)
    app.router.add_get("/secrets/{name}", get_secret)
    # the SDK asks for the current version as ``/secrets/{name}/`` (an empty version segment)
    app.router.add_get("/secrets/{name}/", get_secret)
    app.router.add_put("/secrets/{name}", set_secret)
    app.router.add_get("/secrets/{name}/{version}", get_version)
    return app
