"""Logging set-up for the connector: levels and secret redaction, in one call.

Azure Functions configures handlers itself (records go to Application Insights); locally the
local host adds a stream handler. Either way, ``configure_logging`` installs redaction for every
record of the process and sets the level of the connector's own loggers.
"""

from __future__ import annotations

import logging

from bc_anaplan import redaction

# Third-party loggers that log request details at DEBUG; they stay at WARNING unless asked.
_NOISY = ("httpx", "httpcore", "msal", "azure", "urllib3")


def configure_logging(level: str = "INFO") -> None:
    redaction.install()
    logging.getLogger("bc_anaplan").setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING if level != "DEBUG" else logging.INFO)
