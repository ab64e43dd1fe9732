"""A third-party-style Anaplan client kit for the simulator's own tests (plain httpx).

Deliberately not the project's client: the simulator is tested the way an outside integration
would use Anaplan, straight from the documented API, so a shared misunderstanding cannot hide.
The other ``test_anaplan_*`` modules import ``AnaplanKit`` and the ``anaplan`` fixture from here;
this module's own tests check the kit's assumptions about the sandbox's JSON line.
"""

from __future__ import annotations

import base64
import gzip
import os
import ssl
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TERMINAL = ("COMPLETE", "CANCELLED")
IDS = {"imports": "112", "exports": "116", "processes": "118", "actions": "117"}


def cert_auth(cert_pem: bytes, key_pem: bytes, fmt: str = "v2", **overrides: Any):
    """Headers and body for certificate login, built as the reference's sample builds them."""
    stamp = overrides.pop("timestamp", int(time.time()))
    if fmt == "v2":
        message = struct.pack(">Q", stamp) + os.urandom(overrides.pop("random_bytes", 92))
    else:
        message = os.urandom(overrides.pop("random_bytes", 150))
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA512())
    headers = {
        "Authorization": "CACertificate " + base64.b64encode(cert_pem).decode(),
        "Content-Type": "application/json",
    }
    body: dict[str, Any] = {
        "encodedData": base64.b64encode(message).decode(),
        "encodedSignedData": base64.b64encode(signature).decode(),
    }
    if fmt == "v2":
        body = {"encodedDataFormat": "v2", **body}
    body.update(overrides)
    return headers, body


