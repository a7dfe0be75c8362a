"""Stripe webhooks in development: the signing secret from the Stripe CLI, and local replays.

`stripe listen` forwards Stripe's test events to the order service and prints the signing
secret on stderr when it is ready; `listen` below captures that secret into the order
service's `.env` (atomically, other lines untouched) and streams the forwarded events until
Ctrl-C. `replay` needs no Stripe account or network: it signs a stored event exactly as Stripe
does (`Stripe-Signature: t=<ts>,v1=<HMAC-SHA256 of "<ts>.<body>" keyed by the whsec_ secret>`)
and POSTs it to the local endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import re
import shutil
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lomash_tasks import commands
from lomash_tasks.console import Console
from lomash_tasks.env import files as envfiles
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

SECRET_KEY = "STRIPE_WEBHOOK_SECRET"
API_KEY = "STRIPE_SECRET_KEY"
DEFAULT_PATH = "/v1/webhooks/stripe"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stripe"
SECRET_RE = re.compile(r"\b(whsec_[A-Za-z0-9]+)")
INSTALL_HINT = (
    "Install it with `npm install -g @stripe/cli` (or `brew install stripe/stripe-cli/"
    "stripe` on macOS, `scoop install stripe` on Windows), or point the suite at it "
    "with INVOKE_STRIPE_CLI=/path/to/stripe (config key stripe.cli)."
)


@dataclass(frozen=True)
class Target:
    """Where Stripe events go: the service that receives them and its `.env`."""

    service: Service
    env_path: Path
    forward_to: str  # host:port/path, as `stripe listen --forward-to` takes it

    @property
    def url(self) -> str:
        return self.forward_to if "://" in self.forward_to else f"http://{self.forward_to}"


def target(
    ws: Workspace,
    service: str = "order-payment-service",
    path: str = DEFAULT_PATH,
    forward_to: str | None = None,
) -> Target:
    svc = ws.registry.service(service)
    if not path.startswith("/"):
        path = "/" + path
    return Target(svc, ws.env_pair(svc).env, forward_to or f"localhost:{svc.port}{path}")


# -- the CLI ------------------------------------------------------------------------------------
def find_cli(cli: str = "stripe") -> str:
    """The Stripe CLI's path; a UserError saying how to install it when it is missing."""
    found = shutil.which(cli)
    if found is None and os.sep in cli and os.access(cli, os.X_OK):
        found = cli
    if not found:
        raise UserError(f"The Stripe CLI ('{cli}') was not found. {INSTALL_HINT}")
    return found


def cli_env(tgt: Target) -> dict[str, str]:
    """The CLI's environment: the order service's STRIPE_SECRET_KEY as STRIPE_API_KEY (not argv)."""
    env = dict(os.environ)
    if tgt.env_path.is_file():
        key = envfiles.read_env(tgt.env_path).get(API_KEY)
        if key:
            env["STRIPE_API_KEY"] = key
    return env


def _require_env(tgt: Target, ws: Workspace) -> None:
    if not tgt.env_path.is_file():
        raise UserError(
            f"{ws.relative(tgt.env_path)} does not exist yet, so there is nowhere to "
            f"keep the signing secret. Run `inv env.copy` first, then run again."
        )


def store_secret(tgt: Target, secret: str, out: Console) -> bool:
    """Write STRIPE_WEBHOOK_SECRET into the target's `.env`; True when the file changed."""
    out.add_mask(secret)
    return envfiles.set_key(tgt.env_path, SECRET_KEY, secret)


def print_secret(ws: Workspace, tgt: Target, cli: str, out: Console, timeout: float = 30.0) -> str:
    """`stripe listen --print-secret`: capture the signing secret into the `.env`."""
    _require_env(tgt, ws)
    exe = find_cli(cli)
    try:
        done = commands.run(
            [exe, "listen", "--print-secret"], env=cli_env(tgt), timeout=timeout, check=False
        )
    except commands.CommandTimeout:
        raise UserError(
            f"`stripe listen --print-secret` printed nothing within {timeout:g} s. "
            f"Check your network and `stripe login`, or raise the deadline "
            f"(--timeout)."
        ) from None
    match = SECRET_RE.search(done.stdout)
    if done.code != 0 or not match:
        tail = _tail(done.stderr.splitlines() or done.stdout.splitlines())
        raise UserError(
            f"`stripe listen --print-secret` exited {done.code} without a "
            f"signing secret. Its last lines: {tail or '(none)'}. Log in with "
            f"`stripe login` or set STRIPE_SECRET_KEY in {ws.relative(tgt.env_path)}."
        )
    secret = match.group(1)
    changed = store_secret(tgt, secret, out)
    out.ok(
        f"{SECRET_KEY}={secret} {'written to' if changed else 'already in'} "
        f"{ws.relative(tgt.env_path)}"
    )
    return secret


