"""One collector and one log follower for every open page, pushing what changed.

Every page holds one WebSocket (`Client`); the hub sends it the snapshot when it opens, then a
new snapshot whenever one differs from the last, and new log lines as they are written. While
no page is open nothing is read but the logs. A page that cannot keep up (its queue full) is
dropped; it reconnects and starts afresh.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from lomash_tasks import masking
from lomash_tasks.dashboard.collect import Collector, Look, Probe
from lomash_tasks.dashboard.snapshot import HEALTHY, TROUBLED, Event, Snapshot, events_between
from lomash_tasks.helpers import poll_until

TICK = 0.2  # how often the cheap signature is compared, and logs are flushed
QUEUE = 2000  # messages a page may fall behind before it is dropped
TAIL = 15  # log lines shown under a troubled service
EVENTS = 100
PROBE_WAIT = 30.0  # how long /api/state waits for the first reading of migrations and keys
AWS_EVERY = 60.0  # AWS resources change rarely (aws.bootstrap): read them once a minute


class Client:
    """One open page: what is waiting to be sent to it."""

    def __init__(self) -> None:
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE)
        self.closed = threading.Event()

    def send(self, message: bytes) -> None:
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            self.close()

    def close(self) -> None:
        self.closed.set()
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            pass


class Hub:
    def __init__(
        self,
        collector: Collector,
        interval: float,
        services_interval: float,
        probe_interval: float,
        log_lines: int,
        logs: Callable[[Callable[[], bool]], Iterator[tuple[str, str]]],
        fixtures: list[str],
        refresh_secrets: Callable[[], None] | None = None,
    ) -> None:
        self.collector = collector
        self.interval = interval
        self.services_interval = services_interval
        self.probe_interval = probe_interval
        self.logs_source = logs
        self.fixtures = fixtures
        self.refresh_secrets = refresh_secrets or (lambda: None)
        self.lock = threading.Lock()
        self.clients: set[Client] = set()
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.log: deque[tuple[str, str]] = deque(maxlen=log_lines)  # (service, masked line)
        self.pending: list[tuple[str, str]] = []  # lines not yet sent to the pages
        self.events: deque[Event] = deque(maxlen=EVENTS)
        self.snapshot: Snapshot | None = None
        self._sent = ""
        self._look: Look | None = None
        self._probe: Probe | None = None
        self._probing = threading.Event()  # a probe child runs
        self._probed = threading.Event()  # one finished: build a new snapshot
        self._probe_due = True
        self._probe_lock = threading.Lock()
        self.looking = threading.Lock()  # one look at a time
        self._aws_at = 0.0
        self._states: dict[str, tuple[str, int]] = {}
        self._threads: list[threading.Thread] = []

    # -- life ------------------------------------------------------------------------------------
    def start(self) -> None:
        for target, name in ((self._watch, "dashboard-state"), (self._follow, "dashboard-logs")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        self.wake.set()
        with self.lock:
            for client in list(self.clients):
                client.close()

    # -- pages -----------------------------------------------------------------------------------
    def join(self) -> Client:
        """A new page: it gets the current snapshot (looked at afresh unless the last look is
        under a second old) and the log lines kept so far; then every change."""
        client = Client()
        with self.lock:
            alone = not self.clients
        if alone:
            self._probe_due = True
            self.wake.set()
        age = time.time() - self.snapshot.generated_at if self.snapshot else None
        if age is None or age > self.interval:  # a page reloaded at once needs no new look
            self._refresh(full=age is None or age > self.services_interval)
        with self.lock:  # lines logged from here on are pending, not in the backlog
            earlier, self.pending = self.pending, []
            backlog = list(self.log)
            others = list(self.clients)
            self.clients.add(client)
            snapshot = self.snapshot
        if earlier:
            message = _message("logs", [list(item) for item in earlier])
            for other in others:
                other.send(message)
        client.send(_message("state", snapshot.as_dict() if snapshot else None))
        if backlog:
            client.send(_message("logs", [list(item) for item in backlog], backlog=True))
        return client

    def current(self) -> Snapshot:
        """The latest snapshot, looked at afresh when it is older than the interval (and
        with migrations, keys and AWS read once if no page has had them read yet)."""
        snapshot = self.snapshot
        if snapshot is None or time.time() - snapshot.generated_at > self.interval:
            self._refresh(
                full=snapshot is None
                or time.time() - snapshot.generated_at > self.services_interval
            )
        if self._probe is None:
            self._start_probe()
            poll_until(lambda: not self._probing.is_set(), timeout=PROBE_WAIT)
            self._refresh(full=False)
        return self.snapshot  # type: ignore[return-value]

    def leave(self, client: Client) -> None:
        with self.lock:
            self.clients.discard(client)
        client.close()

    def broadcast(self, message: bytes) -> None:
        with self.lock:
            clients = list(self.clients)
        for client in clients:
            client.send(message)
            if client.closed.is_set():
                self.leave(client)

    def refresh(self) -> None:
        """Look again now, migrations and keys included (after an action)."""
        self._probe_due = True
        self.wake.set()

    # -- the state loop --------------------------------------------------------------------------
    def _watch(self) -> None:
        due = {"signature": None, "look": 0.0, "services": 0.0, "probe": 0.0}
        while not self.stop.is_set():
            self.wake.wait(TICK)
            self.wake.clear()
            self._flush_logs()
            with self.lock:
                watched = bool(self.clients)
            if not watched:
                continue
            try:
                self._tick(due)
            except Exception as err:
                with self.lock:
                    self.pending.append(
                        ("dashboard", f"reading the stack failed: {type(err).__name__}: {err}")
                    )
                time.sleep(self.interval)

    def _tick(self, due: dict[str, Any]) -> None:
        """One turn of the state loop: the parts every `interval`; the services every
        `services_interval` and at once when their state file changes; migrations and keys
        every `probe_interval` and at once when a migration folder changes."""
        now = time.monotonic()
        current = self.collector.signature()
        before, due["signature"] = due["signature"], current
        if before is not None and current[1] != before[1]:
            self._probe_due = True  # a migration folder came or went
        full = self._look is None or current[0] != (before or (None,))[0] or now >= due["services"]
        if full or self._probed.is_set() or now >= due["look"]:
            self._probed.clear()
            due["look"] = now + self.interval
            if full:
                due["services"] = now + self.services_interval
            self._refresh(full)
        if (self._probe_due or now >= due["probe"]) and self._start_probe():
            due["probe"] = now + self.probe_interval

    def _refresh(self, full: bool = True) -> None:
        """Look now (the services too when `full`); send the snapshot to every page when it
        differs from the last one sent."""
        with self.looking:
            if full or self._look is None:
                self.refresh_secrets()
            look = self.collector.look(None if full else self._look)
            running = {p.name for p in look.parts if p.state == HEALTHY}
            if self._look is not None and running != {
                p.name for p in self._look.parts if p.state == HEALTHY
            }:
                self._probe_due = True  # a part came or went: read migrations and keys again
                self.wake.set()
            with self.lock:
                snapshot = self._build(look)
                self._look = look
                self.snapshot = snapshot
                text = snapshot.comparable()
                changed, self._sent = text != self._sent, text
            if changed:
                self.broadcast(_message("state", snapshot.as_dict()))

    def _start_probe(self) -> bool:
        """Read migrations, keys and AWS in the background (False: one is still running)."""
        with self._probe_lock:
            if self._probing.is_set():
                return False
            self._probing.set()
        self._probe_due = False
        look = self._look
        running = {p.name for p in look.parts if p.state == HEALTHY} if look else set()
        previous = self._probe
        aws = (
            previous is None
            or previous.aws is None
            or bool(previous.aws_error)
            or time.monotonic() - self._aws_at >= AWS_EVERY
        )
        if aws and "aws" in running:
            self._aws_at = time.monotonic()

        def run() -> None:
            try:
                self._probe = self.collector.probe(running, aws, previous)
            except Exception as err:
                self._probe = Probe(
                    time.time(),
                    problems=[
                        f"reading migrations, keys and AWS failed: {type(err).__name__}: {err}"
                    ],
                )
            finally:
                self._probing.clear()
                self._probed.set()
                self.wake.set()

        threading.Thread(target=run, name="dashboard-probe", daemon=True).start()
        return True

    def _build(self, look: Look) -> Snapshot:
        probe = self._probe
        states = {p.name: (p.state, 0) for p in look.parts if p.kind == "infra"}
        states.update({s.name: (s.state, s.restarts) for s in look.services})
        details = {s.name: s.detail for s in look.services}
        details.update({p.name: p.detail for p in look.parts})
        self.events.extend(events_between(self._states, states, details, time.time()))
        self._states = states
        tails: dict[str, list[str]] = {}
        for name, line in self.log:
            tails.setdefault(name, []).append(line)
        for row in look.services:
            if probe is not None:
                row.migrations = probe.migrations.get(row.name)
                row.cache = probe.cache.get(row.name)
            row.log_tail = tails.get(row.name, [])[-TAIL:] if row.state in TROUBLED else []
        reg = self.collector.ws.registry
        return Snapshot(
            str(self.collector.ws.root),
            look.backend,
            look.services_backend,
            time.time(),
            look.parts,
            look.services,
            look.env_problems,
            probe.aws if probe else None,
            probe.aws_error if probe else "",
            probe.at if probe else None,
            look.setup,
            list(self.events)[::-1],
            look.problems + look.service_problems + (probe.problems if probe else []),
            self.fixtures,
            f"http://{reg.smtp.host}:{reg.smtp.web_port}",
        )

    # -- logs ------------------------------------------------------------------------------------
    def _follow(self) -> None:
        try:
            for name, line in self.logs_source(self.stop.is_set):
                item = (name, masking.mask(line))
                with self.lock:
                    self.log.append(item)
                    self.pending.append(item)
                if self.stop.is_set():
                    return
        except Exception as err:
            with self.lock:
                self.pending.append(("dashboard", f"the log stream stopped: {err}"))

    def _flush_logs(self) -> None:
        with self.lock:
            lines, self.pending = self.pending, []
        if lines:
            self.broadcast(_message("logs", [list(item) for item in lines]))


def _message(kind: str, data: Any, **extra: Any) -> bytes:
    return json.dumps({"type": kind, "data": data, **extra}, separators=(",", ":")).encode("utf-8")
