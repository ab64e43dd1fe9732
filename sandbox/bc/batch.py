"""OData JSON ``$batch``: up to 100 operations, run in order, each answered with its own status.

Operation URLs are relative to the API root (``companies({id})/journals``), or absolute, or an
entity set with a ``Company`` header or ``?company=`` (as the BC docs show).

Errors stop the batch, as in BC and OData 4.0 (Part 1 §8.2.8.3, §11.7): the first operation that
fails is answered and every operation after it is neither run nor answered (the ``responses``
array ends with the failure; the batch itself is still 200). ``Prefer: odata.continue-on-error``
runs every operation and is echoed as ``Preference-Applied``. With ``Isolation: snapshot`` the
batch is transactional: if any operation fails, every change of the batch is rolled back and no
webhook notification is sent for it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from multidict import CIMultiDict

from sandbox.bc.errors import BcError, bad_request
from sandbox.bc.routing import ApiPath, parse_segments
from sandbox.bc.service import Call, Result
from sandbox.bc.store import Company

MAX_OPERATIONS = 100
CONTINUE_ON_ERROR = "odata.continue-on-error"
Dispatch = Callable[[Call], Awaitable[Result]]
Logger = Callable[[str, str, int], None]  # method, route template, status


async def run_batch(call: Call, company: Company, dispatch: Dispatch, log: Logger) -> Result:
    content_type = call.headers.get("Content-Type", "")
    if not content_type.lower().startswith("application/json"):
        raise bad_request(
            "The sandbox only implements JSON batch requests; send Content-Type: application/json."
        )
    try:
        body = json.loads(call.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request("Invalid Request Body") from exc
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list):
        raise bad_request("Invalid Request Body")
    if len(requests) > MAX_OPERATIONS:
        raise bad_request(
            f"The batch request contains {len(requests)} operations; the maximum is "
            f"{MAX_OPERATIONS}."
        )
    continue_on_error = continues_on_error(call.headers.get("Prefer"))
    transactional = call.headers.get("Isolation", "").lower() == "snapshot"
    saved = company.snapshot() if transactional else None
    if transactional:
        company.hold_changes()
    responses = []
    failed = False
    try:
        for operation in requests:
            inner, template = _inner_call(call, operation)
            result = await _run(dispatch, inner)
            log(inner.method, template, result.status)
            responses.append(_response(operation, result))
            if result.status >= 400:
                failed = True
                if not continue_on_error:
                    break  # the rest is not executed and gets no response
    finally:
        if transactional:
            if failed and saved is not None:
                company.restore(saved)
            company.release_changes(commit=not failed)
    headers = {"Preference-Applied": CONTINUE_ON_ERROR} if continue_on_error else {}
    return Result(200, {"responses": responses}, headers)


def continues_on_error(prefer: str | None) -> bool:
    """Whether ``Prefer`` asks to continue after a failed operation.

    Only the OData 4.0 token BC's OData stack knows, ``odata.continue-on-error``, bare or
    ``=true``; ``=false`` and the OData 4.01 spelling ``continue-on-error`` do not apply (the
    strictest reading where BC's behaviour is unconfirmed)."""
    for part in (prefer or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == CONTINUE_ON_ERROR:
            return value.strip().strip('"').lower() in ("", "true")
    return False


async def _run(dispatch: Dispatch, inner: Call | BcError) -> Result:
    if isinstance(inner, BcError):
        return Result(inner.status, inner.body(), inner.headers)
    try:
        return await dispatch(inner)
    except BcError as exc:
        return Result(exc.status, exc.body(), exc.headers)


def _inner_call(outer: Call, operation: Any) -> tuple[Call | BcError, str]:
    if not isinstance(operation, dict) or not isinstance(operation.get("url"), str):
        return bad_request("Each batch operation needs a 'method' and a 'url'."), "?"
    method = str(operation.get("method", "GET")).upper()
    parts = urlsplit(operation["url"])
    path = parts.path
    marker = "/api/v2.0/"
    if marker in path:
        path = path.split(marker, 1)[1]
    segments_text = [p for p in path.strip("/").split("/") if p]
    headers = CIMultiDict(outer.headers)
    headers.popall("Content-Type", None)
    headers.popall("Isolation", None)
    for name, value in (operation.get("headers") or {}).items():
        headers[str(name)] = str(value)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if "Company" in headers and "company" not in query:
        query["company"] = headers["Company"]
    raw_body = operation.get("body")
    body = b"" if raw_body is None else json.dumps(raw_body).encode("utf-8")
    try:
        segments = parse_segments(segments_text)
    except BcError as exc:
        return exc, "?"
    api = ApiPath(outer.api.tenant, outer.api.environment, segments)
    return replace(
        outer, method=method, api=api, query=query, headers=headers, body=body
    ), api.template


def _response(operation: dict[str, Any], result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": operation.get("id"),
        "status": result.status,
        "headers": (
            {"content-type": "application/json; odata.metadata=minimal", "odata-version": "4.0"}
            if result.body is not None
            else {}
        ),
    }
    out["headers"].update({k.lower(): v for k, v in result.headers.items()})
    if result.body is not None:
        out["body"] = result.body
    return out
