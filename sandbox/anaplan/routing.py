"""Model-scoped routes exist under two paths on the real service; register both.

``/2/0/models/{modelId}/...`` and ``/2/0/workspaces/{workspaceId}/models/{modelId}/...`` serve
the same resources. The route templates (what ``/_sandbox/requests`` reports and what targeted
faults match) keep these placeholder names, e.g.
``/2/0/workspaces/{workspaceId}/models/{modelId}/imports/{importId}/tasks``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

MODEL_PREFIXES = ("/2/0/workspaces/{workspaceId}/models/{modelId}", "/2/0/models/{modelId}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_model_route(app: web.Application, method: str, suffix: str, handler: Handler) -> None:
    for prefix in MODEL_PREFIXES:
        app.router.add_route(method, prefix + suffix, handler)
