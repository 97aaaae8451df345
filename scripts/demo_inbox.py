"""A local inbox for the demo: an SMTP server and an HTTP webhook receiver that keep
what they receive, so that the demo can show the notifications a run sent.

    python scripts/demo_inbox.py OUT_DIR [--smtp-port 8025] [--http-port 8026]

Each e-mail is saved as ``OUT_DIR/mail-NNN.eml`` and each webhook request body as
``OUT_DIR/webhook-NNN.json`` (with the path it was posted to). Runs until killed
(SIGTERM or Ctrl-C). ``--summary OUT_DIR`` prints what the inbox holds and exits.

Only for the demo: it listens on 127.0.0.1, accepts anything and has no TLS.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _next_name(folder: Path, prefix: str, suffix: str) -> Path:
    count = len(list(folder.glob(f"{prefix}-*{suffix}")))
    return folder / f"{prefix}-{count + 1:03d}{suffix}"


def serve(folder: Path, smtp_port: int, http_port: int) -> None:
    from aiosmtpd.controller import Controller

    folder.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            with lock:
                _next_name(folder, "mail", ".eml").write_bytes(envelope.content)
            return "250 Message accepted"

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload: Any = json.loads(body)
            except ValueError:
                payload = body.decode("utf-8", "replace")
            record = {"path": self.path, "payload": payload}
            with lock:
                _next_name(folder, "webhook", ".json").write_text(
                    json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8"
                )
            answer = b'{"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", http_port), Receiver)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    (folder / "ready").write_text(f"smtp {smtp_port} http {http_port}\n", encoding="utf-8")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        http.shutdown()
        smtp.stop()


def summary(folder: Path) -> int:
    mails = sorted(folder.glob("mail-*.eml"))
    hooks = sorted(folder.glob("webhook-*.json"))
    print(f"Inbox {folder}: {len(mails)} e-mail(s), {len(hooks)} webhook request(s)")
    for path in mails:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        attachments = [part.get_filename() for part in message.iter_attachments()]
        print(f"  {path.name}: to {message['To']} | {message['Subject']}")
        if attachments:
            print(f"    attached: {', '.join(str(a) for a in attachments)}")
    for path in hooks:
        record = json.loads(path.read_text(encoding="utf-8"))
        text = json.dumps(record["payload"], ensure_ascii=False)
        shown = text if len(text) <= 160 else text[:160] + "..."
        print(f"  {path.name}: POST {record['path']} {shown}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--http-port", type=int, default=8026)
    parser.add_argument("--summary", action="store_true", help="print what was received")
    args = parser.parse_args(argv)
    if args.summary:
        return summary(args.folder)
    serve(args.folder, args.smtp_port, args.http_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
