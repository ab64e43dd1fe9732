"""Malformed Business Central payloads: a clear error or a quarantined record, never a bad load.

A hostile HTTPS server (``hostile.TamperingProxy``) stands in front of the BC simulator; the
connector is configured with its address as ``BC_API_BASE_URL``, exactly as an operator would
configure a real environment, and meets one malformed payload where a test puts it: wrong types,
missing fields, absurd dates and amounts, a page that is not JSON. Decoding is checked on the
full G/L entry stream (``records.decode_gl_entry``: the error names the field and the entry);
every case in a field the actuals load reads also runs through a whole load (which decodes with
``bc/amounts``): the run fails naming the field, no import starts, March's cells and the
baselines stay as they were, and the same host loads cleanly next. Other runs check that an
absurd date cannot make the connector skip or explode work, and that an account number of the
wrong type is quarantined. Other entity sets: ``test_bad_bc_records``.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from bc_anaplan.bc import streams
from bc_anaplan.bc.cursor import Cursor
from bc_anaplan.bc.errors import BcDecodeError
from bc_anaplan.config import load_settings
from bc_anaplan.flows import actuals as actuals_flow
from bc_anaplan.periods import Period
from bc_anaplan.runtime import Runtime
from tests.e2e.test_load_flows import assert_reconciled
from tests.reliability.bad_payloads import BadRecord, Change, removing, setting
from tests.reliability.harness import IMPORT_GL_ACTUALS, run_to_end, tasks_per_action
from tests.reliability.hostile import TamperingProxy, connector_behind_proxy
from tests.support.connector import ConnectorUnderTest

MARCH = Period(2025, 3)


@pytest.fixture(scope="module")
def behind_proxy(
    tmp_path_factory: pytest.TempPathFactory, azurite: str
) -> Iterator[tuple[ConnectorUnderTest, TamperingProxy]]:
    workdir = tmp_path_factory.mktemp("hostile-bc")
    with connector_behind_proxy("bc", workdir, azurite) as (c, hostile):
        c.run("reference_sync")
        yield c, hostile


@pytest.fixture(scope="module")
def app(behind_proxy: tuple[ConnectorUnderTest, TamperingProxy]) -> ConnectorUnderTest:
    return behind_proxy[0]


@pytest.fixture
def hostile(behind_proxy: tuple[ConnectorUnderTest, TamperingProxy]) -> Iterator[TamperingProxy]:
    yield behind_proxy[1]
    behind_proxy[1].clear()


def entries_of(period: Period) -> Callable[[str, str, Mapping[str, str]], bool]:
    def match(method: str, path: str, query: Mapping[str, str]) -> bool:
        """A read of G/L entries whose posting-date window covers ``period``."""
        if method != "GET" or not path.endswith("/generalLedgerEntries"):
            return False
        window = dict(
            re.findall(r"postingDate (ge|le) (\d{4}-\d{2}-\d{2})", query.get("$filter", ""))
        )
        if "ge" not in window or "le" not in window:
            return False
        return window["ge"] <= period.first_day.isoformat() <= window["le"]

    return match


def first_entry(change: Change) -> BadRecord:
    """An edit that changes the first G/L entry of a page (and remembers what it was called)."""
    return BadRecord(change)


def case(name: str, edit: Callable[[Any], Any], field: str) -> Any:  # a pytest ParameterSet
    """``edit`` makes the page malformed; ``field`` is what the error must name."""
    return pytest.param(edit, field, id=name)


DECODE_CASES = [
    case("missing accountNumber", first_entry(removing("accountNumber")), "accountNumber"),
    case("missing postingDate", first_entry(removing("postingDate")), "postingDate"),
    case("missing debitAmount", first_entry(removing("debitAmount")), "debitAmount"),
    case(
        "debitAmount text",
        first_entry(setting("debitAmount", "12,5O")),
        "debitAmount",
    ),
    case("debitAmount null", first_entry(setting("debitAmount", None)), "debitAmount"),
    case("debitAmount boolean", first_entry(setting("debitAmount", True)), "debitAmount"),
    case(
        "debitAmount 'NaN'",
        first_entry(setting("debitAmount", "NaN")),
        "debitAmount",
    ),
    case(
        "creditAmount 'Infinity'",
        first_entry(setting("creditAmount", "-Infinity")),
        "creditAmount",
    ),
    case(
        "debitAmount beyond BC's decimal range",
        first_entry(setting("debitAmount", 1e300)),
        "debitAmount",
    ),
    case(
        "creditAmount a cent beyond BC's decimal range",
        first_entry(setting("creditAmount", "1000000000000000.00")),
        "creditAmount",
    ),
    case(
        "entryNumber text",
        first_entry(setting("entryNumber", "12a")),
        "entryNumber",
    ),
    case(
        "entryNumber null",
        first_entry(setting("entryNumber", None)),
        "entryNumber",
    ),
    case(
        "postingDate 30 February",
        first_entry(setting("postingDate", "2025-02-30")),
        "postingDate",
    ),
    case(
        "lastModifiedDateTime without zone",
        first_entry(setting("lastModifiedDateTime", "2025-03-02T08:00:00")),
        "lastModifiedDateTime",
    ),
    case(
        "dimension set line without valueCode",
        first_entry(setting("dimensionSetLines", [{"code": "DEPARTMENT"}])),
        "valueCode",
    ),
    case(
        "an entry that is a string",
        lambda body: {**body, "value": ["not an entry", *body["value"][1:]]},
        "G/L entry",
    ),
    case("a page without value", lambda body: {"odata.error": "gone"}, "value"),
    case(
        "a page that is not JSON",
        lambda body: b"<html><body>Service Unavailable</body></html>",
        "JSON",
    ),
]


@pytest.mark.parametrize(("edit", "field"), DECODE_CASES)
def test_a_malformed_entry_is_a_decode_error_naming_the_field(
    app: ConnectorUnderTest, hostile: TamperingProxy, edit: Callable[[Any], Any], field: str
) -> None:
    hostile.tamper(entries_of(MARCH), edit)
    window = Cursor(posting_from=MARCH.first_day, posting_to=MARCH.last_day)
    with pytest.raises(BcDecodeError) as raised:
        for _ in streams.iter_gl_entries(app.rt.bc(), window.open()):
            pass
    message = str(raised.value)
    assert field in message, message
    if isinstance(edit, BadRecord):  # one entry edited: the error names it
        assert "G/L entry" in message and any(n in message for n in edit.names), message


# the cases in fields the actuals load reads (it selects no lastModifiedDateTime); amounts
# beyond BC's range have their own run below (it puts March back afterwards)
FLOW_CASES = [
    c for c in DECODE_CASES if c.id != "lastModifiedDateTime without zone" and "BC's" not in c.id
]


@pytest.mark.parametrize(("edit", "field"), FLOW_CASES)
def test_a_load_meeting_a_malformed_entry_fails_naming_it_and_sends_nothing(
    app: ConnectorUnderTest, hostile: TamperingProxy, edit: Callable[[Any], Any], field: str
) -> None:
    """Each case through a whole actuals load on the same host: the run fails with the decoding
    error, no import task starts, March's cells and the loaded baselines stay as they were.
    (That the host survived is shown by the next case's run, and by the clean load below.)"""
    tasks = tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS]
    cells = app.sandbox.cells("GL Actuals", Time="Mar 25")
    baselines = app.rt.snapshots.loaded_periods("fpa")
    hostile.tamper(entries_of(MARCH), edit)
    run = run_to_end(app, "actuals_load", {"mode": "period", "periods": ["2025-03"]})
    assert run["runtime_status"] == "Failed" and run["state"] == "failed", run
    assert field in run["error"], run["error"][:400]
    assert tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS] == tasks
    assert app.sandbox.cells("GL Actuals", Time="Mar 25") == cells
    assert app.rt.snapshots.loaded_periods("fpa") == baselines


