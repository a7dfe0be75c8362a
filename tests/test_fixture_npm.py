"""The npm reference monorepo (examples/lomash-wood-npm) holds together on its own.

Each package's lockfile agrees with its package.json; each service's migrations produce
exactly its Prisma schema; and one service runs end to end by hand, the way its own files say:
init.sql, `prisma migrate deploy` and `prisma db seed` through its prisma.config.ts, then
`npm run dev` (nodemon + ts-node) answering GET /health 200 from its own database and Redis
index. Real PostgreSQL, Redis, npm, Prisma 6.19.3 and nodemon; one throwaway server of each,
shared by this module.

init.sql is applied here by hand from a copy with its two non-portable lines adapted (the
`en_US.utf8` locale, which many systems lack, and `pg_stat_statements.track`, which PostgreSQL
before 17 refuses unless the library is preloaded): the suite's own handling of init.sql is a
separate concern, tested with the suite.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import EXAMPLE_NPM, NPM_PACKAGES, free_port, make_npm_workspace

pytestmark = pytest.mark.xdist_group("npm-fixture")  # one worker: they share one server

SUPERUSER, SUPERPASS = "lomash_master", "fixture_super"
REDIS_PASSWORD = "fixture_redis"

# Each database service: its role and database (init.sql, the registry), its Prisma schema and
# migrations folder (as its prisma.config.ts / package.json place them).
SERVICES = {
    "auth-service": ("lomash_auth", "lomash_auth", "prisma/schema.prisma", "prisma/migrations"),
    "product-service": (
        "lomash_product",
        "lomash_products",
        "prisma/schema.prisma",
        "prisma/migrations",
    ),
    "order-payment-service": (
        "lomash_order",
        "lomash_orders",
        "prisma/schema.prisma",
        "prisma/migrations",
    ),
    "appointment-service": (
        "lomash_appointment",
        "lomash_appointments",
        "prisma/schema.prisma",
        "prisma/migrations",
    ),
    "content-service": (
        "lomash_content",
        "lomash_content",
        "prisma/schema.prisma",
        "db/migrations",
    ),
    "customer-service": (
        "lomash_customer",
        "lomash_customers",
        "prisma/customer.prisma",
        "prisma/migrations",
    ),
    "notification-service": (
        "lomash_notification",
        "lomash_notifications",
        "prisma/schema.prisma",
        "prisma/migrations",
    ),
    "analytics-service": (
        "lomash_analytics",
        "lomash_analytics",
        "prisma/schema.prisma",
        "prisma/migrations",
    ),
}
EXACT = re.compile(r"^\d+\.\d+\.\d+$")


def installed(package: str) -> Path:
    folder = EXAMPLE_NPM / package
    if not (folder / "node_modules" / ".package-lock.json").is_file():
        pytest.fail(f"{package} has no installed node_modules: run `make install` first")
    return folder


def npm_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("npm_", "NODE_OPTIONS"))}
    env.update(extra)
    return env


def run(argv, cwd, env=None, timeout=120, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=env or npm_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, argv))} (in {cwd}) exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


# -- the packages and their lockfiles -----------------------------------------------------------
@pytest.mark.parametrize("package", NPM_PACKAGES)
def test_lockfile_agrees_with_package_json_and_pins_exact_versions(package):
    folder = installed(package)
    manifest = json.loads((folder / "package.json").read_text())
    lock = json.loads((folder / "package-lock.json").read_text())
    assert lock["lockfileVersion"] == 3
    declared = {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}
    loose = {
        name: spec
        for name, spec in declared.items()
        if not (EXACT.match(spec) or spec.startswith("file:../"))
    }
    assert not loose, f"{package}: not pinned exactly: {loose}"
    for name, spec in declared.items():
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry.get("link") or entry["version"] == spec, (package, name, spec, entry)
    # npm itself: `npm ci` refuses a lockfile out of sync with package.json (nothing installed)
    run(
        [
            "npm",
            "ci",
            "--dry-run",
            "--offline",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ],
        folder,
    )


# -- throwaway PostgreSQL and Redis -------------------------------------------------------------
def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: under root, the suite's unprivileged system user."""
    if os.geteuid() != 0:
        return None
    from lomash_tasks.stack.embedded.postgres import ensure_system_user

    ensure_system_user("lomash-pg")
    return "lomash-pg"


def _wait_port(port: int, what: str, deadline: float = 30.0) -> None:
    import socket

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port} within {deadline:.0f}s")


