"""The init.sql reader and the plans made from it, without a server: varied scripts (ours, a
real-style one, quoting, `$$` bodies, comments, `\\gexec`, `\\c` forms, psql variables).
What psql itself sends for the same scripts is checked against a real server in
test_initsql.py."""

from __future__ import annotations

import pytest
from conftest import EXAMPLE
from initsql_corpus import DATABASES, TRICKY, line_of, real_style

from lomash_tasks.errors import UserError
from lomash_tasks.stack.initsql import needs
from lomash_tasks.stack.initsql.runs import (
    Failure,
    Inventory,
    _failure,
    fix_for,
    make_plan,
    substitute,
    whole_plan,
)
from lomash_tasks.stack.initsql.script import (
    DATABASE,
    EXTENSION,
    GRANT_DB,
    OTHER,
    RELOAD,
    ROLE,
    SETTING,
    parse,
    read,
    redact,
    split_list,
)

ROLES = [role for _, role, _ in DATABASES]


@pytest.fixture(scope="module")
def ws():
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.registry import Registry
    from lomash_tasks.workspace import Workspace

    return Workspace.locate(EXAMPLE, Registry.from_mapping(plain(load_config(env=False))))


def kinds(script):
    return [(s.kind, s.targets) for s in script.statements]


# -- the model ------------------------------------------------------------------------------
def test_real_style_script_sections_and_what_each_creates():
    text = real_style()
    script = parse(text)
    assert script.problems == []
    assert script.roles == ROLES  # the DO block's ARRAY, though it builds names with %I
    do = next(s for s in script.statements if s.kind == ROLE)
    assert do.dynamic and do.line == line_of(text, "DO $$") and do.end_line == line_of(text, "$$;")
    assert list(script.databases) == [db for db, _, _ in DATABASES]
    auth = script.databases["lomash_auth"]
    assert auth.owner == "lomash_auth" and auth.locales == {
        "lc_collate": "en_US.utf8",
        "lc_ctype": "en_US.utf8",
    }
    assert auth.line == line_of(text, "CREATE DATABASE lomash_auth")
    assert auth.end_line == auth.line + 5 and auth.database == "postgres"
    for db, _role, extensions in DATABASES:
        assert script.extensions(db) == extensions
        assert [s.line for s in script.about(db)] == [line_of(text, f"ON DATABASE {db} TO")]
        sections = script.sections_of(db)
        assert len(sections) == 2  # extensions and grants, then the function
        assert any(s.kind == OTHER and "set_updated_at" in s.text for s in sections[1].statements)
    assert script.extensions("postgres") == ["uuid-ossp", "pgcrypto"]
    assert script.preload == ["pg_stat_statements"]
    assert [s.targets[0] for s in script.custom_settings] == ["pg_stat_statements.track"]
    assert [(s.targets[0], s.values) for s in script.settings][2:4] == [
        ("log_min_duration_statement", ("1000",)),
        ("idle_in_transaction_session_timeout", ("30s",)),
    ]
    assert [s.line for s in script.of_kind(RELOAD)] == [line_of(text, "pg_reload_conf")]
    assert list(script.locales) == ["en_US.utf8"]
    assert [m.name for m in script.metas].count("echo") == 3


def test_reference_script_gexec_databases_and_explicit_roles():
    script = read(EXAMPLE / "infra/docker/postgres/init.sql")
    assert script.roles == ROLES
    assert all(not s.dynamic for s in script.of_kind(ROLE))
    created = script.databases
    assert list(created) == [db for db, _, _ in DATABASES]
    assert all(s.gexec and s.owner == role for (db, role, _), s in zip(DATABASES, created.values()))
    assert created["lomash_content"].options["template"] == "template0"
    assert script.extensions("lomash_content") == ["pg_trgm", "uuid-ossp"]
    assert script.extensions("lomash_auth") == ["citext", "pgcrypto"]
    assert len(script.about("lomash_orders")) == 2  # REVOKE CONNECT, GRANT CONNECT
    assert not script.settings and not script.locales and not script.preload


