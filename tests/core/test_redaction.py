"""No secret reaches a log line, through any logger the app uses."""

from __future__ import annotations

import io
import logging

import pytest

from bc_anaplan import redaction
from bc_anaplan.logs import configure_logging

SECRET = "Kv-Secret-Value-0xC0FFEE"
# every logger the app and its libraries write to
LOGGERS = [
    "",
    "bc_anaplan",
    "bc_anaplan.http",
    "bc_anaplan.bc",
    "bc_anaplan.anaplan",
    "function_app",
    "triggers",
    "orchestrators",
    "activities",
    "entities",
    "local_host",
    "httpx",
    "httpcore",
    "msal",
    "azure",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "azure.durable_functions",
    "urllib3",
    "aiohttp.access",
]


@pytest.fixture
def captured() -> io.StringIO:
    configure_logging("DEBUG")
    redaction.register_secret(SECRET)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_registered_secret_is_masked_through_every_logger(captured: io.StringIO) -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.debug("value=%s", SECRET)
        logger.info("inline " + SECRET)
        logger.warning("dict %s", {"client_secret": SECRET})
        try:
            raise RuntimeError(f"failed with {SECRET}")
        except RuntimeError:
            logger.exception("caught")
    output = captured.getvalue()
    assert SECRET not in output
    assert output.count("***") >= 4 * len(LOGGERS)


def test_credentials_in_header_shapes_are_masked(captured: io.StringIO) -> None:
    log = logging.getLogger("httpx")
    log.info("headers {'Authorization': 'Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig'}")
    log.info("Authorization: AnaplanAuthToken bWFueS1ieXRlcy1vZi10b2tlbg==")
    log.info("sent Basic dXNlcjpwYXNzd29yZA== to auth")
    log.info("form client_secret=abc123456789&scope=x")
    log.info('{"tokenValue": "opaque-token-value-1234"}')
    output = captured.getvalue()
    for leaked in (
        "eyJhbGciOiJIUzI1NiJ9",
        "bWFueS1ieXRlcy1vZi10b2tlbg",
        "dXNlcjpwYXNzd29yZA",
        "abc123456789",
        "opaque-token-value-1234",
    ):
        assert leaked not in output, leaked


def test_short_values_are_not_registered() -> None:
    redaction.register_secret("abc")
    assert redaction.redact("abc is fine") == "abc is fine"
