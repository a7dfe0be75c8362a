"""What the suite reads from a monorepo's own files (lomash_tasks.monorepo): installers, the
Prisma layout, seeds; and what it does with them (seeds by convention, the runner choice, git
hygiene, closed pipes, empty config keys).

The layouts are written by the tests in the styles real monorepos use (npm services outside a
pnpm workspace, Prisma 7-style configs, `ts-node prisma/seed.ts` seeds). Seeds run for real
against the session's PostgreSQL, with real `node` and the `pg` driver of the reference
workspace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import SUITE_ROOT, Inv, assert_user_error, make_workspace, stack_config

from lomash_tasks import gitexclude, monorepo
from lomash_tasks.registry import Registry
from lomash_tasks.settings import registry_defaults

REGISTRY = Registry.from_mapping(registry_defaults())
AUTH = REGISTRY.service("auth")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def package(folder: Path, **data) -> None:
    write(folder / "package.json", json.dumps({"name": folder.name, **data}, indent=2))


@pytest.fixture
def repo(tmp_path):
    """An empty monorepo root: a pnpm workspace that does not hold the services."""
    package(tmp_path, packageManager="pnpm@9.1.4+sha512.abc")
    write(tmp_path / "pnpm-workspace.yaml", 'packages:\n  - "apps/*"\n  - "packages/*"\n')
    return tmp_path


def facts(root: Path, alias: str = "auth") -> monorepo.ServiceFacts:
    return monorepo.read(root, REGISTRY.service(alias))


# -- installers ---------------------------------------------------------------------------------
def test_a_service_outside_the_workspace_installs_with_its_own_lockfile(repo):
    folder = repo / AUTH.path
    package(folder, packageManager="npm@10.8.0")
    write(folder / "package-lock.json", "{}")
    found = facts(repo)
    assert found.installer.manager == "npm" and not found.installer.member
    assert (
        found.installer.folder == folder
        and found.installer.lockfile == folder / "package-lock.json"
    )
    assert found.installer.frozen_command == ["ci"]
    assert found.installer.version == "10.8.0"
    root = monorepo.read_root(repo)
    assert root.package_manager == ("pnpm", "9.1.4")  # the +sha suffix is not the version


def test_a_workspace_member_installs_from_the_root_and_its_own_lockfile_is_named(repo):
    write(repo / "pnpm-workspace.yaml", "packages:\n  - services/*\n  - '!services/legacy-*'\n")
    write(repo / "pnpm-lock.yaml", "lockfileVersion: '9.0'\n")
    folder = repo / AUTH.path
    package(folder)
    write(folder / "package-lock.json", "{}")
    found = facts(repo)
    assert found.installer.member and found.installer.folder == repo
    assert found.installer.manager == "pnpm" and found.installer.version == "9.1.4"
    assert found.installer.lockfile == repo / "pnpm-lock.yaml"
    [note] = found.findings
    assert "package-lock.json" in note.file and "member of the pnpm workspace" in note.message
    assert not note.blocking
    root = monorepo.read_root(repo)
    assert not root.is_member(repo / "services" / "legacy-auth")  # excluded by '!'
    assert root.is_member(repo / "services" / "x")


def test_deep_globs_follow_pnpm(repo):
    write(repo / "pnpm-workspace.yaml", "packages:\n  - 'components/**'\n")
    root = monorepo.read_root(repo)
    assert root.is_member(repo / "components" / "a" / "b")
    assert not root.is_member(repo / "services" / "a")


def test_two_lockfiles_without_a_package_manager_field_are_a_blocking_finding(repo):
    folder = repo / AUTH.path
    package(folder)
    write(folder / "package-lock.json", "{}")
    write(folder / "yarn.lock", "")
    found = facts(repo)
    assert found.installer.problem and "package-lock.json, yarn.lock" in found.installer.problem
    assert any(f.blocking and "more than one package manager" in f.message for f in found.findings)
    package(folder, packageManager="yarn@1.22.22")
    found = facts(repo)
    assert found.installer.manager == "yarn" and found.installer.problem is None
    assert found.installer.conflicts == (folder / "package-lock.json",)


def test_workspace_protocol_outside_the_workspace_is_named(repo):
    folder = repo / AUTH.path
    package(folder, devDependencies={"@acme/tsconfig": "workspace:*", "typescript": "5.4.5"})
    found = facts(repo)
    [finding] = [f for f in found.findings if f.blocking]
    assert "@acme/tsconfig" in finding.message and "not a member" in finding.message
    assert "typescript" not in finding.message


def test_no_lockfile_is_an_npm_project_installed_without_writing_one(repo):
    package(repo / AUTH.path)
    found = facts(repo)
    assert found.installer.manager == "npm" and found.installer.lockfile is None
    assert found.installer.frozen_command == ["install", "--no-package-lock"]


def test_a_missing_folder_and_a_broken_package_json_are_findings(repo):
    assert any("does not exist" in f.message and f.blocking for f in facts(repo).findings)
    write(repo / AUTH.path / "package.json", '{"name": "auth",\n  "scripts": {\n')
    [finding] = facts(repo).findings
    assert "not valid JSON" in finding.message and "line" in finding.message


# -- the Prisma layout --------------------------------------------------------------------------
PRISMA7_CONFIG = """\
// prisma.config.ts (Prisma 7 style): the url lives here, not in the schema.
import path from 'node:path';
import { defineConfig, env } from 'prisma/config';
/* schema: 'decoy/in/a/comment.prisma' */
export default defineConfig({
  schema: path.join(import.meta.dirname, 'db', 'schema.prisma'),
  migrations: {
    path: path.join(__dirname, 'db/migrations'),
    seed: 'tsx db/seed.ts',
  },
  datasource: { url: env('DIRECT_URL') },
});
"""


def test_a_prisma_7_config_decides_schema_migrations_seed_and_url(repo):
    folder = repo / AUTH.path
    package(folder, prisma={"seed": "node never-used.js"})
    write(folder / "prisma.config.ts", PRISMA7_CONFIG)
    write(folder / "db" / "schema.prisma", 'datasource db {\n  provider = "postgresql"\n}\n')
    write(folder / "db" / "seed.ts", "console.log('seed')\n")
    layout = facts(repo).prisma
    assert layout.schema == folder / "db" / "schema.prisma"
    assert layout.schema_source.endswith("prisma.config.ts schema")
    assert layout.migrations == folder / "db/migrations"
    assert layout.url_env == "DIRECT_URL" and layout.url_source == "config"
    seed = facts(repo).seed
    assert seed.kind == "command" and seed.command == "tsx db/seed.ts"
    assert seed.source.endswith("prisma.config.ts migrations.seed")
    assert seed.files == (folder / "db" / "seed.ts",)


def test_a_relative_path_join_is_read_from_the_config_folder(repo):
    """`path.join('db', 'migrations')` (no __dirname): Prisma resolves it from the config's
    folder, and so must the suite, or it migrates an empty conventional folder and says
    "up to date" while the service's real migrations go unapplied."""
    folder = repo / AUTH.path
    package(folder)
    write(
        folder / "prisma.config.ts",
        "import path from 'node:path';\n"
        "export default defineConfig({\n  schema: path.join('prisma', 'schema.prisma'),\n"
        '  migrations: {\n    path: path.join("db", "migrations"),\n'
        "    seed: 'ts-node prisma/seed.ts',\n  },\n});\n",
    )
    write(folder / "prisma" / "schema.prisma", "")
    write(folder / "prisma" / "seed.ts", "")
    write(folder / "db" / "migrations" / "0001_init" / "migration.sql", "SELECT 1;\n")
    found = facts(repo)
    assert found.prisma.schema == folder / "prisma" / "schema.prisma"
    assert found.prisma.migrations == folder / "db" / "migrations"
    assert found.prisma.migrations_source.endswith("prisma.config.ts migrations.path")
    assert not found.findings


