"""A real HTTP server on loopback that answers from a script, for testing the HTTP layer.

Each request takes the next step of the script: a status with headers and body, ``RESET`` (close
the connection without answering, after reading the request) or ``HANG`` (read the request, then
say nothing for longer than the client's read timeout). Every request received is recorded, so a
test can assert what was actually sent -- the calls, not only the result.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RESET = "reset"
HANG = "hang"


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    def __init__(self) -> None:
        self.script: deque[Reply | str] = deque()
        self.received: list[Received] = []
        self.hang_s = 2.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.received.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )
                step = server.script.popleft() if server.script else Reply(200, {"ok": True})
                if step == RESET:
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                if step == HANG:
                    time.sleep(server.hang_s)
                    self.close_connection = True
                    return
                assert isinstance(step, Reply)
                payload = b"" if step.body is None else json.dumps(step.body).encode()
                self.send_response(step.status)
                for name, value in step.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def then(self, *steps: Reply | str) -> ScriptedServer:
        self.script.extend(steps)
        return self
