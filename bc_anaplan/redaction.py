"""Keeps secrets out of logs: every log record is scrubbed when it is created.

Two kinds of things are redacted from the message, its arguments and any formatted traceback:

* every value registered with ``register_secret`` (secret values read from Key Vault or the
  environment, access tokens as they are issued);
* credentials in the usual header shapes (``Authorization: Bearer …``, ``AnaplanAuthToken …``,
  ``Basic …``, ``CACertificate …``) and ``client_secret=``/``access_token`` fields, even when
  their value was never registered.

Redaction is installed as the process-wide log record factory, so it covers every logger -- the
connector's, httpx's, MSAL's, the Azure SDK's -- not only loggers that remember to add a filter.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections import OrderedDict
from typing import Any

MASK = "***"
_MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words
_MAX_REGISTERED = 512

_PATTERNS = (
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)([^'\",\r\n}]+)"),
    re.compile(r"(?i)\b(Bearer|AnaplanAuthToken|Basic|CACertificate)(\s+)[A-Za-z0-9\-._~+/=]{8,}"),
    re.compile(
        r"(?i)((?:client_secret|access_token|refresh_token|tokenValue|password|"
        r"encodedSignedData|clientState)['\"]?\s*[:=]\s*['\"]?)([^&'\"\s,}]+)"
    ),
)

_lock = threading.Lock()
_secrets: OrderedDict[str, None] = OrderedDict()
_installed = False


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears in later log records."""
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets[value] = None
        _secrets.move_to_end(value)
        while len(_secrets) > _MAX_REGISTERED:
            _secrets.popitem(last=False)


def redact(text: str) -> str:
    """``text`` with registered secrets and credential-shaped substrings masked."""
    with _lock:
        values = list(_secrets)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    text = _PATTERNS[0].sub(lambda m: m.group(1) + MASK, text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return _PATTERNS[2].sub(lambda m: m.group(1) + MASK, text)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not lose the record
        message = f"{record.msg!r} % {record.args!r}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install() -> None:
    """Install redaction for every log record of the process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
