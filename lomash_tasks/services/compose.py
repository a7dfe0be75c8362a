"""The services on the Compose backend: the workspace's Compose files define all nine.

One path for the Compose backend's services: every `docker compose` call goes through the
backend's `compose()` (compose_cli's one helper, with the classic-builder override on engines
older than 23), the images are checked first (a missing one is named with the command that
builds it), the registry's ports (and debug ports) are published on 127.0.0.1 (compose_env),
the gateway starts last, once the eight are healthy. Healthy means both: the container's
HEALTHCHECK says so (Docker SDK) and GET /health on its published registry port answers 200.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from lomash_tasks.errors import UserError
from lomash_tasks.helpers import poll_until
from lomash_tasks.registry import Service
from lomash_tasks.services import model
from lomash_tasks.services.model import (
    ALREADY,
    CRASHED,
    FAILED,
    GATEWAY,
    HEALTHY,
    RESTARTING,
    STARTED,
    STARTING,
    STOPPED,
    UNHEALTHY,
    ServiceStatus,
    Settings,
    UpResult,
)
from lomash_tasks.workspace import Workspace


class ComposeServices:
    name = "compose"

    def __init__(
        self,
        ws: Workspace,
        settings: Settings | None = None,
        stack_settings: Any = None,
        client: Any = None,
    ) -> None:
        from lomash_tasks.stack.compose import ComposeBackend

        self.ws = ws
        self.settings = settings or Settings()
        self.stack = ComposeBackend(ws, stack_settings, client)

    @property
    def project(self) -> str:
        return self.stack.project

    def compose(self, *args: str, timeout: float | None = 900) -> Any:
        """One `docker compose` call: the backend's (project, files, classic override, env)."""
        return self.stack.compose(*args, timeout=timeout)

    def container(self, svc: Service) -> Any | None:
        labels = [
            f"com.docker.compose.project={self.project}",
            f"com.docker.compose.service={svc.name}",
        ]
        found = self.stack.client.containers.list(all=True, filters={"label": labels})
        return found[0] if found else None

    def state_of(self, box: Any | None) -> str:
        if box is None:
            return STOPPED
        health = self.stack.health(box)
        state = box.attrs.get("State", {})
        if health in ("healthy", "running"):
            return HEALTHY
        if health == "starting":
            return STARTING
        if health == "unhealthy":
            return UNHEALTHY
        if health == "restarting":
            return RESTARTING
        if health in ("exited", "dead"):
            return CRASHED if state.get("ExitCode") not in (0, None) else STOPPED
        return STARTING if health == "created" else STOPPED

    @staticmethod
    def last_check(box: Any) -> str:
        log = ((box.attrs.get("State") or {}).get("Health") or {}).get("Log") or []
        if not log:
            return "no health check has run yet"
        last = log[-1]
        return f"exit {last.get('ExitCode')}: {str(last.get('Output', '')).strip()[:300]}"

    # -- up ----------------------------------------------------------------------------------
    def up(
        self,
        names: Iterable[str] | None = None,
        timeout: float | None = None,
        log: Callable[[str], Any] | None = None,
        build: bool = False,
    ) -> list[UpResult]:
        """Start the chosen services from their Compose definitions (their infrastructure
        comes up first through `depends_on`), the gateway last; one UpResult each, once it
        answers GET /health 200 on its registry port within `timeout` of Compose starting
        its container (FAILED with its log tail otherwise; the others keep running).
        `build` rebuilds their images."""
        from lomash_tasks.stack import ports
        from lomash_tasks.stack.compose import SERVICES, ComposeError, env_file

        chosen = self.ws.registry.select(list(names or []))
        say = log or (lambda text: None)
        timeout = float(timeout or self.settings.start_timeout)
        if not env_file(self.ws).is_file():
            raise UserError(
                f"The workspace has no {self.ws.relative(env_file(self.ws))}: "
                f"Compose reads it. Run `inv env.copy`, then run this again."
            )
        began = time.monotonic()
        results: dict[str, UpResult] = {}
        todo, restarts = [], {}
        for svc in chosen:
            box = self.container(svc)
            restarts[svc.name] = int(box.attrs.get("RestartCount") or 0) if box else 0
            if box is not None and self.state_of(box) == HEALTHY and self._http(svc)[0] == 200:
                results[svc.name] = UpResult.since(svc, ALREADY, began)
                continue
            if box is None:
                for port, which in ((svc.port, "port"), (svc.debug_port, "debug_port")):
                    ports.ensure_free(
                        "127.0.0.1", port, f"the {svc.name} container", model.port_key(svc, which)
                    )
            todo.append(svc)
        if not todo:
            return [results[s.name] for s in chosen]
        self.stack.check_compose()
        self.stack.require_images([s.name for s in todo] + list(SERVICES.values()))
        first = [s for s in todo if s.name != GATEWAY]
        last = [s for s in todo if s.name == GATEWAY]
        for batch in (first, last):
            if not batch:
                continue
            batch_names = [s.name for s in batch]
            say(f"docker compose up -d {' '.join(batch_names)}")
            try:
                self.compose(
                    "up",
                    "-d",
                    *(["--build"] if build else []),
                    *batch_names,
                    timeout=max(60.0, timeout) + 1800,
                )
            except ComposeError as exc:
                raise self.stack.diagnose(
                    batch_names + list(SERVICES), exc.detail, timeout
                ) from None
            # the clock starts once Compose has started the containers: creating them (or
            # building with `build`) is not the service's start-up
            deadline = time.monotonic() + timeout
            for svc in batch:
                results[svc.name] = self._wait(svc, deadline, began, timeout, restarts[svc.name])
        return [results[s.name] for s in chosen]

    @staticmethod
    def _http(svc: Service) -> tuple[int | None, str]:
        from lomash_tasks.services.shared import health

        return health(svc.port, timeout=3.0)

    def _wait(
        self, svc: Service, deadline: float, began: float, timeout: float, restarts: int = 0
    ) -> UpResult:
        """Until the container is healthy (SDK) and GET /health on its registry port is 200.
        A container that exited, or that its restart policy restarted (more restarts than
        `restarts`, the count before `up`), failed at start: its log tail, without waiting."""
        seen, answer, box = "no container", "not asked yet", None

        def settled() -> UpResult | None:
            nonlocal seen, answer, box
            box = self.container(svc)
            if box is None:
                return None
            state = self.state_of(box)
            seen = state
            if state in (HEALTHY, STARTING, UNHEALTHY):  # the container runs: ask it
                code, what = self._http(svc)
                answer = f"{code} {what[:200]}" if code else what
                if code == 200 and state == HEALTHY:
                    return UpResult.since(svc, STARTED, began)
            again = int(box.attrs.get("RestartCount") or 0) - restarts
            if state in (CRASHED, STOPPED, RESTARTING) or (again > 0 and state != HEALTHY):
                tail = box.logs(tail=15).decode(errors="replace").strip()
                code = (box.attrs.get("State") or {}).get("ExitCode")  # 0 once back up
                why = ([f"exit {code}"] if code else []) + (
                    [f"restarted {again} time{'s' if again > 1 else ''} by its restart policy"]
                    if again > 0
                    else []
                )
                how = f" ({'; '.join(why)})" if why else ""
                return UpResult.since(
                    svc,
                    FAILED,
                    began,
                    f"The {svc.name} container exited during start{how}. Last "
                    f"lines of its log:\n{tail}",
                )
            return None

        done = poll_until(settled, deadline=deadline, interval=0.05, backoff=2, max_interval=1.0)
        if done is not None:
            return done
        check = self.last_check(box) if box is not None else ""
        tail = box.logs(tail=15).decode(errors="replace").strip() if box else ""
        return UpResult.since(
            svc,
            FAILED,
            began,
            f"The {svc.name} container was not healthy within {timeout:g}s "
            f"(last state: {seen}; its health check last said: {check}; "
            f"GET http://127.0.0.1:{svc.port}/health last said: {answer}). "
            f"Last lines of its log:\n{tail}",
        )

    # -- down / restart / status / logs ----------------------------------------------------------
    def down(
        self,
        names: Iterable[str] | None = None,
        timeout: float = 30.0,
        log: Callable[[str], Any] | None = None,
    ) -> list[str]:
        chosen = self.ws.registry.select(list(names or []))
        present = [s.name for s in chosen if self.container(s) is not None]
        if present:
            self.compose("rm", "--stop", "--force", *present)
        return present

    def restart(
        self,
        names: Iterable[str] | None = None,
        timeout: float | None = None,
        log: Callable[[str], Any] | None = None,
    ) -> list[UpResult]:
        chosen = self.ws.registry.select(list(names or []))
        present = [s.name for s in chosen if self.container(s) is not None]
        if present:
            self.compose("restart", *present)
        return self.up([s.name for s in chosen], timeout=timeout, log=log)

    def status(self, inspectors: bool = True) -> list[ServiceStatus]:
        """Each service's state; `inspectors=False` leaves the debugger column empty (a
        machine-wide socket scan per service)."""
        from lomash_tasks.services import inspector

        out = []
        for svc in self.ws.registry.services:
            box = self.container(svc)
            state = self.state_of(box)
            if box is None:
                out.append(
                    ServiceStatus(svc.name, self.name, state, model.url(svc), svc.debug_port)
                )
                continue
            attrs = box.attrs.get("State", {})
            uptime = None
            if state != STOPPED and attrs.get("StartedAt"):
                try:
                    started = datetime.fromisoformat(attrs["StartedAt"][:26].rstrip("Z") + "+00:00")
                    uptime = round(time.time() - started.timestamp(), 1)
                except ValueError:
                    uptime = None
            detail = "" if state == HEALTHY else self.last_check(box)
            out.append(
                ServiceStatus(
                    svc.name,
                    self.name,
                    state,
                    model.url(svc),
                    svc.debug_port,
                    inspector.attached_text(svc.debug_port)
                    if state != STOPPED and inspectors
                    else "",
                    attrs.get("Pid") or None,
                    box.name,
                    uptime,
                    int(box.attrs.get("RestartCount") or 0),
                    f"docker compose logs {svc.name}",
                    detail,
                )
            )
        return out

    def running(self) -> bool:
        return any(self.container(s) is not None for s in self.ws.registry.services)

    def logs(
        self,
        names: Iterable[str] | None = None,
        follow: bool = False,
        since: float | None = None,
        tail: int | None = None,
    ) -> Iterator[tuple[str, str]]:
        from lomash_tasks import commands

        chosen = [s.name for s in self.ws.registry.select(list(names or []))]
        args = ["logs", "--no-color", "--timestamps"]
        if tail:
            args += ["--tail", str(int(tail))]
        if follow:
            args.append("--follow")
        if since is not None:
            args += ["--since", str(int(since))]
        argv, env = self.stack.compose_call(*args, *chosen)
        proc = commands.spawn(
            argv,
            env=env,
            cwd=self.ws.compose_dir,
            replace_env=True,
            pipe=True,
            merge=True,
            new_session=False,
        )
        try:
            for raw in proc.stdout or ():
                line = raw.rstrip("\n")
                name, sep, rest = line.partition("|")
                name = name.strip()
                if sep and name in chosen:
                    yield name, rest.strip()
                elif sep:  # the container's name (lomash-auth-service-1 etc.)
                    match = [n for n in chosen if n in name]
                    yield (match[0] if match else name), rest.strip()
                else:
                    yield "compose", line
        finally:
            if proc.poll() is None:
                proc.terminate()
