"""Decoding Anaplan's answers: task states and results, dumps, error envelopes, ids (pure).

The sample bodies are the documented shapes (shared/docs/reference/anaplan-api.md), so these
tests pin the client to the reference rather than to the simulator.
"""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from bc_anaplan.anaplan.actions import ExportAction, ImportAction, ProcessAction, action_from_dict
from bc_anaplan.anaplan.dumps import parse_dump
from bc_anaplan.anaplan.errors import (
    AnaplanAuthError,
    AnaplanError,
    AnaplanNotFoundError,
    InvalidIdError,
    ModelArchivedError,
    ModelBusyError,
    ModelLockedError,
    UnknownNameError,
    decode_api_error,
    decode_auth_error,
)
from bc_anaplan.anaplan.ids import ModelRef, task_id
from bc_anaplan.anaplan.tasks import (
    COMPLETE,
    RowCounts,
    TaskHandle,
    parse_status,
    poll_interval,
)

IMPORT = ImportAction(
    "112000000009", "Employees from Employees.csv", "HIERARCHY_DATA", "113000000006"
)
TASK = "1B1D84DDD53847BAA621810B593C3FC1"


def test_the_five_states_and_unknown_ones() -> None:
    for state, terminal in [
        ("NOT_STARTED", False),
        ("IN_PROGRESS", False),
        ("CANCELLING", False),
        ("COMPLETE", True),
        ("CANCELLED", True),
        ("PAUSED_FOR_SOMETHING_NEW", False),
    ]:
        status = parse_status(IMPORT, {"taskId": TASK, "taskState": state})
        assert status.is_terminal is terminal, state
        assert status.result is None and not status.succeeded
    assert parse_status(IMPORT, {"taskId": TASK, "taskState": "NEW"}).state == "UNKNOWN:NEW"


def test_hierarchy_import_result_is_decoded_into_counts() -> None:
    status = parse_status(
        IMPORT,
        {
            "taskId": TASK,
            "currentStep": "Complete.",
            "progress": 1.0,
            "taskState": "COMPLETE",
            "creationTime": 1571258347545,
            "result": {
                "details": [
                    {
                        "localMessageText": "Employees: 90 (0/90) rows successful, 5 ignored ",
                        "occurrences": 0,
                        "type": "hierarchyRowsProcessed",
                        "values": [
                            "hierarchyName",
                            "Employees",
                            "successRowCount",
                            "90",
                            "failedCount",
                            "0",
                            "ignoredCount",
                            "5",
                            "totalRowCount",
                            "95",
                        ],
                    }
                ],
                "failureDumpAvailable": False,
                "objectId": "112000000009",
                "successful": True,
            },
        },
    )
    assert status.succeeded and status.state == COMPLETE
    assert status.result is not None and status.result.object_id == "112000000009"
    assert status.result.counts == RowCounts(processed=95, succeeded=90, failed=0, ignored=5)
    summary = status.to_dict()
    assert summary["counts"]["succeeded"] == 90 and summary["terminal"] is True


def test_module_import_details_and_message_only_details() -> None:
    status = parse_status(
        IMPORT,
        {
            "taskId": TASK,
            "taskState": "COMPLETE",
            "result": {
                "successful": True,
                "failureDumpAvailable": True,
                "details": [
                    {"type": "moduleRowsProcessedWithFailures",
                     "localMessageText": "GL Actuals: 7 rows successful, 2 failed, 1 ignored",
                     "values": ["moduleName", "GL Actuals", "successRowCount", "7",
                                "failedCount", "2", "ignoredCount", "1", "totalRowCount", "10"]},
                    {"type": "hierarchyRowsProcessedWithFailures",
                     "localMessageText": "CC: 3 (1/2) rows successful, 4 failed, 0 ignored"},
                    {"type": "someOtherNote", "localMessageText": "Note: 99 things"},
                ],
            },
        },
    )  # fmt: skip
    assert status.result is not None
    assert status.result.counts == RowCounts(processed=17, succeeded=10, failed=6, ignored=1)
    assert status.result.failure_dump_available


def test_a_complete_task_that_failed_is_not_successful() -> None:
    status = parse_status(
        IMPORT,
        {"taskId": TASK, "taskState": "COMPLETE", "currentStep": "Failed.",
         "result": {"successful": False, "failureDumpAvailable": False, "objectId": IMPORT.id}},
    )  # fmt: skip
    assert status.is_terminal and not status.succeeded