def test_without_a_config_package_json_and_then_the_convention_decide(repo):
    folder = repo / AUTH.path
    package(folder, prisma={"schema": "database/schema.prisma", "seed": "ts-node database/seed.ts"})
    write(
        folder / "database" / "schema.prisma",
        'datasource db {\n  provider = "postgresql"\n  url = env("AUTH_DB_URL")\n}\n',
    )
    layout = facts(repo).prisma
    assert layout.schema == folder / "database" / "schema.prisma"
    assert layout.migrations == folder / "database" / "migrations"  # beside the schema
    assert layout.url_env == "AUTH_DB_URL" and layout.url_source == "schema"
    assert facts(repo).seed.source.endswith("package.json prisma.seed")
    # ... and with nothing said at all: prisma/schema.prisma, prisma/migrations
    package(folder)
    shutil.rmtree(folder / "database")
    layout = facts(repo).prisma
    assert layout.schema is None and layout.migrations == folder / "prisma" / "migrations"


def test_a_config_the_suite_cannot_read_as_text_is_said_and_the_convention_used(repo):
    folder = repo / AUTH.path
    package(folder)
    write(
        folder / "prisma.config.ts", "const where = compute();\nexport default { schema: where };\n"
    )
    write(folder / "prisma" / "schema.prisma", "")
    found = facts(repo)
    assert found.prisma.schema == folder / "prisma" / "schema.prisma"
    assert any(f.key == "schema" and "not a path" in f.message for f in found.findings)