@pytest.fixture(scope="module")
def servers(tmp_root):
    """A fresh PostgreSQL cluster with the fixture's init.sql applied (adapted copy, see the
    module's docstring) and a Redis server with a password, on free ports."""
    from lomash_tasks.stack.embedded.valkey import find_server
    from lomash_tasks.stack.pgtools import find_bindir, find_psql

    bindir = find_bindir()
    user = _server_user()
    base = Path(tempfile.mkdtemp(prefix="npm-fixture-", dir=tmp_root))
    base.chmod(0o755)
    data, socket_dir = base / "pgdata", base / "pgsock"
    socket_dir.mkdir()
    pwfile = base / "pw"
    pwfile.write_text(SUPERPASS + "\n")
    if user:
        entry = pwd.getpwnam(user)
        for path in (base, socket_dir, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    as_user = {"user": user} if user else {}
    pg_port, redis_port = free_port(), free_port()
    subprocess.run(
        [
            bindir / "initdb",
            "-D",
            data,
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        check=True,
        capture_output=True,
        **as_user,
    )
    subprocess.run(
        [
            bindir / "pg_ctl",
            "-D",
            data,
            "-l",
            base / "postgres.log",
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {pg_port} -c listen_addresses=127.0.0.1 -k {socket_dir}",
            "start",
        ],
        check=True,
        capture_output=True,
        **as_user,
    )
    redis = subprocess.Popen(
        [
            str(find_server()),
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            REDIS_PASSWORD,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        init_sql = (EXAMPLE_NPM / "infra/docker/postgres/init.sql").read_text()
        adapted = init_sql.replace("'en_US.utf8'", "'C.UTF-8'")
        adapted = re.sub(r"(?m)^ALTER SYSTEM SET pg_stat_statements\.track.*$", "", adapted)
        assert adapted.count("'C.UTF-8'") == 16 and "pg_stat_statements.track" not in adapted
        (base / "init.sql").write_text(adapted)
        run(
            [
                str(find_psql()),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(pg_port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-f",
                str(base / "init.sql"),
            ],
            base,
            env=npm_env(PGPASSWORD=SUPERPASS),
            timeout=120,
        )
        _wait_port(redis_port, "redis")
        yield {"pg_port": pg_port, "redis_port": redis_port, "base": base}
    finally:
        redis.terminate()
        redis.wait(timeout=10)
        subprocess.run(
            [bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
            capture_output=True,
            **as_user,
        )


def role_url(servers, role: str, database: str) -> str:
    """The service's own role on its own database (init.sql's `<role>_changeme_local`)."""
    return (
        f"postgresql://{role}:{role}_changeme_local@127.0.0.1:{servers['pg_port']}/"
        f"{database}?schema=public"
    )


def test_init_sql_creates_every_role_and_database_of_the_registry(servers):
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.registry import Registry

    registry = Registry.from_mapping(plain(load_config(env=False)))
    psql = shutil.which("psql") or "psql"
    out = run(
        [
            psql,
            "-X",
            "-At",
            "-h",
            "127.0.0.1",
            "-p",
            str(servers["pg_port"]),
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
            "-c",
            "SELECT 'db:' || datname || ':' || pg_get_userbyid(datdba) FROM pg_database "
            "UNION ALL SELECT 'role:' || rolname || ':' || rolcreatedb FROM pg_roles",
        ],
        servers["base"],
        env=npm_env(PGPASSWORD=SUPERPASS),
    ).stdout.split()
    for svc in registry.with_database:
        assert f"db:{svc.database}:{svc.role}" in out
        assert f"role:{svc.role}:false" in out  # NOCREATEDB


# -- schema and migrations ----------------------------------------------------------------------
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_migrations_produce_exactly_the_schema(servers, service):
    """`prisma migrate diff --from-migrations ... --to-schema-datamodel ... --exit-code`: the
    migrations replayed into a shadow database (created by the config's adapter, so as the
    superuser) leave nothing to add."""
    folder = installed(f"services/{service}")
    _role, _db, schema, migrations = SERVICES[service]
    url = (
        f"postgresql://{SUPERUSER}:{SUPERPASS}@127.0.0.1:{servers['pg_port']}/postgres"
        f"?schema=public"
    )
    result = run(
        [
            "node_modules/.bin/prisma",
            "migrate",
            "diff",
            "--from-migrations",
            migrations,
            "--to-schema-datamodel",
            schema,
            "--exit-code",
        ],
        folder,
        env=npm_env(DATABASE_URL=url),
        check=False,
    )
    assert result.returncode == 0, (
        f"{service}: schema and migrations differ\n{result.stdout}\n{result.stderr}"
    )
    assert "No difference detected" in result.stdout + result.stderr


# -- one service, end to end --------------------------------------------------------------------
def _health(port: int) -> tuple[int | None, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
    except (OSError, ValueError):
        return None, {}


def _stop_group(proc: subprocess.Popen) -> list[int]:
    """Ctrl-C for the whole process group (npm, sh, nodemon, sh, node); what is left after."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        return []
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return []
        time.sleep(0.1)
    left = [int(p) for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == proc.pid]
    for pid in left:  # only processes of the group this test started
        os.kill(pid, signal.SIGKILL)
    return left


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_content_service_deploys_seeds_and_runs_under_nodemon(servers, tmp_root):
    """content-service, as its files say: migrations in db/migrations and the seed command in
    prisma.config.ts (Prisma does not read .env there: DATABASE_URL comes from the
    environment), then `npm run dev` (nodemon, ts-node, tsconfig paths) reading its own .env."""
    role, database, _schema, _migrations = SERVICES["content-service"]
    root = make_npm_workspace(
        Path(tempfile.mkdtemp(prefix="npm-ws-", dir=tmp_root)) / "ws", node_modules=True
    )
    folder = root / "services" / "content-service"
    url = role_url(servers, role, database)
    prisma_env = npm_env(DATABASE_URL=url, TS_NODE_TRANSPILE_ONLY="true")

    deployed = run(["npx", "--no-install", "prisma", "migrate", "deploy"], folder, env=prisma_env)
    assert "0001_init" in deployed.stdout and "0002_media_assets" in deployed.stdout
    seeded = run(["npx", "--no-install", "prisma", "db", "seed"], folder, env=prisma_env)
    assert re.search(
        r"\[seed\] content-service: inserted [1-9]\d* rows \(profile standard\)", seeded.stdout
    ), seeded.stdout
    again = run(["npx", "--no-install", "prisma", "db", "seed"], folder, env=prisma_env)
    assert "inserted 0 rows" in again.stdout, again.stdout  # idempotent

    port = free_port()
    (folder / ".env").write_text(
        "NODE_ENV=development\n"
        f"PORT={port}\nHOST=127.0.0.1\n"
        f'DATABASE_URL="{url}"\n'
        f"REDIS_URL=redis://:{REDIS_PASSWORD}@127.0.0.1:{servers['redis_port']}/4\n"
    )
    log = open(servers["base"] / "content-service.log", "w")
    proc = subprocess.Popen(
        ["npm", "run", "dev"],
        cwd=folder,
        env=npm_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        status, body = None, {}
        end = time.monotonic() + 120
        while time.monotonic() < end and status != 200 and proc.poll() is None:
            status, body = _health(port)
            time.sleep(0.2)
        output = (servers["base"] / "content-service.log").read_text()
        assert status == 200, f"GET /health: {status} {body}\n{output}"
        assert body["checks"]["postgres"]["detail"] == f"{role}@{database}"
        assert body["checks"]["redis"]["detail"] == "db 4: PONG"
        assert "[nodemon] starting `ts-node -r tsconfig-paths/register src/main.ts`" in output
        assert f"content-service listening on http://127.0.0.1:{port}" in output
    finally:
        left = _stop_group(proc)
        log.close()
    assert left == [], f"processes left after Ctrl-C: {left}"
    rows = run(
        [
            shutil.which("psql") or "psql",
            "-X",
            "-At",
            url.split("?")[0],
            "-c",
            "SELECT count(*) FROM pages WHERE slug = 'about-us'",
        ],
        folder,
    ).stdout.strip()
    assert rows == "1"


def test_a_service_without_its_settings_exits_at_once_naming_them(tmp_root):
    root = make_npm_workspace(
        Path(tempfile.mkdtemp(prefix="npm-ws-", dir=tmp_root)) / "ws", node_modules=True
    )
    folder = root / "services" / "auth-service"  # no .env in a fresh copy
    env = npm_env(TS_NODE_TRANSPILE_ONLY="true", PORT="1")
    for key in ("DATABASE_URL", "REDIS_URL", "BETTER_AUTH_SECRET"):
        env.pop(key, None)
    result = run(
        ["node_modules/.bin/ts-node", "-r", "tsconfig-paths/register", "src/main.ts"],
        folder,
        env=env,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1, result
    assert (
        "auth-service: missing required environment variable(s): DATABASE_URL, REDIS_URL, "
        "BETTER_AUTH_SECRET"
    ) in result.stderr
    assert "Traceback" not in result.stderr and "    at " not in result.stderr
