"""The dashboard's HTTP server: the standard library's threading server on 127.0.0.1 only.

Every request passes three checks before anything else happens, and is answered 403 with
nothing done when one fails:
  Host     127.0.0.1:PORT or localhost:PORT only (a DNS-rebinding page names its own host)
  token    the random token printed with the URL (`?token=`, or the X-Lomash-Token header)
  Origin   for actions and the WebSocket: this dashboard's own origin, when a browser sends one
           (no cross-site POST, no cross-site WebSocket)
Actions are POSTs of JSON (`application/json`: a cross-site form cannot send one without a
preflight, which is refused). The page is served with a Content-Security-Policy that allows
nothing from any other origin.

    GET  /                      the page          GET  /api/state   the snapshot (JSON)
    GET  /static/<asset>        its CSS and JS    GET  /api/logs    the kept log lines (JSON)
    GET  /ws                    the live stream   POST /api/actions/<name>  {"service": ...}
"""

from __future__ import annotations

import errno
import hmac
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lomash_tasks.dashboard import actions, websocket
from lomash_tasks.dashboard.live import Hub
from lomash_tasks.errors import UserError
from lomash_tasks.workspace import Workspace

HOST = "127.0.0.1"
TOKEN_HEADER = "X-Lomash-Token"
MAX_BODY = 16 * 1024
PING_EVERY = 20.0
ACTIONS_AT_ONCE = 4
ASSETS = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def load_assets() -> dict[str, bytes]:
    folder = resources.files("lomash_tasks.dashboard") / "assets"
    return {name: (folder / name).read_bytes() for name in ("index.html", *ASSETS)}


