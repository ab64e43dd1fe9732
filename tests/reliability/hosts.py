"""The local host as an operator runs it: ``python -m local_host start`` in its own process.

``HostProcess`` starts the host (which resumes every unfinished instance of the task hub first),
reads the JSON line it prints when ready, starts orchestrations through the management API like
any HTTP client, and can be SIGKILLed -- no clean-up, no ``finally`` -- and started again on the
same task hub. Instance state is read straight from the task hub's table (``Store``), which
works whether or not a host is alive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, TextIO

import httpx

from devtools.processes import read_ready_line, stop
from local_host.store import Store
from tests.support.processes import REPO_ROOT

TERMINAL = ("Completed", "Failed", "Terminated")


class HostProcess:
    def __init__(self, env: dict[str, str], log_path: Path, *, ready_timeout_s: float = 90) -> None:
        self.env = {**env, "PYTHONUNBUFFERED": "1"}
        self.env.setdefault("LOCAL_HOST_FUNCTION_KEY", "reliability-key")
        self.log_path = log_path
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.key = self.env["LOCAL_HOST_FUNCTION_KEY"]
        self.starts = 0
        self._log: TextIO | None = None

    def start(self) -> HostProcess:
        self._log = self.log_path.open("a")
        self._log.write(f"--- host start {self.starts + 1}\n")
        self._log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local_host", "start", "--port", "0"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        ready = read_ready_line(self.process, self.ready_timeout_s)
        if ready is None:
            self.kill()
            raise RuntimeError(f"the host did not start; see {self.log_path}")
        self.url = ready["url"]
        self.starts += 1
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start_orchestration(self, name: str, instance_id: str, payload: dict[str, Any]) -> None:
        response = httpx.post(
            f"{self.url}/runtime/webhooks/durabletask/orchestrators/{name}/{instance_id}",
            params={"code": self.key},
            json=payload,
            timeout=60,
        )
        assert response.status_code == 202, response.text

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop(process)
        if self._log is not None:
            self._log.close()
            self._log = None


def instance_status(store: Store, instance_id: str) -> str | None:
    meta = store.meta(instance_id)
    return None if meta is None else str(meta.get("status"))


def instance_output(store: Store, instance_id: str) -> Any:
    meta = store.meta(instance_id)
    assert meta is not None
    output = meta.get("output")
    return json.loads(output) if isinstance(output, str) else output
