"""Small pure parts of the host: action matching, NCRONTAB, settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from local_host import history as h
from local_host.config import ConfigurationError, load_settings, resolve_setting
from local_host.ncrontab import CronSchedule
from local_host.shim import NonDeterminismError, Replay

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def activity(name: str) -> dict[str, object]:
    return {"actionType": 0, "functionName": name, "input": "null"}


def start() -> list[h.Event]:
    return [h.event(h.ORCHESTRATOR_STARTED, T0), h.event(h.EXECUTION_STARTED, T0, Name="o")]


def test_new_work_is_what_the_history_has_not_scheduled() -> None:
    events = [*start(), h.event(h.ORCHESTRATOR_COMPLETED, T0),
              h.event(h.TASK_SCHEDULED, T0, 0, Name="a"), h.event(h.ORCHESTRATOR_STARTED, T0),
              h.event(h.TASK_COMPLETED, T0, TaskScheduledId=0, Result="1")]  # fmt: skip
    fan_out = {"actionType": 12, "compoundActions": [activity("b"), activity("c")]}
    steps = Replay([activity("a"), fan_out]).run(events)
    assert [(s.seq, s.action["functionName"]) for s in steps] == [(1, "b"), (2, "c")]


def test_retry_timer_and_next_attempt_take_the_next_numbers() -> None:
    options = {"firstRetryIntervalInMilliseconds": 5000, "maxNumberOfAttempts": 3}
    retry = {"actionType": 1, "functionName": "f", "input": "null", "retryOptions": options}
    events = [*start(), h.event(h.ORCHESTRATOR_COMPLETED, T0),
              h.event(h.TASK_SCHEDULED, T0, 0, Name="f"), h.event(h.ORCHESTRATOR_STARTED, T0),
              h.event(h.TASK_FAILED, T0, TaskScheduledId=0, Reason="x", Details="")]  # fmt: skip
    (timer,) = Replay([retry]).run(events)
    assert (timer.seq, timer.kind, timer.action["fireAt"]) == (
        1,
        "timer",
        "2024-01-01T00:00:05.000000Z",
    )
    events += [h.event(h.ORCHESTRATOR_COMPLETED, T0), h.event(h.TIMER_CREATED, T0, 1),
               h.event(h.ORCHESTRATOR_STARTED, T0),
               h.event(h.TIMER_FIRED, T0, TimerId=1)]  # fmt: skip
    (attempt,) = Replay([retry]).run(events)
    assert (attempt.seq, attempt.kind, attempt.action["functionName"]) == (2, "activity", "f")


def test_a_different_task_at_a_known_number_is_non_deterministic() -> None:
    events = [*start(), h.event(h.ORCHESTRATOR_COMPLETED, T0),
              h.event(h.TASK_SCHEDULED, T0, 0, Name="a")]  # fmt: skip
    with pytest.raises(NonDeterminismError, match="activity 'a' as task 0.*activity 'b'"):
        Replay([activity("b")]).run(events)
    with pytest.raises(NonDeterminismError):
        Replay([{"actionType": 5, "fireAt": "2024-01-02T00:00:00.000000Z"}]).run(events)
    with pytest.raises(NonDeterminismError, match="nothing there"):
        Replay([]).run(events)


def test_entity_reply_is_matched_by_request_id() -> None:
    call = {"actionType": 7, "instanceId": "@counter@k", "operation": "add", "input": "1"}
    events = [*start(), h.event(h.ORCHESTRATOR_COMPLETED, T0),
              h.event(h.EVENT_SENT, T0, 0, InstanceId="@counter@k", Input='{"id": "r1"}'),
              h.event(h.ORCHESTRATOR_STARTED, T0),
              h.event(h.EVENT_RAISED, T0, Name="r1", Input='{"result": "1"}')]  # fmt: skip
    assert Replay([call, activity("next")]).run(events)[0].action["functionName"] == "next"


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 */5 * * * *", datetime(2024, 1, 1, 10, 2, 7), datetime(2024, 1, 1, 10, 5)),
        ("30 0 2 * * *", datetime(2024, 1, 1, 2, 0, 30), datetime(2024, 1, 2, 2, 0, 30)),
        ("0 0 9 * * Mon-Fri", datetime(2024, 1, 5, 10), datetime(2024, 1, 8, 9)),  # Fri -> Mon
        ("0 0 0 1 Jan,Jul *", datetime(2024, 2, 1), datetime(2024, 7, 1)),
        ("0 0 6 1 * *", datetime(2024, 12, 31, 23), datetime(2025, 1, 1, 6)),
    ],
)
def test_ncrontab_next_occurrence(expression: str, after: datetime, expected: datetime) -> None:
    assert CronSchedule(expression).next_after(after) == expected


def test_ncrontab_rejects_five_fields_and_bad_ranges() -> None:
    with pytest.raises(ValueError, match="six fields"):
        CronSchedule("*/5 * * * *")
    with pytest.raises(ValueError, match="out of range"):
        CronSchedule("0 0 25 * * *")


def test_settings_resolve_percent_references_like_the_functions_host() -> None:
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "HUB": "nightly"}
    durable = {"extensions": {"durableTask": {"hubName": "%HUB%"}}}
    assert load_settings(durable, env).task_hub == "nightly"
    hub_unset = {"extensions": {"durableTask": {"hubName": "%TASK_HUB_NAME%"}}}
    assert load_settings(hub_unset, env).task_hub == "bcanaplan"
    with pytest.raises(ConfigurationError, match="SCHEDULE"):
        resolve_setting("%SCHEDULE%", env)
    with pytest.raises(ConfigurationError, match="AzureWebJobsStorage"):
        load_settings({}, {})
    with pytest.raises(ConfigurationError, match="invalid"):
        load_settings({}, env, task_hub="no-dashes")
