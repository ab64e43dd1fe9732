"""A small test app for the local host: one orchestrator per pattern, never the production app.

Activities record what they did in module-level state (or, for the subprocess tests, in a log
file named by ``LOCAL_HOST_TEST_LOG``), so tests can assert what ran and how often.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

calls: Counter[str] = Counter()
_calls_lock = threading.Lock()
ticks: list[float] = []
nondeterministic_choice = {"activity": "greet"}
release_slow_greet = threading.Event()


def _count(key: str) -> int:
    with _calls_lock:
        calls[key] += 1
        return calls[key]


# ---- activities ----------------------------------------------------------------------------


@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    return f"Hello {name}"


@app.activity_trigger(input_name="name")
def slow_greet(name: str) -> str:
    release_slow_greet.wait(timeout=10)
    return f"Hello {name}"


@app.activity_trigger(input_name="name")
def shout(name: str) -> str:
    return f"{name.upper()}!"


@app.activity_trigger(input_name="n")
def square(n: int) -> int:
    return n * n


@app.activity_trigger(input_name="payload")
def explode(payload: dict[str, Any]) -> None:
    raise ValueError(f"cannot handle {payload['what']}")


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    attempt = _count(f"flaky:{key}")
    if attempt < 3:
        raise ConnectionError(f"attempt {attempt} failed")
    return f"ok after {attempt}"


@app.activity_trigger(input_name="step")
def logged_step(step: dict[str, Any]) -> int:
    """Appends 'start N' and 'end N' to the log file; sleeps a little so a kill lands mid-run."""
    path = os.environ["LOCAL_HOST_TEST_LOG"]
    with open(path, "a") as log:
        log.write(f"start {step['i']}\n")
    time.sleep(step.get("sleep", 0.0))
    with open(path, "a") as log:
        log.write(f"end {step['i']}\n")
    return int(step["i"])


# ---- orchestrators -------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    city = context.get_input()["city"]
    first = yield context.call_activity("greet", city)
    context.set_custom_status({"done": 1, "total": 2})
    second = yield context.call_activity(shout, first)
    return [first, second]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity("square", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    settings = context.get_input()
    total = 0
    for i in range(settings["n"]):
        activity = settings.get("activity", "square")
        arg = {"i": i, "sleep": settings.get("sleep", 0.0)} if activity == "logged_step" else i
        total += yield context.call_activity(activity, arg)
        context.set_custom_status({"done": i + 1, "total": settings["n"]})
    return total


@app.orchestration_trigger(context_name="context")
def catch_failure(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("explode", {"what": "rhubarb"})
    except Exception as exc:
        recovered = yield context.call_activity("greet", "after failure")
        return {"caught": str(exc), "then": recovered}
    return "not reached"


@app.orchestration_trigger(context_name="context")
def uncaught_failure(context: df.DurableOrchestrationContext):
    yield context.call_activity("explode", {"what": "everything"})


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=60_000, max_number_of_attempts=3)
    key = context.get_input()
    return (yield context.call_activity_with_retry("flaky", options, key))


@app.orchestration_trigger(context_name="context")
def retry_exhausted(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)
    yield context.call_activity_with_retry("explode", options, {"what": "retries"})


@app.orchestration_trigger(context_name="context")
def wait_minutes(context: df.DurableOrchestrationContext):
    started = context.current_utc_datetime
    minutes = context.get_input()
    yield context.create_timer(started + timedelta(minutes=minutes))
    waited = context.current_utc_datetime - started
    return waited.total_seconds()


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + timedelta(hours=context.get_input())
    timeout = context.create_timer(deadline)
    answer = context.wait_for_external_event("approved")
    winner = yield context.task_any([answer, timeout])
    if winner == answer:
        timeout.cancel()
        return {"approved": answer.result}
    return "timed out"


@app.orchestration_trigger(context_name="context")
def countdown(context: df.DurableOrchestrationContext):
    state = context.get_input()
    if state["n"] == 0:
        return state["seen"]
    seen = state["seen"] + [(yield context.call_activity("square", state["n"]))]
    context.continue_as_new({"n": state["n"] - 1, "seen": seen})
    return None


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    city = context.get_input()
    child = yield context.call_sub_orchestrator("chain", {"city": city}, f"{context.instance_id}-c")
    try:
        yield context.call_sub_orchestrator("uncaught_failure", None)
    except Exception as exc:
        return {"child": child, "failed_child": str(exc)}
    return {"child": child}


@app.orchestration_trigger(context_name="context")
def add_to_counter(context: df.DurableOrchestrationContext):
    settings = context.get_input()
    counter = df.EntityId("Counter", settings["key"])
    last = None
    for _ in range(settings["times"]):
        last = yield context.call_entity(counter, "add", 1)
    context.signal_entity(counter, "add", 0)
    return last


@app.orchestration_trigger(context_name="context")
def guarded(context: df.DurableOrchestrationContext):
    """The lease pattern: the release signal in ``finally`` goes out although the work fails."""
    counter = df.EntityId("Counter", context.get_input())
    yield context.call_entity(counter, "add", 1)
    try:
        yield context.call_activity("explode", {"what": "guarded work"})
    finally:
        context.signal_entity(counter, "add", -1)


@app.orchestration_trigger(context_name="context")
def entity_error(context: df.DurableOrchestrationContext):
    try:
        yield context.call_entity(df.EntityId("Counter", "err"), "explode")
    except Exception as exc:
        return str(exc)
    return "no error"


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext):
    first = yield context.call_activity(nondeterministic_choice["activity"], "x")
    yield context.call_activity("greet", "y")
    return first


# ---- entities ------------------------------------------------------------------------------


@app.entity_trigger(context_name="context", entity_name="Counter")
def Counter_entity(context: df.DurableEntityContext) -> None:  # noqa: N802
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += context.get_input()
        context.set_result(value)
    elif context.operation_name == "get":
        context.set_result(value)
    else:
        raise ValueError(f"unknown operation {context.operation_name}")
    context.set_state(value)


# ---- HTTP and timer triggers ---------------------------------------------------------------


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    body = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(req.route_params["name"], req.params.get("id"), body)
    return client.create_check_status_response(req, instance_id)


@app.route(route="instances/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def http_status(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    status = await client.get_status(req.route_params["instance_id"])
    if status.runtime_status is None:
        return func.HttpResponse("not found", status_code=404)
    body = {"status": status.runtime_status.value, "output": status.output,
            "custom": status.custom_status}  # fmt: skip
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="counter/{key}", methods=["POST", "GET"])
@app.durable_client_input(client_name="client")
async def http_counter(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    entity = df.EntityId("Counter", req.route_params["key"])
    if req.method == "POST":
        await client.signal_entity(entity, "add", int(req.params.get("by", "1")))
        return func.HttpResponse(status_code=202)
    state = await client.read_entity_state(entity)
    return func.HttpResponse(
        json.dumps({"exists": state.entity_exists, "state": state.entity_state})
    )


@app.route(route="ops/{action}/{instance_id?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_ops(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """The rest of the client's API, as an operator endpoint would use it."""
    action, instance_id = req.route_params["action"], req.route_params.get("instance_id")
    result: Any = None
    if action == "query":
        active = [df.OrchestrationRuntimeStatus.Pending, df.OrchestrationRuntimeStatus.Running]
        statuses = await client.get_status_by(runtime_status=active)
        result = sorted(s.instance_id for s in statuses)
    elif action == "raise":
        await client.raise_event(instance_id, "approved", {"via": "client"})
    elif action == "terminate":
        await client.terminate(instance_id, "stopped by operator")
    elif action == "purge":
        result = (await client.purge_instance_history(instance_id)).instances_deleted
    elif action == "restart":
        result = await client.restart(instance_id, restart_with_new_instance_id=False)
    return func.HttpResponse(json.dumps(result), mimetype="application/json")


@app.route(route="ping", auth_level=func.AuthLevel.ANONYMOUS)
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"pong {req.params.get('x', '')}".strip())


@app.timer_trigger(schedule="%LOCAL_HOST_TEST_TICK%", arg_name="timer", run_on_startup=False)
def tick(timer: func.TimerRequest) -> None:
    ticks.append(time.monotonic())


@app.timer_trigger(schedule="%LOCAL_HOST_TEST_TICK%", arg_name="timer", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def tick_start(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """A singleton started from a timer: skipped while the previous run is still going."""
    status = await client.get_status("from-timer")
    if status.runtime_status not in (df.OrchestrationRuntimeStatus.Running,
                                     df.OrchestrationRuntimeStatus.Pending):  # fmt: skip
        await client.start_new("chain", "from-timer", {"city": "Tromso"})
