"""The second reference monorepo (examples/lomash-wood-npm), end to end: `inv setup` from a fresh
copy to nine healthy services, then what its developers do with it.

One git-initialised copy (its npm installs shared with the original, as a developer's clone
that already ran `npm ci` in each service), on free ports, with no config file: `inv setup`
aligns its drifted `.env` examples, runs its non-idempotent init.sql on a new cluster (the
en_US.utf8 locale and pg_stat_statements handled), finds the installs done, migrates its eight
databases through their Prisma 7-style configs, runs its TypeScript seeds, bootstraps AWS and
starts the nine services under nodemon + ts-node. The tests then share that running copy
(~1.5 GB: isolation is not the point) in file order: a second setup, db.init, db.reset, the
runners, git status; then the services' inspectors, a reload, two crashes and services.down.
Everything is checked with independent clients (psycopg, HTTP, the inspector's /json/list).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import devtools
import pytest
from conftest import (
    NPM_PACKAGES,
    SERVICE_NAMES,
    Inv,
    checksums,
    make_npm_workspace,
    stack_config,
    stack_env,
)

pytestmark = pytest.mark.xdist_group("npm-monorepo")

DATABASE_SERVICES = SERVICE_NAMES[1:]
CRASH_DEADLINE = 2.0  # a crash is `crashed` in services.status within this (issue 18)
GIT = {
    "GIT_AUTHOR_NAME": "dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


@dataclass
class Copy:
    root: Path
    env: dict[str, str]
    config: object
    ws: object
    setup: subprocess.CompletedProcess
    runs: list = field(default_factory=list)  # every `inv` result, for the traceback check

    def inv(self, *args: str, check: bool = True, timeout: float = 300, **kw):
        result = Inv(self.env)(*args, check=check, timeout=timeout, **kw)
        self.runs.append((args, result))
        return result

    def package(self, name: str) -> Path:
        return self.root / self.ws.registry.service(name).path

    def ports(self, name: str) -> tuple[int, int]:
        key = name.upper().replace("-", "_")
        return (
            int(self.env[f"INVOKE_SERVICES_{key}_PORT"]),
            int(self.env[f"INVOKE_SERVICES_{key}_DEBUG_PORT"]),
        )


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT},
    ).stdout


@pytest.fixture(scope="module")
def npm(tmp_root):
    """`inv setup` on a fresh git-initialised copy; everything stopped and checked gone at the
    end."""
    from lomash_tasks import processes

    parent = Path(tempfile.mkdtemp(prefix="npm-monorepo-", dir=tmp_root))
    parent.chmod(0o755)  # the unprivileged PostgreSQL user must reach the workspace
    root = make_npm_workspace(parent / "ws", node_modules=True)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a fresh clone")
    # a cache of its own: init.sql really runs on a new cluster (not a copy of a cached one)
    env = stack_env(root, cache=parent / "cache", services=True)
    config, ws = stack_config(env)
    copy = Copy(root, env, config, ws, subprocess.CompletedProcess([], 0))
    copy.setup = copy.inv("setup", check=False, timeout=900)
    try:
        yield copy
    finally:
        Inv(env)("teardown", "--volumes", "--yes", timeout=180)
        assert processes.in_folder(root) == []


def summary(root: Path) -> dict[str, dict]:
    return {
        s["step"]: s for s in json.loads((root / ".lomash/setup-summary.json").read_text())["steps"]
    }


def superuser(copy: Copy, dbname: str = "postgres"):
    import psycopg

    from lomash_tasks import connections

    pg = copy.ws.registry.postgres
    return psycopg.connect(
        host="127.0.0.1",
        port=pg.port,
        user=pg.superuser,
        dbname=dbname,
        password=connections.superuser_password(copy.ws),
        autocommit=True,
    )


def health(port: int, timeout: float = 5.0) -> tuple[int | None, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
    except (OSError, ValueError):
        return None, {}


def wait_until(check, timeout: float, what: str):
    end = time.monotonic() + timeout
    seen = None
    while time.monotonic() < end:
        seen = check()
        if seen:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout:g}s (last seen: {seen!r})")


def statuses(copy: Copy) -> dict[str, object]:
    """services.status as the task computes it, in this process (a poll every few ms)."""
    from lomash_tasks.services.embedded import EmbeddedServices
    from lomash_tasks.services.model import Settings

    return {r.service: r for r in EmbeddedServices(copy.ws, Settings()).status()}


def init_sql(copy: Copy) -> tuple[list[str], list[str], dict[str, set[str]]]:
    """(roles, databases, extensions per database) the fixture's init.sql creates, read here
    with regular expressions (independently of the suite's reader)."""
    text = (copy.root / "infra/docker/postgres/init.sql").read_text()
    block = re.search(r"ARRAY\[(.*?)\]", text, re.S).group(1)
    roles = re.findall(r"'(\w+)'", block)
    databases = re.findall(r"(?m)^CREATE DATABASE (\w+)", text)
    extensions: dict[str, set[str]] = {}
    for section in re.split(r"(?m)^\\c ", text)[1:]:
        name, _, body = section.partition("\n")
        found = re.findall(r'CREATE EXTENSION IF NOT EXISTS "([\w-]+)"', body)
        extensions.setdefault(name.strip(), set()).update(found)
    return roles, databases, extensions


# -- issue 17: the whole `inv setup` ------------------------------------------------------------
def test_setup_takes_the_fresh_copy_to_nine_healthy_services(npm):
    result = npm.setup
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    steps = summary(npm.root)
    assert {k: v["status"] for k, v in steps.items()} == {
        "env": "done",
        "stack": "done",
        "wait": "done",
        "db.init": "already done",
        "deps": "already done",
        "db.migrate": "done",
        "db.seed": "done",
        "aws": "done",
        "services": "done",
    }
    assert steps["env"]["detail"] == "10 created, 0 updated"
    assert steps["services"]["detail"].startswith("embedded: 9 started, all 9 healthy")
    for name in SERVICE_NAMES:
        code, body = health(npm.ports(name)[0])
        assert code == 200 and body["service"] == name, (name, code, body)


def test_the_installs_were_found_done_not_redone(npm):
    deps = summary(npm.root)["deps"]
    assert deps["status"] == "already done"
    assert deps["detail"] == "every service's Node dependencies are installed"
    assert not (npm.root / ".lomash" / "deps").exists()  # no install ran, so no install log
    for package in NPM_PACKAGES:  # npm ci would have replaced the shared links
        modules = npm.root / package / "node_modules"
        assert (modules / "nodemon").is_symlink() and (modules / "ts-node").is_symlink()


def test_env_files_are_aligned_from_the_drifted_examples(npm):
    from lomash_tasks.env.files import read_env

    redis = npm.ws.registry.redis
    for name in SERVICE_NAMES:
        svc = npm.ws.registry.service(name)
        env = read_env(npm.package(name) / ".env")
        values = {k: env.get(k) for k in env.keys}
        assert values["PORT"] == str(svc.port)
        if svc.has_database:
            url = values["DATABASE_URL"]
            assert (
                f"{svc.role}:" in url
                and f"@localhost:{npm.ws.registry.postgres.port}/{svc.database}?schema=public"
                in url
            ), url
            if "REDIS_URL" in values:
                assert values["REDIS_URL"].endswith(f"@localhost:{redis.port}/{svc.redis_db}")
            if "REDIS_DB" in values:
                assert values["REDIS_DB"] == str(svc.redis_db)
    order = read_env(npm.package("order") / ".env")
    secret = order.get("STRIPE_WEBHOOK_SECRET")
    assert re.fullmatch(r"whsec_[A-Za-z0-9]{32}", secret)  # generated: stripe.replay signs with it
    # the gateway's example says `whsec_your_stripe_webhook_secret_here`: a placeholder too
    assert read_env(npm.package("gateway") / ".env").get("STRIPE_WEBHOOK_SECRET") == secret
    auth = read_env(npm.package("auth") / ".env")
    assert "REPLACE_WITH" not in auth.get("JWT_ACCESS_SECRET")
    text = npm.setup.stdout
    assert "PORT 4001 -> " in text and "REDIS_PASSWORD (empty) -> ****" in text


def test_the_cluster_has_everything_init_sql_creates_with_its_locale_and_preload(npm):
    roles, databases, extensions = init_sql(npm)
    assert len(roles) == 8 and len(databases) == 8
    with superuser(npm) as conn:
        have_roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        assert set(roles) <= have_roles
        rows = dict(conn.execute("SELECT datname, datcollate FROM pg_database").fetchall())
        assert set(databases) <= set(rows)
        # en_US.utf8 as the script names it (compiled for this server when the machine lacks it)
        assert {rows[d].lower().replace("-", "") for d in databases} == {"en_us.utf8"}
        assert conn.execute("SHOW shared_preload_libraries").fetchone()[0] == "pg_stat_statements"
        assert conn.execute("SHOW pg_stat_statements.track").fetchone()[0] == "all"
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1min"
    text = npm.setup.stdout
    assert "postgres: applied infra/docker/postgres/init.sql" in text
    assert "postgres: preloaded pg_stat_statements (init.sql sets" in text
    locales = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.split()
    if not {"en_US.utf8", "en_US.UTF-8"} & set(locales):  # compiled for this server, and said
        assert re.search(
            r"postgres: locale en_US\.utf8 \(init\.sql lines 42, 49, .*\): this "
            r"machine lacks it",
            text,
        ), text
    for database, wanted in extensions.items():
        with superuser(npm, database) as conn:
            have = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
            assert wanted <= have, (database, wanted - have)
            if database != "postgres":
                assert (
                    conn.execute(
                        "SELECT count(*) FROM pg_proc WHERE proname = 'set_updated_at'"
                    ).fetchone()[0]
                    == 1
                )


def test_eight_databases_migrated_by_prisma_through_their_configs(npm):
    text = npm.setup.stdout
    for name in DATABASE_SERVICES:
        svc = npm.ws.registry.service(name)
        folder = npm.ws.migrations_dir(svc)
        local = sorted(p.name for p in folder.iterdir() if (p / "migration.sql").is_file())
        assert local and local[0] == "0001_init", (name, folder)
        with superuser(npm, svc.database) as conn:
            rows = conn.execute(
                "SELECT migration_name FROM _prisma_migrations WHERE "
                "finished_at IS NOT NULL AND rolled_back_at IS NULL "
                "ORDER BY migration_name"
            ).fetchall()
        assert [r[0] for r in rows] == local, name
    # content-service's migrations live in db/migrations (its prisma.config.ts says so)
    assert (
        npm.ws.migrations_dir(npm.ws.registry.service("content"))
        == npm.package("content") / "db" / "migrations"
    )
    # `auto` is the native runner for a local deploy, and says what `--runner prisma` would run
    table = text[text.index("db.migrate\nservice") :]
    for name in DATABASE_SERVICES:
        assert re.search(rf"(?m)^{name}\s+native\s+\d", table), name
    assert "`--runner prisma`: Prisma 6.19.3 with the Wasm engine and a driver adapter" in text


def test_the_typescript_seeds_ran_and_inserted_rows(npm):
    seeded = summary(npm.root)["db.seed"]
    assert seeded["status"] == "done" and "into 8 databases" in seeded["detail"], seeded
    for name in DATABASE_SERVICES:
        svc = npm.ws.registry.service(name)
        with superuser(npm, svc.database) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> '_prisma_migrations'"
                )
            ]
            rows = sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
        assert rows > 0, name
    with superuser(npm, "lomash_auth") as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM users WHERE email = 'admin@lomashwood.local'"
            ).fetchone()[0]
            == 1
        )
    # by each of the three conventions the services use
    sources = {
        npm.ws.facts(npm.ws.registry.service(n)).seed.source.split(" ")[-1]
        for n in DATABASE_SERVICES
    }
    assert sources == {"prisma.seed", "migrations.seed", "scripts.db:seed"}
    # run again by hand: each named by its source, nothing new inserted
    again = npm.inv("db.seed", timeout=300).stdout
    assert re.search(
        r"(?m)^customer-service\s+services/customer-service/package\.json "
        r"scripts\.db:seed\s",
        again,
    ), again
    assert again.count("already seeded (no new rows)") == 8 and "0 row(s) inserted" in again


