"""An SMTP trap: keeps every message it receives as a file, and lists them over HTTP.

    python -m lomash_tasks.stack.smtp_trap --port 1025 --web-port 8025 --dir .lomash/smtp/mail

The embedded backend runs it in the background in place of MailHog. Messages are kept in a
Maildir (one file per message under `<dir>/new`), with X-MailFrom / X-RcptTo headers added.
The web port serves a read-only view: `/` (an HTML list), `/api/v2/messages` (MailHog's JSON
shape: total, count, start, items[ID, From, To, Content{Headers, Body, Size}, Created, Raw]).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import json
import mailbox
import signal
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _address(text: str) -> dict[str, str | None]:
    text = (text or "").strip().strip("<>")
    local, _, domain = text.partition("@")
    return {"Relays": None, "Mailbox": local, "Domain": domain, "Params": ""}


def messages(folder: Path) -> list[dict[str, Any]]:
    """The kept messages, newest first, in MailHog's v2 item shape."""
    box = mailbox.Maildir(str(folder), create=True)
    items: list[dict[str, Any]] = []
    for key in box.keys():
        path = None
        for sub in ("new", "cur"):
            for candidate in (folder / sub).glob(f"{key}*"):
                path = candidate
        raw = path.read_bytes() if path else bytes(box.get_bytes(key))
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        created = path.stat().st_mtime if path else 0.0
        headers: dict[str, list[str]] = {}
        for name, value in msg.items():
            headers.setdefault(name, []).append(str(value))
        body = msg.get_payload(decode=False)
        if isinstance(body, list):
            body = "\n".join(str(part) for part in body)
        rcpts = [r.strip() for r in (msg.get("X-RcptTo") or "").split(",") if r.strip()]
        sender = msg.get("X-MailFrom") or ""
        items.append(
            {
                "ID": key,
                "From": _address(sender),
                "To": [_address(r) for r in rcpts],
                "Content": {"Headers": headers, "Body": body, "Size": len(raw), "MIME": None},
                "Created": datetime.fromtimestamp(created, timezone.utc).isoformat(),
                "MIME": None,
                "Raw": {
                    "From": sender,
                    "To": rcpts,
                    "Data": raw.decode(errors="replace"),
                    "Helo": "",
                },
                "_created": created,
            }
        )
    items.sort(key=lambda item: item["_created"], reverse=True)
    for item in items:
        item.pop("_created")
    return items


def make_web(host: str, port: int, folder: Path) -> ThreadingHTTPServer:
    class View(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            if path in ("/api/v2/messages", "/api/v1/messages"):
                items = messages(folder)
                data: Any = (
                    items
                    if path.endswith("v1/messages")
                    else {"total": len(items), "count": len(items), "start": 0, "items": items}
                )
                self._send(200, json.dumps(data).encode(), "application/json")
            elif path == "/health":
                self._send(200, b'{"status": "ok"}', "application/json")
            elif path == "/":
                rows = "".join(
                    f"<tr><td>{html.escape(i['Created'])}</td><td>{html.escape(i['Raw']['From'])}"
                    f"</td><td>{html.escape(', '.join(i['Raw']['To']))}</td><td>"
                    f"{html.escape((i['Content']['Headers'].get('Subject') or [''])[0])}</td></tr>"
                    for i in messages(folder)
                )
                page = (
                    "<!doctype html><title>Lomash Wood mail trap</title>"
                    "<h1>Kept messages</h1><table><tr><th>received</th><th>from</th>"
                    f"<th>to</th><th>subject</th></tr>{rows}</table>"
                )
                self._send(200, page.encode(), "text/html; charset=utf-8")
            else:
                self._send(404, b'{"error": "not found"}', "application/json")

    return ThreadingHTTPServer((host, port), View)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--web-port", type=int, default=0, help="0: no web view")
    parser.add_argument("--dir", required=True, help="the Maildir where messages are kept")
    args = parser.parse_args(argv)

    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox

    folder = Path(args.dir)
    for sub in ("", "new", "cur", "tmp"):  # a Maildir, even in an existing empty folder
        (folder / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    web = None
    if args.web_port:
        web = make_web(args.host, args.web_port, folder)
        threading.Thread(target=web.serve_forever, daemon=True).start()
    controller = Controller(
        Mailbox(folder),
        hostname=args.host,
        port=args.port,
        server_hostname="lomash-mail-trap",
        ready_timeout=10,
    )
    controller.start()
    print(
        f"SMTP trap on {args.host}:{args.port}, web view on "
        f"{args.host}:{args.web_port or '-'}, keeping mail in {folder}",
        flush=True,
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        controller.stop()
        if web is not None:
            web.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
