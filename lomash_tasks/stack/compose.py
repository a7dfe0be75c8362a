"""The Compose backend, and the one helper that builds every `docker compose` call.

    compose_command(ws, project, *args) -> ["docker", "compose", "-p", project,
                                            "-f", infra/docker/docker-compose.yml,
                                            "-f", infra/docker/docker-compose.override.yml,
                                            "--env-file", <root .env>, *args]

Containers are started and stopped with the docker CLI (the workspace's Compose files are the
source of truth); their state and health are read with the Docker SDK (imported lazily).
The registry's ports are handed to Compose as POSTGRES_PORT / REDIS_PORT, which the files use
for the published ports, so both backends publish each part at the same address.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from lomash_tasks.stack import ports
from lomash_tasks.stack import probes
from lomash_tasks.errors import UserError
from lomash_tasks.workspace import Workspace
from lomash_tasks.stack.base import (ALREADY_RUNNING, PORT_KEYS, RUNNING, STARTED, STOPPED,
                                     UNHEALTHY, Backend, PartResult, PartStatus, Settings,
                                     endpoint, select_parts)

# Compose service of each part, and the named volumes holding its data.
SERVICES = {"postgres": "postgres", "redis": "redis", "aws": "localstack", "smtp": "mailhog"}
VOLUMES = {"postgres": ("postgres-data",), "redis": ("redis-data",)}
NO_ENGINE = ("Start Docker (Docker Desktop, `sudo systemctl start docker`, `colima start`, ...), "
             "see https://docs.docker.com/get-docker/ to install it, or run the stack without "
             "Docker: `inv stack.up --backend embedded` (or INVOKE_STACK_BACKEND=embedded).")


def env_file(ws: Workspace) -> Path:
    """The root .env (or, before `inv env.copy`, its .env.example)."""
    pair = ws.env_pair(None)
    return pair.env if pair.env.is_file() else pair.example


def compose_command(ws: Workspace, project: str, *args: str) -> list[str]:
    """The argument list of one `docker compose` call for the workspace's stack."""
    docker = shutil.which("docker") or "docker"
    argv = [docker, "compose", "-p", project]
    for path in ws.compose_files:
        if path.is_file() or path.name == "docker-compose.yml":
            argv += ["-f", str(path)]
    return argv + ["--env-file", str(env_file(ws)), *args]


def compose_env(ws: Workspace) -> dict[str, str]:
    """The environment of a `docker compose` call: ours, plus the registry's published ports
    (the Compose files read POSTGRES_PORT / REDIS_PORT); `-p` names the project."""
    reg = ws.registry
    env = dict(os.environ)
    env.update(POSTGRES_PORT=str(reg.postgres.port), REDIS_PORT=str(reg.redis.port))
    env.pop("COMPOSE_PROJECT_NAME", None)
    return env


def run_compose(ws: Workspace, project: str, *args: str, timeout: float | None = 600,
                capture: bool = True) -> subprocess.CompletedProcess:
    argv = compose_command(ws, project, *args)
    try:
        result = subprocess.run(argv, cwd=str(ws.compose_dir), env=compose_env(ws), capture_output=capture,
                                text=True, stdin=subprocess.DEVNULL, timeout=timeout)
    except FileNotFoundError:
        raise UserError(f"The docker CLI was not found. {NO_ENGINE}") from None
    except subprocess.TimeoutExpired:
        raise UserError(f"`docker compose {' '.join(args)}` did not finish in {timeout:.0f} s.") \
            from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-2000:]
        raise UserError(f"`docker compose {' '.join(args)}` failed (exit {result.returncode}):\n"
                        f"{detail}")
    return result


