"""The pieces behind environments, baselines, backups and clean that need no server: init.sql
read as if it made another database, the `environments` and `backup` config, the clean plan."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLE
from initsql_corpus import real_style

from lomash_tasks.db import environments
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Registry
from lomash_tasks.remote import targets
from lomash_tasks.settings import all_defaults
from lomash_tasks.stack.initsql.script import DATABASE, GRANT_DB, parse, read, renamed_database


# -- init.sql as if it made another database ----------------------------------------------------
@pytest.mark.parametrize("source", ["reference", "real-style"])
def test_a_renamed_database_keeps_its_role_lines_and_sections(source):
    script = (
        read(EXAMPLE / "infra/docker/postgres/init.sql")
        if source == "reference"
        else parse(real_style())
    )
    copy = renamed_database(script, "lomash_auth", "lomash_auth_test")
    assert len(copy.text.splitlines()) == len(script.text.splitlines())  # psql's line numbers
    assert "lomash_auth_test" in copy.databases and "lomash_auth" not in copy.databases
    made, original = copy.databases["lomash_auth_test"], script.databases["lomash_auth"]
    assert made.owner == original.owner == "lomash_auth"  # the role keeps its name
    assert made.line == original.line and made.options == original.options
    assert copy.extensions("lomash_auth_test") == script.extensions("lomash_auth")
    assert copy.roles == script.roles
    assert [s.targets for s in copy.about("lomash_auth_test")] == [
        tuple("lomash_auth_test" if t == "lomash_auth" else t for t in s.targets)
        for s in script.about("lomash_auth")
    ]
    # every other database, and every statement that is not about this one, is as it was
    others = [
        s
        for s in script.statements
        if not (
            (s.kind in (DATABASE, GRANT_DB) and "lomash_auth" in s.targets)
            or s.database == "lomash_auth"
        )
    ]
    assert all(s.text in copy.text for s in others)
    changed = [(a, b) for a, b in zip(script.text.splitlines(), copy.text.splitlines()) if a != b]
    assert changed and all("lomash_auth_test" in b and "lomash_auth" in a for a, b in changed)
    assert all(b.count("lomash_auth_test") == 1 or "datname" in b for _, b in changed), changed


def test_renaming_reads_quoted_names_lists_and_gexec_strings():
    script = parse(
        "SELECT 'CREATE DATABASE \"shop\" OWNER shop' WHERE NOT EXISTS (SELECT 1 "
        "FROM pg_database WHERE datname = 'shop')\\gexec\n"
        "GRANT CONNECT ON DATABASE other, shop TO shop;\n"
        "ALTER DATABASE shop SET search_path TO shop, public;\n"
        "COMMENT ON DATABASE shop IS 'shop data';\n"
        "\\connect shop\nCREATE EXTENSION citext;\nCREATE TABLE shop (id int);\n"
    )
    copy = renamed_database(script, "shop", "shop_test")
    assert copy.text.splitlines() == [
        "SELECT 'CREATE DATABASE \"shop_test\" OWNER shop' WHERE NOT EXISTS (SELECT 1 FROM "
        "pg_database WHERE datname = 'shop_test')\\gexec",
        "GRANT CONNECT ON DATABASE other, shop_test TO shop;",
        "ALTER DATABASE shop_test SET search_path TO shop, public;",
        "COMMENT ON DATABASE shop_test IS 'shop data';",
        "\\connect shop_test",
        "CREATE EXTENSION citext;",
        "CREATE TABLE shop (id int);",
    ]
    with pytest.raises(ValueError):
        renamed_database(script, "shop", "shop; DROP")


# -- config --------------------------------------------------------------------------------------
def config(**environments_):
    data = all_defaults()
    data["environments"].update(environments_)
    return data


def test_the_test_environment_ships_and_others_are_checked():
    test = environments.load(config(), "test")
    assert (test.database_suffix, test.env_file, test.seed_profile) == (
        "_test",
        ".env.test",
        "test",
    )
    assert (
        test.variables == {"NODE_ENV": "test"}
        and test.database("lomash_auth") == "lomash_auth_test"
    )
    assert environments.load(config(), None).is_default
    assert environments.names(config(qa={"database_suffix": "_qa"})) == [
        "development",
        "qa",
        "test",
    ]
    qa = environments.load(config(qa={"database_suffix": "_qa"}), "qa")
    assert qa.env_file == ".env.qa" and qa.seed_profile == ""
    for bad, key in (
        ({"database_suffix": "test"}, "database_suffix"),
        ({"database_suffix": "_QA"}, "database_suffix"),
        ({"database_suffix": "_qa", "env_file": "../.env"}, "env_file"),
        ({"database_suffix": "_qa", "env_file": ".env.qa.example"}, "env_file"),
        ({"database_suffix": "_qa", "seed_profile": "a b"}, "seed_profile"),
        ({"database_suffix": "_qa", "variables": ["NODE_ENV"]}, "variables"),
        ({"database_suffix": "_qa", "databse_suffix": "_x"}, "databse_suffix"),
    ):
        with pytest.raises(UserError, match=rf"'environments\.qa\.{key}'"):
            environments.load(config(qa=bad), "qa")
    with pytest.raises(UserError, match="Known environments: development, test"):
        environments.load(config(), "prod")


def test_an_environments_workspace_names_its_own_databases_and_files(tmp_path):
    from lomash_tasks.workspace import Workspace

    reg = Registry.from_mapping(all_defaults())
    ws = Workspace(EXAMPLE, reg)
    ews = environments.view(ws, environments.load(config(), "test"))
    auth = ews.registry.service("auth")
    assert auth.database == "lomash_auth_test" and auth.role == "lomash_auth"
    assert ews.registry.service("gateway").database is None
    assert ews.env_pair(auth).env.name == ".env.test"
    assert ews.env_pair(auth).example.name == ".env.example"  # no .env.test.example there
    assert ews.env_pair(None).env.name == ".env"  # the root file is the stack's
    assert [p.env.name for p in ews.env_pairs()] == [".env.test"] * 9
    with pytest.raises(UserError, match="longer than PostgreSQL's 63"):
        environments.view(ws, environments.Environment("qa", "_" + "x" * 40))


@pytest.mark.parametrize(
    "raw,host,expected",
    [
        ("pg_dump", "db.internal", targets.Backup("pg_dump")),
        (
            "snapshot",
            "lomash-prod.c9akciq32.eu-west-2.rds.amazonaws.com",
            targets.Backup("snapshot", instance="lomash-prod"),
        ),
        (
            "snapshot",
            "lomash-prod.cluster-c9akciq32.eu-west-2.rds.amazonaws.com",
            targets.Backup("snapshot", cluster="lomash-prod"),
        ),
        (
            {"kind": "snapshot", "cluster": "aurora-1", "timeout": 600},
            "db.internal",
            targets.Backup("snapshot", cluster="aurora-1", timeout=600.0),
        ),
    ],
)
def test_a_targets_backup(raw, host, expected):
    data = {
        "targets": {
            "prod": {
                "aws": {"region": "eu-west-2"},
                "postgres": {"host": host},
                "secrets": {"prefix": "p"},
                "backup": raw,
            }
        }
    }
    target = targets.load(data, "prod", Registry.from_mapping(all_defaults()))
    assert target.backup == expected


@pytest.mark.parametrize(
    "raw,fragment",
    [
        ("tarball", "must be pg_dump"),
        ({"kind": "pg_dump", "instance": "x"}, "only `kind: snapshot` uses"),
        ({"kind": "snapshot", "instance": "a", "cluster": "b"}, "both an instance and a cluster"),
        ({"kind": "snapshot"}, "backup.instance' is missing"),
        ({"kind": "pg_dump", "timeout": 0}, "greater than 0"),
        ({"kind": "pg_dump", "folder": "/mnt"}, "is not a known key"),
    ],
)
def test_a_bad_backup_is_one_message_naming_the_key(raw, fragment):
    data = {
        "targets": {
            "prod": {
                "aws": {"region": "eu-west-2"},
                "postgres": {"host": "db.internal"},
                "secrets": {"prefix": "p"},
                "backup": raw,
            }
        }
    }
    with pytest.raises(UserError, match="targets.prod.backup") as err:
        targets.load(data, "prod", Registry.from_mapping(all_defaults()))
    assert fragment in err.value.text


# -- what clean reads --------------------------------------------------------------------------
def test_clean_reads_only_what_the_packages_declare(tmp_path):
    from lomash_tasks.setup import clean

    (tmp_path / "package.json").write_text(
        json.dumps(
            {
                "scripts": {
                    "clean": "rimraf dist && rm -rf coverage .nyc_output/ ../outside $HOME/x *.log; echo hi"  # noqa: E501
                }
            }
        )
    )
    assert clean._clean_script(tmp_path) == ["dist", "coverage", ".nyc_output/", "../outside"]
    (tmp_path / "turbo.json").write_text(
        json.dumps(
            {
                "pipeline": {
                    "build": {"outputs": ["dist/**", ".next/**", "!.next/cache/**", "**/*.d.ts"]},
                    "lint": {},
                }
            }
        )
    )
    assert clean._turbo_outputs(tmp_path) == ["dist", ".next"]
    (tmp_path / "tsconfig.json").write_text(
        '{"compilerOptions": {"outDir": "out", /* c */ "tsBuildInfoFile": "tsc.info"}}'
    )
    assert clean._tsconfig_outputs(tmp_path) == [
        ("out", "tsconfig.json outDir"),
        ("tsc.info", "tsconfig.json tsBuildInfoFile"),
    ]
