"""Baseline: the full actuals load as a competent user would script it without the connector.

Plain httpx and the standard ``json`` module, nothing of this project: a client-credentials token
by a plain POST, every G/L entry page (``$select`` + ``$expand`` of just the needed fields,
BC's maximum page size) appended to one in-memory list, then aggregated per account x cost
center x department x month (debit - credit; closing balances rolled forward for balance-sheet
accounts, exactly the cells the connector sends), written as one in-memory CSV, uploaded in
chunks as Anaplan requires, imported, and polled (immediately, then every 5 s: the same cadence
as the connector, so the comparison is about the data path, not about polling).

It does none of what the connector adds: no reference sync, no mapping or quarantine, no check
against BC's trial balance, no audit trail, no staging, no snapshots for incremental loads, no
retries, no exactly-once. Configuration comes from environment variables (see ``CONFIG``).
Prints one JSON line: counts and the time of each phase.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import os
import sys
import time
from collections import defaultdict
from datetime import date

import httpx

CONFIG = (
    "ENTRA_URL", "TENANT_ID", "CLIENT_ID", "CLIENT_SECRET", "BC_URL", "BC_ENVIRONMENT",
    "COMPANY_ID", "ANAPLAN_AUTH_URL", "ANAPLAN_API_URL", "ANAPLAN_USER", "ANAPLAN_PASSWORD",
    "WORKSPACE_ID", "MODEL_ID", "CA_BUNDLE",
)  # fmt: skip
IMPORT_NAME = "Import GL Actuals"
BALANCE_SHEET = {"Assets", "Liabilities", "Equity"}
CHUNK_BYTES = 10 * 1024 * 1024  # Anaplan: chunks of 1 to 50 MB
POLL_S = float(os.environ.get("BASELINE_POLL_S", "5"))  # the harness may shorten it


def bc_token(http: httpx.Client, cfg: dict[str, str]) -> str:
    response = http.post(
        f"{cfg['ENTRA_URL']}/{cfg['TENANT_ID']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": cfg["CLIENT_ID"],
            "client_secret": cfg["CLIENT_SECRET"],
            "scope": "https://api.businesscentral.dynamics.com/.default",
        },
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def read_all(http: httpx.Client, url: str, params: dict[str, str] | None = None) -> list[dict]:
    """Every row of a BC collection, page by page, into one list."""
    rows: list[dict] = []
    next_url: str | None = url
    while next_url:
        response = http.get(next_url, params=params)
        response.raise_for_status()
        page = response.json()
        rows.extend(page["value"])
        next_url, params = page.get("@odata.nextLink"), None
    return rows


def month_name(posting_date: str) -> str:
    day = date.fromisoformat(posting_date)
    return f"{calendar.month_abbr[day.month]} {day.year % 100:02d}"


def amount_text(value: float) -> str:
    value = round(value, 2)
    return "0" if value == 0 else f"{value:.2f}"


def build_csv(entries: list[dict], balance_sheet: set[str]) -> tuple[str, int]:
    # net change per (account, cost center, department) and month
    net: dict[tuple[str, int, int], dict[tuple[str, str, str], float]] = defaultdict(
        lambda: defaultdict(float)
    )
    for entry in entries:
        dims = {d["code"]: d["valueCode"] for d in entry["dimensionSetLines"]}
        key = (entry["accountNumber"], dims.get("COSTCENTER", ""), dims.get("DEPARTMENT", ""))
        day = date.fromisoformat(entry["postingDate"])
        net[(day.strftime("%Y-%m"), day.year, day.month)][key] += (
            entry["debitAmount"] - entry["creditAmount"]
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["GL Accounts", "Cost Centers", "Departments", "Time", "Amount", "Closing Balance"]
    )
    closing: dict[tuple[str, str, str], float] = {}
    rows = 0
    for _, year, month in sorted(net):
        cells = net[(f"{year:04d}-{month:02d}", year, month)]
        for key, amount in cells.items():
            if key[0] in balance_sheet:
                closing[key] = closing.get(key, 0.0) + amount
        name = f"{calendar.month_abbr[month]} {year % 100:02d}"
        for key in sorted(set(cells) | set(closing)):
            balance = amount_text(closing[key]) if key in closing else ""
            writer.writerow([*key, name, amount_text(cells.get(key, 0.0)), balance])
            rows += 1
    return out.getvalue(), rows


def main() -> int:
    cfg = {name: os.environ[name] for name in CONFIG}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with httpx.Client(verify=cfg["CA_BUNDLE"], timeout=300) as http:
        token = bc_token(http, cfg)
        headers = {"Authorization": f"Bearer {token}"}
        company = (
            f"{cfg['BC_URL']}/v2.0/{cfg['TENANT_ID']}/{cfg['BC_ENVIRONMENT']}/api/v2.0"
            f"/companies({cfg['COMPANY_ID']})"
        )
        with httpx.Client(verify=cfg["CA_BUNDLE"], timeout=300, headers=headers) as bc:
            accounts = read_all(bc, f"{company}/accounts", {"$select": "number,category"})
            balance_sheet = {a["number"] for a in accounts if a["category"] in BALANCE_SHEET}
            entries = read_all(
                bc,
                f"{company}/generalLedgerEntries",
                {
                    "$select": "accountNumber,postingDate,debitAmount,creditAmount",
                    "$expand": "dimensionSetLines($select=code,valueCode)",
                },
            )
        timings["read_bc_s"] = time.perf_counter() - started

        mark = time.perf_counter()
        text, rows = build_csv(entries, balance_sheet)
        data = text.encode("utf-8")
        timings["aggregate_and_csv_s"] = time.perf_counter() - mark

        mark = time.perf_counter()
        login = http.post(
            f"{cfg['ANAPLAN_AUTH_URL']}/token/authenticate",
            auth=(cfg["ANAPLAN_USER"], cfg["ANAPLAN_PASSWORD"]),
        )
        login.raise_for_status()
        anaplan_token = login.json()["tokenInfo"]["tokenValue"]
        model = (
            f"{cfg['ANAPLAN_API_URL']}/2/0/workspaces/{cfg['WORKSPACE_ID']}"
            f"/models/{cfg['MODEL_ID']}"
        )
        auth = {"Authorization": f"AnaplanAuthToken {anaplan_token}"}
        with httpx.Client(verify=cfg["CA_BUNDLE"], timeout=300, headers=auth) as api:
            imports = api.get(f"{model}/imports").raise_for_status().json()["imports"]
            action = next(i for i in imports if i["name"] == IMPORT_NAME)
            file_id = action["importDataSourceId"]
            chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
            api.post(
                f"{model}/files/{file_id}", json={"chunkCount": len(chunks)}
            ).raise_for_status()
            for index, chunk in enumerate(chunks):
                api.put(
                    f"{model}/files/{file_id}/chunks/{index}",
                    content=chunk,
                    headers={"Content-Type": "application/octet-stream"},
                ).raise_for_status()
            timings["upload_s"] = time.perf_counter() - mark

            mark = time.perf_counter()
            task = api.post(
                f"{model}/imports/{action['id']}/tasks", json={"localeName": "en_US"}
            ).raise_for_status()
            task_id = task.json()["task"]["taskId"]
            polls = 0
            while True:
                polls += 1
                status = api.get(f"{model}/imports/{action['id']}/tasks/{task_id}")
                status = status.raise_for_status().json()["task"]
                if status["taskState"] == "COMPLETE":
                    break
                time.sleep(POLL_S)
            timings["import_s"] = time.perf_counter() - mark
    result = status.get("result") or {}
    print(
        json.dumps(
            {
                "entries": len(entries),
                "rows": rows,
                "csv_bytes": len(data),
                "chunks": len(chunks),
                "polls": polls,
                "successful": result.get("successful"),
                "failure_dump": result.get("failureDumpAvailable"),
                "timings": {k: round(v, 3) for k, v in timings.items()},
                "wall_s": round(time.perf_counter() - started, 3),
            }
        )
    )
    return 0 if result.get("successful") else 1


if __name__ == "__main__":
    sys.exit(main())
