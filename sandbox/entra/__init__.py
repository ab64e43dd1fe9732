"""Simulator package `sandbox.entra` (placeholder until its issue lands)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.common.context import SandboxContext


def build(ctx: SandboxContext) -> dict[str, web.Application]:
    return {}


def describe(ctx: SandboxContext) -> dict[str, Any]:
    return {}
