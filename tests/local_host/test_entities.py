"""Durable entities: one operation at a time per entity, state persisted, errors returned."""

from __future__ import annotations

import time

from local_host import LocalHost


def test_counter_under_concurrent_callers_loses_no_update(host: LocalHost) -> None:
    callers = [host.start_new("add_to_counter", {"key": "shared", "times": 5}) for _ in range(8)]
    for _ in range(20):
        host.signal_entity("Counter", "shared", "add", 1)
    finals = [host.wait_for(i, timeout_s=60) for i in callers]
    assert all(s.runtime_status == "Completed" for s in finals)
    # Each call's reply is the value right after its own add: all distinct, none lost.
    assert len({s.output for s in finals}) == len(finals)
    deadline = time.monotonic() + 20
    while host.read_entity_state("Counter", "shared") != (True, 8 * 5 + 20):
        assert time.monotonic() < deadline, host.read_entity_state("Counter", "shared")
        time.sleep(0.05)


def test_entity_error_is_raised_in_the_calling_orchestrator(host: LocalHost) -> None:
    status = host.wait_for(host.start_new("entity_error"), timeout_s=20)
    assert status.runtime_status == "Completed"
    assert status.output == "unknown operation explode"


def test_signal_in_finally_is_sent_when_the_orchestration_fails(host: LocalHost) -> None:
    status = host.wait_for(host.start_new("guarded", "lease"), timeout_s=20)
    assert status.runtime_status == "Failed"
    deadline = time.monotonic() + 20
    while host.read_entity_state("Counter", "lease") != (True, 0):
        assert time.monotonic() < deadline, host.read_entity_state("Counter", "lease")
        time.sleep(0.05)


def test_unknown_entity_has_no_state(host: LocalHost) -> None:
    assert host.read_entity_state("Counter", "never-touched") == (False, None)


def test_entity_state_survives_a_new_host(make_host: object, host: LocalHost) -> None:
    host.signal_entity("Counter", "kept", "add", 7)
    deadline = time.monotonic() + 20
    while host.read_entity_state("Counter", "kept") != (True, 7):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    host.stop()
    again = make_host(task_hub=host.task_hub)  # type: ignore[operator]
    assert again.read_entity_state("Counter", "kept") == (True, 7)