def test_aws_is_bootstrapped(npm):
    result = npm.inv("aws.status")
    assert "lomash-dev-media" in result.stdout


def test_services_run_under_nodemon_and_ts_node_from_their_own_installs(npm):
    from lomash_tasks import processes

    rows = statuses(npm)
    for name in SERVICE_NAMES:
        row = rows[name]
        assert row.state == "healthy", (name, row)
        assert row.command.startswith("npm run ") and "(nodemon" in row.command, row
        pid = health(npm.ports(name)[0])[1]["pid"]
        argv = processes.command_line(pid)
        ts_node = npm.package(name) / "node_modules" / ".bin" / "ts-node"
        assert str(ts_node) in argv, (name, argv)
        assert "src/main.ts" in argv
    assert rows["auth-service"].command.startswith("npm run start:dev (nodemon")  # no `dev`


def test_a_second_setup_has_nothing_to_do(npm):
    def files():
        return {
            k: v for k, v in checksums(npm.root).items() if not k.startswith((".lomash/", ".git/"))
        }

    before = files()
    result = npm.inv("setup")
    assert "Nothing to do: the stack was already set up." in result.stdout
    assert {v["status"] for v in summary(npm.root).values()} == {"already done"}
    assert files() == before


def test_db_init_on_the_initialised_cluster_exits_0(npm):
    result = npm.inv("db.init")
    assert "nothing was missing" in result.stdout