def test_tricky_lexing_quotes_comments_dollar_bodies_and_variables():
    script = parse(TRICKY)
    texts = [s.text for s in script.statements]
    assert (
        texts[0] == """SELECT 'semi;colon' AS a, "odd;""name" FROM (SELECT 1 AS "odd;""name") t"""
    )
    assert texts[1] == r"SELECT E'back\'slash; quote' AS b"
    assert texts[3] == "SELECT $fn$ a $$ inside ; $fn$ AS d"
    assert texts[4].startswith("DO $body$") and texts[4].endswith("$body$")
    assert texts[7] == "CREATE RULE tricky_rule AS ON INSERT TO tricky DO ALSO (SELECT 1; SELECT 2)"
    assert len(texts) == 11
    gexec = script.statements[9]
    assert gexec.gexec and gexec.end == TRICKY.index("\\gexec") + len("\\gexec")
    last = script.statements[-1]
    assert last.text == "SELECT 2 AS i" and last.terminator == ""
    do = script.statements[4]
    assert (do.line, do.end_line) == (line_of(TRICKY, "DO $body$"), line_of(TRICKY, "$body$;"))
    assert script.statement_at(do.line + 2) is do


@pytest.mark.parametrize(
    "line, database",
    [
        ('\\connect "My DB"', "My DB"),
        ("\\c dbname=lomash_x user=someone", "lomash_x"),
        ("\\c -reuse-previous=on lomash_y", "lomash_y"),
        ("\\set target lomash_z\n\\c :target", "lomash_z"),
        ("\\c postgresql://u@127.0.0.1:5432/lomash_w", "lomash_w"),
        ("\\c", "postgres"),
        ("\\c - other_user", "postgres"),
    ],
)
def test_connect_forms(line, database):
    script = parse(f"{line}\nSELECT 1;\n")
    assert script.statements[0].database == database


@pytest.mark.parametrize(
    "sql, kind, targets",
    [
        ("CREATE USER lomash_x PASSWORD 'p';", ROLE, ("lomash_x",)),
        ('CREATE ROLE "Mixed" LOGIN;', ROLE, ("Mixed",)),
        ("CREATE USER MAPPING FOR CURRENT_USER SERVER s;", OTHER, ()),
        ("create database Lomash_Lower owner X;", DATABASE, ("lomash_lower",)),
        ("\\set db 'lomash_v'\nCREATE DATABASE :\"db\";", DATABASE, ("lomash_v",)),
        ('GRANT CONNECT, TEMP ON DATABASE a, "B" TO r;', GRANT_DB, ("a", "B")),
        ("REVOKE ALL ON DATABASE a FROM PUBLIC;", GRANT_DB, ("a",)),
        ("ALTER DATABASE a SET search_path = public;", GRANT_DB, ("a",)),
        ("COMMENT ON DATABASE a IS 'x';", GRANT_DB, ("a",)),
        ("GRANT USAGE ON SCHEMA public TO r;", OTHER, ()),
        (
            'CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;',
            EXTENSION,
            ("uuid-ossp",),
        ),
        ("CREATE EXTENSION citext;", EXTENSION, ("citext",)),
        ("ALTER SYSTEM SET work_mem TO '8MB';", SETTING, ("work_mem",)),
        ("ALTER SYSTEM RESET work_mem;", SETTING, ("work_mem",)),
        ("SELECT pg_catalog.pg_reload_conf();", RELOAD, ()),
        ("SELECT pg_reload_conf(), 1;", OTHER, ()),
        ("CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;", OTHER, ()),
        (
            "DO $$ BEGIN CREATE ROLE lomash_q; CREATE USER lomash_r; END $$;",
            ROLE,
            ("lomash_q", "lomash_r"),
        ),
        ("DO $$ BEGIN PERFORM 1; END $$;", OTHER, ()),
        (
            "SELECT 'CREATE ROLE lomash_g LOGIN' WHERE NOT EXISTS (SELECT 1)\\gexec",
            ROLE,
            ("lomash_g",),
        ),
        ("SELECT format('CREATE DATABASE %I', 'x')\\gexec", OTHER, ()),
    ],
)
def test_statement_kinds(sql, kind, targets):
    stmt = parse(sql).statements[-1]
    assert (stmt.kind, stmt.targets) == (kind, targets)


def test_setting_values_and_lists():
    script = parse(
        "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', "
        "auto_explain;\nALTER SYSTEM SET x.y = -1;\n"
        "ALTER SYSTEM SET shared_preload_libraries = 'a,b';"
    )
    first, second, third = script.settings
    assert first.values == ("pg_stat_statements", "auto_explain") and second.values == ("-1",)
    assert split_list(third.values) == ["a", "b"]
    assert script.preload == ["pg_stat_statements", "auto_explain", "a", "b"]


