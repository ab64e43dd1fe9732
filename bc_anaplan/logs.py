"""Logging set-up for the connector: levels and secret redaction, in one call.

Azure Functions configures handlers itself (records go to Application Insights); locally the
local host adds a stream handler. Either way, ``configure_logging`` installs redaction for every
record of the process, registers every secret value the environment holds for masking (before
anything could log one, and whether or not the connector ever reads it), and sets the level of
the connector's own loggers. ``function_app`` calls it when it is imported.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from bc_anaplan import redaction
from bc_anaplan.secrets import register_environment_secrets

# Third-party loggers that log request details at DEBUG; they stay at WARNING unless asked.
_NOISY = ("httpx", "httpcore", "msal", "azure", "urllib3")


def configure_logging(level: str = "INFO", environ: Mapping[str, str] | None = None) -> None:
    """Redaction on, environment secrets registered, levels set. Safe to call again."""
    redaction.install()
    register_environment_secrets(os.environ if environ is None else environ)
    logging.getLogger("bc_anaplan").setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING if level != "DEBUG" else logging.INFO)
