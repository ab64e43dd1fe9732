"""``python -m bc_anaplan ops``: the ops API from a terminal, for people without the portal.

A client of a running app (the local host's front door or the Function App in Azure), never of
the storage behind it: ``--url`` is the app's base URL (``https://<app>.azurewebsites.net``,
``http://127.0.0.1:7071``), ``--key`` a function key; or the environment variables
``CONNECTOR_OPS_URL`` and ``CONNECTOR_OPS_KEY`` (read by this command only, they are not app
settings). Answers are printed as JSON, except ``runs``, which prints a table (``--json`` for
JSON). Exit codes: 0 done, 1 the API refused (its code and message on stderr), ``ping`` found
something missing or ``health`` found the configuration invalid (503), 2 bad usage.

Requests go through the connector's resilient HTTP layer: retried on 429/5xx where that is safe,
never blindly for a start.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from bc_anaplan.config import HttpSettings
from bc_anaplan.http import (
    ApiError,
    ApiSpec,
    OutcomeUnknownError,
    ResilientClient,
    TransportFailure,
)

URL_ENV, KEY_ENV = "CONNECTOR_OPS_URL", "CONNECTOR_OPS_KEY"
CLIENT_HTTP = HttpSettings(
    ca_bundle=None,
    connect_timeout_s=10,
    read_timeout_s=300,  # ping waits on BC and Anaplan
    max_attempts=3,
    backoff_base_s=1,
    backoff_cap_s=10,
    max_retry_after_s=30,
)


def decode_error(response: httpx.Response) -> ApiError:
    """The ops API's ``{"error": {"code", "message"}}``, or the bare status."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    message = error.get("message") or response.text[:300] or response.reason_phrase
    return ApiError("ops API", response.status_code, message, code=error.get("code"))


class OpsClient:
    def __init__(self, url: str, key: str, ca_bundle: str | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"--url must be the app's http(s) base URL, got {url!r}")
        base = f"{parts.scheme}://{parts.netloc}"
        spec = ApiSpec(
            "ops API",
            base,
            rate_limit_per_minute=600,
            decode_error=decode_error,
            default_headers={"x-functions-key": key, "Accept": "application/json"},
        )
        settings = HttpSettings(**{**CLIENT_HTTP.__dict__, "ca_bundle": ca_bundle})
        self.http = ResilientClient(spec, settings)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"/api/{path}", **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).json()


def _run(run_id: str) -> str:
    return quote(run_id, safe="")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bc_anaplan ops",
        description="Operate a running BC <-> Anaplan connector through its ops API.",
    )
    p.add_argument("--url", default=os.environ.get(URL_ENV), help=f"app base URL (${URL_ENV})")
    p.add_argument("--key", default=os.environ.get(KEY_ENV), help=f"function key (${KEY_ENV})")
    p.add_argument("--ca-bundle", help="PEM file of extra CAs to trust")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runs = commands.add_parser("runs", help="list recent runs")
    runs.add_argument("--flow")
    runs.add_argument("--state")
    runs.add_argument("--since", help="ISO 8601 date or date-time")
    runs.add_argument("--limit", type=int)
    runs.add_argument("--json", action="store_true", help="print the API's JSON")
    commands.add_parser("show", help="one run in full").add_argument("run_id")
    start = commands.add_parser("start", help="start a flow")
    start.add_argument("flow")
    start.add_argument("--input", default="{}", help='JSON, e.g. \'{"mode": "incremental"}\'')
    commands.add_parser("rerun", help="run a run's flow again").add_argument("run_id")
    commands.add_parser("replay", help="re-send what a run left out").add_argument("run_id")
    terminate = commands.add_parser("terminate", help="terminate a running run")
    terminate.add_argument("run_id")
    terminate.add_argument("--reason")
    release = commands.add_parser("release-lock", help="force-release a model's lock")
    release.add_argument("workspace")
    release.add_argument("model")
    release.add_argument("--reason", required=True)
    release.add_argument("--by", default=None, help="who releases it (default: your user name)")
    commands.add_parser("health", help="is the app up and its configuration valid (cheap)")
    commands.add_parser("ping", help="check that the connector fits BC and Anaplan")
    report = commands.add_parser("report", help="save a run's HTML report")
    report.add_argument("run_id")
    report.add_argument("--out", required=True, type=Path)
    retention = commands.add_parser("retention", help="run the retention purge now")
    retention.add_argument("--older-than-days", type=int)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if not args.url or not args.key:
        err(f"ops: give --url and --key (or set {URL_ENV} and {KEY_ENV})")
        return 2
    try:
        client = OpsClient(args.url, args.key, args.ca_bundle)
        return dispatch(client, args)
    except (ValueError, OSError) as exc:
        err(f"ops: {exc}")
        return 2
    except ApiError as exc:
        err(f"ops: HTTP {exc.status} {exc.code or ''}: {exc.message}".strip())
        return 1
    except (OutcomeUnknownError, TransportFailure) as exc:
        err(f"ops: {exc}")
        return 1


def dispatch(client: OpsClient, args: argparse.Namespace) -> int:
    command = args.command
    if command == "runs":
        params = {k: v for k in ("flow", "state", "since", "limit") if (v := getattr(args, k))}
        page = client.json("GET", "runs", params=params)
        if args.json:
            _print(page)
        else:
            _print_runs(page)
        return 0
    if command == "report":
        page = client.call("GET", f"runs/{_run(args.run_id)}/report").text
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(page, encoding="utf-8")
        out(f"report of {args.run_id} written to {args.out}")
        return 0
    if command == "health":  # 503 is its answer for a bad configuration, not a busy server
        answer = client.json("GET", "health", expected=frozenset({503}))
        _print(answer)
        return 0 if answer.get("status") == "ok" else 1
    answer = _request(client, args)
    _print(answer)
    if command == "ping" and not answer.get("ok"):
        return 1  # the app answered, but something it needs is missing
    return 0


def _request(client: OpsClient, args: argparse.Namespace) -> Any:
    command = args.command
    if command == "show":
        return client.json("GET", f"runs/{_run(args.run_id)}")
    if command == "start":
        body = json.loads(args.input)
        return client.json("POST", f"runs/{quote(args.flow, safe='')}", json=body)
    if command in ("rerun", "replay"):
        return client.json("POST", f"runs/{_run(args.run_id)}/{command}", json={})
    if command == "terminate":
        body = {"reason": args.reason} if args.reason else {}
        return client.json("POST", f"runs/{_run(args.run_id)}/terminate", json=body)
    if command == "release-lock":
        body = {"by": args.by or getpass.getuser(), "reason": args.reason}
        path = f"locks/{quote(args.workspace, safe='')}/{quote(args.model, safe='')}/release"
        return client.json("POST", path, json=body)
    if command == "ping":
        return client.json("GET", "ping")
    if command == "retention":
        body = {} if args.older_than_days is None else {"older_than_days": args.older_than_days}
        return client.json("POST", "retention", json=body)
    raise ValueError(f"unknown command {command}")


def out(text: str) -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _print(value: Any) -> None:
    out(json.dumps(value, indent=2, sort_keys=True))


def _print_runs(page: dict[str, Any]) -> None:
    rows = [("started", "flow", "state", "trigger", "run id")]
    rows += [
        (r["started_at"][:19], r["flow"], r["state"], r["trigger"], r["run_id"])
        for r in page["runs"]
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    for row in rows:
        out("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:4])) + f"  {row[4]}")
    more = " (more match: use --limit or --since)" if page.get("truncated") else ""
    out(f"{page['count']} run(s){more}")