def test_includes_are_named_and_passwords_hidden():
    script = parse("\\i other.sql\nCREATE ROLE a PASSWORD 'secret';\n")
    assert [m.line for m in script.includes] == [1]
    assert "secret" not in script.statements[0].summary()
    assert (
        redact("ALTER ROLE x WITH PASSWORD E'it''s' LOGIN")
        == "ALTER ROLE x WITH PASSWORD '****' LOGIN"
    )


def test_unterminated_quote_is_a_problem():
    assert parse("SELECT 'never closed;\n").problems == ["line 1: unterminated string"]


# -- plans ----------------------------------------------------------------------------------
def everything(script, **over):
    exts = {db: set(script.extensions(db)) for db in ["postgres", *script.databases]}
    auto = {s.targets[0]: ", ".join(split_list(s.values)) for s in script.settings}
    inv = Inventory(
        set(script.roles) | {"lomash_master"},
        {"postgres", *script.databases},
        exts,
        auto,
        {"pg_stat_statements.track", "work_mem"},
    )
    for key, value in over.items():
        setattr(inv, key, value)
    return inv


def test_an_initialised_cluster_gets_an_empty_plan(ws):
    for script in (parse(real_style()), read(ws.init_sql)):
        assert make_plan(ws, script, everything(script)).empty


def test_a_missing_database_gets_its_create_grants_and_sections_only(ws):
    text = real_style()
    script = parse(text)
    inv = everything(script)
    inv.databases = inv.databases - {"lomash_content"}
    del inv.extensions["lomash_content"]
    plan = make_plan(ws, script, inv)
    sent = plan.kept()
    assert {s.database for s in sent} == {"postgres", "lomash_content"}
    assert [s.kind for s in sent if s.database == "postgres"] == [DATABASE]
    assert [s.targets[0] for s in sent if s.kind == EXTENSION] == [
        "uuid-ossp",
        "pgcrypto",
        "pg_trgm",
        "unaccent",
    ]
    assert any("set_updated_at" in s.text for s in sent)
    assert plan.roles == [] and plan.databases == ["lomash_content"] and not plan.settings
    out = plan.text()
    assert out.count("\n") == text.count("\n")  # psql's lines are init.sql's lines
    lines = out.splitlines()
    assert (
        lines[line_of(text, "CREATE DATABASE lomash_content") - 1].strip()
        == "CREATE DATABASE lomash_content"
    )
    assert lines[line_of(text, "CREATE DATABASE lomash_auth") - 1].strip() == ""
    assert "\\c lomash_content" in out and "\\c lomash_auth" not in out
    assert "\\echo" not in out and "ALTER SYSTEM" not in out and "DO $$" not in out
    assert "\\set ON_ERROR_STOP on" in out


def test_missing_roles_extensions_and_settings(ws):
    script = parse(real_style())
    inv = everything(script, roles={"lomash_master", *ROLES[1:]})
    inv.extensions["lomash_orders"] = {"plpgsql", "pgcrypto"}
    inv.auto_conf = dict(inv.auto_conf, statement_timeout="30s")
    inv.known_settings = set()
    plan = make_plan(ws, script, inv)
    assert plan.roles == ["lomash_auth"]
    assert [(s.targets[0], db) for s, db in plan.extensions] == [("uuid-ossp", "lomash_orders")]
    assert [s.targets[0] for s in plan.settings] == ["statement_timeout"]
    assert plan.kept(RELOAD)  # a setting sent: the reload after it too
    assert len(plan.skipped) == 1 and "pg_stat_statements" in plan.skipped[0]
    assert not plan.kept(DATABASE)


def test_a_fresh_server_gets_everything_but_unloaded_settings(ws):
    script = parse(real_style())
    inv = Inventory({"lomash_master"}, {"postgres"}, {"postgres": {"plpgsql"}}, {}, set())
    plan = make_plan(ws, script, inv)
    sent = {s.start for s in plan.kept()}
    left = [s for s in script.statements if s.start not in sent]
    assert [s.targets for s in left] == [("pg_stat_statements.track",)]
    assert "\\echo" in plan.text()


def test_a_rebuild_plan_touches_one_database(ws):
    script = parse(real_style())
    plan = make_plan(ws, script, everything(script), only="lomash_auth")
    assert {s.database for s in plan.kept()} == {"postgres", "lomash_auth"}
    assert plan.databases == ["lomash_auth"] and not plan.settings and not plan.roles