class AnaplanKit:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.http = httpx.Client(
            verify=ssl.create_default_context(cafile=info["ca_bundle"]), timeout=60.0
        )
        self.ws = info["workspace_id"]
        self.model = info["model_id"]
        self.token = ""

    # -- plumbing --------------------------------------------------------------------------
    def close(self) -> None:
        self.http.close()

    def auth_url(self, path: str) -> str:
        return self.info["anaplan_auth"] + path

    def url(self, path: str) -> str:
        return self.info["anaplan_api"] + path

    def model_url(self, suffix: str = "") -> str:
        return self.url(f"/2/0/workspaces/{self.ws}/models/{self.model}{suffix}")

    def login_basic(self) -> str:
        creds = f"{self.info['anaplan_user']}:{self.info['anaplan_password']}".encode()
        response = self.http.post(
            self.auth_url("/token/authenticate"),
            headers={"Authorization": "Basic " + base64.b64encode(creds).decode()},
        )
        assert response.status_code == 201, response.text
        self.token = response.json()["tokenInfo"]["tokenValue"]
        return self.token

    def cert_pems(self) -> tuple[bytes, bytes]:
        return Path(self.info["anaplan_cert"]).read_bytes(), Path(
            self.info["anaplan_key"]
        ).read_bytes()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"AnaplanAuthToken {self.token}"}

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kwargs)

    def get(self, suffix: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", self.model_url(suffix), **kwargs)

    def ok(self, method: str, suffix: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, self.model_url(suffix), **kwargs)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.post(self.url(f"/_sandbox/anaplan{path}"), json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    def inspect(self, path: str, **params: str) -> Any:
        response = self.http.get(
            self.url(f"/_sandbox/anaplan/models/{self.model}{path}"), params=params
        )
        assert response.status_code == 200, response.text
        return response.json()

    # -- discovery -------------------------------------------------------------------------
    def find(self, kind: str, name: str) -> dict[str, Any]:
        items = self.ok("GET", f"/{kind}").get(kind, [])
        return next(item for item in items if item["name"] == name)

    # -- files -----------------------------------------------------------------------------
    def upload(self, file_id: str, data: bytes, chunk_size: int = 0, compress: bool = True) -> None:
        """Chunked upload with a known chunk count (gzip'd chunks unless ``compress=False``)."""
        size = chunk_size or max(1, len(data))
        pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
        file = self.ok("POST", f"/files/{file_id}", json={"chunkCount": len(pieces)})["file"]
        assert file["id"] == file_id
        for index, piece in enumerate(pieces):
            content_type = "application/x-gzip" if compress else "application/octet-stream"
            body = gzip.compress(piece) if compress else piece
            response = self.request(
                "PUT",
                self.model_url(f"/files/{file_id}/chunks/{index}"),
                content=body,
                headers={"Content-Type": content_type},
            )
            assert response.status_code == 204, response.text

    def download(self, file_id: str) -> bytes:
        chunks = self.ok("GET", f"/files/{file_id}/chunks").get("chunks", [])
        parts = []
        for chunk in chunks:
            response = self.get(
                f"/files/{file_id}/chunks/{chunk['id']}",
                headers={"Accept": "application/octet-stream"},
            )
            assert response.status_code == 200, response.text
            parts.append(response.content)
        return b"".join(parts)

    # -- tasks -----------------------------------------------------------------------------
    def start(self, kind: str, object_id: str) -> str:
        body = self.ok("POST", f"/{kind}/{object_id}/tasks", json={"localeName": "en_US"})
        assert body["task"]["taskState"] == "NOT_STARTED"
        return body["task"]["taskId"]

    def task(self, kind: str, object_id: str, task_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/{kind}/{object_id}/tasks/{task_id}")["task"]

    def wait(self, kind: str, object_id: str, task_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            task = self.task(kind, object_id, task_id)
            if task["taskState"] in TERMINAL:
                return task
            assert time.monotonic() < deadline, task
            time.sleep(0.05)

    def run(self, kind: str, name: str, timeout: float = 60) -> tuple[str, dict[str, Any]]:
        object_id = self.find(kind, name)["id"]
        task_id = self.start(kind, object_id)
        return task_id, self.wait(kind, object_id, task_id, timeout)

    def import_csv(self, name: str, csv_text: str) -> tuple[str, str, dict[str, Any]]:
        """Upload ``csv_text`` to the import's file and run it; (import id, task id, task)."""
        definition = self.find("imports", name)
        self.upload(definition["importDataSourceId"], csv_text.encode())
        task_id = self.start("imports", definition["id"])
        return definition["id"], task_id, self.wait("imports", definition["id"], task_id)

    # -- inspection ------------------------------------------------------------------------
    def cells(self, module: str, line_item: str | None = None) -> list[dict[str, Any]]:
        params = {"lineItem": line_item} if line_item else {}
        return self.inspect(f"/modules/{module}/cells", **params)

    def members(self, list_name: str) -> list[dict[str, Any]]:
        return self.inspect(f"/lists/{list_name}")

    def reset(self) -> None:
        for switch in ("hold", "busy"):
            self.control(f"/{switch}", {"enabled": False})
        self.control("/rate-limit", {"per_minute": 600})
        self.control("/unlock")
        deadline = time.monotonic() + 60
        while self.http.get(self.url("/_sandbox/anaplan")).json()["busy"]:
            assert time.monotonic() < deadline, "model stayed busy"
            time.sleep(0.05)
        self.control("/reset")


@pytest.fixture(scope="module")
def anaplan(sandbox: dict[str, Any]) -> Iterator[AnaplanKit]:
    """A logged-in kit on the shared sandbox; the model is reset before and after the module."""
    kit = AnaplanKit(sandbox)
    kit.reset()
    kit.login_basic()
    try:
        yield kit
    finally:
        kit.reset()
        kit.close()


def test_json_line_has_the_anaplan_fields(sandbox: dict[str, Any]) -> None:
    for field in (
        "anaplan_auth",
        "anaplan_api",
        "anaplan_user",
        "anaplan_password",
        "anaplan_cert",
        "anaplan_key",
        "workspace_id",
        "model_id",
    ):
        assert sandbox[field], field
    assert sandbox["workspace_id"] == sandbox["workspace_id"].lower()
    assert sandbox["model_id"] == sandbox["model_id"].upper()
    assert len(sandbox["workspace_id"]) == len(sandbox["model_id"]) == 32
    env = sandbox["connector_env"]
    assert env["ANAPLAN_AUTH_URL"] == sandbox["anaplan_auth"]
    assert env["ANAPLAN_API_URL"] == sandbox["anaplan_api"]
    assert env["ANAPLAN_AUTH_MODE"] == "basic"
    assert env["ANAPLAN_USER"] == sandbox["anaplan_user"]
    assert env["ANAPLAN_WORKSPACE_ID"] == sandbox["workspace_id"]
    assert env["ANAPLAN_MODEL_ID"] == sandbox["model_id"]
    assert Path(sandbox["anaplan_cert"]).read_bytes().startswith(b"-----BEGIN CERTIFICATE")