def test_a_run_meeting_a_malformed_entry_fails_clearly_and_sends_nothing(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    before = tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS]
    baselines = app.rt.snapshots.loaded_periods("fpa")
    hostile.tamper(entries_of(MARCH), first_entry(removing("accountNumber")))
    run = run_to_end(app, "actuals_load", {"mode": "period", "periods": ["2025-02", "2025-03"]})
    assert run["runtime_status"] == "Failed" and run["state"] == "failed"
    assert re.search(r"field 'accountNumber' is missing from G/L entry \d+", run["error"])
    assert tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS] == before  # nothing imported
    assert app.rt.snapshots.loaded_periods("fpa") == baselines  # no baseline moved
    hostile.clear()
    # the same host loads the same periods cleanly once the payload is sound
    clean = run_to_end(app, "actuals_load", {"mode": "period", "periods": ["2025-01", "2025-03"]})
    assert clean["state"] == "succeeded", clean
    assert tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS] == before + 1


@pytest.mark.parametrize(
    ("posted", "message"),
    [
        ("2024-06-15", "posted 2024-06-15 is outside the months 2025-03..2025-03 read"),
        ("1899-12-31", "posted 1899-12-31 is outside the months 2025-03..2025-03 read"),
    ],
)
def test_an_entry_outside_its_period_stops_the_run(
    app: ConnectorUnderTest, hostile: TamperingProxy, posted: str, message: str
) -> None:
    tasks = tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS]
    cells = app.sandbox.cells("GL Actuals", Time="Mar 25")
    hostile.tamper(entries_of(MARCH), first_entry(setting("postingDate", posted)))
    run = run_to_end(app, "actuals_load", {"mode": "period", "periods": ["2025-03"]})
    assert run["state"] == "failed"
    assert message in run["error"], run["error"][:300]
    assert tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS] == tasks
    assert app.sandbox.cells("GL Actuals", Time="Mar 25") == cells