def test_an_adapter_reading_process_env_names_the_url_variable(repo):
    folder = repo / AUTH.path
    package(folder)
    write(
        folder / "prisma.config.ts",
        "export default { earlyAccess: true, migrate: {\n"
        "  async adapter() { return make({ connectionString: process.env.AUTH_URL }) } } }\n",
    )
    layout = facts(repo).prisma
    assert layout.adapter and layout.url_env == "AUTH_URL" and layout.url_source == "adapter"


def test_seeds_follow_the_conventions_in_order(repo):
    folder = repo / AUTH.path
    package(folder, scripts={"db:seed": "ts-node prisma/seed.ts", "prisma:seed": "x"})
    write(folder / "prisma" / "seed.ts", "")
    assert facts(repo).seed.kind == "script" and facts(repo).seed.command == "db:seed"
    package(
        folder,
        scripts={"db:seed": "ts-node prisma/seed.ts"},
        prisma={"seed": "ts-node prisma/seed.ts"},
    )
    assert facts(repo).seed.kind == "command"
    write(folder / "prisma" / "seed.sql", "SELECT 1;")
    assert facts(repo).seed.kind == "sql"
    # a seed command naming a file that is not there is a blocking finding
    (folder / "prisma" / "seed.sql").unlink()
    (folder / "prisma" / "seed.ts").unlink()
    assert any(
        f.blocking and "prisma/seed.ts, which does not exist" in f.message
        for f in facts(repo).findings
    )


def fake_prisma(folder: Path, version: str, engines: bool = False) -> None:
    """An installed `prisma` package of `version` (its manifest and bin), as npm lays it out."""
    cli = folder / "node_modules" / "prisma"
    write(cli / "package.json", json.dumps({"name": "prisma", "version": version}))
    write(cli / "build" / "index.js", "process.exit(3)\n")
    binary = write(folder / "node_modules" / ".bin" / "prisma", "#!/bin/sh\nexit 3\n")
    binary.chmod(0o755)
    if engines:
        write(
            folder / "node_modules" / "@prisma" / "engines" / "schema-engine-debian-openssl-3.0.x",
            "",
        )


def test_prisma_7_without_its_engine_cannot_run_and_says_why(repo):
    folder = repo / AUTH.path
    package(folder)
    write(folder / "prisma.config.ts", PRISMA7_CONFIG)
    fake_prisma(folder, "7.4.1")
    ok, why = facts(repo).prisma.runnable()
    assert not ok and "7.4.1" in why and "binaries.prisma.sh" in why
    fake_prisma(folder, "7.4.1", engines=True)
    assert facts(repo).prisma.runnable()[0]


