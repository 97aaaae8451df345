"""A local inbox for tests: a real SMTP server (aiosmtpd) and a real HTTP receiver on
free ports of 127.0.0.1, keeping what they receive."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Inbox:
    smtp_port: int
    http_url: str
    mails: list[bytes] = field(default_factory=list)
    posts: list[tuple[str, Any]] = field(default_factory=list)


@contextmanager
def local_inbox() -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller

    inbox = Inbox(smtp_port=free_port(), http_url="")

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            inbox.mails.append(bytes(envelope.content))
            return "250 OK"

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            inbox.posts.append((self.path, json.loads(body)))
            answer = b'{"errcode": 0, "errmsg": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=inbox.smtp_port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    inbox.http_url = f"http://127.0.0.1:{http.server_address[1]}"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield inbox
    finally:
        http.shutdown()
        http.server_close()
        smtp.stop()
