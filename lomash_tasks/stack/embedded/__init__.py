"""The embedded backend: real servers the suite starts itself, without Docker.

PostgreSQL (initdb/pg_ctl), Redis (valkey-server), the AWS endpoint (moto) and an SMTP trap
(aiosmtpd), each bound to the registry's infra host:port, each with its state under
`<workspace>/.lomash/<part>/` (data, pid file, log). The servers are detached (their own
session), so they outlive the `inv` that started them; `stack.down` stops them. A server whose
pid file went (`git clean -fdX` removed the state folder) is found by what it is (`strays.py`):
`stack.down` stops it, `stack.up` starts it afresh, `stack.status` shows it.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lomash_tasks.errors import UserError
from lomash_tasks.helpers import owner_lock, poll_until
from lomash_tasks.stack import probes
from lomash_tasks.stack.base import (
    ALREADY_RUNNING,
    RUNNING,
    STALE,
    STARTED,
    STOPPED,
    UNHEALTHY,
    Backend,
    PartResult,
    PartStatus,
    select_parts,
)
from lomash_tasks.stack.embedded import strays
from lomash_tasks.stack.embedded.aws import AwsPart
from lomash_tasks.stack.embedded.postgres import PostgresPart
from lomash_tasks.stack.embedded.process import Part, terminate
from lomash_tasks.stack.embedded.process import follow as follow_log
from lomash_tasks.stack.embedded.smtp import SmtpPart
from lomash_tasks.stack.embedded.strays import Stray
from lomash_tasks.stack.embedded.valkey import RedisPart

PART_CLASSES = {"postgres": PostgresPart, "redis": RedisPart, "aws": AwsPart, "smtp": SmtpPart}


class EmbeddedBackend(Backend):
    name = "embedded"

    def part(self, name: str) -> Part:
        return PART_CLASSES[name](self.ws, self.settings)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One `stack.up`/`stack.down` at a time per workspace."""
        with owner_lock(self.ws.ensure_state_dir() / "stack.lock"):  # owner-only state
            yield

    # -- up ----------------------------------------------------------------------------------
    def up(
        self,
        parts: Iterable[str] | None = None,
        timeout: float | None = None,
        log: Callable[[str], Any] | None = None,
    ) -> list[PartResult]:
        chosen = select_parts(parts)
        timeout = float(timeout or self.settings.start_timeout)
        say = log or (lambda text: None)
        # Fast path (no lock, no imports): everything asked for already answers.
        objs = {name: self.part(name) for name in chosen}
        t0 = time.monotonic()
        if all(p.running() for p in objs.values()):
            return [
                PartResult(n, ALREADY_RUNNING, p.address, time.monotonic() - t0, self.name)
                for n, p in objs.items()
            ]
        with self._lock():
            return self._up_locked(objs, timeout, say)

    def _up_locked(
        self, objs: dict[str, Part], timeout: float, say: Callable[[str], Any]
    ) -> list[PartResult]:
        results: dict[str, PartResult] = {}
        starting: list[str] = []
        began: dict[str, float] = {}
        for name, part in objs.items():
            t = time.monotonic()
            if part.running():
                results[name] = PartResult(
                    name, ALREADY_RUNNING, part.address, time.monotonic() - t, self.name
                )
                continue
            if part.pid() is not None:  # ours, alive, but not answering: start it afresh
                say(f"{name}: a previous server (pid {part.pid()}) does not answer; restarting it")
                part.stop()
            if name != "postgres":  # postgres's pid file is its own postmaster.pid
                part.pid_file.unlink(missing_ok=True)
            starting.append(name)
        found = self.strays(starting)
        if found:  # their state went with the state folder: they start afresh
            self.end_strays(found, "its state is gone; starting it afresh", say)
        for name in starting:  # binaries found and every port checked before anything starts
            objs[name].check()
            objs[name].check_ports()
        spawned: list[str] = []
        notes: dict[str, list[str]] = {name: [] for name in starting}

        def prepare(name: str) -> None:
            began[name] = time.monotonic()
            notes[name] += objs[name].prepare()
            for note in notes[name]:
                say(f"{name}: {note}")

        try:
            deadline = time.monotonic() + timeout
            # the quick servers first: they boot while PostgreSQL is made ready in its thread
            for name in starting:
                if name != "postgres":
                    prepare(name)
                    objs[name].spawn()
                    spawned.append(name)
            if "postgres" in starting:
                spawned.append("postgres")

            def finish(name: str) -> PartResult:
                part = objs[name]
                if name == "postgres":
                    prepare(name)
                    part.spawn()
                    self._wait_answering(part, max(0.5, deadline - time.monotonic()))
                    for note in part.after_ready():
                        notes[name].append(note)
                        say(f"{name}: {note}")
                probes.wait_for(
                    self.ws,
                    name,
                    max(0.5, deadline - time.monotonic()),
                    backend=self.name,
                    abort=part.died,
                )
                return PartResult(
                    name,
                    STARTED,
                    part.address,
                    time.monotonic() - began[name],
                    self.name,
                    notes[name],
                )

            if starting:
                with ThreadPoolExecutor(max_workers=len(starting)) as pool:
                    futures = {name: pool.submit(finish, name) for name in starting}
                    errors = []
                    for name, future in futures.items():
                        try:
                            results[name] = future.result()
                        except BaseException as exc:
                            errors.append(exc)
                if errors:
                    raise errors[0]
        except BaseException:
            for name in reversed(spawned):
                try:
                    objs[name].stop(timeout=10)
                except Exception:
                    pass
            raise
        return [results[name] for name in objs]

    @staticmethod
    def _wait_answering(part: Part, timeout: float) -> None:
        def answering() -> bool:
            if part.answering(0.2):
                return True
            message = part.died()
            if message:
                raise UserError(message)
            return False

        if not poll_until(answering, timeout=timeout, interval=0.01):
            raise UserError(part.death_message("did not open its port in time"))

    # -- servers without their pid files ---------------------------------------------------------
    def strays(self, parts: Iterable[str] | None = None) -> dict[str, list[Stray]]:
        """{part: servers this workspace started that no pid file records} (the state folder
        was removed, or a pid file): found by what they are (`strays.py`)."""
        chosen = list(parts) if parts is not None else list(PART_CLASSES)
        known = [p for p in (self.part(name).pid() for name in chosen) if p]
        out: dict[str, list[strays.Stray]] = {}
        for stray in strays.find(self.ws, chosen, skip=known):
            out.setdefault(stray.part, []).append(stray)
        return out

    def end_strays(
        self, found: dict[str, list[Stray]], why: str, say: Callable[[str], Any]
    ) -> None:
        for name, items in found.items():
            for stray in items:
                say(
                    f"{name}: stopping the server this workspace started, found without its "
                    f"pid file ({why}): {stray.text()}"
                )
                terminate(stray.pid, self.part(name).stop_signal, timeout=15)

    # -- down --------------------------------------------------------------------------------
    def down(self, volumes: bool = False, log: Callable[[str], Any] | None = None) -> list[str]:
        done: list[str] = []
        say = log or (lambda text: None)
        found = self.strays()
        if not self.ws.state_dir.exists() and not found:
            return done
        with self._lock():
            for name in reversed(list(PART_CLASSES)):
                part = self.part(name)
                if part.stop():
                    done.append(name)
                if found.get(name):
                    self.end_strays(
                        {name: found[name]}, "the state folder or the pid file was removed", say
                    )
                    if name not in done:
                        done.append(name)
                if volumes:
                    removed = False
                    for path in part.data_paths():
                        if path.is_dir() and not path.is_symlink():
                            shutil.rmtree(path)
                            removed = True
                        elif path.exists() or path.is_symlink():
                            path.unlink()
                            removed = True
                    if removed:
                        done.append(f"{name} data")
        return done

    # -- status / logs -------------------------------------------------------------------------
    def status(self) -> list[PartStatus]:
        out = []
        found: dict[str, list[strays.Stray]] | None = None
        for name in PART_CLASSES:
            part = self.part(name)
            pid = part.pid()
            detail = ""
            if pid is None:
                state = STALE if part.recorded_pid() else STOPPED
                if name == "postgres" and state == STALE:
                    state = STOPPED  # postmaster.pid is removed on a clean stop only
                if found is None:
                    found = self.strays()
                if found.get(name):
                    stray = found[name][0]
                    state, pid = UNHEALTHY, stray.pid
                    detail = (
                        f"runs without its pid file (its state was removed): "
                        f"{stray.text()}; `inv stack.down` stops it, `inv stack.up` "
                        f"starts it afresh"
                    )
                elif state == STALE:
                    detail = "pid file left by a server that is gone"
            else:
                state = RUNNING if part.answering() else UNHEALTHY
            out.append(
                PartStatus(name, self.name, part.address, state, part.version(), pid, detail)
            )
        return out

    def logs(self, part: str, follow: bool = False) -> Iterator[str]:
        chosen = select_parts([part])[0]
        yield from follow_log(self.part(chosen).log_file, follow)