class App:
    """What every request handler shares: the hub, the token, the allowed hosts and origins."""

    hub: Hub

    config_file: Path

    def __init__(self, ws: Workspace, token: str, fixtures: list[str]) -> None:
        self.ws = ws
        self.token = token
        self.fixtures = fixtures
        self.assets = load_assets()
        self.port = 0
        self.running = threading.BoundedSemaphore(ACTIONS_AT_ONCE)

    def bound(self, port: int) -> None:
        self.port = port
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/?token={self.token}"

    def page(self) -> bytes:
        return self.assets["index.html"].replace(b"{{token}}", self.token.encode("ascii"))

    def csp(self) -> str:
        sockets = " ".join(f"ws://{h}" for h in sorted(self.hosts))
        return (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {sockets}; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lomash-dashboard"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection is closed (a WebSocket has none: see stream)
    app: App  # set on the subclass the server makes

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the terminal shows the URL, the page shows the rest

    # -- the checks ------------------------------------------------------------------------------
    def refused(self, write: bool) -> str | None:
        """Why this request is refused (None: it passes): Host, token, then Origin."""
        app = self.app
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in app.hosts:
            return (
                f"Host {host or '(none)'!r} is not this dashboard's "
                f"({' or '.join(sorted(app.hosts))})."
            )
        query = parse_qs(urlsplit(self.path).query)
        given = self.headers.get(TOKEN_HEADER) or (query.get("token") or [""])[0]
        if not given or not hmac.compare_digest(given.encode(), app.token.encode()):
            return (
                "no token, or a wrong one: open the URL `inv dashboard` printed (it holds "
                "the token)."
            )
        if write:
            origin = self.headers.get("Origin")
            if origin is not None and origin not in app.origins:
                return f"requests from {origin!r} are not accepted (cross-site)."
            if (self.headers.get("Sec-Fetch-Site") or "same-origin") not in ("same-origin", "none"):
                return "cross-site requests are not accepted."
        return None

    # -- answers ---------------------------------------------------------------------------------
    def answer(
        self, code: int, body: bytes, kind: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        if code >= 400:  # a refused request's body may be unread: never reuse its connection
            self.send_header("Connection", "close")
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def json_answer(self, code: int, data: Any) -> None:
        self.answer(code, json.dumps(data).encode("utf-8"), "application/json")

    def text(self, code: int, message: str) -> None:
        self.answer(code, f"{code} {message}\n".encode(), "text/plain; charset=utf-8")

    # -- routes ----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        upgrade = path == "/ws" and websocket.is_upgrade(self.headers)
        why = self.refused(write=upgrade)
        if why:
            self.text(403, f"Forbidden: {why}")
            return
        app = self.app
        if path == "/":
            self.answer(
                200, app.page(), "text/html; charset=utf-8", {"Content-Security-Policy": app.csp()}
            )
        elif path.startswith("/static/") and path[8:] in ASSETS:
            self.answer(200, app.assets[path[8:]], ASSETS[path[8:]])
        elif path == "/api/state":
            snapshot = app.hub.current()
            self.json_answer(200, snapshot.as_dict())
        elif path == "/api/logs":
            self.json_answer(200, [list(item) for item in list(app.hub.log)])
        elif path == "/ws":
            if upgrade:
                self.stream()
            else:
                self.text(400, "Bad Request: /ws takes a WebSocket handshake.")
        else:
            self.text(404, f"Not Found: {path}")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        why = self.refused(write=True)
        if why:
            self.text(403, f"Forbidden: {why}")
            return
        path = urlsplit(self.path).path
        if not path.startswith("/api/actions/"):
            self.text(404, f"Not Found: {path}")
            return
        params = self.body()
        if params is None:
            return
        self.act(path.rsplit("/", 1)[1], params)

    def do_PUT(self) -> None:
        self.text(405, "Method Not Allowed")

    do_DELETE = do_PATCH = do_OPTIONS = do_PUT

    def body(self) -> dict[str, Any] | None:
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            self.text(415, "Unsupported Media Type: send the action as application/json.")
            return None
        try:
            size = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            size = -1
        if not 0 <= size <= MAX_BODY:
            self.text(413, "Payload Too Large")
            return None
        try:
            data = json.loads(self.rfile.read(size) or b"{}")
        except ValueError:
            self.text(400, "Bad Request: the body is not JSON.")
            return None
        if not isinstance(data, dict):
            self.text(400, "Bad Request: the body must be a JSON object.")
            return None
        return data

    def act(self, name: str, params: dict[str, Any]) -> None:
        app = self.app
        try:
            request = actions.check(app.ws, name, params, app.fixtures)
        except KeyError:
            self.json_answer(
                404,
                {"ok": False, "error": f"Unknown action {name!r}: {', '.join(actions.ACTIONS)}."},
            )
            return
        except UserError as err:
            self.json_answer(400, {"ok": False, "error": err.text})
            return
        if not app.running.acquire(blocking=False):
            self.json_answer(
                429,
                {
                    "ok": False,
                    "error": f"{ACTIONS_AT_ONCE} actions are "
                    f"running already: wait for one to finish.",
                },
            )
            return
        try:
            result = actions.run(app.ws, app.config_file, request)
        finally:
            app.running.release()
            app.hub.refresh()
        self.json_answer(200, result.as_dict())

    # -- the live stream -------------------------------------------------------------------------
    def stream(self) -> None:
        """Hold the WebSocket: the hub's messages out, the page's close and pings in."""
        self.close_connection = True
        self.connection.settimeout(None)  # the page sends nothing for long stretches
        self.wfile.write(websocket.handshake(self.headers["Sec-WebSocket-Key"]))
        self.wfile.flush()
        client = self.app.hub.join()
        lock = threading.Lock()

        def send(data: bytes, opcode: int = websocket.TEXT) -> None:
            with lock:
                self.wfile.write(websocket.frame(data, opcode))
                self.wfile.flush()

        def read() -> None:
            try:
                while not client.closed.is_set():
                    opcode, payload = websocket.read_frame(self.rfile)
                    if opcode == websocket.CLOSE:
                        break
                    if opcode == websocket.PING:
                        send(payload, websocket.PONG)
            except (OSError, ValueError):
                pass
            client.close()

        threading.Thread(target=read, name="dashboard-ws-read", daemon=True).start()
        try:
            while not client.closed.is_set():
                try:
                    message = client.queue.get(timeout=PING_EVERY)
                except Exception:
                    send(b"", websocket.PING)
                    continue
                if message is None:
                    break
                send(message)
            with lock:
                self.wfile.write(websocket.close_frame())
                self.wfile.flush()
        except OSError:
            pass
        finally:
            self.app.hub.leave(client)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def bind(app: App, port: int) -> Server:
    """The server on 127.0.0.1:port; a taken port names the program holding it."""
    handler = type("DashboardHandler", (Handler,), {"app": app})
    try:
        server = Server((HOST, port), handler)
    except OverflowError:
        raise UserError(f"--port must be 0-65535, not {port}.") from None
    except OSError as err:
        if err.errno != errno.EADDRINUSE:
            raise UserError(
                f"The dashboard cannot listen on {HOST}:{port}: {err.strerror or err}."
            ) from None
        from lomash_tasks.stack import ports

        held = ports.holder(port)
        who = held.describe() if held else "another program"
        raise UserError(
            f"Port {port} on {HOST} is already in use by {who}, so the dashboard "
            f"cannot start there. Stop that program, or pick another port with "
            f"--port (or INVOKE_DASHBOARD_PORT / dashboard.port in invoke.yaml; "
            f"0 = any free port)."
        ) from None
    app.bound(server.server_address[1])
    return server


class Dashboard:
    """The whole server: bound first (a taken port fails before anything is read), then the
    hub's threads; `serve()` blocks until Ctrl-C (or `close()` from another thread)."""

    def __init__(
        self,
        ws: Workspace,
        config: dict[str, Any],
        backend: str | None = None,
        port: int = 8090,
        interval: float = 1.0,
        services_interval: float = 5.0,
        probe_interval: float = 10.0,
        log_lines: int = 1000,
        token: str | None = None,
        refresh_secrets: Any = None,
    ) -> None:
        from lomash_tasks import webhooks
        from lomash_tasks.dashboard.collect import Collector, suite_config
        from lomash_tasks.errors import suggest
        from lomash_tasks.stack import BACKENDS

        backend = (backend or "").strip().lower() or None
        if backend is not None and backend not in BACKENDS:
            raise UserError(
                f"Unknown --backend '{backend}'.{suggest(backend, BACKENDS)} Valid "
                f"backends: {', '.join(BACKENDS)}."
            )
        fixtures = webhooks.fixture_names()
        self.app = App(ws, token or new_token(), fixtures)
        self.server = bind(self.app, port)
        try:
            collector = Collector(ws, suite_config(config, ws.root, backend), backend)
        except BaseException:
            self.server.server_close()
            raise
        self.app.config_file = collector.config_file
        self.hub = self.app.hub = Hub(
            collector,
            interval,
            services_interval,
            probe_interval,
            log_lines,
            collector.logs,
            fixtures,
            refresh_secrets,
        )
        self.hub.start()

    @property
    def url(self) -> str:
        return self.app.url

    def serve(self) -> None:
        try:
            self.server.serve_forever(poll_interval=0.25)
        finally:
            self.close()

    def close(self) -> None:
        self.hub.close()
        self.server.server_close()