def test_an_include_cannot_be_planned(ws):
    script = parse("\\ir roles.sql\nCREATE DATABASE lomash_auth;\n")
    with pytest.raises(UserError, match="line 1 includes another file"):
        make_plan(ws, script, everything(script))
    assert whole_plan(script).text() == script.text


def test_locale_substitution_in_both_quotings():
    plain_sql = (
        "CREATE DATABASE a LC_COLLATE = 'en_US.utf8' LC_CTYPE 'en_US.utf8' LOCALE='en_US.utf8'"
    )
    assert substitute(plain_sql, {"en_US.utf8": "C.UTF-8"}).count("'C.UTF-8'") == 3
    gexec = "SELECT 'CREATE DATABASE a LC_COLLATE ''en_US.utf8'' TEMPLATE template0'"
    assert "''C.UTF-8''" in substitute(gexec, {"en_US.utf8": "C.UTF-8"})
    assert substitute("SELECT 'en_US.utf8'", {"en_US.utf8": "C"}) == "SELECT 'en_US.utf8'"


# -- failures -------------------------------------------------------------------------------
def test_psql_errors_map_to_the_line_and_a_fix():
    stderr = (
        "psql:<stdin>:12: NOTICE:  Created role: a\n"
        'psql:<stdin>:46: ERROR:  invalid locale name: "en_US.utf8"\n'
        "HINT:  something\n"
    )
    failure = _failure(stderr, "")
    assert failure == Failure(46, ['ERROR:  invalid locale name: "en_US.utf8"', "HINT:  something"])
    assert "missing_locale" in fix_for(failure.error[0], None)
    assert "shared_preload_libraries" in fix_for(
        'unrecognized configuration parameter "pg_stat_statements.track"', None
    )
    assert "postgresql-contrib" in fix_for('extension "pg_nope" is not available', None)
    assert "IF NOT EXISTS" in fix_for('database "lomash_auth" already exists', None)
    connect = _failure(
        'psql:<stdin>:7: error: connection to server at "127.0.0.1", port 5 '
        'failed: FATAL:  database "lomash_x" does not exist\n',
        "",
    )
    assert connect.line == 7 and "CREATE DATABASE" in fix_for(connect.error[0], None)


# -- what a new cluster needs ----------------------------------------------------------------
def test_locale_names_normalize_as_glibc_does():
    assert needs.normalize("en_US.UTF-8") == needs.normalize("en_US.utf8") == "en_US.utf8"
    assert needs.normalize("sr_RS.UTF-8@latin") == "sr_RS.utf8@latin"
    assert needs.is_utf8("de_DE.utf8") and not needs.is_utf8("en_US.ISO-8859-1")
    assert needs.is_builtin("C") and needs.is_builtin("POSIX") and not needs.is_builtin("C.UTF-8")


def test_new_cluster_choices_and_their_key():
    script = parse(real_style(locale="xx_NOWHERE.utf8"))
    with pytest.raises(
        UserError,
        match=r"line \d+ creates a database with locale "
        r"xx_NOWHERE.utf8.*Nothing was created",
    ):
        needs.for_new_cluster(script, "refuse")
    swapped = needs.for_new_cluster(script, "compile")  # no source for it: replaced, said
    choice = swapped.locales[0]
    have = needs.system_locales() or set()
    assert choice.how == "substituted"
    assert choice.use == ("C.UTF-8" if "C.utf8" in have else "C")
    assert "use " + choice.use in choice.note() and "lines 36, 43" in choice.note()
    assert any("not compiled" in n for n in swapped.notes)
    assert swapped.preload == ["pg_stat_statements"]
    assert swapped.substitutions == {"xx_NOWHERE.utf8": choice.use}
    plain = needs.for_new_cluster(parse("CREATE DATABASE a;"), "compile")
    assert plain.key != swapped.key and plain.preload == [] and plain.locales == []


def test_other_spellings_of_a_locale():
    assert needs.spellings("en_US.utf8") == ["en_US.UTF-8"]
    assert needs.spellings("sr_RS.UTF-8@latin") == ["sr_RS.utf8@latin"]
    note = needs.LocaleChoice("en_US.utf8", "respelled", "en_US.UTF-8", [3]).note()
    assert note == (
        "locale en_US.utf8 (init.sql line 3) is spelled en_US.UTF-8 where PostgreSQL runs: used so"
    )