def listen(
    ws: Workspace,
    tgt: Target,
    cli: str,
    out: Console,
    events: Sequence[str] = (),
    ready_timeout: float = 30.0,
) -> int:
    """Run `stripe listen`, capture the secret from its ready line, stream events until Ctrl-C.

    Returns the CLI's exit status when it stops by itself, 0 after a Ctrl-C (SIGINT) or
    SIGTERM; the CLI is always stopped and waited for, never left behind.
    """
    _require_env(tgt, ws)
    exe = find_cli(cli)
    argv = [exe, "listen", "--forward-to", tgt.forward_to]
    if events:
        argv += ["--events", ",".join(e for ev in events for e in ev.split(",") if e)]
    proc = commands.spawn(argv, env=cli_env(tgt), pipe=True)
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, "out", lines), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "err", lines), daemon=True),
    ]
    for reader in readers:
        reader.start()
    # Ctrl-C (SIGINT) and SIGTERM end the listen cleanly, even when SIGINT was inherited as
    # ignored (a background job of a non-interactive shell).
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    if main:
        for sig in previous:
            signal.signal(sig, _raise_interrupt)
    try:
        return _follow(proc, lines, tgt, ws, out, ready_timeout)
    except KeyboardInterrupt:
        out.print("Stopping the Stripe CLI ...")
        _stop(proc)
        out.ok(f"Stripe CLI stopped (exit status {proc.returncode}).")
        return 0
    finally:
        _stop(proc)
        if main:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _follow(
    proc: Any, lines: queue.Queue, tgt: Target, ws: Workspace, out: Console, ready_timeout: float
) -> int:
    deadline = time.monotonic() + ready_timeout
    recent: deque[str] = deque(maxlen=8)
    secret = None
    pending: list[str] = []
    open_streams = 2
    while open_streams:
        try:
            stream, line = lines.get(timeout=0.1)
        except queue.Empty:
            if secret is None and time.monotonic() > deadline:
                _stop(proc)
                raise UserError(
                    f"`stripe listen` printed no signing secret within {ready_timeout:g} s. "
                    f"Its last lines: {_tail(recent) or '(none)'}. Check `stripe login` or "
                    f"STRIPE_SECRET_KEY in {ws.relative(tgt.env_path)}, your network, or raise "
                    f"the deadline (INVOKE_STRIPE_READY_TIMEOUT)."
                ) from None
            continue
        if line is None:
            open_streams -= 1
            continue
        line = line.rstrip("\n")
        match = SECRET_RE.search(line) if secret is None and stream == "err" else None
        if match:
            secret = match.group(1)
            changed = store_secret(tgt, secret, out)
            out.ok(
                f"{SECRET_KEY}={secret} {'written to' if changed else 'already in'} "
                f"{ws.relative(tgt.env_path)}"
            )
            out.print(f"Forwarding Stripe events to {tgt.url} (Ctrl-C to stop).")
            for held in pending:
                out.print(held)
            pending.clear()
            continue
        if secret is None:
            recent.append(line)
            if stream == "out":  # shown after the ready line, in the CLI's own order
                pending.append(line)
            else:
                out.print(line, err=True)
            continue
        out.print(line, err=stream == "err")
    code = proc.wait()
    if secret is None:
        raise UserError(
            f"`stripe listen` exited {code} before it was ready. Its last lines: "
            f"{_tail(recent) or '(none)'}. Check `stripe login` or STRIPE_SECRET_KEY "
            f"in {ws.relative(tgt.env_path)}."
        )
    return code


def trigger(tgt: Target, cli: str, event: str, out: Console, timeout: float = 120.0) -> int:
    """`stripe trigger EVENT`: its output streamed; returns its exit status."""
    exe = find_cli(cli)
    try:
        done = commands.run(
            [exe, "trigger", event],
            env=cli_env(tgt),
            timeout=timeout,
            check=False,
            on_line=out.print,
        )
    except KeyboardInterrupt:
        return 130
    except commands.CommandTimeout:
        raise UserError(
            f"`stripe trigger {event}` did not finish within {timeout:g} s and was "
            f"stopped. Check your network and `stripe login`."
        ) from None
    return done.code


