"""Orchestration patterns through the real SDK replay, with history in Azurite."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from local_host import LocalHost, RealClock
from local_host import history as h
from local_host.engine import AlreadyExists, Gone, NotTerminal
from tests.local_host import app as test_app
from tests.local_host.conftest import MakeHost


def test_chaining_passes_results_from_one_activity_to_the_next(host: LocalHost) -> None:
    instance_id = host.start_new("chain", {"city": "Oslo"}, instance_id="chain-1")
    status = host.wait_for(instance_id, timeout_s=20)
    assert instance_id == "chain-1"
    assert status.runtime_status == "Completed"
    assert status.output == ["Hello Oslo", "HELLO OSLO!"]
    assert status.custom_status == {"done": 1, "total": 2}
    assert status.input == {"city": "Oslo"}


def test_history_has_the_extension_shape(host: LocalHost) -> None:
    instance_id = host.start_new("chain", {"city": "Oslo"})
    host.wait_for(instance_id, timeout_s=20)
    types = [e["EventType"] for e in host.history(instance_id)]
    assert types[:2] == [h.ORCHESTRATOR_STARTED, h.EXECUTION_STARTED]
    assert types.count(h.TASK_SCHEDULED) == 2 and types.count(h.TASK_COMPLETED) == 2
    assert types.count(h.ORCHESTRATOR_STARTED) == types.count(h.ORCHESTRATOR_COMPLETED) == 3
    assert types[-1] == h.EXECUTION_COMPLETED


def test_fan_out_fan_in(host: LocalHost) -> None:
    status = host.wait_for(host.start_new("fan_out", 25), timeout_s=30)
    assert status.runtime_status == "Completed"
    assert status.output == sum(i * i for i in range(25))


def test_activity_failure_is_caught_by_the_orchestrator(host: LocalHost) -> None:
    status = host.wait_for(host.start_new("catch_failure"), timeout_s=20)
    assert status.runtime_status == "Completed"
    assert "ValueError: cannot handle rhubarb" in status.output["caught"]
    assert status.output["then"] == "Hello after failure"


def test_uncaught_activity_failure_fails_the_orchestration(host: LocalHost) -> None:
    status = host.wait_for(host.start_new("uncaught_failure"), timeout_s=20)
    assert status.runtime_status == "Failed"
    assert "Orchestrator function 'uncaught_failure' failed" in status.output
    assert "cannot handle everything" in status.output


def test_retry_options_retry_after_durable_timers(host: LocalHost) -> None:
    started = time.monotonic()
    instance_id = host.start_new("with_retry", "retry-key")
    status = host.wait_for(instance_id, timeout_s=20)
    assert status.output == "ok after 3"
    assert time.monotonic() - started < 15  # two 60 s retry intervals were skipped
    events = host.history(instance_id)
    scheduled = [e["EventId"] for e in events if e["EventType"] == h.TASK_SCHEDULED]
    timers = [e for e in events if e["EventType"] == h.TIMER_CREATED]
    assert scheduled == [0, 2, 4]  # attempts and retry timers share the sequence numbers
    assert [e["EventId"] for e in timers] == [1, 3]
    assert sum(e["EventType"] == h.TIMER_FIRED for e in events) == 2
    gap = h.parse_timestamp(timers[0]["FireAt"]) - h.parse_timestamp(timers[0]["Timestamp"])
    assert timedelta(seconds=59) < gap <= timedelta(seconds=61)


def test_retry_gives_up_after_the_last_attempt(host: LocalHost) -> None:
    status = host.wait_for(host.start_new("retry_exhausted"), timeout_s=20)
    assert status.runtime_status == "Failed"
    assert "cannot handle retries" in status.output


def test_timer_of_35_minutes_costs_milliseconds_with_time_skipping(host: LocalHost) -> None:
    started = time.monotonic()
    status = host.wait_for(host.start_new("wait_minutes", 35), timeout_s=20)
    assert status.runtime_status == "Completed"
    assert 35 * 60 <= status.output < 35 * 60 + 5
    assert time.monotonic() - started < 10


def test_three_day_timer(host: LocalHost) -> None:
    status = host.wait_for(host.start_new("wait_minutes", 3 * 24 * 60), timeout_s=20)
    assert 3 * 24 * 3600 <= status.output < 3 * 24 * 3600 + 5


def test_timer_fires_in_real_time_with_the_real_clock(make_host: MakeHost) -> None:
    host = make_host(clock=RealClock())
    status = host.wait_for(host.start_new("wait_minutes", 0.02), timeout_s=20)  # 1.2 s
    assert status.runtime_status == "Completed"
    assert status.output >= 1.2


def test_external_event_wins_the_race_with_a_timer(make_host: MakeHost) -> None:
    host = make_host(clock=RealClock())  # a skipping clock would skip the 24 h timer at once
    instance_id = host.start_new("approval", 24)
    _wait_until_running(host, instance_id)
    host.raise_event(instance_id, "approved", {"by": "ana"})
    status = host.wait_for(instance_id, timeout_s=20)
    # As in Azure, the orchestrator receives the JSON text the client sent.
    assert status.output == {"approved": '{"by": "ana"}'}


def test_timer_wins_when_no_event_comes(host: LocalHost) -> None:
    status = host.wait_for(host.start_new("approval", 24), timeout_s=20)
    assert status.output == "timed out"


def test_continue_as_new_restarts_with_the_new_input(host: LocalHost) -> None:
    instance_id = host.start_new("countdown", {"n": 3, "seen": []})
    status = host.wait_for(instance_id, timeout_s=20)
    assert status.output == [9, 4, 1]
    assert status.input == {"n": 0, "seen": [9, 4, 1]}
    assert len(host.history(instance_id)) < 10  # only the last execution's history remains


def test_sub_orchestrations_return_results_and_failures(host: LocalHost) -> None:
    instance_id = host.start_new("parent", "Rome", instance_id="p1")
    status = host.wait_for(instance_id, timeout_s=30)
    assert status.output["child"] == ["Hello Rome", "HELLO ROME!"]
    assert "cannot handle everything" in status.output["failed_child"]
    child = host.get_status("p1-c")
    assert child is not None and child.runtime_status == "Completed"


def test_non_deterministic_orchestrator_is_detected(
    host: LocalHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    test_app.release_slow_greet.clear()
    monkeypatch.setitem(test_app.nondeterministic_choice, "activity", "slow_greet")
    instance_id = host.start_new("nondeterministic")
    _wait_until(lambda: _has_scheduled(host, instance_id, "slow_greet"))
    # The code changes while the activity runs: replay now schedules 'greet' as task 0.
    monkeypatch.setitem(test_app.nondeterministic_choice, "activity", "greet")
    test_app.release_slow_greet.set()
    status = host.wait_for(instance_id, timeout_s=20)
    assert status.runtime_status == "Failed"
    assert "Non-Deterministic workflow detected" in status.output
    assert "slow_greet" in status.output


def test_running_instance_id_cannot_be_started_again(make_host: MakeHost) -> None:
    host = make_host(clock=RealClock())
    host.start_new("approval", 24, instance_id="singleton")
    _wait_until_running(host, "singleton")
    with pytest.raises(AlreadyExists):
        host.start_new("approval", 24, instance_id="singleton")
    host.raise_event("singleton", "approved", "yes")
    assert host.wait_for("singleton", timeout_s=20).runtime_status == "Completed"
    # A finished id may be started again: a new execution replaces the old one.
    host.start_new("chain", {"city": "Lima"}, instance_id="singleton")
    status = host.wait_for("singleton", timeout_s=20)
    assert status.name == "chain" and status.output == ["Hello Lima", "HELLO LIMA!"]


def test_terminate_and_purge(make_host: MakeHost) -> None:
    host = make_host(clock=RealClock())
    instance_id = host.start_new("approval", 24)
    _wait_until_running(host, instance_id)
    with pytest.raises(NotTerminal):
        host.purge(instance_id)
    host.terminate(instance_id, "operator said so")
    status = host.wait_for(instance_id, timeout_s=20)
    assert status.runtime_status == "Terminated" and status.output == "operator said so"
    with pytest.raises(Gone):
        host.raise_event(instance_id, "approved")
    assert host.purge(instance_id) == 1
    assert host.get_status(instance_id) is None


def _wait_until(condition: object, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _wait_until_running(host: LocalHost, instance_id: str) -> None:
    def running() -> bool:
        status = host.get_status(instance_id)
        return status is not None and status.runtime_status == "Running"

    _wait_until(running)


def _has_scheduled(host: LocalHost, instance_id: str, name: str) -> bool:
    events = host.history(instance_id) if host.get_status(instance_id) else []
    return any(e["EventType"] == h.TASK_SCHEDULED and e["Name"] == name for e in events)
