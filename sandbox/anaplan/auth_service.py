"""The Anaplan authentication service (``https://auth.anaplan.com`` stand-in).

``POST /token/authenticate`` with Basic or CACertificate credentials answers 201 with the
``tokenInfo`` envelope; ``POST /token/refresh`` extends the same token value; ``GET
/token/validate`` describes it; ``POST /token/logout`` revokes it (204). Errors use this
service's own body, ``{"status": "FAILURE_...", "statusMessage": ...}``, with the status codes
the reference documents: a malformed header is 401 on authenticate and logout but 400 on refresh
and validate; ``Bearer`` is not accepted here.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from aiohttp import web

from sandbox.anaplan.certificates import LoginRefused
from sandbox.anaplan.routing import Handler
from sandbox.anaplan.state import STATE, AnaplanState
from sandbox.anaplan.tokens import IssuedToken
from sandbox.anaplan.users import AnaplanUser
from sandbox.common.service import ERROR_BODY, ROUTE_OF, default_route_of

TOKEN_SCHEME = "AnaplanAuthToken "
BAD_HEADER = "Invalid header. Verify the header."


def failure(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"status": code, "statusMessage": message}, status=status)


def _error_body(status: int, message: str, request: web.Request) -> dict[str, Any]:
    return {"status": "FAILURE", "statusMessage": message}


def _basic_user(state: AnaplanState, encoded: str) -> AnaplanUser:
    try:
        login, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, ValueError) as exc:
        raise LoginRefused(401, "FAILURE_BAD_HEADER", BAD_HEADER) from exc
    if not sep:
        raise LoginRefused(401, "FAILURE_BAD_HEADER", BAD_HEADER)
    for user in state.users:
        if login == user.login and hmac.compare_digest(password, user.password):
            return user
    raise LoginRefused(401, "FAILURE_BAD_CREDENTIAL", "Invalid username or password")


async def _certificate_user(state: AnaplanState, request: web.Request, encoded: str) -> AnaplanUser:
    cert = state.certificates.certificate(encoded)
    user = state.certificates.user_for(cert)
    if request.content_type != "application/json":
        raise LoginRefused(401, "FAILURE_BAD_HEADER", "Content-Type must be application/json")
    try:
        body = await request.json()
    except ValueError as exc:
        raise LoginRefused(401, "FAILURE_BAD_CREDENTIAL", "Request body is not JSON") from exc
    state.certificates.verify(cert, body)
    return user


def _token_envelope(state: AnaplanState, token: IssuedToken, message: str) -> dict[str, Any]:
    return {
        "meta": {"validationUrl": f"{state.auth_base}/token/validate"},
        "status": "SUCCESS",
        "statusMessage": message,
        "tokenInfo": token.info(),
    }


async def authenticate(request: web.Request) -> web.Response:
    state = request.app[STATE]
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    try:
        if scheme == "Basic" and value:
            user = _basic_user(state, value)
        elif scheme == "CACertificate" and value:
            user = await _certificate_user(state, request, value)
        else:
            raise LoginRefused(401, "FAILURE_BAD_HEADER", BAD_HEADER)
    except LoginRefused as refused:
        return failure(refused.status, refused.code, refused.message)
    token = state.tokens.issue(user)
    return web.json_response(_token_envelope(state, token, "Login successful"), status=201)


def _presented_token(
    request: web.Request, bad_header_status: int
) -> tuple[IssuedToken | None, web.Response | None]:
    header = request.headers.get("Authorization", "")
    value = header[len(TOKEN_SCHEME) :] if header.startswith(TOKEN_SCHEME) else ""
    if not value or " " in value:
        return None, failure(bad_header_status, "FAILURE_BAD_HEADER", BAD_HEADER)
    token = request.app[STATE].tokens.valid(value)
    if token is None:
        return None, failure(401, "FAILURE_BAD_CREDENTIAL", "Token is invalid or has expired")
    return token, None


async def refresh(request: web.Request) -> web.Response:
    token, refused = _presented_token(request, 400)
    if token is None:
        assert refused is not None
        return refused
    state = request.app[STATE]
    state.tokens.refresh(token)
    return web.json_response(_token_envelope(state, token, "Token refreshed"))


async def validate(request: web.Request) -> web.Response:
    token, refused = _presented_token(request, 400)
    if token is None:
        assert refused is not None
        return refused
    state = request.app[STATE]
    return web.json_response(
        {
            "meta": {"validationUrl": f"{state.auth_base}/token/validate"},
            "status": "SUCCESS",
            "statusMessage": "Token validated",
            "tokenInfo": {"expiresAt": token.expires_at_ms, "tokenId": token.token_id},
            "userInfo": {
                "userGuid": token.user.guid,
                "userId": token.user.login,
                "customerGuid": token.user.customer_guid,
            },
        }
    )


async def logout(request: web.Request) -> web.Response:
    token, refused = _presented_token(request, 401)
    if token is None:
        assert refused is not None
        return refused
    request.app[STATE].tokens.revoke(token)
    return web.Response(status=204)


@web.middleware
async def _auth_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return failure(exc.status, "FAILURE", exc.reason)


def build_auth_app(state: AnaplanState) -> web.Application:
    app = web.Application(middlewares=[_auth_errors])
    app[STATE] = state
    app[ROUTE_OF] = default_route_of
    app[ERROR_BODY] = _error_body
    app.router.add_post("/token/authenticate", authenticate)
    app.router.add_post("/token/refresh", refresh)
    app.router.add_get("/token/validate", validate)
    app.router.add_post("/token/logout", logout)
    return app