def test_prisma_6_runs_with_the_wasm_engine_and_an_adapter(repo):
    folder = repo / AUTH.path
    package(folder)
    write(
        folder / "prisma.config.ts",
        'export default defineConfig({ engine: "js", '
        "experimental: { adapter: true }, adapter: async () => make() })\n",
    )
    write(
        folder / "prisma" / "schema.prisma",
        'datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n',
    )
    fake_prisma(folder, "6.19.3")
    assert facts(repo).prisma.runnable() == (
        True,
        "Prisma 6.19.3 with the Wasm engine and a driver adapter",
    )
    (folder / "prisma.config.ts").unlink()  # classic engine, none installed: would download
    ok, why = facts(repo).prisma.runnable()
    assert not ok and "native schema engine" in why


# -- what the tasks do with the facts -----------------------------------------------------------
@pytest.fixture
def copy(tmp_root):
    dest = Path(tempfile.mkdtemp(prefix="facts-", dir=tmp_root))
    dest.chmod(0o755)
    return make_workspace(dest / "ws", node_modules=True)


def workspace_for(root: Path, stack=None):
    from lomash_tasks.workspace import Workspace

    if stack is None:
        return Workspace.locate(root, REGISTRY)
    env = dict(stack.env, INVOKE_WORKSPACE_ROOT=str(root))
    return stack_config(env)[1]


def test_auto_is_native_and_says_why_prisma_can_or_cannot_run(copy):
    from lomash_tasks.db import migrate

    ws = workspace_for(copy)
    auth = ws.registry.service("auth")
    folder = ws.service_dir(auth)
    (folder / "node_modules").unlink() if (folder / "node_modules").is_symlink() else shutil.rmtree(
        folder / "node_modules"
    )
    fake_prisma(folder, "7.4.1")
    runner, note = migrate.choose_runner(ws, auth, "auto")
    assert runner == "native" and "Prisma 7.4.1 downloads its schema engine" in note
    product = ws.registry.service("product")  # its CLI runs here: auto still takes native
    runner, note = migrate.choose_runner(workspace_for(copy), product, "auto")
    assert runner == "native" and "--runner prisma" in note


SEED_JS = """\
// A Prisma seed command's script: idempotent rows through the service's own pg driver.
const { Client } = require('pg');
(async () => {
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  const res = await client.query(
    "INSERT INTO funnels (key, name) VALUES ('seeded-by-node', 'From node') ON CONFLICT (key) DO NOTHING");
  console.log(`seed.js: ${res.rowCount} row(s), profile ${process.env.SEED_PROFILE || 'none'}`);
  await client.end();
})().catch((err) => { console.error(err.message); process.exit(1); });
"""


def migrated_analytics(ws):
    from psycopg import sql

    from lomash_tasks import connections
    from lomash_tasks.db import migrate

    svc = ws.registry.service("analytics")
    with connections.pg_connect(ws, superuser=True, dbname=svc.database, autocommit=True) as c:
        c.execute("DROP SCHEMA IF EXISTS public CASCADE")
        c.execute(sql.SQL("CREATE SCHEMA public AUTHORIZATION {}").format(sql.Identifier(svc.role)))
    report = migrate.migrate(ws, ["analytics"], runner="native")
    assert report.ok, report.results
    return svc


@pytest.mark.xdist_group("db")
def test_a_prisma_seed_command_runs_for_real_and_counts_its_rows(stack, copy):
    from lomash_tasks import connections
    from lomash_tasks.db import ops as database

    folder = copy / "services" / "analytics-service"
    (folder / "prisma" / "seed.sql").unlink()
    write(folder / "prisma" / "seed.js", SEED_JS)
    data = json.loads((folder / "package.json").read_text())
    data["prisma"] = {"seed": "node prisma/seed.js"}
    write(folder / "package.json", json.dumps(data, indent=2))
    ws = workspace_for(copy, stack)
    svc = migrated_analytics(ws)
    [first] = database.seed(ws, ["analytics"])
    assert first.ok and first.inserted == 1, first
    assert first.source == "services/analytics-service/package.json prisma.seed"
    assert "seed.js: 1 row(s)" in first.output
    with connections.pg_connect(ws, svc, autocommit=True) as conn:
        assert conn.execute("SELECT name FROM funnels WHERE key = 'seeded-by-node'").fetchone()
    [again] = database.seed(ws, ["analytics"])
    assert again.ok and again.inserted == 0 and again.result_text.startswith("already seeded")
    # through the task: the table names the seed's source
    inv = Inv(dict(stack.env, INVOKE_WORKSPACE_ROOT=str(copy)))
    result = inv("db.seed", "--service", "analytics")
    assert result.returncode == 0, result.stderr
    assert "package.json prisma.seed" in result.stdout


