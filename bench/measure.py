"""Measuring processes from the outside: wall time, CPU time, peak RSS, machine load.

A measured child is started with ``subprocess.Popen`` and reaped with ``os.wait4``, whose
``rusage`` gives the child's own CPU time (user + system, all threads) and its peak resident set
(``ru_maxrss``) exactly, whatever the child does. A sampling thread reads the child's RSS with
psutil every 50 ms as well, for the timeline (``rss_samples``) that shows whether memory grows
with the data. Long-lived helpers (the sandbox, Azurite) are watched over a window with
``ProcessWatch``: their CPU seconds and peak RSS while a benchmark ran.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

MB = 1024 * 1024
SAMPLE_INTERVAL_S = 0.05


def load_avg() -> list[float]:
    """The 1, 5 and 15 minute load averages (2 cores: above 2 means the CPUs were contended)."""
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class ChildResult:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (t_s, rss_mb)


class _RssSampler(threading.Thread):
    def __init__(self, pid: int, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []
        self.peak_mb = 0.0
        self._halt = threading.Event()
        try:
            self._proc: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._proc = None
        self._t0 = time.monotonic()

    def run(self) -> None:
        while self._proc is not None and not self._halt.is_set():
            try:
                rss = self._proc.memory_info().rss / MB
            except psutil.Error:
                return
            self.peak_mb = max(self.peak_mb, rss)
            self.samples.append((round(time.monotonic() - self._t0, 2), round(rss, 1)))
            self._halt.wait(self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=2)


def run_child(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    input_text: str = "",
    timeout_s: float = 1800.0,
    echo_stderr: bool = False,
) -> ChildResult:
    """Run ``cmd`` to its end and measure it (see the module docstring)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = _RssSampler(proc.pid)
    sampler.start()
    out: list[str] = []
    err: list[str] = []

    def drain(stream: Any, sink: list[str], echo: bool) -> None:
        for line in stream:
            sink.append(line)
            if echo:
                print(f"    | {line.rstrip()}", flush=True)

    readers = [
        threading.Thread(target=drain, args=(proc.stdout, out, False), daemon=True),
        threading.Thread(target=drain, args=(proc.stderr, err, echo_stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    assert proc.stdin is not None
    try:
        proc.stdin.write(input_text)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    killer = threading.Timer(timeout_s, lambda: _kill(proc.pid))
    killer.daemon = True
    killer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    sampler.stop()
    for reader in readers:
        reader.join(timeout=5)
    return ChildResult(
        returncode=proc.returncode,
        stdout="".join(out),
        stderr="".join(err),
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        rss_samples=sampler.samples,
    )


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class ProcessWatch:
    """CPU seconds and peak RSS of a process that lives longer than one measurement."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._proc = psutil.Process(pid) if pid else None
        self._sampler: _RssSampler | None = None
        self._cpu0 = 0.0

    def _cpu(self) -> float:
        if self._proc is None:
            return 0.0
        try:
            times = self._proc.cpu_times()
            return float(times.user + times.system)
        except psutil.Error:
            return 0.0

    def start(self) -> None:
        if self._proc is None:
            return
        self._cpu0 = self._cpu()
        self._sampler = _RssSampler(self._proc.pid, interval_s=0.2)
        self._sampler.start()

    def stop(self) -> dict[str, float] | None:
        if self._proc is None or self._sampler is None:
            return None
        self._sampler.stop()
        return {
            "cpu_s": round(self._cpu() - self._cpu0, 2),
            "peak_rss_mb": round(self._sampler.peak_mb, 1),
        }


def azurite_pid(connection_string: str) -> int | None:
    """The Azurite process serving ``connection_string`` (found by its table port), if any."""
    port = None
    for part in connection_string.split(";"):
        if part.startswith("TableEndpoint="):
            port = part.rsplit(":", 1)[-1].split("/", 1)[0]
    if port is None:
        return None
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if any("azurite" in c for c in cmdline[:3]) and port in cmdline:
            return int(proc.pid)
    return None
