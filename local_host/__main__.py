"""``python -m local_host start | run | status``: run the app on this machine, as ``func`` would.

* ``start [--port 7071]`` serves HTTP triggers, timer triggers and the durable management API,
  resumes unfinished instances, and prints one JSON line ``{"url": ..., "function_key": ...}``
  when ready; SIGTERM or Ctrl-C stops it.
* ``run NAME --input JSON [--instance-id ID]`` starts one orchestration, shows its custom status
  as progress, waits, prints the final status as JSON; exit code 0 only if it completed.
* ``status [ID]`` lists the task hub's instances, or shows one.

Before ``start`` and ``run``, a callable ``startup_check()`` in the app's module runs; if it
raises, its message is printed as one line on stderr and the exit code is 2. What the app logs
while it is imported is held until the check has run, so that an app that also logs its
configuration error at import (as ``function_app`` does, for Azure) does not print it twice.
Bad command-line input (``--input`` that is not JSON) also exits 2 with one line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from local_host.clock import RealClock, SkippingClock
from local_host.config import ConfigurationError, load_app, load_settings, read_host_json
from local_host.engine import TERMINAL
from local_host.host import LocalHost, Status
from local_host.store import Store

log = logging.getLogger("local_host")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args)
    try:
        if args.command == "status":
            return _status(args)
        if args.command == "run":
            args.payload = _payload(args.input)
        host = _host(args)
    except (ConfigurationError, _StartupFailure) as exc:
        print(" ".join(str(exc).split()), file=sys.stderr)
        return 2
    with host:
        return _start(host, args) if args.command == "start" else _run(host, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local_host")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {
        "start": sub.add_parser("start", help="serve the app on 127.0.0.1"),
        "run": sub.add_parser("run", help="run one orchestration to its end"),
        "status": sub.add_parser("status", help="list instances or show one"),
    }
    for command in commands.values():
        command.add_argument("--app", default="function_app:app", help="module:attribute")
        command.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    commands["start"].add_argument("--port", type=int, default=7071, help="0: a free port")
    run = commands["run"]
    run.add_argument("orchestration")
    run.add_argument("--input", default=None, help="the orchestration's input as JSON")
    run.add_argument("--instance-id", default=None)
    run.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait")
    for command in (commands["start"], run):
        command.add_argument(
            "--skip-time", action="store_true", help="jump to the next durable timer when idle"
        )
    commands["status"].add_argument("instance_id", nargs="?")
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.INFO if args.command == "start" or args.verbose else logging.WARNING
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("azure", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _StartupFailure(Exception):
    pass


def _payload(text: str | None) -> Any:
    """The orchestration input from ``--input``; a one-line error if it is not JSON."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _StartupFailure(f"--input is not valid JSON: {exc}") from None


class _Holding(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _held_logs() -> Iterator[list[str]]:
    """Hold what reaches the root logger in the block; on leaving, pass on every record except
    those that repeat a message added to the yielded list (the failed check's, printed anyway).
    """
    root = logging.getLogger()
    handlers, holding, repeated = root.handlers[:], _Holding(), []
    root.handlers = [holding]
    try:
        yield repeated
    finally:
        root.handlers = handlers
        for record in holding.records:
            if any(text in record.getMessage() for text in repeated):
                continue
            for handler in handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)


def _host(args: argparse.Namespace) -> LocalHost:
    with _held_logs() as repeated:
        try:
            app, module = load_app(args.app)
        except Exception as exc:
            raise _StartupFailure(f"cannot load {args.app}: {type(exc).__name__}: {exc}") from exc
        check = getattr(module, "startup_check", None)
        if callable(check):
            try:
                check()
            except Exception as exc:
                repeated.append(str(exc))
                raise _StartupFailure(str(exc)) from exc
    clock = SkippingClock() if args.skip_time else RealClock()
    return LocalHost(app, app_module=module, clock=clock)


def _start(host: LocalHost, args: argparse.Namespace) -> int:
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        endpoint = host.serve(args.port)
    except (RuntimeError, ConfigurationError) as exc:
        print(" ".join(str(exc).split()), file=sys.stderr)
        return 2
    print(json.dumps({"url": endpoint.url, "function_key": endpoint.function_key}), flush=True)
    log.info("serving task hub %s at %s", host.task_hub, endpoint.url)
    stopped.wait()
    log.info("stopping")
    return 0


def _run(host: LocalHost, args: argparse.Namespace) -> int:
    try:
        instance_id = host.start_new(args.orchestration, args.payload, args.instance_id)
    except Exception as exc:
        print(" ".join(str(exc).split()), file=sys.stderr)
        return 1
    status = _watch(host, instance_id, args.timeout)
    print(json.dumps(status.to_json()))
    return 0 if status.runtime_status == "Completed" else 1


def _watch(host: LocalHost, instance_id: str, timeout_s: float) -> Status:
    """Poll until the instance ends, showing custom status: a bar on a terminal, lines if not."""
    terminal, deadline, shown = sys.stderr.isatty(), time.monotonic() + timeout_s, None
    while True:
        status = host.get_status(instance_id)
        assert status is not None
        if status.custom_status is not None and status.custom_status != shown:
            shown = status.custom_status
            if terminal:
                sys.stderr.write("\r\033[K" + _progress_line(shown))
            else:
                sys.stderr.write(f"progress: {json.dumps(shown)}\n")
            sys.stderr.flush()
        if status.runtime_status in TERMINAL or time.monotonic() > deadline:
            if terminal and shown is not None:
                sys.stderr.write("\n")
            return status
        time.sleep(0.2)


def _progress_line(custom: Any, width: int = 30) -> str:
    """``[#####.....] 5/10`` when the custom status has done/total (or progress 0..1)."""
    fraction, label = None, json.dumps(custom)
    if isinstance(custom, dict):
        done = next((custom[k] for k in ("done", "completed", "current") if k in custom), None)
        total, progress = custom.get("total"), custom.get("progress")
        if isinstance(done, int | float) and isinstance(total, int | float) and total > 0:
            fraction, label = done / total, f"{done}/{total}"
        elif isinstance(progress, int | float):
            fraction, label = float(progress), f"{progress:.0%}"
    if fraction is None:
        return label[:200]
    filled = int(width * min(max(fraction, 0.0), 1.0))
    return f"[{'#' * filled}{'.' * (width - filled)}] {label}"


def _status(args: argparse.Namespace) -> int:
    """Read the task hub directly: works whether or not a host is running."""
    spec = importlib.util.find_spec(args.app.partition(":")[0])
    host_json = Path(spec.origin).parent / "host.json" if spec and spec.origin else None
    settings = load_settings(read_host_json(None, host_json))
    store = Store(settings.connection_string, settings.task_hub)
    if args.instance_id:
        meta = store.meta(args.instance_id)
        if meta is None or meta.get("kind") != "orchestration":
            print(f"no instance {args.instance_id} in {settings.task_hub}", file=sys.stderr)
            return 1
        print(json.dumps(Status.from_meta(meta).to_json(), indent=2))
        return 0
    metas = sorted((m for m in store.metas() if m.get("kind") == "orchestration"),
                   key=lambda m: m["created"])  # fmt: skip
    for meta in metas:
        status = Status.from_meta(meta).to_json()
        status.pop("input"), status.pop("output")
        print(json.dumps(status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