class ComposeBackend(Backend):
    name = "compose"

    def __init__(self, ws: Workspace, settings: Settings | None = None,
                 client: Any = None) -> None:
        super().__init__(ws, settings)
        self._client = client

    @property
    def project(self) -> str:
        return self.settings.project

    # -- the Docker SDK --------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import docker
            except ImportError:
                raise UserError(f"The docker Python SDK is not installed (`pip install -e .`). "
                                f"{NO_ENGINE}") from None
            try:
                self._client = docker.from_env(timeout=10)
                self._client.ping()
            except Exception as exc:  # noqa: BLE001 - DockerException: no engine
                self._client = None
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise UserError(f"The compose backend needs a Docker engine, and none answers "
                                f"({why}). {NO_ENGINE}") from None
        return self._client

    def container(self, part: str) -> Any | None:
        labels = [f"com.docker.compose.project={self.project}",
                  f"com.docker.compose.service={SERVICES[part]}"]
        found = self.client.containers.list(all=True, filters={"label": labels})
        return found[0] if found else None

    @staticmethod
    def health(container: Any) -> str:
        """'healthy' | 'unhealthy' | 'starting' | 'running' (no healthcheck) | the status."""
        container.reload()
        state = container.attrs.get("State", {})
        if state.get("Status") != "running":
            return state.get("Status") or container.status
        return (state.get("Health") or {}).get("Status") or "running"

    # -- up ----------------------------------------------------------------------------------
    def up(self, parts: Iterable[str] | None = None, timeout: float | None = None,
           log: Callable[[str], Any] | None = None) -> list[PartResult]:
        chosen = select_parts(parts)
        timeout = float(timeout or self.settings.start_timeout)
        say = log or (lambda text: None)
        began = time.monotonic()
        results: dict[str, PartResult] = {}
        starting = []
        for part in chosen:
            box = self.container(part)
            if box is not None and self.health(box) in ("healthy", "running"):
                results[part] = PartResult(part, ALREADY_RUNNING, endpoint(self.ws, part).address,
                                           time.monotonic() - began, self.name)
            else:
                starting.append(part)
                if box is None:
                    ep = endpoint(self.ws, part)
                    ports.ensure_free(ep.host, ep.port, f"the {part} container", PORT_KEYS[part])
        if starting:
            if not env_file(self.ws).is_file():
                raise UserError(f"The workspace has no {self.ws.relative(env_file(self.ws))}: "
                                f"Compose reads it for passwords and ports.")
            if env_file(self.ws).name == ".env.example":
                say("root .env not found: Compose reads .env.example (run `inv env.copy`)")
            run_compose(self.ws, self.project, "up", "-d", *[SERVICES[p] for p in starting])
            deadline = time.monotonic() + timeout
            for part in starting:
                self._wait_healthy(part, deadline)
                probes.wait_for(self.ws, part, max(0.5, deadline - time.monotonic()),
                                backend=self.name)
                results[part] = PartResult(part, STARTED, endpoint(self.ws, part).address,
                                           time.monotonic() - began, self.name)
        return [results[p] for p in chosen]

    def _wait_healthy(self, part: str, deadline: float) -> None:
        delay, seen = 0.05, "no container"
        while True:
            box = self.container(part)
            if box is not None:
                seen = self.health(box)
                if seen in ("healthy", "running"):
                    return
                if seen in ("exited", "dead"):
                    tail = box.logs(tail=15).decode(errors="replace").strip()
                    raise UserError(f"The {SERVICES[part]} container stopped ({seen}) during "
                                    f"start. Last lines of its log:\n{tail}")
            if time.monotonic() >= deadline:
                raise UserError(f"The {SERVICES[part]} container was not healthy in time "
                                f"(last state: {seen}). See `inv stack.logs --part {part}`.")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    # -- down / status / logs ------------------------------------------------------------------
    def down(self, volumes: bool = False, log: Callable[[str], Any] | None = None) -> list[str]:
        present = [p for p in SERVICES if self.container(p) is not None]
        done: list[str] = []
        if present:
            args = ["rm", "--stop", "--force"] + (["--volumes"] if volumes else [])
            run_compose(self.ws, self.project, *args, *[SERVICES[p] for p in present])
            done += present
        if volumes:
            wanted = {f"{self.project}_{v}": p for p, vols in VOLUMES.items() for v in vols}
            for volume in self.client.volumes.list(
                    filters={"label": f"com.docker.compose.project={self.project}"}):
                if volume.name in wanted:
                    volume.remove(force=True)
                    done.append(f"{wanted[volume.name]} data")
        return done

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
                health, UNHEALTHY if health in ("unhealthy", "starting") else STOPPED)
            image = box.attrs.get("Config", {}).get("Image") or ""
            pid = box.attrs.get("State", {}).get("Pid") or None
            out.append(PartStatus(part, self.name, address, state, image, pid,
                                  f"container {box.name}: {health}"))
        return out

    def logs(self, part: str, follow: bool = False) -> Iterator[str]:
        chosen = select_parts([part])[0]
        argv = compose_command(self.ws, self.project, "logs", "--no-color",
                               *(["--follow"] if follow else []), SERVICES[chosen])
        with subprocess.Popen(argv, cwd=str(self.ws.compose_dir), env=compose_env(self.ws),
                              text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL) as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    yield line.rstrip("\n")
            finally:
                if proc.poll() is None:
                    proc.terminate()