def test_process_results_nest_per_step() -> None:
    process = ProcessAction("118000000001", "Sync Lists")
    status = parse_status(
        process,
        {
            "taskId": TASK,
            "taskState": "COMPLETE",
            "result": {
                "objectId": process.id,
                "successful": False,
                "failureDumpAvailable": True,
                "nestedResults": [
                    {"objectId": "112000000001", "successful": True, "failureDumpAvailable": False,
                     "details": [{"type": "hierarchyRowsProcessed",
                                  "values": ["successRowCount", "4", "totalRowCount", "4"]}]},
                    {"objectId": "112000000002", "successful": False, "failureDumpAvailable": True,
                     "details": [{"type": "hierarchyRowsProcessedWithFailures",
                                  "values": ["successRowCount", "0", "failedCount", "3",
                                             "totalRowCount", "3"]}]},
                ],
            },
        },
    )  # fmt: skip
    assert status.result is not None
    assert [n.object_id for n in status.result.nested] == ["112000000001", "112000000002"]
    assert status.result.counts == RowCounts(processed=7, succeeded=4, failed=3)


def test_polling_backs_off_for_long_tasks_but_never_below_five_seconds() -> None:
    intervals = [poll_interval(s) for s in (0, 59, 60, 299, 300, 899, 900, 7200)]
    assert intervals == [5, 5, 15, 15, 30, 30, 60, 60]
    # the orchestrations' monitor scales the same schedule by its first interval
    assert [poll_interval(s, 0.5) for s in (0, 60, 300, 900)] == [0.5, 1.5, 3.0, 6.0]


def test_handles_round_trip_through_json() -> None:
    handle = TaskHandle(IMPORT, TASK, adopted=True)
    assert TaskHandle.from_dict(handle.to_dict()) == handle
    export = ExportAction("116000000001", "Export Approved Budget", "TABULAR_MULTI_COLUMN")
    assert action_from_dict(export.to_dict()) == export
    with pytest.raises(InvalidIdError):
        action_from_dict({"kind": "imports", "id": "../files/113", "name": "x"})


def test_dump_rows_are_parsed_by_column_name() -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["_Status_", "_Line_", "_Error_1_", "_Error_2_", "Code", "Name"])
    writer.writerow(["E", "3", "Code is blank", "", "", "Nobody"])
    writer.writerow(["E", "7", "Name too long", "Bad date", "X1", "a, b"])
    writer.writerow([])
    records = csv.reader(io.StringIO(out.getvalue()))
    rows = list(parse_dump(iter(records)))
    assert [(r.line, r.status, r.errors) for r in rows] == [
        (3, "E", ("Code is blank",)),
        (7, "E", ("Name too long", "Bad date")),
    ]
    assert rows[1].values == {"Code": "X1", "Name": "a, b"}


def error(status: int, body: bytes, path: str, api_host: str = "api.anaplan.com") -> httpx.Response:
    request = httpx.Request("GET", f"https://{api_host}{path}")
    return httpx.Response(status, content=body, request=request)


def test_error_envelopes_become_typed_errors() -> None:
    path = "/2/0/workspaces/8a81/models/F111/imports"
    body = b'{"status": {"code": %d, "message": "%s"}, "path": "/2/0/x", "timestamp": "t"}'
    not_found = decode_api_error(error(404, body % (404, b"Not Found"), path))
    assert isinstance(not_found, AnaplanNotFoundError) and "lowercase" in str(not_found)
    assert not_found.server_path == "/2/0/x"  # type: ignore[attr-defined]
    assert isinstance(decode_api_error(error(409, body % (409, b"busy"), path)), ModelBusyError)
    assert isinstance(decode_api_error(error(423, body % (423, b"Locked"), path)), ModelLockedError)
    archived = decode_api_error(error(422, body % (422, b"Model archived"), path))
    assert isinstance(archived, ModelArchivedError) and archived.message == "Model archived"
    plain = decode_api_error(error(404, b"<html>gateway</html>", "/2/0/workspaces"))
    assert type(plain) is AnaplanError and "gateway" in plain.message
    auth = decode_auth_error(
        error(401, b'{"status": "FAILURE_BAD_CREDENTIAL", "statusMessage": "Bad"}', "/token")
    )
    assert isinstance(auth, AnaplanAuthError) and auth.code == "FAILURE_BAD_CREDENTIAL"


def test_ids_are_normalised_and_malformed_ones_rejected() -> None:
    ref = ModelRef.of(" 8A8194824045C4240140750BF15A5574 ", "f1111111c11111111b11111f1111e11f")
    assert ref.workspace_id == "8a8194824045c4240140750bf15a5574"
    assert ref.model_id == "F1111111C11111111B11111F1111E11F"
    for bad in ("", "8a81948240", "8a8194824045c4240140750bf15a557z", "../8a81948240"):
        with pytest.raises(InvalidIdError, match="32 hex"):
            ModelRef.of(bad, "F1111111C11111111B11111F1111E11F")
    assert task_id("1b1d84ddd53847baa621810b593c3fc1-02") == "1B1D84DDD53847BAA621810B593C3FC1-02"


def test_unknown_names_list_what_exists_and_hint_at_case() -> None:
    exc = UnknownNameError("import", "import gl actuals", ["Import GL Actuals", "Import Headcount"])
    assert "'Import GL Actuals', 'Import Headcount'" in str(exc)
    assert "did you mean 'Import GL Actuals'" in str(exc)
