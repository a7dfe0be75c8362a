"""The services on the embedded backend: the `services.*` verbs over the supervisor's files.

    <workspace>/.lomash/services/desired.json   what should run, and how (written here)
    <workspace>/.lomash/services/state.json     what the supervisor sees (written by it)
    <workspace>/.lomash/services/<name>.log     each service's output, timestamped, rotated at up
                                                and by size (by the supervisor)

`up` checks everything before it starts anything (node_modules, .env files, PostgreSQL and
Redis answering, every port and debug port free or already ours), writes the launches, starts
the supervisor if none runs, and waits until each service answers GET /health 200 itself:
the eight services first, the gateway last. A supervisor that dies (or stops keeping its record)
while `up` waits is named as such, never the service waited for. `status` trusts the record
while its supervisor runs and keeps it fresh, and otherwise asks each service's /health. What
runs without any record (the state folder removed, the supervisor killed) is found by what it
is (`strays.py`): `down` stops it, `up` ends it before starting afresh, `status` shows it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lomash_tasks import commands
from lomash_tasks.errors import UserError
from lomash_tasks.helpers import lock_holder, owner_lock, poll_until
from lomash_tasks.processes import group_members, groups, one_scan
from lomash_tasks.registry import Service
from lomash_tasks.services import model
from lomash_tasks.services.model import (
    ALREADY,
    CRASHED,
    FAILED,
    GATEWAY,
    HEALTHY,
    STARTED,
    STOPPED,
    ServiceStatus,
    Settings,
    UpResult,
)
from lomash_tasks.services.shared import health, health_many, read_json, write_json
from lomash_tasks.stack.embedded.process import tail as log_tail
from lomash_tasks.workspace import Workspace

TAIL = 15


class EmbeddedServices:
    name = "embedded"

    def __init__(self, ws: Workspace, settings: Settings | None = None) -> None:
        self.ws = ws
        self.settings = settings or Settings()
        self.dir = model.state_dir(ws)

    # -- files -----------------------------------------------------------------------------
    @property
    def desired_path(self) -> Path:
        return self.dir / "desired.json"

    @property
    def state_path(self) -> Path:
        return self.dir / "state.json"

    def desired(self) -> dict[str, Any]:
        return read_json(self.desired_path).get("services") or {}

    def states(self) -> dict[str, Any]:
        return read_json(self.state_path).get("services") or {}

    def write_desired(self, services: dict[str, Any]) -> None:
        s = self.settings
        self.write(
            self.desired_path,
            {
                "settings": {
                    "stop_timeout": s.stop_timeout,
                    "backoff_base": s.backoff_base,
                    "backoff_max": s.backoff_max,
                    "stable_after": s.stable_after,
                    "log_max_mb": s.log_max_mb,
                    "log_keep": s.log_keep,
                },
                "services": services,
            },
        )
        self.signal_supervisor(signal.SIGHUP)

    def write(self, path: Path, data: dict[str, Any]) -> None:
        """A file of the services' state folder, or one paragraph saying why it cannot be."""
        try:
            write_json(path, data)
        except OSError as exc:
            raise UserError(
                f"Could not write {self.ws.relative(path)}: "
                f"{exc.strerror or exc}{self.disk_note()}. Nothing was started or "
                f"stopped; fix that, then run this again."
            ) from None

    def disk_note(self) -> str:
        """', and the disk holding .lomash/services is full' when it is (else '')."""
        from lomash_tasks.services.logfile import HEADROOM, free_bytes, size_text

        free = free_bytes(self.dir) if self.dir.exists() else None
        if free is not None and free < HEADROOM:
            return (
                f" (the disk holding {self.ws.relative(self.dir)} is full: "
                f"{size_text(free)} free; free some space)"
            )
        return ""

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One services.up/down/restart at a time per workspace."""
        with owner_lock(self.dir / "services.lock"):
            yield

    # -- the supervisor --------------------------------------------------------------------
    def supervisor_pid(self) -> int | None:
        """The supervisor's pid while it runs (it holds supervisor.lock for its life)."""
        holder = lock_holder(self.dir / "supervisor.lock")
        if holder is None:
            return None
        if holder.pid is not None:
            return holder.pid
        try:  # a lock file from before it named its holder
            return int((self.dir / "supervisor.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return -1

    def signal_supervisor(self, sig: int) -> bool:
        pid = self.supervisor_pid()
        if pid and pid > 0:
            try:
                os.kill(pid, sig)
                return True
            except OSError:
                return False
        return False

    def ensure_supervisor(self) -> int:
        pid = self.supervisor_pid()
        if pid:
            return pid
        log = self.dir / "supervisor.log"
        model.rotate(log)
        proc = commands.spawn(
            [sys.executable, "-m", "lomash_tasks.services.supervisor", str(self.dir)],
            log=log,
            cwd=self.dir,
        )

        def started() -> tuple[int | None] | None:
            """(its pid) once it holds its lock, (None,) once it exited: done waiting."""
            pid = self.supervisor_pid()
            return (pid,) if pid or proc.poll() is not None else None

        seen = poll_until(started, timeout=10, interval=0.02)
        if seen and seen[0]:
            return seen[0]
        tail = log_tail(log, TAIL)
        raise UserError(
            f"The services' supervisor did not start{self.disk_note()}. Last lines "
            f"of {self.ws.relative(log)}:\n{tail}"
        )

    def supervisor_problem(self, since: float) -> str:
        """Why the supervisor cannot be waited for ('' when it can): it is gone, or its record
        has not been rewritten for RECORD_STALE seconds (it rewrites it every HEARTBEAT)."""
        from lomash_tasks.services.shared import RECORD_STALE

        log = self.dir / "supervisor.log"
        pid = self.supervisor_pid()
        if pid is None:
            return (
                f"The services' supervisor exited{self.disk_note()}, so nothing watches the "
                f"services any more (no service is to blame for it). Last lines of "
                f"{self.ws.relative(log)}:\n{log_tail(log, TAIL)}\nRun `inv services.up` "
                f"again: it starts a new supervisor and ends what the old one left."
            )
        written = float(read_json(self.state_path).get("supervisor", {}).get("written") or 0)
        # (stopping a service holds the supervisor's loop up to stop_timeout)
        if time.time() - max(written, since) > RECORD_STALE + self.settings.stop_timeout:
            return (
                f"The services' supervisor (pid {pid}) has not updated "
                f"{self.ws.relative(self.state_path)} for "
                f"{time.time() - max(written, since):.0f}s{self.disk_note()}, so what it "
                f"started cannot be told (no service is to blame for it). Last lines of "
                f"{self.ws.relative(log)}:\n{log_tail(log, TAIL)}"
            )
        return ""

    # -- checks before anything starts ---------------------------------------------------------
    def check_infra(self, services: list[Service]) -> None:
        from lomash_tasks.stack import probes

        parts = []
        if any(s.has_database for s in services):
            parts.append("postgres")
        if any(s.has_cache for s in services):
            parts.append("redis")
        from concurrent.futures import ThreadPoolExecutor

        def probe(part: str) -> str | None:
            try:
                probes.wait_for(self.ws, part, self.settings.infra_timeout)
            except UserError as err:
                return (
                    f"The services need {part} first, and it does not answer: {err.text}\n"
                    f"Start the stack with `inv stack.up` (or run `inv setup`), then run "
                    f"this again."
                )
            return None

        with ThreadPoolExecutor(max_workers=max(1, len(parts))) as pool:
            problems = [p for p in pool.map(probe, parts) if p]
        if problems:
            raise UserError(problems[0])

    def check_ports(self, services: list[Service]) -> None:
        from lomash_tasks.stack import ports

        if not services:
            return
        live = groups([rec["pgid"] for rec in self.states().values() if rec.get("pgid")])
        ours = {pid for members in live.values() for pid in members}
        for svc in services:
            for port, which in ((svc.port, "port"), (svc.debug_port, "debug_port")):
                if ports.is_free(model.HOST, port):
                    continue
                held = ports.holder(port)
                if held is not None and held.pid in ours:
                    continue
                who = held.describe() if held else "another program"
                raise UserError(
                    f"Port {port} ({svc.name}'s {which.replace('_', ' ')}) on {model.HOST} is "
                    f"already in use by {who}, so no service was started. Stop that program, "
                    f"or move {svc.name} with {model.port_key(svc, which)}=<port> (or "
                    f"services.{svc.name}.{which} in invoke.yaml / an `inv -f` file)."
                )

    # -- up ----------------------------------------------------------------------------------
    def up(
        self,
        names: Iterable[str] | None = None,
        timeout: float | None = None,
        log: Callable[[str], Any] | None = None,
        restarted: Iterable[str] = (),
        began: float | None = None,
    ) -> list[UpResult]:
        reg = self.ws.registry
        chosen = reg.select(list(names or []))
        say = log or (lambda text: None)
        timeout = float(timeout or self.settings.start_timeout)
        model.check_node_modules(self.ws, chosen)
        launches = {svc.name: model.launch(self.ws, svc, self.settings) for svc in chosen}
        for item in launches.values():
            for note in item.notes:
                say(f"{item.name}: {note}")
        began = began or time.monotonic()
        with self.lock():
            desired = self.desired()
            states = self.states()
            supervised = self.supervisor_pid() is not None
            if not supervised:  # what a lost record or a killed supervisor left running
                self.end_strays({s.name for s in chosen}, say)
            fresh = [
                s
                for s in chosen
                if not (
                    supervised
                    and s.name in desired
                    and launches[s.name].same_process(desired[s.name])
                    and states.get(s.name, {}).get("state") not in (None, STOPPED)
                )
            ]
            self.check_infra(fresh)  # what runs already answers /health: that is checked below
            self.check_ports(fresh)
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            for svc in fresh:
                model.rotate(model.log_path(self.ws, svc), self.settings.log_keep)
                spec = launches[svc.name].as_dict()
                spec["token"] = int(desired.get(svc.name, {}).get("token", 0)) + 1
                desired[svc.name] = spec
            first = [s for s in chosen if s.name != GATEWAY or not fresh]
            last = [s for s in chosen if s.name == GATEWAY and fresh]  # started after the rest
            fresh_names = {s.name for s in fresh}
            restarted = set(restarted) - fresh_names
            results: dict[str, UpResult] = {}
            deadline = time.monotonic() + timeout
            for batch in (first, last):
                if not batch:
                    continue
                todo = {s.name: desired[s.name] for s in batch if s.name in fresh_names}
                if todo:
                    current = self.desired()
                    current.update(todo)
                    self.write_desired(current)
                    # only once something is desired: a supervisor with nothing to run ends
                    self.ensure_supervisor()
                    say(f"starting {', '.join(todo)}")
                lenient = batch is last and any(r.state == FAILED for r in results.values())
                tokens = {
                    s.name: desired[s.name].get("token")
                    for s in batch
                    if s.name in todo or s.name in restarted
                }
                results.update(
                    self._wait(
                        batch,
                        fresh_names | restarted,
                        deadline,
                        began,
                        timeout,
                        tokens,
                        lenient,
                        say,
                    )
                )
            self._agree([r.service for r in results.values() if r.state in (STARTED, ALREADY)])
        return [results[s.name] for s in chosen]

    def _agree(self, names: list[str], timeout: float = 5.0) -> None:
        """Let the supervisor's record catch up with what /health said, so `state.json` and
        `status` agree as soon as `up` returns: a supervisor that takes it is asked to look
        now (SIGUSR1) rather than at its next check of a starting service (every 0.2 s)."""
        if not names:
            return
        if read_json(self.state_path).get("supervisor", {}).get("nudge"):
            self.signal_supervisor(signal.SIGUSR1)  # (a healthy service is not checked again)
        poll_until(
            lambda: all(self.states().get(n, {}).get("state") == HEALTHY for n in names),
            timeout=timeout,
            interval=0.02,
        )

    def _wait(
        self,
        batch: list[Service],
        fresh: set[str],
        deadline: float,
        began: float,
        timeout: float,
        tokens: dict[str, Any],
        lenient: bool = False,
        say: Callable[[str], Any] = lambda text: None,
    ) -> dict[str, UpResult]:
        """Wait until each service answers GET /health 200 (any answer with `lenient`). One
        that crashes is not waited for: its failure is printed at once, the rest go on."""
        from concurrent.futures import ThreadPoolExecutor

        pending = {s.name: s for s in batch}
        seen: dict[str, tuple[int | None, str]] = {}
        out: dict[str, UpResult] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, len(batch)))
        try:
            return self._poll(
                pool, pending, seen, out, fresh, deadline, began, timeout, tokens, lenient, say
            )
        finally:
            pool.shutdown(wait=False)

    def _poll(
        self,
        pool: Any,
        pending: dict[str, Service],
        seen: dict[str, Any],
        out: dict[str, UpResult],
        fresh: set[str],
        deadline: float,
        began: float,
        timeout: float,
        tokens: dict[str, Any],
        lenient: bool,
        say: Callable[[str], Any],
    ) -> dict[str, UpResult]:
        waiting_since = time.time()
        states: dict[str, Any] = {}

        def answered() -> bool:
            """One look at every pending service: those that answered (or crashed) leave it."""
            nonlocal states
            states = self.states()
            by_port = health_many([svc.port for svc in pending.values()], timeout=3.0)
            answers = {name: by_port[svc.port] for name, svc in pending.items()}
            if any(name in tokens for name in pending):
                problem = self.supervisor_problem(waiting_since)
                if problem:  # never blamed on the service that happened to be waited for
                    raise UserError(problem)
            for name, svc in list(pending.items()):
                code, what = answers[name]
                seen[name] = (code, what)
                state = states.get(name, {})
                ours = name not in tokens or state.get("token") == tokens[name]
                if ours and (code == 200 or (lenient and code is not None)):
                    kind = STARTED if name in fresh else ALREADY
                    detail = "" if code == 200 else f"GET /health answered {code}: {what[:200]}"
                    out[name] = UpResult.since(svc, kind, began, detail)
                    del pending[name]
                elif (
                    state.get("state") == CRASHED
                    and name in tokens
                    and state.get("token") == tokens[name]
                ):
                    what = (
                        "exited during start"
                        if name in fresh
                        else "has crashed and waits for its restart"
                    )
                    out[name] = self._failure(
                        svc, began, what, state.get("last_exit", ""), seen[name]
                    )
                    out[name].shown = True
                    say(out[name].detail)
                    del pending[name]
            return not pending

        if pending and not poll_until(answered, deadline=deadline):
            for name, svc in pending.items():
                out[name] = self._failure(
                    svc,
                    began,
                    f"did not answer GET /health with 200 within {timeout:g}s",
                    self._listens(states.get(name, {}), svc),
                    seen.get(name, (None, "nothing yet")),
                )
        return out

    def _failure(
        self, svc: Service, began: float, what: str, why: str, seen: tuple[int | None, str]
    ) -> UpResult:
        code, body = seen
        last = f"{code}: {body[:300]}" if code is not None else body
        log = model.log_path(self.ws, svc)
        cause = f"{what}{f' ({why})' if why else ''}"
        from lomash_tasks.services.logs import condensed_tail

        detail = (
            f"{svc.name} {cause}. /health last said: {last}\n"
            f"Last lines of {self.ws.relative(log)}:\n{condensed_tail(log, TAIL)}"
        )
        return UpResult.since(svc, FAILED, began, detail, cause)

    @staticmethod
    def _listens(rec: dict[str, Any], svc: Service) -> str:
        """Where the service's own process listens, when not on its port (or that it runs but
        listens nowhere): why /health never answered."""
        from lomash_tasks import processes

        pid = (rec.get("app") or {}).get("pid")
        if not pid or not processes.alive(pid):
            return ""
        ports = sorted(
            processes.listening_ports([pid]).get(pid, set())
            - {rec.get("debug_port") or svc.debug_port}
        )
        if svc.port in ports:
            return ""
        if not ports:
            return f"its own process (pid {pid}) runs but listens on no port"
        return (
            f"its own process (pid {pid}) listens on {', '.join(map(str, ports))}, not on "
            f"{svc.port}: does it read PORT?"
        )

    # -- down / restart ----------------------------------------------------------------------
    def down(
        self,
        names: Iterable[str] | None = None,
        timeout: float = 30.0,
        log: Callable[[str], Any] | None = None,
    ) -> list[str]:
        chosen = {s.name for s in self.ws.registry.select(list(names or []))}
        say = log or (lambda text: None)
        gone: list[str] = []
        if self.dir.exists():
            with self.lock():
                gone = self._down_recorded(chosen, timeout)
        # what no supervisor records: its state folder was removed, or it was killed
        if self.supervisor_pid() is None:
            every = chosen == {s.name for s in self.ws.registry.services}
            gone += [
                n for n in self.end_strays(None if every else chosen, say, every) if n not in gone
            ]
        return [n for n in (s.name for s in self.ws.registry.services) if n in gone]

    def _down_recorded(self, chosen: set[str], timeout: float) -> list[str]:
        desired = self.desired()
        states = self.states()
        gone = [n for n in desired if n in chosen]
        remaining = {n: v for n, v in desired.items() if n not in chosen}
        try:
            write_json(self.desired_path, {**read_json(self.desired_path), "services": remaining})
            alive = self.signal_supervisor(signal.SIGHUP)
        except OSError as exc:  # a full disk: only the whole set stops without a new record
            if remaining:
                raise UserError(
                    f"Could not write {self.ws.relative(self.desired_path)}: "
                    f"{exc.strerror or exc}{self.disk_note()}, and stopping some "
                    f"services needs it (nothing was stopped). `inv services.down` "
                    f"without --service stops them all without it."
                ) from None
            alive = self.signal_supervisor(signal.SIGTERM)  # it stops every service it runs
        pgids = {n: rec.get("pgid") for n, rec in states.items() if n in chosen and rec.get("pgid")}

        def stopped() -> bool:
            now_states = self.states()
            running = [n for n in chosen if now_states.get(n, {}).get("pgid")]
            if not running and not any(group_members(p) for p in pgids.values()):
                return True
            return self.supervisor_pid() is None

        if alive:
            poll_until(stopped, timeout=timeout)
        # no supervisor (killed) or past the deadline: end the recorded groups ourselves
        for name, pgid in pgids.items():
            if group_members(pgid):
                commands.end_groups([pgid], signal.SIGKILL)
                if name not in gone:
                    gone.append(name)
        if not remaining:
            poll_until(lambda: self.supervisor_pid() is None, timeout=10)
        return gone

    def end_strays(
        self, names: set[str] | None, say: Callable[[str], Any], supervisors: bool = True
    ) -> list[str]:
        """End the processes of this workspace's services that no running supervisor records
        (found by what they are: `strays.py`), say what was ended, return their services."""
        from lomash_tasks.services import strays

        found = strays.find(self.ws.root, self.dir, names)
        if not supervisors:
            found.supervisors = []
        if not found:
            return []
        for seen in found.supervisors:
            say(
                f"stopping a supervisor of this workspace that no record names (pid {seen.pid}: "
                f"{seen.describe(100)})"
            )
        for name, pids in sorted(found.pids.items()):
            say(
                f"stopping {name}: {len(pids)} process{'es' if len(pids) != 1 else ''} "
                f"(pid {', '.join(map(str, sorted(pids)))}) that no supervisor watches (the "
                f"record in {self.ws.relative(self.dir)} is gone)"
            )
        strays.end(found, self.settings.stop_timeout)
        return sorted(found.pids)

    def restart(
        self,
        names: Iterable[str] | None = None,
        timeout: float | None = None,
        log: Callable[[str], Any] | None = None,
    ) -> list[UpResult]:
        chosen = self.ws.registry.select(list(names or []))
        began = time.monotonic()
        with self.lock():
            desired = self.desired()
            bumped: dict[str, Any] = {
                s.name: {**desired[s.name], "token": int(desired[s.name].get("token", 0)) + 1}
                for s in chosen
                if s.name in desired
            }
            if not self.supervisor_pid():
                bumped = {}
            if bumped:
                for name in bumped:
                    model.rotate(
                        model.log_path(self.ws, self.ws.registry.service(name)),
                        self.settings.log_keep,
                    )
                desired.update(bumped)
                self.write_desired(desired)
                # wait for the supervisor to take the new tokens (the old process is gone)
                poll_until(
                    lambda: all(
                        self.states().get(n, {}).get("token") == bumped[n]["token"] for n in bumped
                    ),
                    timeout=self.settings.stop_timeout + 10,
                )
        return self.up(
            [s.name for s in chosen], timeout=timeout, log=log, restarted=bumped, began=began
        )

    # -- status / logs -------------------------------------------------------------------------
    def status(self, inspectors: bool = True) -> list[ServiceStatus]:
        """Each service's state; `inspectors=False` leaves the debugger columns empty (each
        inspector check scans the machine's sockets)."""
        with one_scan():  # the machine's sockets listed once for the nine services
            return self._status(inspectors)

    def _status(self, inspectors: bool = True) -> list[ServiceStatus]:
        from concurrent.futures import ThreadPoolExecutor

        from lomash_tasks.services import inspector
        from lomash_tasks.services.shared import RECORD_STALE

        record = read_json(self.state_path)
        states = record.get("services") or {}
        desired = self.desired()
        supervised = self.supervisor_pid() is not None
        now = time.time()
        age = now - float((record.get("supervisor") or {}).get("written") or 0)
        # the record is the supervisor's word while it runs and keeps it (it rewrites it every
        # HEARTBEAT seconds); otherwise each service's own /health decides
        trusted = supervised and age <= RECORD_STALE + self.settings.stop_timeout
        stale_note = (
            ""
            if trusted
            else (
                f"the supervisor's record is {age:.0f}s old"
                f"{self.disk_note()}: the state is what /health "
                f"answers now"
            )
        )
        seen: dict[str, tuple[str, str]] = {}
        lost = None
        if not supervised:  # what runs with no record at all (the state folder was removed)
            from lomash_tasks.services import strays

            lost = strays.find(self.ws.root, self.dir)
        for svc in self.ws.registry.services:
            rec = states.get(svc.name) or {}
            state = rec.get("state") or STOPPED
            note = ""
            if svc.name not in desired or not supervised:
                if rec.get("pgid") and group_members(rec["pgid"]):
                    note = (
                        "its supervisor is not running: `inv services.up` supervises it "
                        "again (after restarting it)"
                    )
                elif lost is not None and lost.groups.get(svc.name):
                    state = state if state != STOPPED else HEALTHY  # /health decides below
                    rec = states[svc.name] = {**rec, "pgid": min(lost.groups[svc.name])}
                    note = (
                        "no supervisor watches it and its record is gone: `inv "
                        "services.down` stops it, `inv services.up` starts it afresh"
                    )
                else:
                    state = STOPPED
            elif not trusted:
                note = stale_note
            seen[svc.name] = (state, note)
        asked = [
            svc
            for svc in self.ws.registry.services
            if seen[svc.name][0] != STOPPED
            and (
                not trusted
                or svc.name not in desired
                or seen[svc.name][0] in (model.STARTING, model.RESTARTING, model.UNHEALTHY)
            )
        ]
        with ThreadPoolExecutor(max_workers=max(1, min(9, len(asked)))) as pool:
            answers = dict(
                zip(
                    [s.name for s in asked],
                    pool.map(
                        lambda svc: health(
                            (states.get(svc.name) or {}).get("port") or svc.port, timeout=3.0
                        ),
                        asked,
                    ),
                )
            )
        out = []
        for svc in self.ws.registry.services:
            rec = states.get(svc.name) or {}
            state, note = seen[svc.name]
            if svc.name in answers:  # the truth now
                code, said = answers[svc.name]
                if code == 200:
                    state = HEALTHY
                elif code is not None or state == HEALTHY:
                    state = model.UNHEALTHY
                    rec["last_health"] = {"code": code, "seen": said}
            detail = ""
            if state == CRASHED:
                detail = (
                    f"{rec.get('last_exit', '')}; restart in "
                    f"{rec.get('next_start_in') or 0:g}s (backoff {rec.get('backoff', 0):g}s)"
                )
            elif state not in (STOPPED, HEALTHY) and rec.get("last_health"):
                lh = rec["last_health"]
                detail = f"/health: {lh.get('code') or ''} {str(lh.get('seen', ''))[:120]}".strip()
            detail = "; ".join(filter(None, [detail, note]))
            running = state != STOPPED
            debugger = where = ""
            spec = desired.get(svc.name) or {}
            if running and rec.get("debug_port") and inspectors:
                ok, where = inspector.placed(
                    rec["debug_port"],
                    rec.get("app") or {},
                    rec.get("inspector") or {},
                    bool(spec.get("own_inspector")),
                )
                debugger = inspector.attached_text(rec["debug_port"]) if ok else "no inspector"
            started = rec.get("started_at")
            out.append(
                ServiceStatus(
                    svc.name,
                    self.name,
                    state,
                    model.url(svc),
                    rec.get("debug_port") or svc.debug_port,
                    debugger,
                    rec.get("pgid") if running else None,
                    "",
                    round(now - started, 1) if running and started else None,
                    int(rec.get("restarts") or 0),
                    self.ws.relative(model.log_path(self.ws, svc)),
                    detail,
                    spec.get("command") or rec.get("command") or "",
                    where,
                )
            )
        return out

    def log_files(self, names: Iterable[str] | None = None) -> dict[str, Path]:
        return {
            s.name: model.log_path(self.ws, s) for s in self.ws.registry.select(list(names or []))
        }

    def logs(
        self,
        names: Iterable[str] | None = None,
        follow: bool = False,
        since: float | None = None,
        tail: int | None = None,
    ) -> Iterator[tuple[str, str]]:
        """Each service's last `tail` lines (all: None or 0) from `since` on, merged in time
        order; with `follow`, then every new line."""
        from lomash_tasks.services import logs as service_logs

        files = self.log_files(names)
        if follow:
            yield from service_logs.follow(files, since, tail=tail)
        else:
            yield from service_logs.merged(files, since, tail)

    def running(self) -> bool:
        return self.supervisor_pid() is not None
