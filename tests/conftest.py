"""Shared test helpers: temporary workspaces, free ports, and running `inv` for real.

Workspaces are copies of a reference monorepo under a 0755 folder in /tmp, so an unprivileged
server user can reach them when the tests run as root: examples/lomash-wood (a pnpm workspace,
`make_workspace`) or examples/lomash-wood-npm (nine npm packages with their own lockfiles, the
real monorepo's conventions, `make_npm_workspace`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SUITE_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = SUITE_ROOT / "examples" / "lomash-wood"
EXAMPLE_NPM = SUITE_ROOT / "examples" / "lomash-wood-npm"
IGNORED = shutil.ignore_patterns("node_modules", ".env", ".lomash", ".env.bak-*", ".vscode")


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, never one this process has handed out before
    (the kernel may offer the same free port twice in a row)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def make_workspace(dest: Path, node_modules: bool = False) -> Path:
    """A copy of the reference workspace at `dest` (without .env files or state).

    With `node_modules`, the installed Node dependencies are shared by symlink (pnpm's layout:
    the root `node_modules` holds the store, each package's own links point into it).
    """
    shutil.copytree(EXAMPLE, dest, ignore=IGNORED, symlinks=True)
    if node_modules and (EXAMPLE / "node_modules").is_dir():
        os.symlink(EXAMPLE / "node_modules", dest / "node_modules")
        for pkg_modules in EXAMPLE.glob("*/node_modules"):
            _copy_links(pkg_modules, dest / pkg_modules.relative_to(EXAMPLE))
        for pkg_modules in EXAMPLE.glob("*/*/node_modules"):
            _copy_links(pkg_modules, dest / pkg_modules.relative_to(EXAMPLE))
    return dest


# The npm monorepo's packages, each with its own package-lock.json (the registry's paths).
NPM_PACKAGES = (
    "api-gateway",
    *(
        f"services/{name}"
        for name in (
            "auth-service",
            "product-service",
            "order-payment-service",
            "appointment-service",
            "content-service",
            "customer-service",
            "notification-service",
            "analytics-service",
        )
    ),
)


def make_npm_workspace(dest: Path, node_modules: bool = False) -> Path:
    """A copy of the npm reference monorepo at `dest` (without .env files or state).

    With `node_modules`, each package's installed dependencies (`make install` ran `npm ci` in
    the original) are shared, not reinstalled: the copy's `<package>/node_modules` (and each
    `@scope` folder in it) is a real folder whose entries are symlinks to the original's
    packages; `.bin` (relative links) and npm's `.package-lock.json` are copied. An `npm ci` or
    `npm install` in the copy then replaces links and leaves the original alone (through a
    symlinked node_modules folder, `npm ci` empties the original). The `file:` packages
    (`@lomash-wood/service-kit`, `@lomash-wood/prisma-offline`) resolve to the original's
    `packages/`.
    """
    shutil.copytree(EXAMPLE_NPM, dest, ignore=IGNORED, symlinks=True)
    if node_modules:
        for package in NPM_PACKAGES:
            installed = EXAMPLE_NPM / package / "node_modules"
            if installed.is_dir():
                _link_entries(installed, dest / package / "node_modules")
    return dest


def _link_entries(src: Path, dest: Path) -> None:
    dest.mkdir()
    for entry in src.iterdir():
        if entry.name == ".stamp":  # the Makefile's, not npm's
            continue
        if entry.name == ".bin":
            shutil.copytree(entry, dest / entry.name, symlinks=True)
        elif entry.name == ".package-lock.json":
            shutil.copy2(entry, dest / entry.name)
        elif entry.name.startswith("@") and entry.is_dir() and not entry.is_symlink():
            _link_entries(entry, dest / entry.name)
        else:
            os.symlink(entry, dest / entry.name)


def _copy_links(src: Path, dest: Path) -> None:
    if "node_modules" in src.relative_to(EXAMPLE).parts[:-1]:
        return  # inside the shared root node_modules (e.g. node_modules/.pnpm/node_modules)
    shutil.copytree(src, dest, symlinks=True)


@dataclass
class Inv:
    """Runs `inv` as a user would, from the suite's root, with extra environment."""

    env: dict[str, str] = field(default_factory=dict)

    def __call__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 300,
        check: bool | None = None,
    ) -> subprocess.CompletedProcess:
        full = {
            k: v
            for k, v in os.environ.items()
            if k not in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")
        }
        full.update(self.env)
        full.update(env or {})
        result = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=SUITE_ROOT,
            env=full,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"inv {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result


