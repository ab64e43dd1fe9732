"""BC's error answers become typed errors with code, message, correlation id and status."""

from __future__ import annotations

import httpx

from bc_anaplan.bc.errors import BcError, decode_bc_error, decode_entra_error, split_correlation

GUID = "c32f628c-2b96-48c1-8b4b-7440366a21ef"


def test_json_error_with_correlation_suffix() -> None:
    response = httpx.Response(
        400,
        json={
            "error": {
                "code": "BadRequest_ResourceNotFound",
                "message": "Resource not found for the segment 'custmers'."
                f"  CorrelationId:  {GUID}.",
            }
        },
    )
    error = decode_bc_error(response)
    assert isinstance(error, BcError)
    assert (error.status, error.code, error.correlation_id) == (
        400,
        "BadRequest_ResourceNotFound",
        GUID,
    )
    assert error.message == "Resource not found for the segment 'custmers'."
    assert "CorrelationId" not in str(error)


def test_xml_error_of_an_unknown_environment() -> None:
    response = httpx.Response(
        404,
        content=b'<error xmlns="http://docs.oasis-open.org/odata/ns/metadata"><code>NoEnvironment'
        b"</code><message>Environment does not exist.</message></error>",
    )
    error = decode_bc_error(response)
    assert (error.status, error.code, error.message) == (
        404,
        "NoEnvironment",
        "Environment does not exist.",
    )


def test_plain_text_error_and_correlation_header() -> None:
    response = httpx.Response(502, text="Bad gateway", headers={"request-id": GUID})
    error = decode_bc_error(response)
    assert (error.status, error.code, error.message, error.correlation_id) == (
        502,
        None,
        "Bad gateway",
        GUID,
    )


def test_split_correlation_leaves_other_messages_alone() -> None:
    assert split_correlation("Plain message.") == ("Plain message.", None)


def test_entra_error_keeps_the_first_line_only() -> None:
    error = decode_entra_error(
        401,
        {
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x",
            "correlation_id": GUID,
        },
    )
    assert (error.api, error.status, error.code, error.correlation_id) == (
        "entra",
        401,
        "invalid_client",
        GUID,
    )
    assert error.message == "AADSTS7000215: Invalid client secret provided."
