"""Real servers a notification reaches in the tests: an HTTP receiver (a generic JSON
webhook, as Apprise's json:// posts it) and an SMTP server (aiosmtpd), each on a port the OS
picked, stopped by the fixture that started it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller


class Receiver:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.mails: list[str] = []
        self._lock = threading.Lock()

    def texts(self) -> list[str]:
        with self._lock:
            return [f"{p.get('title')}\n{p.get('message')}" for p in self.posts]


def free_port() -> int:
    with socket.socket() as s:  # the OS picks it; aiosmtpd needs a number before it binds
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def channels() -> Iterator[tuple[Receiver, str, str, str]]:
    """(receiver, webhook URL, mail URL, a dead channel's URL)."""
    got = Receiver()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with got._lock:
                got.posts.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            del args

    class Mail:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with got._lock:
                got.mails.append(envelope.content.decode(errors="replace"))
            return "250 OK"

    http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    smtp_port = free_port()
    smtp = Controller(Mail(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        yield (
            got,
            f"json://127.0.0.1:{http.server_address[1]}/hook",
            f"mailto://127.0.0.1:{smtp_port}?from=runbooks@example.net&to=ops@example.net"
            "&mode=insecure",
            f"json://127.0.0.1:{free_port()}/nobody-listens",
        )
    finally:
        smtp.stop()
        http.shutdown()
        http.server_close()
