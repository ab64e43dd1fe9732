"""The measured connector process: the real app on the local host, running the steps it is given.

``python -m bench.runner`` reads a spec (JSON) on stdin and prints one JSON line with the results
on stdout. The parent measures this process from the outside (``bench.measure.run_child``);
inside, each step gets its own figures:

* ``wall_s`` from start to the orchestration's end, ``cpu_s`` of this whole process (every
  thread: the host's dispatcher, activities, HTTP, storage) over the same interval;
* ``peak_rss_mb`` of this process during the step (sampled every 50 ms) and ``ru_maxrss`` at its
  end (exact, monotone over the process's life);
* ``requests``: the sandbox's request log, reset before the step;
* ``phases``: from the durable histories (the instance and its sub-orchestrations), per activity
  or timer name, how many ran, their summed duration and the span from the first start to the
  last end -- where the time went, including time spent waiting on durable poll timers;
* ``rate_limit_wait_s``: time the connector's own client-side request budget held requests back
  (measured by wrapping ``RateLimiter.acquire``; behaviour unchanged);
* ``neighbours``: CPU seconds and peak RSS of the sandbox and Azurite during the step, the CPU
  time of the whole machine, and what of it was spent by other processes (a shared machine).

Spec: ``{"app": "function_app:app", "info": <sandbox JSON line or null>, "storage": conn,
"task_hub": name, "env": {...}, "durable_task": {host.json overrides}, "clock": "real" |
"skipping", "watch": {"sandbox": pid, "azurite": pid}, "steps": [{"label", "flow", "input",
"timeout_s", "before": [{"service", "path", "body"}]}]}``. The real clock is the default:
durable timers (Anaplan polls every 5 s) cost what they cost in Azure. The skipping clock is for
the smoke test only.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import threading
import time
import uuid
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


class PeakRss(threading.Thread):
    """This process's RSS, sampled; ``window()`` restarts the peak for the next step."""

    def __init__(self, interval_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.proc = psutil.Process()
        self.peak = self.current()
        self._lock = threading.Lock()

    def current(self) -> float:
        return float(self.proc.memory_info().rss / MB)

    def run(self) -> None:
        while True:
            rss = self.current()
            with self._lock:
                self.peak = max(self.peak, rss)
            time.sleep(self.interval_s)

    def window(self) -> float:
        """The peak since the last call (and restart)."""
        with self._lock:
            peak, self.peak = max(self.peak, self.current()), self.current()
        return peak


def ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class LimiterWaits:
    """Seconds each API's client-side rate limiter made callers wait (wraps ``acquire``)."""

    def __init__(self) -> None:
        self.waited: dict[int, float] = defaultdict(float)
        try:
            from bc_anaplan import ratelimit
        except ImportError:  # the trivial app does not load the connector
            self.module = None
            return
        self.module = ratelimit
        original = ratelimit.RateLimiter.acquire
        waited = self.waited

        def acquire(limiter: Any) -> float:
            seconds = float(original(limiter))
            waited[id(limiter)] += seconds
            return seconds

        ratelimit.RateLimiter.acquire = acquire  # type: ignore[method-assign]

    def snapshot(self) -> dict[str, float]:
        if self.module is None:
            return {}
        return {
            name: round(self.waited.get(id(limiter), 0.0), 2)
            for name, limiter in self.module._registry.items()
        }


def phases(host: Any, instance_id: str) -> list[dict[str, Any]]:
    """Per activity / timer / sub-orchestration name, over the instance and (recursively) its
    sub-orchestrations: how many ran, their summed time from scheduled to completed (which
    includes waiting for a free activity thread) and the span from the first start to the
    last end."""
    groups: dict[str, dict[str, Any]] = {}
    _collect(host, instance_id, "", groups)
    return [
        {
            "phase": name,
            "count": g["count"],
            "busy_s": round(g["busy_s"], 2),
            "span_s": round((g["last"] - g["first"]).total_seconds(), 2),
        }
        for name, g in sorted(groups.items(), key=lambda kv: kv[1]["first"])
    ]


def _collect(host: Any, instance_id: str, prefix: str, groups: dict[str, dict[str, Any]]) -> None:
    from local_host import history as h

    scheduled: dict[int, tuple[str, Any]] = {}
    children: list[tuple[str, str]] = []
    for event in host.history(instance_id):
        etype = event["EventType"]
        stamp = h.parse_timestamp(event["Timestamp"])
        if etype == h.TASK_SCHEDULED:
            scheduled[event["EventId"]] = (f"{prefix}activity {event['Name']}", stamp)
        elif etype == h.TIMER_CREATED:
            scheduled[event["EventId"]] = (f"{prefix}durable timer", stamp)
        elif etype == h.SUB_CREATED:
            scheduled[event["EventId"]] = (f"{prefix}sub-orchestration {event['Name']}", stamp)
            children.append((event["Name"], event["InstanceId"]))
        elif etype in h.COMPLETIONS:
            ref = event.get(h.COMPLETIONS[etype])
            if ref not in scheduled:
                continue
            name, begun = scheduled.pop(ref)
            group = groups.setdefault(
                name, {"count": 0, "busy_s": 0.0, "first": begun, "last": stamp}
            )
            group["count"] += 1
            group["busy_s"] += (stamp - begun).total_seconds()
            group["first"], group["last"] = min(group["first"], begun), max(group["last"], stamp)
    for name, child in children:
        _collect(host, child, f"{prefix}{name} / ", groups)


class Neighbours:
    """CPU seconds and peak RSS of the other processes involved (sandbox, Azurite), and the
    CPU time the whole machine spent meanwhile (so others' work on a shared machine shows)."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.procs = {}
        for name, pid in pids.items():
            try:
                self.procs[name] = psutil.Process(pid) if pid else None
            except psutil.Error:
                self.procs[name] = None
        self.peaks: dict[str, float] = {}
        self._cpu0: dict[str, float] = {}
        self._machine0 = 0.0
        self._lock = threading.Lock()
        threading.Thread(target=self._sample, daemon=True).start()

    @staticmethod
    def _cpu(proc: psutil.Process | None) -> float:
        if proc is None:
            return 0.0
        try:
            t = proc.cpu_times()
            return float(t.user + t.system)
        except psutil.Error:
            return 0.0

    @staticmethod
    def machine_busy_s() -> float:
        t = psutil.cpu_times()
        return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))

    def _sample(self) -> None:
        while True:
            for name, proc in self.procs.items():
                if proc is None:
                    continue
                try:
                    rss = proc.memory_info().rss / MB
                except psutil.Error:
                    continue
                with self._lock:
                    self.peaks[name] = max(self.peaks.get(name, 0.0), rss)
            time.sleep(0.1)

    def begin(self) -> None:
        with self._lock:
            self.peaks = {}
        self._cpu0 = {name: self._cpu(proc) for name, proc in self.procs.items()}
        self._machine0 = self.machine_busy_s()

    def end(self, own_cpu_s: float) -> dict[str, Any]:
        out: dict[str, Any] = {}
        ours = own_cpu_s
        for name, proc in self.procs.items():
            if proc is None:
                continue
            cpu = self._cpu(proc) - self._cpu0.get(name, 0.0)
            ours += cpu
            with self._lock:
                peak = self.peaks.get(name, 0.0)
            out[name] = {"cpu_s": round(cpu, 2), "peak_rss_mb": round(peak, 1)}
        machine = self.machine_busy_s() - self._machine0
        out["machine_cpu_s"] = round(machine, 2)
        out["other_processes_cpu_s"] = round(max(0.0, machine - ours), 2)
        return out


def _host_json(overrides: dict[str, Any]) -> dict[str, Any]:
    """The app's host.json, with ``extensions.durableTask`` settings overridden (experiments
    such as fewer concurrent activities; the benchmarks themselves use host.json as is)."""
    settings = json.loads((REPO_ROOT / "host.json").read_text())
    settings["extensions"]["durableTask"].update(overrides)
    return dict(settings)


def _sandbox_client(info: dict[str, Any] | None) -> Any:
    if info is None:
        return None
    import ssl

    import httpx

    return httpx.Client(verify=ssl.create_default_context(cafile=info["ca_bundle"]), timeout=300)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.sandbox import SERVICES, request_log

    peak = PeakRss()
    peak.start()
    waits = LimiterWaits()
    module_name, _, attr = spec.get("app", "function_app:app").partition(":")
    app = getattr(importlib.import_module(module_name), attr or "app")

    from local_host import LocalHost, RealClock, SkippingClock

    info = spec.get("info")
    env = dict(os.environ)
    if info is not None:
        from devtools.environment import connector_environment

        env = connector_environment(info, spec["storage"], spec["task_hub"])
    env.update(spec.get("env") or {})
    env["AzureWebJobsStorage"] = spec["storage"]
    env["TASK_HUB_NAME"] = spec["task_hub"]
    http = _sandbox_client(info)
    neighbours = Neighbours(spec.get("watch") or {})
    results: list[dict[str, Any]] = []

    with ExitStack() as stack:
        if info is not None:
            from bc_anaplan.runtime import environment

            stack.enter_context(environment(env))
        host = stack.enter_context(
            LocalHost(
                app,
                connection_string=spec["storage"],
                task_hub=spec["task_hub"],
                clock=SkippingClock() if spec.get("clock") == "skipping" else RealClock(),
                host_json=_host_json(spec.get("durable_task") or {}),
                env=env,
            )
        )
        ready = {"rss_mb": round(peak.current(), 1), "ru_maxrss_mb": round(ru_maxrss_mb(), 1)}
        for step in spec["steps"]:
            for action in step.get("before") or []:
                response = http.post(info[action["service"]] + action["path"], json=action["body"])
                response.raise_for_status()
            if http is not None:
                for service in SERVICES:
                    http.delete(info[service] + "/_sandbox/requests").raise_for_status()
            waited_before = waits.snapshot()
            peak.window()
            rss_before = peak.current()
            neighbours.begin()
            load_before = [round(x, 2) for x in os.getloadavg()]
            instance = f"bench-{step['flow']}-{uuid.uuid4().hex[:8]}"
            t0, c0 = time.perf_counter(), time.process_time()
            host.start_new(step["flow"], step.get("input"), instance_id=instance)
            status = host.wait_for(instance, timeout_s=float(step.get("timeout_s", 1800)))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            step_peak = peak.window()
            around = neighbours.end(cpu)
            waited_after = waits.snapshot()
            results.append(
                {
                    "label": step.get("label", step["flow"]),
                    "flow": step["flow"],
                    "instance_id": instance,
                    "runtime_status": status.runtime_status,
                    "wall_s": round(wall, 3),
                    "cpu_s": round(cpu, 3),
                    "rss_before_mb": round(rss_before, 1),
                    "peak_rss_mb": round(step_peak, 1),
                    "ru_maxrss_mb": round(ru_maxrss_mb(), 1),
                    "requests": request_log(http, info) if http is not None else None,
                    "rate_limit_wait_s": {
                        k: round(v - waited_before.get(k, 0.0), 2) for k, v in waited_after.items()
                    },
                    "phases": phases(host, instance),
                    "neighbours": around,
                    "load_avg": {
                        "start": load_before,
                        "end": [round(x, 2) for x in os.getloadavg()],
                    },
                    "output": status.output,
                }
            )
            if status.runtime_status != "Completed":
                break
    return {"ready": ready, "steps": results}


def main() -> int:
    spec = json.loads(sys.stdin.read())
    result = run(spec)
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