@pytest.fixture(scope="session")
def tmp_root():
    """A 0755 folder under /tmp for this session's workspaces; removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="lomash-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def workspace(tmp_root, request):
    """A fresh copy of the reference workspace for one test."""
    dest = Path(tempfile.mkdtemp(prefix=f"ws-{request.node.name[:30]}-", dir=tmp_root))
    dest.rmdir()
    return make_workspace(dest)


@pytest.fixture
def inv(workspace):
    """`inv` pointed at the test's own workspace."""
    return Inv({"INVOKE_WORKSPACE_ROOT": str(workspace)})


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """A user error: non-zero exit, no traceback, a message naming every fragment."""
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


def checksums(root: Path) -> dict[str, str]:
    """Every file under `root` (not following links) with a hash of its bytes and mode."""
    import hashlib

    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and "node_modules" not in path.parts:
            data = path.read_bytes()
            out[str(path.relative_to(root))] = hashlib.sha256(data).hexdigest() + oct(
                path.stat().st_mode
            )
    return out


# -- the embedded stack, shared by a test session (one per xdist worker) ----------------------
@dataclass
class StackHandle:
    """A running embedded stack in a workspace copy, on free ports."""

    root: Path  # the workspace copy (with node_modules linked)
    env: dict  # INVOKE_WORKSPACE_ROOT and INVOKE_INFRA_*_PORT for `inv` subprocesses
    inv: Inv  # `inv` pointed at that workspace and those ports
    config: object  # load_config(overrides=...) with the same root and ports
    ws: object  # the Workspace built from that config
    results: list = field(default_factory=list)  # what backend.up() returned


# Ready PostgreSQL clusters cached across test workers and runs (never the user's ~/.cache).
STACK_CACHE = Path(tempfile.gettempdir()) / "lomash-tasks-test-cache"


SERVICE_NAMES = (
    "api-gateway",
    "auth-service",
    "product-service",
    "order-payment-service",
    "appointment-service",
    "content-service",
    "customer-service",
    "notification-service",
    "analytics-service",
)


def stack_env(
    root: Path, cache: Path | str = STACK_CACHE, services: bool = False
) -> dict[str, str]:
    """INVOKE_* for a workspace on free ports for the infrastructure. `inv setup` leaves the
    nine services out (service_options.in_setup: they cost ~0.8 GB) unless `services`, which
    also gives them free ports and debug ports (never the seed's 3000-3008 / 9229-9237)."""
    env = {
        "INVOKE_WORKSPACE_ROOT": str(root),
        "INVOKE_STACK_CACHE_DIR": str(cache),
        "INVOKE_INFRA_POSTGRES_PORT": str(free_port()),
        "INVOKE_INFRA_REDIS_PORT": str(free_port()),
        "INVOKE_INFRA_SMTP_PORT": str(free_port()),
        "INVOKE_INFRA_SMTP_WEB_PORT": str(free_port()),
        "INVOKE_INFRA_AWS_PORT": str(free_port()),
        "INVOKE_SERVICE_OPTIONS_IN_SETUP": "1" if services else "0",
    }
    if services:  # never Compose, even where a Docker engine answers
        env["INVOKE_SERVICE_OPTIONS_BACKEND"] = "embedded"
    for name in SERVICE_NAMES if services else ():
        key = name.upper().replace("-", "_")
        env[f"INVOKE_SERVICES_{key}_PORT"] = str(free_port())
        env[f"INVOKE_SERVICES_{key}_DEBUG_PORT"] = str(free_port())
    return env


def stack_config(env: dict[str, str]):
    """The suite's config (and its Workspace) for a workspace root and ports from `stack_env`."""
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.registry import Registry
    from lomash_tasks.workspace import Workspace

    overrides = {
        "workspace": {"root": env["INVOKE_WORKSPACE_ROOT"]},
        "infra": {
            "postgres": {"port": int(env["INVOKE_INFRA_POSTGRES_PORT"])},
            "redis": {"port": int(env["INVOKE_INFRA_REDIS_PORT"])},
            "smtp": {
                "port": int(env["INVOKE_INFRA_SMTP_PORT"]),
                "web_port": int(env["INVOKE_INFRA_SMTP_WEB_PORT"]),
            },
            "aws": {"port": int(env["INVOKE_INFRA_AWS_PORT"])},
        },
        "stack": {"cache_dir": env.get("INVOKE_STACK_CACHE_DIR", str(STACK_CACHE))},
        "services": {
            name: {
                "port": int(env[f"INVOKE_SERVICES_{key}_PORT"]),
                "debug_port": int(env[f"INVOKE_SERVICES_{key}_DEBUG_PORT"]),
            }
            for name in SERVICE_NAMES
            for key in [name.upper().replace("-", "_")]
            if f"INVOKE_SERVICES_{key}_PORT" in env
        },
        "service_options": {"in_setup": env.get("INVOKE_SERVICE_OPTIONS_IN_SETUP") != "0"},
    }
    config = load_config(overrides=overrides, env=False)
    ws = Workspace.locate(env["INVOKE_WORKSPACE_ROOT"], Registry.from_mapping(plain(config)))
    return config, ws


