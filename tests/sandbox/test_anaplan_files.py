"""Files: metadata, single and chunked uploads (gzip too), limits, downloads, the new-id trap."""

from __future__ import annotations

import gzip

from tests.sandbox.test_anaplan_kit import AnaplanKit, anaplan

__all__ = ["anaplan"]

OCTET = {"Content-Type": "application/octet-stream"}
GZIP = {"Content-Type": "application/x-gzip"}


def _file(kit: AnaplanKit, file_id: str) -> dict:
    return next(f for f in kit.ok("GET", "/files")["files"] if f["id"] == file_id)


def _source_of(kit: AnaplanKit, import_name: str) -> str:
    return kit.find("imports", import_name)["importDataSourceId"]


def test_file_metadata(anaplan: AnaplanKit) -> None:
    files = {f["name"]: f for f in anaplan.ok("GET", "/files")["files"]}
    source = files["GL Actuals.csv"]
    assert source == {
        "id": source["id"],
        "name": "GL Actuals.csv",
        "chunkCount": 1,
        "delimiter": '"',
        "encoding": "UTF-8",
        "firstDataRow": 2,
        "format": "txt",
        "headerRow": 1,
        "separator": ",",
    }
    export = files["Export Approved Budget"]
    assert export["id"].startswith("116")
    assert set(export) == {"id", "name", "chunkCount", "firstDataRow", "headerRow"}


def test_sample_is_downloadable_whole_and_in_chunks(anaplan: AnaplanKit) -> None:
    file_id = _source_of(anaplan, "Import Cost Centers")
    whole = anaplan.get(f"/files/{file_id}")
    assert whole.status_code == 200
    assert whole.content == anaplan.download(file_id)
    lines = whole.text.splitlines()
    assert lines[0] == "Code,Name,Blocked,Deleted in BC"
    assert lines[1] == "CC100,CC100 Executive Office,false,false"


def test_single_put_replaces_the_content(anaplan: AnaplanKit) -> None:
    file_id = _source_of(anaplan, "Import Headcount")
    data = b"Departments,Time,Headcount\nHR,Jan 26,7\n"
    response = anaplan.request(
        "PUT", anaplan.model_url(f"/files/{file_id}"), content=data, headers=OCTET
    )
    assert response.status_code == 204
    assert anaplan.get(f"/files/{file_id}").content == data
    assert _file(anaplan, file_id)["chunkCount"] == 1
    wrong_type = anaplan.request(
        "PUT",
        anaplan.model_url(f"/files/{file_id}"),
        content=data,
        headers={"Content-Type": "text/csv"},
    )
    assert wrong_type.status_code == 415


def test_chunked_upload_with_unknown_count_and_complete(anaplan: AnaplanKit) -> None:
    file_id = _source_of(anaplan, "Import Commitments")
    started = anaplan.ok("POST", f"/files/{file_id}", json={"chunkCount": -1})
    assert started["file"]["id"] == file_id
    pieces = [
        b"GL Accounts,Cost Centers,Departments,Time,Amount\n",
        b"61010,CC100,ADMIN,Jan 26,1\n",
    ]
    for index, piece in enumerate(pieces):
        headers = GZIP if index else OCTET
        body = gzip.compress(piece) if index else piece
        response = anaplan.request(
            "PUT",
            anaplan.model_url(f"/files/{file_id}/chunks/{index}"),
            content=body,
            headers=headers,
        )
        assert response.status_code == 204
    no_body = anaplan.request("POST", anaplan.model_url(f"/files/{file_id}/complete"))
    assert no_body.status_code == 500
    done = anaplan.ok(
        "POST",
        f"/files/{file_id}/complete",
        json={"id": file_id, "name": "Commitments.csv", "chunkCount": -1},
    )
    assert done["file"]["chunkCount"] == 2
    assert anaplan.download(file_id) == b"".join(pieces)
    chunks = anaplan.ok("GET", f"/files/{file_id}/chunks")["chunks"]
    assert chunks == [{"id": "0", "name": "Chunk 0"}, {"id": "1", "name": "Chunk 1"}]


