"""Start and stop Azurite (the Azure Storage emulator) for tests, the demo and CI.

This is the one place that knows how to run Azurite here. It launches the installed
``node_modules/.bin/azurite`` binary directly (never ``npx``: its PID would be ``npm exec`` and
killing it would orphan the node child), binds blob, queue and table to free ports on 127.0.0.1,
keeps everything in memory, waits until the table port answers, and stops exactly the process it
started, by PID, whatever happened in between.

Use it as a context manager (``with Azurite() as az: az.connection_string``) or as a wrapper
command that exports ``AzureWebJobsStorage`` to a child and always cleans up::

    python -m devtools.azurite run -- python -m pytest

``--location DIR`` keeps the data in a folder instead of memory (the demo leaves its run records
there, for ``make demo-status``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType, TracebackType

from devtools.processes import stop

REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite"

# The well-known development account every Azure SDK and Azurite agree on (not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
CONNECTION_ENV = "AzureWebJobsStorage"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Azurite:
    """One Azurite process with blob, queue and table on free loopback ports."""

    def __init__(self, start_timeout_s: float = 30.0, location: Path | None = None) -> None:
        self.start_timeout_s = start_timeout_s
        self.location = location  # None: in memory; else a folder that keeps the data
        self.blob_port = free_port()
        self.queue_port = free_port()
        self.table_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        host = "http://127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={host}:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint={host}:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint={host}:{self.table_port}/{ACCOUNT};"
        )

    def start(self) -> Azurite:
        if not AZURITE_BIN.exists():
            raise RuntimeError(f"{AZURITE_BIN} is missing: run `make setup` (npm ci) first")
        if self.location is not None:
            self.location.mkdir(parents=True, exist_ok=True)
            storage = ["--location", str(self.location)]
        else:
            storage = ["--inMemoryPersistence"]
        args = [
            str(AZURITE_BIN),
            *storage,
            "--blobHost", "127.0.0.1", "--blobPort", str(self.blob_port),
            "--queueHost", "127.0.0.1", "--queuePort", str(self.queue_port),
            "--tableHost", "127.0.0.1", "--tablePort", str(self.table_port),
            "--skipApiVersionCheck", "--disableTelemetry", "--silent",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + self.start_timeout_s
        ports = (self.blob_port, self.queue_port, self.table_port)
        while not all(_port_answers(p) for p in ports):
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                raise RuntimeError(f"Azurite exited with {self.process.returncode}: {err.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Azurite did not answer within {self.start_timeout_s:.0f} s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop the process this object started (by PID), escalating to SIGKILL."""
        proc, self.process = self.process, None
        if proc is not None:
            stop(proc, timeout_s=10)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _raise_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(command: list[str], location: Path | None = None) -> int:
    """Run ``command`` with Azurite up and ``AzureWebJobsStorage`` pointing at it."""
    signal.signal(signal.SIGTERM, _raise_on_signal)
    with Azurite(location=location) as azurite:
        env = dict(os.environ, **{CONNECTION_ENV: azurite.connection_string})
        child = subprocess.Popen(command, env=env)
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.terminate()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
            return 130


def main(argv: list[str]) -> int:
    location = None
    if len(argv) >= 3 and argv[0] == "run" and argv[1] == "--location":
        location, argv = Path(argv[2]), ["run", *argv[3:]]
    if len(argv) >= 2 and argv[0] == "run" and argv[1] == "--" and len(argv) > 2:
        return run(argv[2:], location)
    print(
        "usage: python -m devtools.azurite run [--location DIR] -- <command> [args...]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
