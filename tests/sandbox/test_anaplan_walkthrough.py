"""The issue's third-party walk-through, with plain httpx, on a sandbox of its own.

Its own sandbox because it moves the simulated clock (36 minutes, then 48 hours), which the
shared session sandbox must not see.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import ssl
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sandbox.test_anaplan_kit import AnaplanKit, cert_auth
from tests.support.processes import running_sandbox


@pytest.fixture(scope="module")
def own_sandbox() -> Iterator[dict[str, Any]]:
    with running_sandbox("--scale", "small", "--fast", "--seed", "11") as info:
        yield info


def _poll(client: httpx.Client, url: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        task = response.json()["task"]
        if task["taskState"] in ("COMPLETE", "CANCELLED"):
            return task
        assert time.monotonic() < deadline, task
        time.sleep(0.1)


def test_third_party_walk_through(own_sandbox: dict[str, Any]) -> None:
    info = own_sandbox
    auth, api = info["anaplan_auth"], info["anaplan_api"] + "/2/0"
    client = httpx.Client(verify=ssl.create_default_context(cafile=info["ca_bundle"]), timeout=30.0)

    # 1. authenticate with basic and with the certificate
    basic = base64.b64encode(f"{info['anaplan_user']}:{info['anaplan_password']}".encode())
    response = client.post(
        f"{auth}/token/authenticate", headers={"Authorization": "Basic " + basic.decode()}
    )
    assert response.status_code == 201
    assert response.json()["status"] == "SUCCESS"
    cert_pem = Path(info["anaplan_cert"]).read_bytes()
    key_pem = Path(info["anaplan_key"]).read_bytes()
    headers, body = cert_auth(cert_pem, key_pem)
    response = client.post(f"{auth}/token/authenticate", headers=headers, json=body)
    assert response.status_code == 201, response.text
    token = response.json()["tokenInfo"]["tokenValue"]
    h = {"Authorization": f"AnaplanAuthToken {token}"}

    # 2. list workspaces and models
    workspaces = client.get(f"{api}/workspaces", headers=h).json()["workspaces"]
    ws = workspaces[0]["id"]
    models = client.get(f"{api}/workspaces/{ws}/models", headers=h).json()["models"]
    model = next(m for m in models if m["name"] == "FP&A")["id"]
    assert (ws, model) == (info["workspace_id"], info["model_id"])
    base = f"{api}/workspaces/{ws}/models/{model}"

    # 3. resolve the import and its file by name
    imports = client.get(f"{base}/imports", headers=h).json()["imports"]
    gl_import = next(i for i in imports if i["name"] == "Import GL Actuals")
    file_id = gl_import["importDataSourceId"]
    files = client.get(f"{base}/files", headers=h).json()["files"]
    assert any(f["id"] == file_id for f in files)
    sample = client.get(f"{base}/files/{file_id}", headers=h).text
    header = sample.splitlines()[0]
    assert header == "GL Accounts,Cost Centers,Departments,Time,Amount,Closing Balance"

    # 4. upload a gzip'd chunked CSV (two chunks, count announced)
    rows = [
        "61010,CC100,ADMIN,Jan 26,1000.10,1000.10",
        "61010,CC110,ADMIN,Feb 26,2000.20,3000.30",
        "41010,CC230,SALES,Mar 26,-12345.67,-12345.67",
        "61020,CC100,ADMIN,Jan 26,0.01,0.01",
    ]
    chunks = [(header + "\n" + "\n".join(rows[:2]) + "\n"), ("\n".join(rows[2:]) + "\n")]
    started = client.post(f"{base}/files/{file_id}", headers=h, json={"chunkCount": 2})
    assert started.status_code == 200 and started.json()["file"]["id"] == file_id
    for n, text in enumerate(chunks):
        put = client.put(
            f"{base}/files/{file_id}/chunks/{n}",
            headers={**h, "Content-Type": "application/x-gzip"},
            content=gzip.compress(text.encode()),
        )
        assert put.status_code == 204

    # 5. start the import and poll it to COMPLETE
    start = client.post(
        f"{base}/imports/{gl_import['id']}/tasks", headers=h, json={"localeName": "en_US"}
    )
    assert start.status_code == 200
    task_id = start.json()["task"]["taskId"]
    task = _poll(client, f"{base}/imports/{gl_import['id']}/tasks/{task_id}", h)
    assert task["taskState"] == "COMPLETE" and task["result"]["successful"] is True
    assert task["result"]["failureDumpAvailable"] is False

    # 6. read the cells back through /_sandbox/
    cells = client.get(
        f"{info['anaplan_api']}/_sandbox/anaplan/models/{model}/modules/GL Actuals/cells",
        params={"lineItem": "Amount"},
    ).json()
    amounts = {
        (c["dimensions"]["GL Accounts"].split()[0], c["dimensions"]["Time"]): Decimal(
            str(c["value"])
        )
        for c in cells
    }
    assert amounts[("61010", "Feb 26")] == Decimal("2000.20")
    assert amounts[("41010", "Mar 26")] == Decimal("-12345.67")
    assert amounts[("61020", "Jan 26")] == Decimal("0.01")

    # 7. an import with bad rows, then its dump
    bad_rows = [
        "61010,CC100,ADMIN,Jan 26,5,5",
        "99999,CC100,ADMIN,Jan 26,5,5",
        "61010,CC100,ADMIN,Jan 26,abc,1",
    ]
    bad = header + "\n" + "\n".join(bad_rows) + "\n"
    client.put(
        f"{base}/files/{file_id}",
        headers={**h, "Content-Type": "application/octet-stream"},
        content=bad.encode(),
    )
    start = client.post(
        f"{base}/imports/{gl_import['id']}/tasks", headers=h, json={"localeName": "en_US"}
    )
    task_id = start.json()["task"]["taskId"]
    task = _poll(client, f"{base}/imports/{gl_import['id']}/tasks/{task_id}", h)
    assert task["result"]["successful"] is True and task["result"]["failureDumpAvailable"] is True
    dump_url = f"{base}/imports/{gl_import['id']}/tasks/{task_id}/dump"
    chunk_list = client.get(f"{dump_url}/chunks", headers=h).json()["chunks"]
    dump = b"".join(
        client.get(f"{dump_url}/chunks/{c['id']}", headers=h).content for c in chunk_list
    )
    records = list(csv.reader(io.StringIO(dump.decode())))
    assert records[0][:3] == ["_Status_", "_Line_", "_Error_1_"]
    assert [r[1] for r in records[1:]] == ["3", "4"]
    assert "99999" in records[1][2]

    # 8. approve the budget, run Export Approved Budget and download it
    approved = client.post(
        f"{info['anaplan_api']}/_sandbox/anaplan/approve", json={"version": "Budget FY27"}
    )
    assert approved.status_code == 200
    exports = client.get(f"{base}/exports", headers=h).json()["exports"]
    export = next(e for e in exports if e["name"] == "Export Approved Budget")
    start = client.post(
        f"{base}/exports/{export['id']}/tasks", headers=h, json={"localeName": "en_US"}
    )
    task = _poll(client, f"{base}/exports/{export['id']}/tasks/{start.json()['task']['taskId']}", h)
    assert task["result"]["successful"] is True
    chunk_list = client.get(f"{base}/files/{export['id']}/chunks", headers=h).json()["chunks"]
    data = b"".join(
        client.get(f"{base}/files/{export['id']}/chunks/{c['id']}", headers=h).content
        for c in chunk_list
    )
    exported = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(exported) > 1000
    assert {r["Versions"] for r in exported} == {"Budget FY27"}

    # 9. 404 for a wrong-case id, 401 after 36 minutes
    wrong = client.get(f"{api}/workspaces/{ws.upper()}/models/{model}/imports", headers=h)
    assert wrong.status_code == 404 and wrong.json()["status"]["code"] == 404
    wrong = client.get(f"{api}/models/{model.lower()}/imports", headers=h)
    assert wrong.status_code == 404
    moved = client.post(f"{info['anaplan_api']}/_sandbox/clock", json={"advance_seconds": 36 * 60})
    assert moved.status_code == 200
    expired = client.get(f"{api}/workspaces", headers=h)
    assert expired.status_code == 401
    assert expired.json()["status"]["code"] == 401
    client.close()


def test_tokens_expire_on_the_simulated_clock_and_uploads_last_48_hours(
    own_sandbox: dict[str, Any],
) -> None:
    kit = AnaplanKit(own_sandbox)
    kit.login_basic()

    def advance(hours: float) -> None:
        moved = kit.http.post(kit.url("/_sandbox/clock"), json={"advance_seconds": hours * 3600})
        assert moved.status_code == 200
        kit.login_basic()

    stale = kit.headers
    kit.http.post(kit.url("/_sandbox/clock"), json={"advance_seconds": 35 * 60 + 1})
    for method, path in (("GET", "/token/validate"), ("POST", "/token/refresh")):
        response = kit.http.request(method, kit.auth_url(path), headers=stale)
        assert response.status_code == 401
        assert response.json()["status"] == "FAILURE_BAD_CREDENTIAL"
    kit.login_basic()
    definition = kit.find("imports", "Import Headcount")
    file_id = definition["importDataSourceId"]
    sample = kit.get(f"/files/{file_id}").content
    import_id, task_id, _ = kit.import_csv(
        "Import Headcount", "Departments,Time,Headcount\nXX,Jan 26,1\nHR,Jan 26,2\n"
    )
    dump_path = f"/imports/{import_id}/tasks/{task_id}/dump"
    advance(47)
    assert kit.get(f"/files/{file_id}").content != sample  # still the upload
    assert kit.get(dump_path).status_code == 200  # read at 47 h: does not extend its life
    advance(2)
    assert kit.get(f"/files/{file_id}").content == sample  # 49 h after upload: the sample again
    assert kit.get(dump_path).status_code == 404  # 49 h after it was recorded: gone
    kit.close()