def test_db_reset_rebuilds_auth_with_its_extensions_and_migrations(npm):
    _, _, extensions = init_sql(npm)
    with superuser(npm, "lomash_auth") as conn:
        conn.execute("CREATE TABLE leftover (id int)")
        oid = conn.execute("SELECT oid FROM pg_database WHERE datname = 'lomash_auth'").fetchone()[
            0
        ]
    result = npm.inv("db.reset", "--service", "auth", "--yes")
    assert re.search(r"lomash_auth recreated: 1 migration\(s\), \d+ seed rows", result.stdout)
    with superuser(npm, "lomash_auth") as conn:
        assert (
            conn.execute("SELECT oid FROM pg_database WHERE datname = 'lomash_auth'").fetchone()[0]
            != oid
        )
        have = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
        assert extensions["lomash_auth"] <= have
        assert conn.execute("SELECT to_regclass('leftover')").fetchone()[0] is None
        assert [r[0] for r in conn.execute("SELECT migration_name FROM _prisma_migrations")] == [
            "0001_init"
        ]
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] > 0
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'lomash_auth'"
        ).fetchone()[0]
        assert owner == "lomash_auth"
    # the service reconnects to its new database
    wait_until(lambda: health(npm.ports("auth-service")[0])[0] == 200, 30, "auth not healthy")


