"""The one helper that builds every `docker compose` call, and what it needs to know.

compose_command(ws, project, *args) -> ["docker", "compose", "-p", project,
                                        "-f", infra/docker/docker-compose.yml,
                                        "-f", infra/docker/docker-compose.override.yml,
                                        "--env-file", <root .env>, *args]
compose_env(ws)        the environment of that call: ours (DOCKER_HOST, DOCKER_CONFIG),
                       the registry's ports as the variables the files publish with
run_compose(...)       runs one call; ComposeError keeps its output for a diagnosis
compose_version()      the plugin's version, or what is needed (v1, too old, none)
classic_override(ws)   for engines without BuildKit named contexts (< 23)
service_specs(ws)      each service's image/build as the files merge them
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lomash_tasks import commands
from lomash_tasks.errors import UserError
from lomash_tasks.workspace import Workspace

COMPOSE_MIN = (2, 24)
ENGINE_SCRIPT = "scripts/docker-engine.sh up"
NO_ENGINE = (
    "Start Docker (Docker Desktop, `sudo systemctl start docker`, `colima start`, or, "
    f"without them, the suite's `{ENGINE_SCRIPT}` and the DOCKER_HOST/DOCKER_CONFIG "
    "lines it prints), or run the stack without Docker: `inv stack.up --backend "
    "embedded` (or INVOKE_STACK_BACKEND=embedded)."
)
BUILD_HINT = (
    f"No image registry is needed when the engine has it: `{ENGINE_SCRIPT}` builds "
    "every image the workspace's Compose files and Dockerfiles name"
)


def env_file(ws: Workspace) -> Path:
    """The root .env (or, before `inv env.copy`, its .env.example)."""
    pair = ws.env_pair(None)
    return pair.env if pair.env.is_file() else pair.example


def docker_cli() -> str:
    return shutil.which("docker") or "docker"


def compose_command(
    ws: Workspace, project: str, *args: str, extra: Iterable[Path] = ()
) -> list[str]:
    """The argument list of one `docker compose` call for the workspace's stack (`extra`:
    further Compose files after the workspace's own, e.g. classic_override)."""
    argv = [docker_cli(), "compose", "-p", project]
    for path in [*ws.compose_files, *extra]:
        if path.is_file() or path.name == "docker-compose.yml":
            argv += ["-f", str(path)]
    return argv + ["--env-file", str(env_file(ws)), *args]


# BuildKit's named contexts (`additional_contexts`) need engine 23+ (its BuildKit 0.10+).
NAMED_CONTEXTS_MIN = (23, 0)


def classic_override(ws: Workspace) -> Path | None:
    """For engines without named contexts: a Compose file (under .lomash/) that resets each
    service's `additional_contexts` (Compose's `!reset`), so the classic builder builds the
    service. The development override builds `target: builder`, whose stages never use the
    named context; None when no service declares one."""
    names = [
        name
        for name, spec in service_specs(ws).items()
        if (spec.get("build") or {}).get("additional_contexts")
    ]
    if not names:
        return None
    text = (
        "# Written by lomash-tasks for a Docker engine older than 23 (no BuildKit named\n"
        "# contexts): the classic builder builds these services without them.\nservices:\n"
        + "".join(
            f"  {name}:\n    build:\n      additional_contexts: !reset {{}}\n" for name in names
        )
    )
    path = ws.ensure_state_dir() / "compose-classic-builder.yml"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def port_variables(ws: Workspace) -> dict[str, str]:
    """The variables the Compose files publish their ports with, from the registry."""
    reg = ws.registry
    out = {
        "POSTGRES_PORT": reg.postgres.port,
        "REDIS_PORT": reg.redis.port,
        "MAILHOG_SMTP_PORT": reg.smtp.port,
        "MAILHOG_WEB_PORT": reg.smtp.web_port,
        "LOCALSTACK_PORT": reg.aws.port,
    }
    for service in reg.services:
        key = service.name.upper().replace("-", "_")
        out[f"{key}_PORT"] = service.port
        out[f"{key}_DEBUG_PORT"] = service.debug_port
    return {k: str(v) for k, v in out.items()}


def compose_env(ws: Workspace, classic: bool = False) -> dict[str, str]:
    """The environment of a `docker compose` call: ours (DOCKER_HOST, DOCKER_CONFIG, ...), plus
    the registry's published ports; `-p` names the project. Without a buildx plugin, Compose
    builds with its own BuildKit client instead of Bake (COMPOSE_BAKE=false): the engine's
    built-in BuildKit runs the build, and the workspace's `additional_contexts` work (the
    classic builder refuses them); with `classic` (an engine whose BuildKit is too old for the
    workspace's Dockerfiles) the classic builder (DOCKER_BUILDKIT=0)."""
    env = dict(os.environ)
    env.update(port_variables(ws))
    env.pop("COMPOSE_PROJECT_NAME", None)
    if "COMPOSE_BAKE" not in env and not _has_buildx(env):
        env["COMPOSE_BAKE"] = "false"
    if classic:
        env.setdefault("DOCKER_BUILDKIT", "0")
    return env


def _has_buildx(env: dict[str, str]) -> bool:
    config = Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker")
    dirs = [
        config / "cli-plugins",
        Path("/usr/local/lib/docker/cli-plugins"),
        Path("/usr/lib/docker/cli-plugins"),
        Path("/usr/libexec/docker/cli-plugins"),
    ]
    return any((d / "docker-buildx").exists() for d in dirs)


class ComposeError(UserError):
    """`docker compose` failed; .detail keeps its output for a diagnosis."""

    def __init__(self, message: str, detail: str = "", code: int = 1) -> None:
        super().__init__(message)
        self.detail, self.exit_code = detail, code


