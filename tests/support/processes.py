"""Start the sandbox (``python -m sandbox serve``) as a real subprocess and read its JSON line.

Tests talk to the simulators over real HTTPS, exactly as the connector does in production; the
only thing they take from the sandbox process is the JSON line it prints when it is ready.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devtools.processes import read_ready_line, stop

REPO_ROOT = Path(__file__).resolve().parents[2]


class SandboxProcess:
    def __init__(self, *args: str, timeout_s: float = 60.0) -> None:
        self.args = list(args)
        self.timeout_s = timeout_s
        self.process: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.stderr_lines: list[str] = []

    def start(self) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "sandbox", "serve", *self.args]
        self.process = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        ready = read_ready_line(self.process, self.timeout_s)
        if ready is None:
            self.stop()
            raise RuntimeError(
                "sandbox did not print its JSON line:\n" + "".join(self.stderr_lines)
            )
        self.info = ready
        return self.info

    def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for text in self.process.stderr:
            self.stderr_lines.append(text)

    def stop(self) -> int | None:
        proc, self.process = self.process, None
        return None if proc is None else stop(proc, timeout_s=15)


@contextmanager
def running_sandbox(*args: str) -> Iterator[dict[str, Any]]:
    sandbox = SandboxProcess(*args)
    try:
        yield sandbox.start()
    finally:
        sandbox.stop()
