"""init.sql with a real monorepo's conventions, on real PostgreSQL servers.

The script (`initsql_corpus.real_style`) is plain and not re-runnable: CREATE DATABASE with
`LC_COLLATE 'en_US.utf8'`, DO-block roles, per-database `\\c` sections with extensions, grants
and a plpgsql function, pg_stat_statements, ALTER SYSTEM lines and pg_reload_conf(). One
embedded cluster (made by a real first start, from an empty template cache) serves the tests
where isolation is not the point; the failures and the cache get servers of their own.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from conftest import Inv, assert_user_error, make_workspace, stack_config, stack_env
from initsql_corpus import DATABASES, TRICKY, line_of, real_style

from lomash_tasks import connections
from lomash_tasks.stack.initsql import needs

pytestmark = pytest.mark.xdist_group("initsql")

INIT = "infra/docker/postgres/init.sql"
COMPILES = needs._compilable("en_US.utf8") is None and "en_US.utf8" not in (
    needs.system_locales() or set()
)
HAS_LOCALE = "en_US.utf8" in (needs.system_locales() or set())


@dataclass
class Cluster:
    root: Path
    env: dict
    inv: Inv
    ws: object
    up: str  # what `stack.up` printed
    cache: Path


def new_workspace(tmp_root: Path, script: str, cache: Path | str = "off", **extra) -> tuple:
    parent = Path(tempfile.mkdtemp(prefix="isql-", dir=tmp_root))
    parent.chmod(0o755)  # the unprivileged PostgreSQL user must reach it
    root = make_workspace(parent / "ws")
    (root / INIT).write_text(script)
    env = {**stack_env(root, cache=cache), **extra}
    return root, env, Inv(env)


@pytest.fixture(scope="module")
def real(tmp_root):
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=tmp_root))
    root, env, inv = new_workspace(tmp_root, real_style(), cache)
    up = inv("stack.up", "--backend", "embedded", "--part", "postgres", check=True)
    _, ws = stack_config(env)
    try:
        yield Cluster(root, env, inv, ws, up.stdout, cache)
    finally:
        inv("stack.down", "--backend", "embedded")


def su(ws, dbname="postgres"):
    return connections.pg_connect(ws, superuser=True, dbname=dbname, autocommit=True)


def snapshot(ws):
    """Roles, databases (owner, ACL, collation), extensions and functions of every database,
    and postgresql.auto.conf: what init.sql makes."""
    with su(ws) as conn:
        roles = conn.execute(
            "SELECT rolname, rolcanlogin, rolcreatedb, rolsuper FROM pg_roles "
            "WHERE rolname LIKE 'lomash%' ORDER BY 1"
        ).fetchall()
        dbs = conn.execute(
            "SELECT datname, pg_get_userbyid(datdba), datacl::text, datcollate, "
            "oid FROM pg_database ORDER BY 1"
        ).fetchall()
        auto = conn.execute(
            "SELECT name, setting FROM pg_file_settings "
            "WHERE sourcefile LIKE '%auto.conf' ORDER BY 1"
        ).fetchall()
    inside = {}
    for db, *_ in DATABASES:
        with su(ws, db) as conn:
            inside[db] = (
                conn.execute("SELECT extname, extversion FROM pg_extension ORDER BY 1").fetchall(),
                conn.execute(
                    "SELECT proname, oid FROM pg_proc WHERE pronamespace = "
                    "'public'::regnamespace AND prokind = 'f' AND proname = "
                    "'set_updated_at'"
                ).fetchall(),
                conn.execute(
                    "SELECT nspacl::text FROM pg_namespace WHERE nspname = 'public'"
                ).fetchone(),
            )
    return roles, dbs, auto, inside


def assert_database_made(ws, db, role, extensions, collation):
    with su(ws) as conn:
        owner, collate, can_create = conn.execute(
            "SELECT pg_get_userbyid(datdba), datcollate, has_database_privilege(%s, datname, "
            "'CREATE') FROM pg_database WHERE datname = %s",
            (role, db),
        ).fetchone()
    assert (owner, collate, can_create) == (role, collation, True)
    with su(ws, db) as conn:
        have = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
        assert set(extensions) <= have, (db, have)
        assert (
            conn.execute(
                "SELECT count(*) FROM pg_proc WHERE proname = 'set_updated_at' AND "
                "prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')"
            ).fetchone()[0]
            == 1
        )
        other = "lomash_order" if role != "lomash_order" else "lomash_auth"
        assert conn.execute(
            "SELECT has_schema_privilege(%s, 'public', 'CREATE'), "
            "has_schema_privilege(%s, 'public', 'CREATE')",
            (role, other),
        ).fetchone() == (True, False)


# -- a new embedded cluster -------------------------------------------------------------------
def test_first_start_makes_every_role_database_extension_and_grant(real):
    ws = real.ws
    assert "initialised a new PostgreSQL cluster" in real.up
    assert "preloaded pg_stat_statements" in real.up
    assert "applied infra/docker/postgres/init.sql" in real.up
    if COMPILES:
        assert "locale en_US.utf8 (init.sql lines 36, 43" in real.up
        assert "compiled with localedef for this PostgreSQL only" in real.up
        assert (real.root / ".lomash/postgres/data" / needs.LOCALES_DIR / "en_US.utf8").is_dir()
    collation = "en_US.utf8" if COMPILES or HAS_LOCALE else "C.UTF-8"
    with su(ws) as conn:
        roles = conn.execute(
            "SELECT rolname, rolcanlogin, rolcreatedb FROM pg_roles "
            "WHERE rolname LIKE 'lomash%' AND rolname <> 'lomash_master' "
            "ORDER BY 1"
        ).fetchall()
        assert roles == sorted((role, True, False) for _, role, _ in DATABASES)
        assert conn.execute("SHOW shared_preload_libraries").fetchone()[0] == "pg_stat_statements"
        assert conn.execute("SHOW pg_stat_statements.track").fetchone()[0] == "all"
        # the suite's own sessions keep their deadlines whatever init.sql sets cluster-wide
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"
    for db, role, extensions in DATABASES:
        assert_database_made(ws, db, role, extensions, collation)
    pg = ws.registry.postgres
    with psycopg.connect(
        host=pg.host,
        port=pg.port,
        user="lomash_analytics",
        password="changeme_local",
        dbname="lomash_analytics",
    ) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1min"
        assert conn.execute("SELECT count(*) >= 0 FROM pg_stat_statements").fetchone()[0]
    if collation == "en_US.utf8":  # a real en_US collation: case-insensitive first pass
        with su(ws, "lomash_auth") as conn:
            assert conn.execute("SELECT 'a' < 'B', 'a' < 'B' COLLATE \"C\"").fetchone() == (
                True,
                False,
            )


def test_db_init_again_exits_0_and_changes_nothing(real):
    before = snapshot(real.ws)
    again = real.inv("db.init", check=True)
    assert "nothing was missing" in again.stdout
    assert snapshot(real.ws) == before


def test_a_database_dropped_by_hand_comes_back_whole(real):
    ws = real.ws
    with su(ws, "lomash_orders") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS untouched (id int)")
    orders_before = snapshot(ws)[3]["lomash_orders"]
    with su(ws) as conn:
        conn.execute("DROP DATABASE lomash_content")
    result = real.inv("db.init", check=True)
    assert "created 1 databases (lomash_content)" in result.stdout, result.stdout
    _, role, extensions = next(d for d in DATABASES if d[0] == "lomash_content")
    collation = "en_US.utf8" if COMPILES or HAS_LOCALE else "C.UTF-8"
    assert_database_made(ws, "lomash_content", role, extensions, collation)
    svc = ws.registry.service("content")
    with connections.pg_connect(ws, svc) as conn:  # the role logs in with its .env password
        assert conn.execute("SELECT current_user").fetchone()[0] == "lomash_content"
    with su(ws, "lomash_orders") as conn:
        assert conn.execute("SELECT to_regclass('untouched')").fetchone()[0] == "untouched"
    assert snapshot(ws)[3]["lomash_orders"] == orders_before
    assert "nothing was missing" in real.inv("db.init", check=True).stdout


def test_reset_rebuilds_auth_with_extensions_migrations_and_seed(real):
    ws = real.ws
    real.inv("db.migrate", "--service", "auth", "--runner", "native", check=True)
    with su(ws, "lomash_auth") as conn:
        conn.execute("CREATE TABLE marker (id int)")
    result = real.inv("db.reset", "--service", "auth", "--yes", "--runner", "native", check=True)
    assert "lomash_auth recreated: 1 migration(s)" in result.stdout
    _, role, extensions = DATABASES[0]
    collation = "en_US.utf8" if COMPILES or HAS_LOCALE else "C.UTF-8"
    assert_database_made(ws, "lomash_auth", role, extensions, collation)
    with su(ws, "lomash_auth") as conn:
        assert conn.execute("SELECT to_regclass('marker')").fetchone()[0] is None
        assert conn.execute(
            "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL"
        ).fetchall() == [("20260101000000_init",)]
        assert conn.execute("SELECT count(*) FROM roles").fetchone()[0] == 4


@pytest.mark.parametrize(
    "broken, said",
    [
        ({"skip_sections_of": "lomash_auth"}, ["has extension uuid-ossp", "it has no section"]),
        ({"skip_create_of": "lomash_auth"}, ["has no CREATE DATABASE lomash_auth"]),
    ],
)
def test_a_reset_that_cannot_rebuild_drops_nothing(real, tmp_root, broken, said):
    ws = real.ws
    with su(ws, "lomash_auth") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS keep_me (id int)")
        oid = conn.execute("SELECT oid FROM pg_database WHERE datname = 'lomash_auth'").fetchone()
    root = make_workspace(Path(tempfile.mkdtemp(prefix="isql-", dir=tmp_root)) / "ws")
    (root / INIT).write_text(real_style(**broken))
    result = Inv({**real.env, "INVOKE_WORKSPACE_ROOT": str(root)})(
        "db.reset", "--service", "auth", "--yes", "--runner", "native"
    )
    assert_user_error(result, *said, "Nothing was dropped: lomash_auth is as it was.")
    with su(ws, "lomash_auth") as conn:
        assert conn.execute("SELECT to_regclass('keep_me')").fetchone()[0] == "keep_me"
        assert (
            conn.execute("SELECT oid FROM pg_database WHERE datname = 'lomash_auth'").fetchone()
            == oid
        )


def test_psql_and_the_reader_agree_on_what_is_sent(real):
    """psql echoes every query it sends; the reader's statements are those, in order."""
    from lomash_tasks.stack.initsql.script import parse
    from lomash_tasks.stack.pgtools import find_psql

    pg = real.ws.registry.postgres
    done = subprocess.run(
        [
            str(find_psql()),
            "-X",
            "-q",
            "-v",
            "ECHO=queries",
            "-o",
            "/dev/null",
            "-h",
            pg.host,
            "-p",
            str(pg.port),
            "-U",
            pg.superuser,
            "-d",
            "postgres",
            "-f",
            "-",
        ],
        input=TRICKY,
        capture_output=True,
        text=True,
        env={"PGPASSWORD": connections.superuser_password(real.ws), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    nested = "/* a block comment; /* nested; */ still comment */"  # psql sends it along
    assert done.stdout.startswith(nested)
    sent = done.stdout[len(nested) :]
    at = 0
    for stmt in parse(TRICKY).statements:
        text = stmt.text.replace(":'greeting'", "'it''s; fine'")
        found = sent.find(text, at)
        assert found >= 0, f"{text!r} not sent (after offset {at}) in:\n{sent}"
        between = re.sub(r"/\*.*?\*/|--[^\n]*|[\s;]", "", sent[at:found], flags=re.S)
        assert between in ("", "SELECT3ASvia_gexec"), between  # only \gexec's own query
        at = found + len(text)
    assert re.sub(r"--[^\n]*|\s", "", sent[at:]) == ""


# -- the template cache ----------------------------------------------------------------------
def test_the_cache_reuses_a_cluster_only_for_the_same_script_and_choices(real, tmp_root):
    root, env, inv = new_workspace(tmp_root, real_style(), real.cache)
    copied = inv("stack.up", "--backend", "embedded", "--part", "postgres", check=True)
    try:
        assert "copied a ready cluster" in copied.stdout and "initialised" not in copied.stdout
        _, ws = stack_config(env)
        with connections.pg_connect(ws, ws.registry.service("auth")) as conn:  # its locale too
            assert conn.execute("SELECT current_database()").fetchone()[0] == "lomash_auth"
    finally:
        inv("stack.down", "--backend", "embedded", check=True)
    # another locale choice (or, where the machine has the locale, another script) is another
    # cluster: made anew, and said
    if HAS_LOCALE:
        root, env, inv = new_workspace(tmp_root, real_style() + "-- edited\n", real.cache)
    else:
        root, env, inv = new_workspace(
            tmp_root, real_style(), real.cache, INVOKE_STACK_MISSING_LOCALE="substitute"
        )
    swapped = inv("stack.up", "--backend", "embedded", "--part", "postgres", check=True)
    try:
        assert "initialised a new PostgreSQL cluster" in swapped.stdout
        if not HAS_LOCALE:
            assert "so those databases use C.UTF-8 instead" in swapped.stdout
            _, ws = stack_config(env)
            with su(ws) as conn:
                assert (
                    conn.execute(
                        "SELECT datcollate FROM pg_database WHERE datname = 'lomash_products'"
                    ).fetchone()[0]
                    == "C.UTF-8"
                )
    finally:
        inv("stack.down", "--backend", "embedded", check=True)
    assert len(list((real.cache / "postgres").iterdir())) == 2


# -- failures on a first start ---------------------------------------------------------------
def test_a_script_failing_halfway_leaves_no_cluster_and_names_the_line(tmp_root):
    bad = "GRANT USAGE ON SCHEMA public TO lomash_nobody;"
    script = real_style(extra_after={"lomash_orders": bad})
    root, env, inv = new_workspace(tmp_root, script, INVOKE_STACK_MISSING_LOCALE="substitute")
    failed = inv("stack.up", "--backend", "embedded", "--part", "postgres")
    assert_user_error(
        failed,
        f"init.sql line {line_of(script, bad)} failed (on database lomash_orders)",
        bad.rstrip(";"),
        'ERROR:  role "lomash_nobody" does not exist',
        "Fix: init.sql uses role lomash_nobody before creating it",
        "The new cluster was removed",
    )
    data = root / ".lomash/postgres/data"
    assert not data.exists()
    assert not (root / ".lomash/postgres/init-applied").exists()
    port = int(env["INVOKE_INFRA_POSTGRES_PORT"])
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=port, user="x", connect_timeout=2).close()
    # what an interrupted first start (Ctrl-C, a crash, an older suite) leaves: a cluster with
    # no record that init.sql finished. It is remade, not reused.
    data.mkdir()
    (data / "PG_VERSION").write_text("15\n")
    (root / INIT).write_text(real_style())  # fixed: the next start is a clean first start
    fixed = inv("stack.up", "--backend", "embedded", "--part", "postgres", check=True)
    assert "removed the half-made cluster" in fixed.stdout
    assert "initialised a new PostgreSQL cluster" in fixed.stdout
    assert "applied infra/docker/postgres/init.sql" in fixed.stdout
    inv("stack.down", "--backend", "embedded", "--volumes", "--yes", check=True)


def test_what_the_server_lacks_is_named_before_anything_is_created(tmp_root):
    script = real_style()
    root, env, inv = new_workspace(tmp_root, script, INVOKE_STACK_MISSING_LOCALE="refuse")
    if not HAS_LOCALE:
        refused = inv("stack.up", "--backend", "embedded", "--part", "postgres")
        assert_user_error(
            refused,
            f"init.sql line {line_of(script, 'CREATE DATABASE')} creates "
            f"a database with locale en_US.utf8",
            "stack.missing_locale is refuse",
            "Nothing was created.",
        )
        assert not (root / ".lomash/postgres/data").exists()
    extension = 'CREATE EXTENSION IF NOT EXISTS "lomash_no_such_ext";'
    script = real_style(extra_after={"lomash_content": extension})
    (root / INIT).write_text(script)
    missing = inv(
        "stack.up",
        "--backend",
        "embedded",
        "--part",
        "postgres",
        env={"INVOKE_STACK_MISSING_LOCALE": "substitute"},
    )
    assert_user_error(
        missing,
        f"init.sql line {line_of(script, extension)} creates extension lomash_no_such_ext",
        "pg_available_extensions",
        "Nothing was created.",
        "The new cluster was removed",
    )
    assert not (root / ".lomash/postgres/data").exists()


# -- a server someone else runs ---------------------------------------------------------------
def test_db_init_on_a_bare_external_server(system_postgres, tmp_root):
    script = real_style()
    root, env, inv = new_workspace(
        tmp_root,
        script,
        INVOKE_STACK_BACKEND="external",
        INVOKE_INFRA_POSTGRES_PORT=str(system_postgres),
    )
    first = inv("db.init", check=True)
    out = first.stdout + first.stderr
    assert "created 8 databases" in out
    track = line_of(script, "pg_stat_statements.track")
    assert f"not applied: init.sql line {track} (ALTER SYSTEM SET pg_stat_statements.track)" in out
    assert "shared_preload_libraries take effect when PostgreSQL restarts" in out
    if not HAS_LOCALE:
        assert "so those databases use C.UTF-8 instead" in out
    _, ws = stack_config(env)
    for db, role, extensions in DATABASES:
        assert_database_made(ws, db, role, extensions, "en_US.utf8" if HAS_LOCALE else "C.UTF-8")
    before = snapshot(ws)
    again = inv("db.init", check=True)
    assert "nothing was missing" in again.stdout
    assert snapshot(ws) == before