def run_compose(
    ws: Workspace,
    project: str,
    *args: str,
    timeout: float | None = 600,
    extra: Iterable[Path] = (),
    classic: bool = False,
) -> commands.Completed:
    argv = compose_command(ws, project, *args, extra=extra)
    try:
        result = commands.run(
            argv,
            cwd=ws.compose_dir,
            env=compose_env(ws, classic),
            replace_env=True,
            timeout=timeout,
            check=False,
            effect=True,
        )
    except commands.CommandNotFound:
        raise UserError(f"The docker CLI was not found. {NO_ENGINE}") from None
    except commands.CommandTimeout:
        raise UserError(
            f"`docker compose {' '.join(args)}` did not finish in {timeout:.0f} s."
        ) from None
    if result.code != 0:
        detail = (result.stderr or result.stdout or "").strip()[-3000:]
        raise ComposeError(
            f"`docker compose {' '.join(args)}` failed (exit {result.code}):\n{detail}",
            detail,
            result.code,
        )
    return result


def _version_tuple(text: str) -> tuple[int, ...]:
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(x) for x in found.groups() if x is not None) if found else ()


def compose_version(env: dict[str, str] | None = None, timeout: float = 10.0) -> str:
    """The Compose v2 plugin's version ("2.40.3"); a UserError saying what is needed when
    there is none, only Compose v1, or a plugin older than COMPOSE_MIN."""
    need = f"Compose v2 {COMPOSE_MIN[0]}.{COMPOSE_MIN[1]} or later (the `docker compose` plugin)"
    env = env if env is not None else dict(os.environ)
    try:
        result = commands.run(
            [docker_cli(), "compose", "version", "--short"],
            env=env,
            replace_env=True,
            timeout=timeout,
            check=False,
        )
    except commands.CommandNotFound:
        raise UserError(f"The docker CLI was not found. {NO_ENGINE}") from None
    except commands.CommandTimeout:
        raise UserError(f"`docker compose version` did not answer in {timeout:.0f} s.") from None
    version = result.stdout.strip().lstrip("v")
    if result.code != 0 or not _version_tuple(version):
        v1 = shutil.which("docker-compose", path=env.get("PATH"))
        found = ""
        if v1:
            try:
                found = commands.run(
                    [v1, "version", "--short"],
                    env=env,
                    replace_env=True,
                    timeout=timeout,
                    check=False,
                ).stdout.strip()
            except commands.CommandError:
                found = "?"
        if v1 and _version_tuple(found)[:1] == (1,):
            raise UserError(
                f"Only Compose v1 was found ({v1}, {found}): the compose backend "
                f"needs {need}; v1 does not read the workspace's Compose files "
                f"(`env_file: required`, `depends_on: condition`). Install the "
                f"plugin (Docker Desktop, the docker-compose-plugin package, or "
                f"`{ENGINE_SCRIPT}`), or use `--backend embedded`."
            )
        why = (result.stderr or result.stdout).strip().splitlines()
        raise UserError(
            f"`docker compose` is not available ({why[0] if why else 'no output'}):"
            f" the compose backend needs {need}. Install it (Docker Desktop, the "
            f"docker-compose-plugin package, or `{ENGINE_SCRIPT}` with the "
            f"DOCKER_CONFIG it prints), or use `--backend embedded`."
        )
    if _version_tuple(version)[:2] < COMPOSE_MIN:
        raise UserError(
            f"Docker Compose {version} is too old: the workspace's Compose files need "
            f"{need} (`env_file` with `required: false`). Upgrade the plugin, or use "
            f"`{ENGINE_SCRIPT}` (it installs a pinned 2.40), or `--backend embedded`."
        )
    return version


def service_specs(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Each service's `image` and `build` as the workspace's Compose files merge them (later
    files win key by key; build context and dockerfile made absolute from the file's folder).
    Read directly (PyYAML): a `docker compose config` call would cost a few tenths of a second
    on every `stack.up`. Variables in these fields are not expanded (the files use none)."""
    import yaml

    merged: dict[str, dict[str, Any]] = {}
    for path in ws.compose_files:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        for name, spec in (data.get("services") or {}).items():
            spec = spec or {}
            out = merged.setdefault(name, {})
            if spec.get("image"):
                out["image"] = spec["image"]
            build = spec.get("build")
            if isinstance(build, str):
                build = {"context": build}
            if isinstance(build, dict):
                target = out.setdefault("build", {})
                for key, value in build.items():
                    if key == "context":
                        value = str((path.parent / value).resolve())
                    target[key] = value
    return merged


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def _dockerfile_bases(build: dict[str, Any]) -> list[str]:
    """The images a build's Dockerfile starts FROM (not its own stages, not ARG-made names)."""
    context = Path(build.get("context") or ".")
    dockerfile = Path(build.get("dockerfile") or "Dockerfile")
    path = dockerfile if dockerfile.is_absolute() else context / dockerfile
    try:
        text = path.read_text()
    except OSError:
        return []
    named = set((build.get("additional_contexts") or {}).keys())
    target = str(build.get("target") or "").lower()
    stages: set[str] = set()
    bases = []
    for match in re.finditer(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", text, re.I | re.M):
        image, stage = match.group(1), match.group(2)
        if (
            image.lower() not in stages
            and image not in named
            and "$" not in image
            and image != "scratch"
        ):
            bases.append(image)
        if stage:
            stages.add(stage.lower())
            if stage.lower() == target:
                break  # later stages are not built for this target
    return bases
