"""A local mail server and webhook receiver for the demo: keeps what custrisk notify sends.

    python scripts/notify_sink.py OUT_DIR [--smtp-port 8025] [--http-port 8026] [--seconds 600]

Every e-mail is saved as OUT_DIR/mail-NNN.eml and every webhook request as
OUT_DIR/hook-NNN.json (path, headers without values that look secret, body); a line per
message goes to stdout. It answers webhooks like a robot that accepted the message
({"errcode": 0, "code": 0}). Plain SMTP without TLS or login: for a demo on one machine
only (custrisk sends no password to a server without STARTTLS). Needs aiosmtpd (the dev
extra). Stops after --seconds or on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--http-port", type=int, default=8026)
    parser.add_argument("--seconds", type=float, default=600.0)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    counter = itertools.count(1)
    lock = threading.Lock()

    def number() -> int:
        with lock:
            return next(counter)

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            path = out / f"mail-{number():03d}.eml"
            path.write_bytes(envelope.content)
            print(f"mail  {path.name}: to {', '.join(envelope.rcpt_tos)}", flush=True)
            return "250 OK"

    class Hooks(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            path = out / f"hook-{number():03d}.json"
            record = {
                "path": self.path.split("?")[0],
                "headers": {k: v for k, v in self.headers.items() if "auth" not in k.lower()},
                "body": json.loads(body.decode("utf-8") or "null"),
            }
            path.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
            print(f"hook  {path.name}: {record['path']} ({len(body)} bytes)", flush=True)
            answer = b'{"errcode": 0, "code": 0, "errmsg": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=args.smtp_port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", args.http_port), Hooks)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    print(f"listening: smtp 127.0.0.1:{args.smtp_port}, http 127.0.0.1:{args.http_port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait(args.seconds)
    except KeyboardInterrupt:
        pass
    http.shutdown()
    smtp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