def test_a_not_a_number_amount_is_refused_before_anything_is_sent(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    before = tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS]
    hostile.tamper(entries_of(MARCH), first_entry(setting("debitAmount", "NaN")))
    run = run_to_end(app, "actuals_load", {"mode": "period", "periods": ["2025-03"]})
    assert tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS] == before, run["summary"]["import"]
    assert run["state"] == "failed" and "debitAmount" in run["error"]


def test_an_amount_beyond_bcs_range_is_refused_before_anything_is_sent(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    before = tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS]
    cells = app.sandbox.cells("GL Actuals", Time="Mar 25")
    hostile.tamper(entries_of(MARCH), first_entry(setting("debitAmount", 1e300)))
    run = run_to_end(app, "actuals_load", {"mode": "period", "periods": ["2025-03"]})
    try:
        assert run["state"] == "failed" and "debitAmount" in run["error"], run["error"][:300]
        assert tasks_per_action(app.sandbox)[IMPORT_GL_ACTUALS] == before
        assert app.sandbox.cells("GL Actuals", Time="Mar 25") == cells
    finally:  # put March back as BC has it, for the tests after this one
        hostile.clear()
        run_to_end(app, "actuals_load", {"mode": "period", "periods": ["2025-03"]})


def test_an_account_number_of_the_wrong_type_is_quarantined(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    """The entry is left out with its reason, never mapped or dropped silently. The proxy moved
    it from its real account to 61010, so BC's own trial balance (untampered) shows the real
    account short by its amount: the run fails on that reconciliation, naming the account."""
    served: list[dict[str, Any]] = []  # the first entry as BC answered it, before the edit
    bad = first_entry(setting("accountNumber", 61010))

    def remember_then_break(body: Any) -> Any:
        served.append(copy.deepcopy(body["value"][0]))
        return bad(body)

    hostile.tamper(entries_of(MARCH), remember_then_break)
    run = run_to_end(app, "actuals_load", {"mode": "period", "periods": ["2025-03"]})
    real_account = served[0]["accountNumber"]
    assert isinstance(real_account, str) and real_account != "61010", served[0]
    quarantined = list(app.rt.audit.records(run["run_id"], "quarantined"))
    assert len(quarantined) == 1 and "61010" in quarantined[0].reason
    (reconciliation,) = run["summary"]["reconciliation"]
    assert reconciliation["balanced"] and reconciliation["quarantined_entries"] == 1
    assert run["state"] == "failed", run
    assert run["error"].startswith("reconciliation mismatch: 2025-03"), run["error"]
    assert f"BC's trial balance differs for accounts {real_account})" in run["error"], run["error"]
    mismatches = reconciliation["trial_balance"]["mismatches"]
    assert [m["account"] for m in mismatches] == [real_account], mismatches


def test_a_future_modification_stamp_does_not_hide_later_postings(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    """One entry stamped in 2099 (a server clock gone wrong) must not move the incremental
    cursor past every real change: entries posted afterwards are still loaded."""

    def newest_stamp(method: str, path: str, query: Mapping[str, str]) -> bool:
        return path.endswith("/generalLedgerEntries") and query.get("$orderby", "").startswith(
            "lastModifiedDateTime desc"
        )

    def stamped_2099(body: Any) -> Any:
        body = copy.deepcopy(body)
        body["value"][0]["lastModifiedDateTime"] = "2099-01-01T00:00:00Z"
        return body

    hostile.tamper(newest_stamp, stamped_2099)
    first = run_to_end(app, "actuals_load", {"mode": "incremental"})
    assert first["state"] in ("succeeded", "failed"), first
    hostile.clear()
    app.sandbox.post("bc", "/_sandbox/bc/post-entries", {"count": 12, "period": "2026-12"})
    later = run_to_end(app, "actuals_load", {"mode": "incremental"})
    assert later["state"] == "succeeded", later
    assert "2026-12" in later["summary"]["periods"], later["summary"]
    assert_reconciled(app, [Period(2026, 12)])


def test_an_absurd_posting_date_does_not_plan_a_thousand_years_of_periods(
    app: ConnectorUnderTest, hostile: TamperingProxy
) -> None:
    """The first load plans every month from the first to the last posting date: one entry
    dated 2999 (a typo BC accepts) must give a bounded plan that flags it. The proxy answers
    as BC would with such an entry: it is the newest posting when nothing bounds the read, and
    it exists beyond any horizon; reads bounded below 2999 are BC's own answers."""
    entry = {"id": "00000000-0000-0000-0000-000000002999", "postingDate": "2999-12-31"}

    def sees_2999(method: str, path: str, query: Mapping[str, str]) -> bool:
        if not path.endswith("/generalLedgerEntries"):
            return False
        where = query.get("$filter", "")
        newest = (
            query.get("$orderby", "").startswith("postingDate desc")
            and "postingDate le" not in where
        )
        return newest or "postingDate gt" in where

    hostile.tamper(sees_2999, lambda body: {**body, "value": [entry]})
    # a task hub of its own: nothing committed yet, so this is a first load's plan
    env = {**app.env, "TASK_HUB_NAME": "fresh" + uuid.uuid4().hex[:8]}
    runtime = Runtime(load_settings(env), env)
    request = {"run_id": "plan-absurd-date", "pipeline": "fpa", "mode": "incremental"}
    planned = actuals_flow.plan(runtime, request)
    # bounded and flagged: the months up to the horizon, and beyond_horizon set so the load
    # quarantines what lies beyond (stage_beyond_horizon; not run here)
    assert planned["beyond_horizon"] is not None, planned
    horizon = Period.parse(planned["beyond_horizon"])
    periods = [Period.parse(p) for p in planned["periods"]]
    assert periods and max(periods) <= horizon, planned["periods"][-3:]
    assert len(periods) <= actuals_flow.MAX_PERIODS