def test_a_seed_names_its_command_and_a_file_it_runs_that_is_missing(repo):
    """The real monorepo's customer-service: `"prisma:seed": "ts-node prisma/seed.ts"` and no
    prisma/seed.ts. Named first (no install fixes it), with the command, without a database."""
    from lomash_tasks.db import seeds

    customer = REGISTRY.service("customer")
    folder = repo / customer.path
    package(folder, scripts={"prisma:seed": "ts-node prisma/seed.ts"})
    write(folder / "package-lock.json", "{}")
    result = seeds.seed_one(workspace_for(repo), customer)
    assert result.error == (
        "not seeded (services/customer-service/package.json scripts.prisma:seed: `ts-node "
        "prisma/seed.ts`): it runs prisma/seed.ts, which does not exist in "
        "services/customer-service: write that seed or point scripts.prisma:seed at the right "
        "file"
    )
    write(folder / "prisma" / "seed.ts", "console.log('seed')\n")  # then: the installs
    result = seeds.seed_one(workspace_for(repo), customer)
    assert result.error.startswith(
        "not seeded (services/customer-service/package.json "
        "scripts.prisma:seed: `ts-node prisma/seed.ts`): its Node "
        "dependencies are not installed"
    ), result.error


@pytest.mark.xdist_group("db")
def test_a_seed_that_cannot_run_is_not_seeded_with_the_reason_and_fails(stack, copy):
    folder = copy / "services" / "analytics-service"
    (folder / "prisma" / "seed.sql").unlink()
    write(folder / "prisma" / "seed.ts", "import { PrismaClient } from '@prisma/client';\n")
    data = json.loads((folder / "package.json").read_text())
    data["scripts"]["db:seed"] = "node prisma/seed.ts"
    write(folder / "package.json", json.dumps(data, indent=2))
    ws = workspace_for(copy, stack)
    migrated_analytics(ws)
    inv = Inv(dict(stack.env, INVOKE_WORKSPACE_ROOT=str(copy)))
    result = inv("db.seed", "--service", "analytics")
    assert_user_error(
        result,
        "not seeded",
        "imports @prisma/client",
        "prisma generate",
        "package.json scripts.db:seed",
    )
    # no dependencies at all: said as such, with the install that fixes it
    modules = folder / "node_modules"
    shutil.rmtree(modules) if not modules.is_symlink() else modules.unlink()
    result = inv("db.seed", "--service", "analytics")
    assert_user_error(result, "not seeded", "node_modules is missing", "inv setup --only deps")


@pytest.mark.xdist_group("db")
def test_a_failing_seed_command_fails_with_its_output(stack, copy):
    folder = copy / "services" / "analytics-service"
    (folder / "prisma" / "seed.sql").unlink()
    write(
        folder / "prisma" / "seed.js",
        "console.error('seed: the table is missing'); process.exit(4);\n",
    )
    data = json.loads((folder / "package.json").read_text())
    data["prisma"] = {"seed": "node prisma/seed.js"}
    write(folder / "package.json", json.dumps(data, indent=2))
    ws = workspace_for(copy, stack)
    migrated_analytics(ws)
    result = Inv(dict(stack.env, INVOKE_WORKSPACE_ROOT=str(copy)))(
        "db.seed", "--service", "analytics"
    )
    assert_user_error(result, "node prisma/seed.js", "exit 4", "seed: the table is missing")


# -- git hygiene --------------------------------------------------------------------------------
def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True
    ).stdout