def test_chunk_limits_and_bad_chunks(anaplan: AnaplanKit) -> None:
    file_id = _source_of(anaplan, "Import Commitments")
    anaplan.ok("POST", f"/files/{file_id}", json={"chunkCount": 2})

    def put(index: str, body: bytes, headers: dict[str, str]) -> int:
        url = anaplan.model_url(f"/files/{file_id}/chunks/{index}")
        return anaplan.request("PUT", url, content=body, headers=headers).status_code

    assert put("2", b"x", OCTET) == 400  # beyond the announced count
    assert put("0", b"not gzip at all", GZIP) == 400
    assert put("0", gzip.compress(b"\0" * (50 * 1024 * 1024 + 1)), GZIP) == 400
    assert put("0", b"x", {"Content-Type": "text/plain"}) == 415
    assert put("abc", b"x", OCTET) == 400
    complete_url = anaplan.model_url(f"/files/{file_id}/complete")
    metadata = {"id": file_id, "name": "Commitments.csv", "chunkCount": 2}
    assert put("0", b"GL Accounts,Cost Centers,Departments,Time,Amount\n", OCTET) == 204
    missing = anaplan.request("POST", complete_url, json=metadata)
    assert missing.status_code == 400, missing.text  # chunk 1 of the announced 2 never came
    assert missing.json()["status"]["code"] == 400
    anaplan.ok("POST", f"/files/{file_id}", json={"chunkCount": 3})
    assert put("0", b"GL Accounts,Cost Centers,Departments,Time,Amount\n", OCTET) == 204
    assert put("1", b"61010,CC100,ADMIN,Jan 26,1\n", OCTET) == 204
    truncated = anaplan.request("POST", complete_url, json={**metadata, "chunkCount": 3})
    assert truncated.status_code == 400, truncated.text  # 0 and 1 of 3: not whole
    assert put("2", b"61010,CC100,ADMIN,Feb 26,2\n", OCTET) == 204
    whole = anaplan.ok("POST", f"/files/{file_id}/complete", json={**metadata, "chunkCount": 3})
    assert whole["file"]["chunkCount"] == 3
    anaplan.ok("POST", f"/files/{file_id}", json={"chunkCount": -1})
    assert put("1000", b"x", OCTET) == 400
    for bad in ({"chunkCount": 1001}, {"chunkCount": -2}, {"chunkCount": "3"}, {}):
        assert (
            anaplan.request("POST", anaplan.model_url(f"/files/{file_id}"), json=bad).status_code
            == 400
        ), bad


def test_post_to_an_id_that_is_no_file_creates_a_new_file(anaplan: AnaplanKit) -> None:
    gl_actuals = _source_of(anaplan, "Import GL Actuals")
    wrong_id = "112000000006"  # the import's id, not its file's
    body = anaplan.ok("POST", f"/files/{wrong_id}", json={"chunkCount": 1, "name": "oops.csv"})
    created = body["file"]["id"]
    assert created != wrong_id and created.startswith("113")
    assert body["file"]["headerRow"] == -1 and body["file"]["firstDataRow"] == -1
    assert any(f["id"] == created for f in anaplan.ok("GET", "/files")["files"])
    url = anaplan.model_url(f"/files/{created}/chunks/0")
    assert anaplan.request("PUT", url, content=b"data", headers=OCTET).status_code == 204
    assert _file(anaplan, gl_actuals)["chunkCount"] == 1  # still the sample
    assert anaplan.get(f"/files/{gl_actuals}").text.startswith("GL Accounts,")
    missing = anaplan.request(
        "PUT", anaplan.model_url("/files/113999999999"), content=b"x", headers=OCTET
    )
    assert missing.status_code == 404


def test_delete_brings_the_sample_back(anaplan: AnaplanKit) -> None:
    file_id = _source_of(anaplan, "Import Departments")
    sample = anaplan.get(f"/files/{file_id}").content
    anaplan.upload(file_id, b"Code,Name,Blocked,Deleted in BC\n")
    assert anaplan.get(f"/files/{file_id}").content != sample
    deleted = anaplan.request("DELETE", anaplan.model_url(f"/files/{file_id}"))
    assert deleted.status_code == 204
    assert anaplan.get(f"/files/{file_id}").content == sample


def test_export_file_is_empty_until_the_export_runs(anaplan: AnaplanKit) -> None:
    export = anaplan.find("exports", "Export Plan Status")
    assert _file(anaplan, export["id"])["chunkCount"] == 0
    assert anaplan.get(f"/files/{export['id']}").status_code == 404
    assert "chunks" not in anaplan.ok("GET", f"/files/{export['id']}/chunks")
    assert anaplan.get(f"/files/{export['id']}/chunks/0").status_code == 404


def test_import_of_an_incomplete_upload_fails(anaplan: AnaplanKit) -> None:
    definition = anaplan.find("imports", "Import Headcount")
    file_id = definition["importDataSourceId"]
    anaplan.ok("POST", f"/files/{file_id}", json={"chunkCount": 2})
    url = anaplan.model_url(f"/files/{file_id}/chunks/0")
    anaplan.request("PUT", url, content=b"Departments,Time,Headcount\nHR,Jan 26,7\n", headers=OCTET)
    task_id = anaplan.start("imports", definition["id"])
    task = anaplan.wait("imports", definition["id"], task_id)
    assert task["taskState"] == "COMPLETE" and task["currentStep"] == "Failed."
    assert task["result"]["successful"] is False
    assert "not complete" in task["result"]["details"][0]["localMessageText"]
    assert not any(c["dimensions"]["Time"] == "Jan 26" for c in anaplan.cells("Headcount"))
