"""No secret reaches a log line, through any logger the app uses."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bc_anaplan import redaction
from bc_anaplan.config import SECRET_SETTING_NAMES
from bc_anaplan.logs import configure_logging
from bc_anaplan.secrets import SECRETS
from tests.support.processes import REPO_ROOT

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
# every environment variable that may hold a secret value
ENV_SECRETS = sorted(SECRET_SETTING_NAMES | {s.env_name for s in SECRETS})


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


def log_through_every_logger(value: str) -> str:
    """Log ``value`` in several shapes through every logger; return what the handler wrote."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.setLevel(logging.DEBUG)
            logger.info("credential %s in use", value)
            logger.warning("inline " + value)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    return stream.getvalue()


def test_secrets_in_the_environment_are_masked_without_ever_being_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Only the environment holds them; nothing calls register_secret or SecretStore.get."""
    values = {name: f"{name.lower()}-{uuid.uuid4().hex}" for name in ENV_SECRETS}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    key_file = tmp_path / "anaplan.key"
    key_file.write_text(f"private-key-{uuid.uuid4().hex}\n")
    monkeypatch.setenv("ANAPLAN_PRIVATE_KEY_FILE", str(key_file))
    before = log_through_every_logger(values["AZURE_CLIENT_SECRET"])
    assert values["AZURE_CLIENT_SECRET"] in before  # not masked yet: the test can fail

    configure_logging("INFO")

    for value in [*values.values(), key_file.read_text().strip()]:
        output = log_through_every_logger(value)
        assert value not in output
        assert output.count(redaction.MASK) == 2 * len(LOGGERS)


def test_importing_the_app_masks_the_environment_secrets_from_the_start() -> None:
    """What the Functions worker does: import function_app, then anything may log."""
    secret = f"azure-client-secret-{uuid.uuid4().hex}"
    script = (
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, format='%(name)s %(message)s')\n"
        "import function_app\n"
        "for name in ('azure.identity', 'msal', 'httpx', 'bc_anaplan', 'function_app', ''):\n"
        "    logging.getLogger(name).warning('secret=%s', sys.argv[1])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "ANAPLAN_", "AZURE_"))}
    result = subprocess.run(
        [sys.executable, "-c", script, secret],
        cwd=REPO_ROOT,
        env={**env, "AZURE_CLIENT_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert result.stdout.count("secret=***") == 6