def test_state_and_backups_stay_out_of_git_status_without_touching_gitignore(copy):
    from lomash_tasks.env import files as envfiles

    git(copy, "init", "-q")
    write(copy / ".gitignore", "node_modules/\n.env\n")  # a repository that knows nothing of us
    ws = workspace_for(copy)
    (ws.ensure_state_dir("postgres") / "data").write_text("x")
    write(copy / ".env", "A=1\n")
    envfiles.backup(copy / ".env")
    status = git(copy, "status", "--porcelain", "--untracked-files=all")
    assert ".lomash" not in status and ".bak-" not in status, status
    assert (copy / ".gitignore").read_text() == "node_modules/\n.env\n"
    exclude = (copy / ".git" / "info" / "exclude").read_text()
    assert gitexclude.HEADER in exclude and ".lomash/" in exclude.splitlines()
    # a repository that already ignores them gets nothing added
    other = copy.parent / "other"
    other.mkdir()
    git(other, "init", "-q")
    write(other / ".gitignore", ".lomash/\n")
    gitexclude._done.clear()
    assert gitexclude.hide_state(other) is False
    assert ".lomash" not in (other / ".git" / "info" / "exclude").read_text()


def test_a_worktree_excludes_in_the_main_repository(tmp_path):
    main = tmp_path / "main"
    main.mkdir()
    git(main, "init", "-q")
    git(
        main,
        "-c",
        "user.email=a@b",
        "-c",
        "user.name=a",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    git(main, "worktree", "add", "-q", str(tmp_path / "wt"))
    gitexclude._done.clear()
    assert gitexclude.hide_state(tmp_path / "wt")
    assert ".lomash/" in (main / ".git" / "info" / "exclude").read_text()


# -- no traceback on a closed pipe or an empty config key ----------------------------------------
def test_a_closed_pipe_ends_quietly(tmp_root):
    root = make_workspace(Path(tempfile.mkdtemp(dir=tmp_root)) / "ws")
    write(
        root / "services" / "auth-service" / ".env",
        "".join(f"KEY_{i}={'v' * 200}\n" for i in range(2000)),
    )
    env = dict(os.environ, INVOKE_WORKSPACE_ROOT=str(root))
    env.pop("CI", None)
    # a line per key: far more than a pipe holds, so writes go on after the reader left
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "env.show", "--service", "auth"],
        cwd=SUITE_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.read(10)
    proc.stdout.close()  # `| head -c 10`
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == 141


def test_an_empty_key_in_a_config_file_is_one_paragraph(inv, tmp_path):
    runtime = write(tmp_path / "local.yaml", "services:\n  customer-service:\n")
    result = inv("-f", str(runtime), "db.status")
    assert_user_error(result, str(runtime), "'services.customer-service'", "to nothing")
    assert result.returncode == 1


# -- the doctor and debug.monorepo ----------------------------------------------------------------
def test_doctor_honours_package_manager_and_names_blocking_files(copy):
    data = json.loads((copy / "package.json").read_text())
    data["packageManager"] = "pnpm@9.1.4"
    write(copy / "package.json", json.dumps(data, indent=2))
    notif = copy / "services" / "notification-service" / "package.json"
    pkg = json.loads(notif.read_text())
    pkg["devDependencies"]["@lomash/tsconfig"] = "workspace:*"
    write(notif, json.dumps(pkg, indent=2))
    write(
        copy / "pnpm-workspace.yaml",
        "packages:\n  - api-gateway\n  - 'services/*'\n"
        "  - '!services/notification-service'\n  - packages/*\n",
    )
    result = Inv({"INVOKE_WORKSPACE_ROOT": str(copy)})("debug.doctor", "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["pnpm"]["ok"] is True and "pins 9.1.4" in checks["pnpm"]["detail"]
    assert checks["monorepo files"]["ok"] is False
    assert "@lomash/tsconfig" in checks["monorepo files"]["detail"]
    result = Inv({"INVOKE_WORKSPACE_ROOT": str(copy)})("debug.monorepo", "--json")
    data = {d["service"]: d for d in json.loads(result.stdout)}
    assert data["notification-service"]["installer"]["member"] is False
    assert data["auth-service"]["installer"]["member"] is True
    assert data["auth-service"]["seed"]["kind"] == "sql"
