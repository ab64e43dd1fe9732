"""``python -m sandbox serve``: every simulator in one process, each on its own HTTPS port.

Start-up order: create the work directory and the CA, bind one loopback socket per service (so
every URL is known before any service is built), build the services, serve, then print exactly one
JSON line on stdout. Runs until SIGTERM or SIGINT, then closes every server and removes the work
directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from sandbox.common.clock import SimClock
from sandbox.common.context import SandboxContext, parse_scale
from sandbox.common.faults import SERVICES, FaultInjector, FaultSpecError
from sandbox.common.service import prepare
from sandbox.common.tls import SandboxTls

SERVICE_PACKAGES = ("sandbox.entra", "sandbox.keyvault", "sandbox.bc", "sandbox.anaplan")
# Retry-After the real services send with a 429 when nothing else is configured.
DEFAULT_RETRY_AFTER_S = {"bc": 5.0, "anaplan_api": 10.0, "anaplan_auth": 10.0}
# The connector's timer schedules, at the standard values its deployment (infra/main.bicep) sets.
# They are in ``connector_env`` because a Functions host, the local one included, cannot start a
# timer whose %SETTING% is unset: without them no connector command would start. The sandbox may
# not import the app, so the values are restated here; tests/sandbox/test_connector_env.py holds
# them equal to the connector's declared defaults.
CONNECTOR_SCHEDULES = {
    "REFERENCE_SYNC_SCHEDULE": "0 0 2 * * *",
    "ACTUALS_SCHEDULE": "0 30 2 * * *",
    "EMPLOYEES_SCHEDULE": "0 0 3 * * *",
    "WRITEBACK_WATCH_SCHEDULE": "0 */15 * * * *",
    "SUBSCRIPTIONS_SCHEDULE": "0 0 */12 * * *",
    "POLL_SCHEDULE": "0 5 * * * *",
    "RETENTION_SCHEDULE": "0 0 4 * * *",
}


def _bind_loopback() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def create_context(args: argparse.Namespace, workdir: Path) -> SandboxContext:
    scale_name, entries = parse_scale(args.scale)
    faults = FaultInjector(args.seed, args.fast, DEFAULT_RETRY_AFTER_S)
    if args.faults:
        faults.configure(args.faults)
    return SandboxContext(
        seed=args.seed,
        scale_name=scale_name,
        entries=entries,
        fast=args.fast,
        workdir=workdir,
        clock=SimClock(),
        faults=faults,
        tls=SandboxTls.create(workdir),
    )


def base_fields(ctx: SandboxContext) -> dict[str, Any]:
    return {
        "ca_bundle": str(ctx.tls.ca_path),
        "seed": ctx.seed,
        "scale": ctx.scale_name,
        "entries": ctx.entries,
        "fast": ctx.fast,
        "connector_env": {
            "CONNECTOR_CA_BUNDLE": str(ctx.tls.ca_path),
            # azure-identity and MSAL use `requests`, which lets this override `verify`
            "REQUESTS_CA_BUNDLE": str(ctx.tls.ca_path),
            **CONNECTOR_SCHEDULES,
        },
    }


async def serve(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bc-anaplan-sandbox-"))
    runners: list[web.AppRunner] = []
    try:
        ctx = create_context(args, workdir)
        sockets = {name: _bind_loopback() for name in SERVICES}
        ctx.urls = {n: f"https://127.0.0.1:{s.getsockname()[1]}" for n, s in sockets.items()}
        packages = [importlib.import_module(p) for p in SERVICE_PACKAGES]
        apps: dict[str, web.Application] = {}
        for package in packages:
            apps.update(package.build(ctx))
        for name, sock in sockets.items():
            app = prepare(apps.get(name) or web.Application(), ctx, name)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            await web.SockSite(runner, sock, ssl_context=ctx.tls.server_context).start()
            runners.append(runner)
        line = base_fields(ctx)
        line.update({name: url for name, url in ctx.urls.items()})
        for package in packages:
            fields = dict(package.describe(ctx))
            line["connector_env"].update(fields.pop("connector_env", {}))
            line.update(fields)
        # handlers first: a client may send SIGTERM as soon as it has read the line
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        for runner in reversed(runners):
            with contextlib.suppress(Exception):
                await runner.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="start every simulator and print one JSON line")
    s.add_argument("--scale", default="small", help="small | demo | bench | <entries>")
    s.add_argument("--seed", type=int, default=7, help="dataset and fault seed (default 7)")
    s.add_argument("--faults", default="", help="fault SPEC, see sandbox/README.md")
    s.add_argument("--fast", action="store_true", help="shorten waits the real services impose")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        parse_scale(args.scale)
        if args.faults:
            FaultInjector(args.seed, args.fast, {}).configure(args.faults)
    except (ValueError, FaultSpecError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0