def _pump(stream, name: str, lines: queue.Queue) -> None:
    try:
        for line in stream:
            lines.put((name, line))
    except (OSError, ValueError):
        pass
    finally:
        lines.put((name, None))


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop(proc: Any, grace: float = 5.0) -> None:
    """Stop the CLI (SIGINT as Ctrl-C would, then SIGTERM, then SIGKILL) and reap it."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            break
        if commands.wait(proc, wait) is not None:
            return


def _tail(lines, n: int = 3) -> str:
    """The last lines a CLI printed, masked (error messages bypass the console)."""
    from lomash_tasks import masking

    kept = [line.strip() for line in lines if line.strip()][-n:]
    return masking.mask(" | ".join(kept))


# -- replay -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fixture:
    name: str
    path: Path
    body: bytes
    event_type: str
    event_id: str


@dataclass(frozen=True)
class Delivery:
    fixture: Fixture
    status: int | None  # HTTP status; None when nothing answered
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def load_fixture(name_or_path: str) -> Fixture:
    """A shipped fixture by event type (`checkout.session.completed`) or a JSON file's path."""
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        shipped = FIXTURES / f"{name_or_path}.json"
        if shipped.is_file():
            path = shipped
        elif name_or_path.endswith(".json") or os.sep in name_or_path:
            raise UserError(
                f"Fixture file {name_or_path} does not exist. Give a path to an event "
                f"JSON file or a shipped fixture: {', '.join(fixture_names())}."
            )
        else:
            from lomash_tasks.errors import suggest

            raise UserError(
                f"Unknown fixture '{name_or_path}'.{suggest(name_or_path, fixture_names())}"
                f" Shipped fixtures: {', '.join(fixture_names())}; or give a path to "
                f"an event JSON file."
            )
    body = path.read_bytes()
    try:
        event = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = (
            f" (line {err.lineno}, column {err.colno})"
            if isinstance(err, json.JSONDecodeError)
            else ""
        )
        raise UserError(
            f"{path} is not JSON{where}: {err.msg if hasattr(err, 'msg') else err}. "
            f"A fixture is one Stripe event object as JSON."
        ) from None
    problems = _event_problems(event)
    if problems:
        raise UserError(
            f"{path} is not a Stripe event: {problems}. A fixture needs "
            f'"object": "event", an "id" (evt_...), a "type" and '
            f'"data": {{"object": {{...}}}}.'
        )
    return Fixture(path.stem, path, body, event["type"], event["id"])


def _event_problems(event: object) -> str:
    if not isinstance(event, dict):
        return f"the top level is a JSON {type(event).__name__}, not an object"
    missing = []
    if event.get("object") != "event":
        missing.append('"object" is not "event"')
    if not isinstance(event.get("id"), str) or not event["id"]:
        missing.append('no "id"')
    if not isinstance(event.get("type"), str) or not event["type"]:
        missing.append('no "type"')
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        missing.append('no "data.object"')
    return "; ".join(missing)


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value Stripe would send for `body`."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    signed = f"{ts}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def webhook_secret(ws: Workspace, tgt: Target) -> str:
    """The local STRIPE_WEBHOOK_SECRET; a UserError saying how to get one when it is unset."""
    how = (
        "Run `inv stripe.listen` (or `inv stripe.secret`) to capture one from the Stripe CLI, "
        f"or set {SECRET_KEY}=whsec_<anything> in {ws.relative(tgt.env_path)} yourself (the "
        f"service and the replay only need to agree on it)."
    )
    if not tgt.env_path.is_file():
        raise UserError(
            f"{ws.relative(tgt.env_path)} does not exist (run `inv env.copy`), so "
            f"there is no {SECRET_KEY} yet. {how}"
        )
    secret = envfiles.read_env(tgt.env_path).get(SECRET_KEY) or ""
    if not secret.strip():
        raise UserError(f"{SECRET_KEY} is not set in {ws.relative(tgt.env_path)}. {how}")
    return secret.strip()


def deliver(fixture: Fixture, url: str, secret: str, timeout: float = 10.0) -> Delivery:
    """POST one signed event; the HTTP status, or None with the reason when nothing answered."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url,
        data=fixture.body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) lomash-tasks replay",
            "Stripe-Signature": sign(fixture.body, secret),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Delivery(fixture, response.status, _snippet(response.read()))
    except urllib.error.HTTPError as err:
        return Delivery(fixture, err.code, _snippet(err.read()))
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return Delivery(fixture, None, str(reason))


def replay(
    ws: Workspace,
    tgt: Target,
    fixtures: Sequence[str],
    url: str | None = None,
    timeout: float = 10.0,
) -> list[Delivery]:
    """Sign and POST each fixture to the local endpoint (all loaded and checked first)."""
    if not fixtures:
        raise UserError(
            f"Name at least one fixture to replay: {', '.join(fixture_names())}, "
            f"or a path to an event JSON file."
        )
    loaded = [load_fixture(f) for f in fixtures]
    secret = webhook_secret(ws, tgt)
    dest = url or tgt.url
    if "://" not in dest:
        dest = f"http://{dest}"
    check_url(dest)
    return [deliver(f, dest, secret, timeout) for f in loaded]


def check_url(url: str) -> None:
    """An http(s) URL with a host, a valid port and no spaces or control characters."""
    from urllib.parse import urlsplit

    problem = ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError as err:
        problem = str(err)
    else:
        if parts.scheme not in ("http", "https"):
            problem = f"the scheme is {parts.scheme!r}, not http or https"
        elif not parts.hostname:
            problem = "it names no host"
        elif any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
            problem = "it contains spaces or control characters (percent-encode them)"
    if problem:
        raise UserError(
            f"The webhook URL {url!r} cannot be used: {problem}. Give a URL such "
            f"as http://localhost:3003{DEFAULT_PATH} (--to)."
        )


def _snippet(data: bytes, width: int = 120) -> str:
    text = data.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"