def test_the_prisma_runner_drives_the_odd_configs_when_asked(npm):
    """`--runner prisma` on the two configs the suite reads least plainly: customer's (no
    `schema`: package.json's prisma.schema) and content's (migrations under db/)."""
    for alias, database in (("customer", "lomash_customers"), ("content", "lomash_content")):
        result = npm.inv("db.reset", "--service", alias, "--yes", "--runner", "prisma")
        assert f"{database} recreated" in result.stdout, result.stdout
        svc = npm.ws.registry.service(alias)
        local = sorted(p.name for p in npm.ws.migrations_dir(svc).iterdir() if p.is_dir())
        with superuser(npm, database) as conn:
            rows = conn.execute(
                "SELECT migration_name, logs FROM _prisma_migrations ORDER BY migration_name"
            ).fetchall()
        assert [r[0] for r in rows] == local
    # (an explicit --runner prisma never falls back to the native runner: the CLI applied them)
    again = npm.inv("db.migrate", "--runner", "prisma").stdout
    for name in DATABASE_SERVICES:
        assert re.search(rf"(?m)^{name}\s+prisma\s+0\s+[12]\s.*up to date$", again), again


def test_git_status_shows_nothing_of_the_suite(npm):
    assert git(npm.root, "status", "--porcelain", "--untracked-files=all") == ""
    assert ".lomash/" in (npm.root / ".git/info/exclude").read_text()
    assert "lomash" not in (npm.root / ".gitignore").read_text()


# -- issue 18: inspectors, reloads, crashes, down -------------------------------------------------
def test_each_inspector_serves_the_services_own_process(npm):
    from lomash_tasks import processes

    for name in SERVICE_NAMES:
        port, debug = npm.ports(name)
        pid = health(port)[1]["pid"]
        with urllib.request.urlopen(f"http://127.0.0.1:{debug}/json/list", timeout=5) as resp:
            targets = json.loads(resp.read())
        assert len(targets) == 1 and targets[0]["type"] == "node"
        assert targets[0]["title"] == str(npm.package(name) / "node_modules/.bin/ts-node")
        assert processes.listeners(debug) == [pid]  # the port is the service's own process's
        assert "src/main.ts" in processes.command_line(pid)


