"""Child processes of the development tools: started, waited for, stopped.

The sandbox (``python -m sandbox serve``) and the local host (``python -m local_host start``)
announce that they are ready by printing one JSON line on stdout. The demo, the benchmarks and
the tests all start them as subprocesses; these two functions are the one way they wait for that
line (never forever: a child that hangs before printing must fail the caller, not stall it) and
the one way they stop a child (SIGTERM for a clean shutdown, SIGKILL if it does not come).
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from typing import Any


def read_ready_line(process: subprocess.Popen[str], timeout_s: float) -> dict[str, Any] | None:
    """The JSON object ``process`` printed as its first stdout line, or None when it printed
    nothing within ``timeout_s`` (or exited first). ``process`` needs ``stdout=PIPE, text=True``."""
    stdout = process.stdout
    if stdout is None:
        raise ValueError("the process was not started with stdout=subprocess.PIPE")
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not line or not line[0].strip():
        return None
    ready = json.loads(line[0])
    if not isinstance(ready, dict):
        raise ValueError(f"the ready line is not a JSON object: {line[0][:200]!r}")
    return ready


def stop(process: subprocess.Popen[Any], timeout_s: float = 30) -> int | None:
    """SIGTERM ``process`` and wait for it; SIGKILL it if it is still running after
    ``timeout_s``. Returns its exit code (None only if even SIGKILL was not reaped)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                return None
    return process.returncode
