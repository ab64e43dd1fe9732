"""JSON with ``Decimal`` written as exact JSON numbers (``1234.56``, never ``1234.5600000001``).

The standard encoder cannot emit a raw number for a non-float type, so decimals travel through
it as marked strings and the marks are replaced afterwards; the mark carries a per-process
random nonce, so no user text can forge one.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any

_NONCE = secrets.token_hex(8)
_MARKED = re.compile(r'"\\u0000' + _NONCE + r':([-+0-9.Ee]+)\\u0000"')


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"\x00{_NONCE}:{value}\x00"
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    return _MARKED.sub(r"\1", json.dumps(value, default=_default, ensure_ascii=False))