@pytest.fixture(scope="session")
def stack(tmp_root):
    """The embedded stack (postgres with init.sql applied, redis, aws, smtp) for the session.

    Started through the same backend code `inv stack.up --backend embedded` runs; stopped (no
    process left) when the session ends.
    """
    from lomash_tasks import stack as backends
    from lomash_tasks.context import plain
    from lomash_tasks.stack.base import Settings

    parent = Path(tempfile.mkdtemp(prefix="stack-", dir=tmp_root))
    parent.chmod(0o755)  # the unprivileged PostgreSQL user must reach the workspace
    root = make_workspace(parent / "ws", node_modules=True)
    env = stack_env(root)
    config, ws = stack_config(env)
    backend = backends.get(ws, Settings.load(plain(config)), "embedded")
    try:
        results = backend.up()
        yield StackHandle(root, env, Inv(env), config, ws, results)
    finally:
        backend.down()


# -- a bare PostgreSQL someone else runs (the external backend's peer) --------------------------
SYSTEM_POSTGRES_PASSWORD = "changeme_local"  # the root .env.example's POSTGRES_PASSWORD


@pytest.fixture
def system_postgres(tmp_root):
    """A bare PostgreSQL made with the system's initdb/pg_ctl (no roles, no databases: a
    "system PostgreSQL"), superuser lomash_master; its port. Throwaway: no fsync."""
    from lomash_tasks.stack.embedded.postgres import ensure_system_user, find_bindir

    try:
        bindir = find_bindir()
    except Exception as exc:
        pytest.skip(f"PostgreSQL server binaries not found: {exc}")
    folder = Path(tempfile.mkdtemp(prefix="syspg-", dir=tmp_root))
    folder.chmod(0o755)
    kwargs = {}
    if os.getuid() == 0:  # postgres refuses root: run it as the suite's own unprivileged user
        import pwd

        ensure_system_user("lomash-pg")
        account = pwd.getpwnam("lomash-pg")
        kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        os.chown(folder, account.pw_uid, account.pw_gid)
    pwfile = folder / "pw"
    pwfile.write_text(SYSTEM_POSTGRES_PASSWORD + "\n")
    if kwargs:
        os.chown(pwfile, kwargs["user"], kwargs["group"])
    data, port = folder / "data", free_port()
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "lomash_master",
            f"--pwfile={pwfile}",
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        **kwargs,
    )
    subprocess.run(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "log"),
            "-w",
            "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c full_page_writes=off",
            "start",
        ],
        check=True,
        capture_output=True,
        **kwargs,
    )
    yield port
    subprocess.run(
        [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
        capture_output=True,
        **kwargs,
    )


# -- the nine services, shared by the "services" xdist group ----------------------------------
def service_ports(env: dict[str, str], names=SERVICE_NAMES) -> dict[str, tuple[int, int]]:
    """New free ports and debug ports for the services, set in `env` as INVOKE_SERVICES_*."""
    out = {}
    for name in names:
        key = name.upper().replace("-", "_")
        port, debug = free_port(), free_port()
        env[f"INVOKE_SERVICES_{key}_PORT"] = str(port)
        env[f"INVOKE_SERVICES_{key}_DEBUG_PORT"] = str(debug)
        out[name] = (port, debug)
    return out


@dataclass
class Nine:
    root: Path
    env: dict[str, str]
    inv: Inv
    ports: dict[str, tuple[int, int]]
    setup: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def nine(tmp_root):
    """`inv setup` (embedded stack, native runner) in its own workspace: all nine services up.

    One per session (per xdist worker): the tests that use it (test_services, test_dashboard)
    are in the "services" group, so one worker starts it once and they share it; each test
    leaves every service healthy. The ~0.8 GB of node processes go at the session's end."""
    parent = Path(tempfile.mkdtemp(prefix="nine-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    env = stack_env(root, services=True)
    ports = service_ports(env)
    inv = Inv(env)
    result = inv("setup", "--backend", "embedded", "--runner", "native", timeout=300)
    try:
        yield Nine(root, env, inv, ports, result)
    finally:
        inv("teardown", timeout=120)
