"""Identifiers of the simulated Anaplan tenant, in the formats the Integration API uses.

Workspace ids are 32 lowercase hex digits, model ids 32 uppercase hex digits, and the API treats
them case-sensitively; object ids are 12-digit strings whose first three digits name the kind of
object (``112`` import, ``113`` file, ``116`` export and its file, ``117`` action, ``118``
process, ``101`` list, ``102`` module, ``206`` line item). Everything the dataset exposes is
derived from the seed so two runs with the same seed agree; task and token ids are random, as
they are on the real service.
"""

from __future__ import annotations

import hashlib
import uuid

LIST_PREFIX = 101
MODULE_PREFIX = 102
IMPORT_PREFIX = 112
FILE_PREFIX = 113
EXPORT_PREFIX = 116
ACTION_PREFIX = 117
PROCESS_PREFIX = 118
LINE_ITEM_PREFIX = 206


def _hex32(label: str, seed: int) -> str:
    return hashlib.sha256(f"anaplan:{label}:{seed}".encode()).hexdigest()[:32]


def workspace_id(seed: int) -> str:
    return _hex32("workspace", seed).lower()


def model_id(seed: int) -> str:
    return _hex32("model", seed).upper()


def user_guid(seed: int, login: str) -> str:
    return _hex32(f"user:{login}", seed).lower()


def customer_guid(seed: int) -> str:
    return _hex32("customer", seed).lower()


def object_id(prefix: int, number: int) -> str:
    """``object_id(112, 7)`` -> ``"112000000007"``."""
    return f"{prefix}{number:09d}"


def new_task_id() -> str:
    return uuid.uuid4().hex.upper()


def new_token_uuid() -> str:
    return str(uuid.uuid4())
