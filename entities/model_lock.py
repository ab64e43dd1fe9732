"""``ModelLock``: a lease per Anaplan model, so tasks aimed at one model never overlap.

Imports and exports lock an Anaplan model while they run; a second task queues behind the first
and a third run's upload could replace the file the first is importing. So every step that uploads
to or starts a task on a model holds this lease. The entity key is ``<workspace id>:<model id>``;
different models have different entities and proceed in parallel.

A lease has an owner (the orchestration instance id) and an expiry. An expired lease can be taken
over, because a terminated orchestration never runs its ``finally`` and would otherwise hold the
model forever; ``force_release`` is the operator's escape hatch. "Now" always comes from the
calling orchestration (``context.current_utc_datetime``), which keeps the entity deterministic.
Inputs are validated before the state changes: entity operations have no rollback.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

bp = df.Blueprint()

ENTITY_NAME = "ModelLock"
FREE: dict[str, Any] = {"holder": None, "expires": None, "acquired_at": None, "purpose": ""}


def _require(arg: Any, *names: str) -> dict[str, Any]:
    if not isinstance(arg, dict) or any(n not in arg for n in names):
        raise ValueError(f"ModelLock operation needs {', '.join(names)}")
    return arg


def _acquire(state: dict[str, Any], arg: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    arg = _require(arg, "owner", "now", "ttl_s")
    holder, expires = state["holder"], state["expires"]
    free = (
        holder is None or holder == arg["owner"] or (expires is not None and expires <= arg["now"])
    )
    if free:
        state = {
            "holder": arg["owner"],
            "expires": arg["now"] + float(arg["ttl_s"]),
            "acquired_at": state["acquired_at"] if holder == arg["owner"] else arg["now"],
            "purpose": str(
                arg.get("purpose") or (state["purpose"] if holder == arg["owner"] else "")
            ),
        }
    return state, {"acquired": free, **state}


def _release(state: dict[str, Any], arg: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    arg = _require(arg, "owner")
    if state["holder"] == arg["owner"]:
        return dict(FREE), True
    return state, False


def _force_release(state: dict[str, Any], arg: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    _require(arg, "by")
    return dict(FREE), state


@bp.entity_trigger(context_name="context", entity_name=ENTITY_NAME)
def ModelLock(context: df.DurableEntityContext) -> None:  # noqa: N802 (entity name = function name)
    state = context.get_state(lambda: dict(FREE))
    operation = context.operation_name
    arg = context.get_input()
    if operation == "acquire":
        state, result = _acquire(state, arg)
    elif operation == "release":
        state, result = _release(state, arg)
    elif operation == "force_release":
        state, result = _force_release(state, arg)
    elif operation == "get":
        result = state
    else:
        raise ValueError(f"unknown ModelLock operation {operation!r}")
    context.set_state(state)
    context.set_result(result)
