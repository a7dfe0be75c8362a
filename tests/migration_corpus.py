"""Migration histories that exercise how `prisma migrate deploy` applies scripts, for the tests
and bench/migrate_bench.py: each class of script seen in real Prisma projects, and one long
generated history.

A case is a list of (folder name, script) where a script is bytes (written as they are), a str
(written as UTF-8) or None (the folder has no migration.sql). `expect_ok` is what Prisma 6.19.3
did with it here (its exit code 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

T = "CREATE TABLE t (id int PRIMARY KEY, v text);\n"


@dataclass(frozen=True)
class Case:
    name: str
    migrations: list[tuple[str, bytes | str | None]]
    expect_ok: bool

    def write(self, folder: Path) -> None:
        write_history(folder, self.migrations)


def write_history(folder: Path, migrations) -> None:
    """Replace the migration folders under `folder` (migration_lock.toml is kept)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for child in folder.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
    lock = folder / "migration_lock.toml"
    if not lock.exists():
        lock.write_text('provider = "postgresql"\n')
    for name, script in migrations:
        (folder / name).mkdir()
        if script is None:
            continue
        data = script if isinstance(script, bytes) else script.encode("utf-8")
        (folder / name / "migration.sql").write_bytes(data)


BIG_ROW = (
    "CREATE TABLE big (v text);\n"
    "INSERT INTO big SELECT string_agg(md5(i::text), '') FROM generate_series(1, 1000) i;\n"
    "CREATE INDEX big_v ON big (v);\n"
)

CASES = [
    Case(
        "concurrently_alone",
        [("0001_t", T), ("0002_idx", "CREATE INDEX CONCURRENTLY t_v ON t (v);\n")],
        True,
    ),
    Case(
        "concurrently_in_a_multi_statement_script",
        [("0001_t", T + "CREATE INDEX CONCURRENTLY t_v ON t (v);\n")],
        False,
    ),
    Case("vacuum_alone", [("0001_t", T), ("0002_vacuum", "VACUUM ANALYZE t;\n")], True),
    Case(
        "do_block_that_commits",
        [
            ("0001_t", T),
            (
                "0002_do",
                "DO $$\nBEGIN\n  INSERT INTO t VALUES (1, 'a');\n  COMMIT;\n"
                "  INSERT INTO t VALUES (2, 'b');\nEND\n$$;\n",
            ),
        ],
        True,
    ),
    Case(
        "dollar_bodies_and_semicolons_in_literals",
        [
            (
                "0001_fn",
                T + "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $body$\n"
                "BEGIN NEW.v := coalesce(NEW.v, 'a;b'); RETURN NEW; END;\n$body$;\n"
                "CREATE TRIGGER t_f BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();\n"
                "INSERT INTO t VALUES (1, 'x;y'), (2, $$it's; fine$$);\n"
                "COMMENT ON TABLE t IS 'semi; colon %s 100%';\n",
            )
        ],
        True,
    ),
    Case("own_transaction_committed", [("0001_t", "BEGIN;\n" + T + "COMMIT;\n")], True),
    Case(
        "own_commit_then_a_failure",
        [
            ("0001_t", T),
            (
                "0002_bc",
                "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n"
                "CREATE TABLE b (id int);\nSELECT * FROM nope;\n",
            ),
        ],
        False,
    ),
    Case(
        "failure_inside_own_transaction",
        [
            ("0001_t", T),
            ("0002_bf", "BEGIN;\nCREATE TABLE a (id int);\nSELECT * FROM nope;\nCOMMIT;\n"),
        ],
        False,
    ),
    Case(
        "multi_statement_failure_leaves_nothing",
        [
            ("0001_t", T),
            (
                "0002_half",
                "CREATE TABLE half (id int);\nINSERT INTO t VALUES (1, 'a'), (1, 'b');\n",
            ),
            ("0003_never", "CREATE TABLE never (id int);\n"),
        ],
        False,
    ),
    Case(
        "enum_value_used_where_added_55P04",
        [
            ("0001_e", "CREATE TYPE mood AS ENUM ('sad');\n"),
            (
                "0002_e",
                "ALTER TYPE mood ADD VALUE 'happy';\nCREATE TABLE m (v mood DEFAULT 'happy');\n"
                "SELECT 'happy'::mood;\n",
            ),
        ],
        False,
    ),
    Case(
        "enum_value_added_alone_then_used",
        [
            ("0001_e", "CREATE TYPE mood AS ENUM ('sad');\n"),
            ("0002_e", "ALTER TYPE mood ADD VALUE 'happy';\n"),
            ("0003_e", "CREATE TABLE m (v mood DEFAULT 'happy');\n"),
        ],
        True,
    ),
    Case("index_row_too_large_54000", [("0001_big", BIG_ROW)], False),
    Case(
        "statement_timeout_inside_the_script_57014",
        [("0001_t", T), ("0002_slow", "SET statement_timeout = '50ms';\nSELECT pg_sleep(2);\n")],
        False,
    ),
    Case("division_by_zero_22012", [("0001_t", T), ("0002_div", "SELECT 1 / 0;\n")], False),
    Case(
        "not_utf8",
        [
            (
                "0001_t",
                b"-- caf\xe9\n"
                + T.encode()
                + b"INSERT INTO t VALUES (1, 'caf\xe9 \xf0\x9f\x98 \xff');\n",
            )
        ],
        True,
    ),
    Case("byte_order_mark", [("0001_t", b"\xef\xbb\xbf" + T.encode())], False),
    Case(
        "crlf_and_empty_scripts",
        [
            ("0001_t", T.replace("\n", "\r\n")),
            ("0002_empty", b""),
            ("0003_comment", "-- nothing to do\n"),
        ],
        True,
    ),
    Case(
        "folder_without_migration_sql",
        [("0001_t", T), ("0002_nofile", None), ("0003_u", "CREATE TABLE u (id int);\n")],
        False,
    ),
    Case(
        "extension",
        [
            (
                "0001_ext",
                'CREATE EXTENSION IF NOT EXISTS "pg_trgm";\n'
                "CREATE TABLE s (v text);\n"
                "CREATE INDEX s_trgm ON s USING gin (v gin_trgm_ops);\n",
            )
        ],
        True,
    ),
]


