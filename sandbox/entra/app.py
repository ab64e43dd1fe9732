"""Entra ID's client-credentials token endpoint and OpenID discovery document.

Only what a daemon app uses: ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (what MSAL
fetches when instance discovery is off) and ``POST /{tenant}/oauth2/v2.0/token`` with
``grant_type=client_credentials``. Requests are checked in the order Entra reports problems:
tenant, grant type, client, client secret, then scope.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from aiohttp import web

from sandbox.common.context import SandboxContext
from sandbox.common.credentials import credentials
from sandbox.common.service import ERROR_BODY
from sandbox.entra.errors import error_response, fault_body
from sandbox.entra.tokens import RESOURCES, Principal, service_principal_id, token_store

DEFAULT_SCOPE_SUFFIX = "/.default"


def build_app(ctx: SandboxContext) -> web.Application:
    creds = credentials(ctx.seed)
    store = token_store(ctx)
    principal = Principal(
        creds.tenant_id, creds.client_id, service_principal_id(creds.tenant_id, creds.client_id)
    )

    def base(request: web.Request) -> str:
        return ctx.urls.get("entra") or f"{request.scheme}://{request.host}"

    def unknown_tenant(tenant: str) -> web.Response:
        return error_response(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
            "are signing into the correct cloud. Check with your subscription administrator, "
            "this may happen if there are no active subscriptions for the tenant.",
        )

    async def openid_configuration(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if tenant.lower() != creds.tenant_id:
            return unknown_tenant(tenant)
        root = f"{base(request)}/{creds.tenant_id}"
        return web.json_response(
            {
                "token_endpoint": f"{root}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base(request)}/{creds.tenant_id}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{root}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "ver"],
                "kerberos_endpoint": f"{root}/kerberos",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            }
        )

    async def token(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if tenant.lower() != creds.tenant_id:
            return unknown_tenant(tenant)
        content_type = request.headers.get("Content-Type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return error_response(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        basic_id, basic_secret = _basic_credentials(request.headers.get("Authorization", ""))
        client_id = client_id or basic_id
        client_secret = client_secret or basic_secret
        grant_type = form.get("grant_type", "")
        if not grant_type:
            return _missing("grant_type")
        if grant_type != "client_credentials":
            return error_response(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )
        if not client_id:
            return _missing("client_id")
        if client_id.lower() != creds.client_id:
            return error_response(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{creds.tenant_id}'. This can happen if the application has not been installed "
                "by the administrator of the tenant or consented to by any user in the tenant. "
                "You may have sent your authentication request to the wrong tenant.",
            )
        if form.get("client_assertion"):
            return error_response(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not "
                "registered on application.",
            )
        if not client_secret:
            return error_response(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the "
                "'client_credentials' grant type.",
            )
        if client_secret != creds.client_secret:
            return error_response(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{creds.client_id}'.",
            )
        scope = form.get("scope", "")
        if not scope:
            return _missing("scope")
        resource, problem = _resource_of(scope, creds.tenant_id)
        if problem is not None:
            return problem
        access_token, expires_in = store.issue(
            principal, resource, f"https://sts.windows.net/{creds.tenant_id}/"
        )
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": expires_in,
                "ext_expires_in": expires_in,
                "access_token": access_token,
            },
            headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
        )

    app = web.Application()
    app[ERROR_BODY] = fault_body
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    return app


def _missing(parameter: str) -> web.Response:
    return error_response(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{parameter}'.",
    )


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return "", ""
    try:
        decoded = base64.b64decode(value.strip()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return unquote_plus(user), unquote_plus(password)


def _resource_of(scope: str, tenant_id: str) -> tuple[str, web.Response | None]:
    """The resource a client-credentials scope names, or Entra's error for a bad scope."""
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith(DEFAULT_SCOPE_SUFFIX):
        return "", error_response(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
        )
    resource = scopes[0][: -len(DEFAULT_SCOPE_SUFFIX)].rstrip("/")
    if resource not in RESOURCES:
        return "", error_response(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource} was not found in the tenant named "
            f"{tenant_id}. This can happen if the application has not been installed by the "
            "administrator of the tenant or consented to by any user in the tenant. You might "
            "have sent your authentication request to the wrong tenant.",
        )
    return resource, None