def test_an_edit_reloads_behind_the_same_debug_port(npm):
    from lomash_tasks import processes

    port, debug = npm.ports("product-service")
    old = health(port)[1]["pid"]
    main = npm.package("product") / "src" / "main.ts"
    source = main.read_text()

    def mark():
        try:
            return devtools.evaluate(debug, "globalThis.RELOAD_MARK ?? 'none'", timeout=2)
        except Exception:
            return None

    try:
        main.write_text(source + "\n(globalThis as any).RELOAD_MARK = 'edited';\n")
        wait_until(
            lambda: mark() == "edited",
            60,
            "the edited code did not answer behind the same debug port",
        )
        new = wait_until(lambda: health(port)[1].get("pid"), 30, "not serving after the reload")
        assert new != old and not processes.alive(old)
        assert processes.listeners(debug) == [new]
        wait_until(
            lambda: statuses(npm)["product-service"].state == "healthy",
            30,
            "not healthy after the reload",
        )
    finally:
        main.write_text(source)
    wait_until(lambda: health(port)[0] == 200 and mark() == "none", 60, "not back as it was")


def _crashed_within_deadline(npm: Copy, name: str, since: float) -> object:
    """Poll services.status until it says `crashed`, at most CRASH_DEADLINE after `since`."""
    end = since + CRASH_DEADLINE
    row = None
    while time.time() < end:
        row = statuses(npm)[name]
        if row.state == "crashed":
            return row
        time.sleep(0.02)
    log = (npm.root / ".lomash/services" / f"{name}.log").read_text(errors="replace")
    raise AssertionError(
        f"{name} not crashed within {CRASH_DEADLINE:g}s of its crash: {row}\n"
        f"its log's tail:\n{log[-3000:]}"
    )


def test_a_source_edit_that_throws_is_crashed_within_two_seconds(npm, tmp_path):
    port, _ = npm.ports("order-payment-service")
    main = npm.package("order") / "src" / "main.ts"
    source = main.read_text()
    mark = tmp_path / "thrown-at"
    try:
        # the new process writes when it throws: the crash's own moment, whatever the reload took
        main.write_text(
            source + f"\nrequire('fs').writeFileSync({json.dumps(str(mark))}, "
            f"String(Date.now() / 1000));\n"
            f"throw new Error('boom: an edit that throws');\n"
        )
        wait_until(mark.exists, 90, "the edited service never ran")
        thrown = float(wait_until(mark.read_text, 5, "no time written"))
        row = _crashed_within_deadline(npm, "order-payment-service", thrown)
        assert "app crashed" in row.detail or "exited" in row.detail, row
        log = (npm.root / ".lomash/services/order-payment-service.log").read_text()
        assert "boom: an edit that throws" in log
    finally:
        main.write_text(source)
    wait_until(lambda: health(port)[0] == 200, 90, "the fixed service did not come back")


def test_a_kill_of_the_services_own_process_is_crashed_within_two_seconds(npm):
    from lomash_tasks import processes

    port, debug = npm.ports("analytics-service")
    pid = health(port)[1]["pid"]
    os.kill(pid, signal.SIGKILL)
    killed = time.time()
    row = _crashed_within_deadline(npm, "analytics-service", killed)
    assert f"pid {pid}" in row.detail or "app crashed" in row.detail, row
    # the supervisor restarts it after its backoff, on the same ports
    new = wait_until(lambda: health(port)[1].get("pid"), 90, "not restarted")
    assert new != pid and processes.listeners(debug) == [new]


def test_services_down_leaves_no_process_and_no_port(npm):
    from lomash_tasks import processes

    npm.inv("services.down")
    assert processes.in_folder(npm.root / "services") == []
    assert processes.in_folder(npm.root / "api-gateway") == []
    for name in SERVICE_NAMES:
        port, debug = npm.ports(name)
        assert processes.listeners(port) == [] and processes.listeners(debug) == [], name
    assert {r.state for r in statuses(npm).values()} == {"stopped"}
    # the edits above were undone: the clone is as it was
    assert git(npm.root, "status", "--porcelain", "--untracked-files=all") == ""


def test_no_traceback_anywhere(npm):
    for args, result in [((("setup",)), npm.setup), *npm.runs]:
        assert "Traceback" not in result.stdout + result.stderr, args
    for log in (npm.root / ".lomash").rglob("*.log"):
        assert "Traceback (most recent call last)" not in log.read_text(errors="replace"), log