def long_history(count: int = 300) -> list[tuple[str, str]]:
    """A generated history of `count` migrations in the shapes large projects accumulate:
    tables, lone CONCURRENTLY indexes, enum values added then used, plpgsql `$$` bodies,
    extensions, explicit transactions, data updates, renames."""
    out: list[tuple[str, str]] = [
        (
            "00000_init",
            'CREATE EXTENSION IF NOT EXISTS "pg_trgm";\n'
            'CREATE EXTENSION IF NOT EXISTS "citext";\n'
            "CREATE TYPE status AS ENUM ('s0');\n"
            "CREATE TABLE audit (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), what text);\n",
        )
    ]
    enum_values = 1
    for i in range(1, count):
        kind = i % 8
        tbl = f"t{(i // 8) * 8 + 1:05d}"
        name = f"{i:05d}_{['table', 'concurrent_index', 'enum_value', 'use_enum', 'function', 'explicit_tx', 'data', 'rename'][kind]}"
        if kind == 0 or i == 1:
            sql = (
                f"CREATE TABLE {tbl} (id serial PRIMARY KEY, email citext, name text, "
                f"state status DEFAULT 's0', n int DEFAULT 0);\n"
                f"INSERT INTO {tbl} (email, name) SELECT 'u' || g || '@x.test', 'n;' || g "
                f"FROM generate_series(1, 20) g;\n"
            )
        elif kind == 1:
            sql = f"CREATE INDEX CONCURRENTLY {tbl}_name_{i} ON {tbl} USING gin (name gin_trgm_ops);\n"
        elif kind == 2:
            sql = f"ALTER TYPE status ADD VALUE 's{enum_values}';\n"
            enum_values += 1
        elif kind == 3:
            sql = (
                f"ALTER TABLE {tbl} ALTER COLUMN state SET DEFAULT 's{enum_values - 1}';\n"
                f"UPDATE {tbl} SET state = 's{enum_values - 1}' WHERE id % 2 = 0;\n"
            )
        elif kind == 4:
            sql = (
                f"CREATE OR REPLACE FUNCTION bump_{i}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN\n  NEW.n := NEW.n + 1;\n  INSERT INTO audit (what) VALUES ('bump; {i}');\n"
                f"  RETURN NEW;\nEND;\n$$;\n"
                f"CREATE TRIGGER {tbl}_bump_{i} BEFORE UPDATE ON {tbl} FOR EACH ROW "
                f"EXECUTE FUNCTION bump_{i}();\n"
            )
        elif kind == 5:
            sql = (
                f"BEGIN;\nALTER TABLE {tbl} ADD COLUMN c{i} text DEFAULT 'x;y';\n"
                f"CREATE INDEX {tbl}_c{i} ON {tbl} (c{i});\nCOMMIT;\n"
            )
        elif kind == 6:
            sql = (
                f"UPDATE {tbl} SET name = name || '-' || {i};\n"
                f"DO $$ BEGIN PERFORM count(*) FROM {tbl}; END $$;\n"
            )
        else:
            sql = f"ALTER TABLE {tbl} RENAME COLUMN name TO name_{i};\nALTER TABLE {tbl} RENAME COLUMN name_{i} TO name;\n"
        out.append((name, sql))
    return out
