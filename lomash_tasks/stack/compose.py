"""The Compose backend: the workspace's Compose files on a Docker engine.

Every `docker compose` call is built by compose_cli.compose_command (re-exported here).
Containers are started and stopped with the docker CLI (the workspace's Compose files are the
source of truth: `up -d --wait`, `rm`, `down`, `logs`); their state, health and logs are read
with the Docker SDK (imported lazily). Both find the engine the same way, as the `docker` CLI
does: DOCKER_HOST, else DOCKER_CONTEXT, else the current context (Docker Desktop, colima:
`stack/engine.py`), and the CLI its plugins under DOCKER_CONFIG. The registry's ports are handed to
Compose as variables the files publish on 127.0.0.1 (compose_env), so both backends publish
each part at the same address.

What a real engine can say, turned into one paragraph each (see `diagnose`): no engine (how to
start one, or `--backend embedded`); an image missing with no registry (its name, and the
command that builds it); a container that turned unhealthy (its last health output and log
tail); a published port already taken; Compose v1 or a plugin older than 2.24; the engine
going away during `up`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from lomash_tasks import commands
from lomash_tasks.errors import UserError
from lomash_tasks.stack import ports, probes
from lomash_tasks.stack.base import (
    ALREADY_RUNNING,
    PORT_KEYS,
    RUNNING,
    STARTED,
    STOPPED,
    UNHEALTHY,
    Backend,
    PartResult,
    PartStatus,
    Settings,
    endpoint,
    select_parts,
)
from lomash_tasks.stack.compose_cli import (
    BUILD_HINT,
    COMPOSE_MIN,
    ENGINE_SCRIPT,
    NAMED_CONTEXTS_MIN,
    NO_ENGINE,
    ComposeError,
    _dockerfile_bases,
    _last_line,
    _version_tuple,
    classic_override,
    compose_command,
    compose_env,
    compose_version,
    docker_cli,
    env_file,
    port_variables,
    run_compose,
    service_specs,
)
from lomash_tasks.workspace import Workspace

# Compose service of each part, and the named volumes holding its data.
SERVICES = {"postgres": "postgres", "redis": "redis", "aws": "localstack", "smtp": "mailhog"}
VOLUMES = {"postgres": ("postgres-data",), "redis": ("redis-data",)}

__all__ = [
    "BUILD_HINT",
    "COMPOSE_MIN",
    "ENGINE_SCRIPT",
    "NAMED_CONTEXTS_MIN",
    "NO_ENGINE",
    "SERVICES",
    "VOLUMES",
    "ComposeBackend",
    "ComposeError",
    "classic_override",
    "compose_command",
    "compose_env",
    "compose_version",
    "docker_cli",
    "env_file",
    "port_variables",
    "run_compose",
    "service_specs",
]


class ComposeBackend(Backend):
    name = "compose"

    def __init__(self, ws: Workspace, settings: Settings | None = None, client: Any = None) -> None:
        super().__init__(ws, settings)
        self._client = client
        self._compose_checked = ""
        self._classic: bool | None = None

    @property
    def project(self) -> str:
        return self.settings.project

    # -- the Docker SDK --------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            from lomash_tasks.stack import engine

            try:
                found = engine.locate()
            except UserError as err:
                raise UserError(f"{err.text} {NO_ENGINE}") from None
            try:
                self._client = engine.client(10, found)
                self._client.ping()
            except Exception as exc:
                self._client = None
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise UserError(
                    f"The compose backend needs a Docker engine, and none answers "
                    f"at {found.describe()} ({why}). {NO_ENGINE}"
                ) from None
        return self._client

    def engine_alive(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    @property
    def classic(self) -> bool:
        """True when the engine's BuildKit lacks named contexts (engine < 23)."""
        if self._classic is None:
            version = str(self.client.version().get("Version") or "")
            self._classic = _version_tuple(version)[:2] < NAMED_CONTEXTS_MIN
        return self._classic

    def extra_files(self) -> list:
        """Compose files after the workspace's own: the classic-builder override on old engines."""
        return [p for p in [classic_override(self.ws)] if p] if self.classic else []

    def compose(self, *args: str, timeout: float | None = 600) -> Any:
        """One `docker compose` call of this backend (project, files, environment)."""
        return run_compose(
            self.ws,
            self.project,
            *args,
            timeout=timeout,
            extra=self.extra_files(),
            classic=self.classic,
        )

    def compose_call(self, *args: str) -> tuple[list[str], dict[str, str]]:
        """(argv, environment) of a long-running `docker compose` call (logs --follow) that
        the caller starts itself: the same files and environment as `compose()`."""
        self.check_compose()
        return (
            compose_command(self.ws, self.project, *args, extra=self.extra_files()),
            compose_env(self.ws, self.classic),
        )

    def check_compose(self) -> str:
        if not self._compose_checked:
            self.client  # noqa: B018 - the engine first: its message is the more useful one
            self._compose_checked = compose_version(compose_env(self.ws))
        return self._compose_checked

    def container(self, part: str) -> Any | None:
        return self.service_container(SERVICES[part])

    def service_container(self, service: str) -> Any | None:
        labels = [
            f"com.docker.compose.project={self.project}",
            f"com.docker.compose.service={service}",
        ]
        found = self.client.containers.list(all=True, filters={"label": labels})
        return found[0] if found else None

    def project_containers(self) -> list[Any]:
        return self.client.containers.list(
            all=True, filters={"label": [f"com.docker.compose.project={self.project}"]}
        )

    @staticmethod
    def health(container: Any) -> str:
        """'healthy' | 'unhealthy' | 'starting' | 'running' (no healthcheck) | the status."""
        container.reload()
        state = container.attrs.get("State", {})
        if state.get("Status") != "running":
            return state.get("Status") or container.status
        return (state.get("Health") or {}).get("Status") or "running"

    # -- images ----------------------------------------------------------------------------
    def missing_images(self, services: Iterable[str]) -> list[tuple[str, str]]:
        """(service, image) for each image the services need that the engine does not have:
        the service's image when it has no build section, else its Dockerfile's FROM images
        (when the built image itself is not there yet)."""
        config = service_specs(self.ws)
        missing = []
        for name, spec in config.items():
            if name not in services:
                continue
            image, build = spec.get("image"), spec.get("build")
            if image and self._has_image(image):
                continue
            if not build:
                missing.append((name, image or "?"))
                continue
            for base in _dockerfile_bases(build):
                if not self._has_image(base):
                    missing.append((name, base))
        return missing

    def require_images(self, services: Iterable[str]) -> None:
        """A UserError naming each image the services need that the engine lacks, and the
        command that builds it (no registry is used)."""
        missing = self.missing_images(services)
        if missing:
            names = ", ".join(f"{image} (for {svc})" for svc, image in missing)
            raise UserError(
                f"The Docker engine lacks the image{'s' if len(missing) > 1 else ''}"
                f" {names}, and no registry is used to pull "
                f"{'them' if len(missing) > 1 else 'it'}. {BUILD_HINT} "
                f"(or `docker pull` where a registry is reachable)."
            )

    def _has_image(self, name: str) -> bool:
        import docker.errors

        try:
            self.client.images.get(name)
            return True
        except docker.errors.ImageNotFound:
            return False

    # -- up ----------------------------------------------------------------------------------
    def up(
        self,
        parts: Iterable[str] | None = None,
        timeout: float | None = None,
        log: Callable[[str], Any] | None = None,
    ) -> list[PartResult]:
        chosen = select_parts(parts)
        timeout = float(timeout or self.settings.compose_start_timeout)
        say = log or (lambda text: None)
        began = time.monotonic()
        results: dict[str, PartResult] = {}
        starting = []
        for part in chosen:
            box = self.container(part)
            if box is not None and self.health(box) in ("healthy", "running"):
                results[part] = PartResult(
                    part,
                    ALREADY_RUNNING,
                    endpoint(self.ws, part).address,
                    time.monotonic() - began,
                    self.name,
                )
            else:
                starting.append(part)
                if box is None:
                    self._ensure_ports_free(part)
        if starting:
            if not env_file(self.ws).is_file():
                raise UserError(
                    f"The workspace has no {self.ws.relative(env_file(self.ws))}: "
                    f"Compose reads it for passwords and ports."
                )
            if env_file(self.ws).name == ".env.example":
                say("root .env not found: Compose reads .env.example (run `inv env.copy`)")
            services = [SERVICES[p] for p in starting]
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(1) as pool:  # `docker compose version` meanwhile
                version = pool.submit(self.check_compose)
                try:
                    self.require_images(services)
                finally:
                    version.result()
            wait = max(1, int(round(timeout)))
            try:
                self.compose(
                    "up", "-d", "--wait", "--wait-timeout", str(wait), *services, timeout=wait + 600
                )
            except ComposeError as exc:
                raise self.diagnose(starting, exc.detail, wait) from None
            deadline = time.monotonic() + timeout
            with ThreadPoolExecutor(len(starting)) as pool:  # the protocol checks, side by side
                waits = {
                    part: pool.submit(
                        probes.wait_for,
                        self.ws,
                        part,
                        max(0.5, deadline - time.monotonic()),
                        backend=self.name,
                    )
                    for part in starting
                }
                for part in starting:
                    waits[part].result()
                    results[part] = PartResult(
                        part,
                        STARTED,
                        endpoint(self.ws, part).address,
                        time.monotonic() - began,
                        self.name,
                    )
        return [results[p] for p in chosen]

    def _ensure_ports_free(self, part: str) -> None:
        ep = endpoint(self.ws, part)
        ports.ensure_free(ep.host, ep.port, f"the {part} container", PORT_KEYS[part])
        if part == "smtp":
            ports.ensure_free(
                ep.host,
                self.ws.registry.smtp.web_port,
                "the smtp container's web view",
                PORT_KEYS["smtp_web"],
            )

    def diagnose(self, parts: list[str], detail: str, wait: float = 0) -> UserError:
        """One paragraph for a failed `up`: what the engine and the containers say."""
        if not self.engine_alive():
            return UserError(
                f"The Docker engine stopped answering during `stack.up` "
                f"({_last_line(detail)}). {NO_ENGINE}"
            )
        taken = re.search(
            r"(?:127\.0\.0\.1|0\.0\.0\.0|\[::\]):(\d+).{0,80}?"
            r"(address already in use|port is already allocated)",
            detail,
            re.S,
        )
        if taken:
            port = int(taken.group(1))
            owner = next(
                (
                    p
                    for p in parts
                    if p in SERVICES
                    and (
                        endpoint(self.ws, p).port == port
                        or (p == "smtp" and self.ws.registry.smtp.web_port == port)
                    )
                ),
                None,
            )
            key = (
                PORT_KEYS["smtp_web"]
                if owner == "smtp" and self.ws.registry.smtp.web_port == port
                else PORT_KEYS.get(owner or "", "")
            )
            return UserError(
                f"Port {port} on 127.0.0.1 is already taken on this host, so "
                f"Compose could not publish {owner or 'a container'} on it. Stop "
                f"what holds it (`inv debug.ports`), or choose another port"
                f"{f' ({key}=...)' if key else ''}."
            )
        services = [SERVICES.get(p, p) for p in parts]
        lines, first = [], None
        for service in services:
            box = self.service_container(service)
            if box is None:
                continue
            seen = self.health(box)
            if seen in ("healthy", "running"):
                continue
            first = first or service
            tail = box.logs(tail=15).decode(errors="replace").rstrip()
            health = (box.attrs.get("State", {}).get("Health") or {}).get("Log") or []
            last = (health[-1].get("Output") or "").strip() if health else ""
            state = (
                f"was still starting (not healthy) when the wait ended ({wait} s: "
                f"--timeout, or stack.compose_start_timeout)"
                if seen == "starting"
                else f"is {seen}"
            )
            lines.append(
                f"The {service} container {state}"
                + (f"; its last health check said: {last}" if last else "")
                + (f".\nLast lines of its log:\n{tail}" if tail else ".")
            )
        if lines:
            part = next((p for p, svc in SERVICES.items() if svc == first), None)
            more = (
                f"`inv stack.logs --part {part}`"
                if part
                else f"`docker compose -p {self.project} logs {first}`"
            )
            return UserError(
                "\n".join(lines) + f"\n({more} for more; `inv stack.down` removes the containers.)"
            )
        return UserError(f"`docker compose up` failed:\n{detail}")

    # -- down / status / logs ------------------------------------------------------------------
    def down(self, volumes: bool = False, log: Callable[[str], Any] | None = None) -> list[str]:
        present = [p for p in SERVICES if self.container(p) is not None]
        others = [
            c
            for c in self.project_containers()
            if c.labels.get("com.docker.compose.service") not in SERVICES.values()
        ]
        wanted = {f"{self.project}_{v}": p for p, vols in VOLUMES.items() for v in vols}
        data = []
        if volumes:
            data = [
                v
                for v in self.client.volumes.list(
                    filters={"label": f"com.docker.compose.project={self.project}"}
                )
                if v.name in wanted
            ]
        if present:
            self.check_compose()
            if not others:  # the whole project is ours: `down` also removes its network
                self.compose("down", *(["--volumes"] if volumes else []))
            else:
                self.compose(
                    "rm",
                    "--stop",
                    "--force",
                    *(["--volumes"] if volumes else []),
                    *[SERVICES[p] for p in present],
                )
        import docker.errors

        for volume in data:
            try:
                volume.remove(force=True)
            except docker.errors.NotFound:
                pass  # `down --volumes` took it already
        return present + [f"{wanted[v.name]} data" for v in data]

    def status(self) -> list[PartStatus]:
        out = []
        for part in SERVICES:
            address = endpoint(self.ws, part).address
            box = self.container(part)
            if box is None:
                out.append(PartStatus(part, self.name, address, STOPPED))
                continue
            health = self.health(box)
            state = {"healthy": RUNNING, "running": RUNNING}.get(
                health, UNHEALTHY if health in ("unhealthy", "starting") else STOPPED
            )
            image = box.attrs.get("Config", {}).get("Image") or ""
            pid = box.attrs.get("State", {}).get("Pid") or None
            out.append(
                PartStatus(
                    part, self.name, address, state, image, pid, f"container {box.name}: {health}"
                )
            )
        return out

    def logs(self, part: str, follow: bool = False) -> Iterator[str]:
        chosen = select_parts([part])[0]
        argv, env = self.compose_call(
            "logs", "--no-color", *(["--follow"] if follow else []), SERVICES[chosen]
        )
        proc = commands.spawn(
            argv, cwd=self.ws.compose_dir, env=env, replace_env=True, pipe=True, merge=True
        )
        try:
            for line in proc.stdout or ():
                yield line.rstrip("\n")
        finally:
            if proc.poll() is None:
                proc.terminate()
            commands.wait(proc, 5)
