"""init.sql scripts for the reader and the runs: the conventions real monorepos write them with.

`real_style()` is our own script with the conventions of the monorepo our users have (see
its README's seed): plain (not re-runnable) CREATE DATABASE with `LC_COLLATE 'en_US.utf8'`,
roles made by a DO block looping over an ARRAY with `format('CREATE ROLE %I ...')`, per-database
`\\c` sections with extensions, grants and a plpgsql function, `CREATE EXTENSION
pg_stat_statements`, ALTER SYSTEM lines (shared_preload_libraries, pg_stat_statements.track,
timeouts) and `SELECT pg_reload_conf()`.
"""

from __future__ import annotations

# database, role, extensions of its section (as the monorepo's services need them)
DATABASES = [
    ("lomash_auth", "lomash_auth", ["uuid-ossp", "pgcrypto", "citext"]),
    ("lomash_products", "lomash_product", ["uuid-ossp", "pgcrypto", "pg_trgm"]),
    ("lomash_orders", "lomash_order", ["uuid-ossp", "pgcrypto"]),
    ("lomash_appointments", "lomash_appointment", ["uuid-ossp", "pgcrypto", "btree_gist"]),
    ("lomash_content", "lomash_content", ["uuid-ossp", "pgcrypto", "pg_trgm", "unaccent"]),
    ("lomash_customers", "lomash_customer", ["uuid-ossp", "pgcrypto", "citext"]),
    ("lomash_notifications", "lomash_notification", ["uuid-ossp", "pgcrypto"]),
    (
        "lomash_analytics",
        "lomash_analytics",
        ["uuid-ossp", "pgcrypto", "pg_stat_statements", "pg_trgm"],
    ),
]


def real_style(
    locale: str = "en_US.utf8",
    skip_sections_of: str = "",
    skip_create_of: str = "",
    extra_after: dict[str, str] | None = None,
) -> str:
    """The script; `skip_sections_of` leaves out a database's `\\c` sections,
    `skip_create_of` its CREATE DATABASE; `extra_after[db]` is appended to its first section."""
    extra_after = extra_after or {}
    roles = ",\n".join(f"    '{role}'" for _, role, _ in DATABASES)
    out = [
        "-- Lomash Wood: service roles and databases. Run once by the postgres image on an",
        "-- empty data directory (/docker-entrypoint-initdb.d).",
        "",
        "\\set ON_ERROR_STOP on",
        "",
        "\\c postgres",
        "",
        'CREATE EXTENSION IF NOT EXISTS "uuid-ossp";',
        'CREATE EXTENSION IF NOT EXISTS "pgcrypto";',
        "",
        "DO $$",
        "DECLARE",
        "  service_roles TEXT[] := ARRAY[",
        roles,
        "  ];",
        "  r TEXT;",
        "BEGIN",
        "  FOREACH r IN ARRAY service_roles LOOP",
        "    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN",
        "      EXECUTE format(",
        "        'CREATE ROLE %I WITH LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE',",
        "        r, 'changeme_local');  -- local development only",
        "      RAISE NOTICE 'Created role: %', r;",
        "    END IF;",
        "  END LOOP;",
        "END",
        "$$;",
        "",
    ]
    for db, role, _ in DATABASES:
        if db == skip_create_of:
            continue
        out += [
            f"CREATE DATABASE {db}",
            f"  WITH OWNER = {role}",
            "       ENCODING = 'UTF8'",
            f"       LC_COLLATE = '{locale}'",
            f"       LC_CTYPE = '{locale}'",
            "       TEMPLATE = template0;",
            "",
        ]
    for db, role, extensions in DATABASES:
        if db == skip_sections_of:
            continue
        out.append(f"\\c {db}")
        out += [f'CREATE EXTENSION IF NOT EXISTS "{e}";' for e in extensions]
        out += [
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
            f"GRANT ALL ON SCHEMA public TO {role};",
            f"GRANT CREATE ON DATABASE {db} TO {role};",
        ]
        if db in extra_after:
            out.append(extra_after[db])
        out.append("")
    for db, _, _ in DATABASES:
        if db == skip_sections_of:
            continue
        out += [
            f"\\c {db}",
            "CREATE OR REPLACE FUNCTION set_updated_at()",
            "RETURNS TRIGGER AS $$",
            "BEGIN",
            '  NEW."updatedAt" = NOW();',
            "  RETURN NEW;",
            "END;",
            "$$ LANGUAGE plpgsql;",
            "",
        ]
    out += [
        "\\c postgres",
        "",
        "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';",
        "ALTER SYSTEM SET pg_stat_statements.track = 'all';",
        "ALTER SYSTEM SET log_min_duration_statement = 1000;   -- ms",
        "ALTER SYSTEM SET idle_in_transaction_session_timeout = '30s';",
        "ALTER SYSTEM SET lock_timeout = '10s';",
        "ALTER SYSTEM SET statement_timeout = '60s';",
        "",
        "SELECT pg_reload_conf();",
        "",
        "\\echo '================================================'",
        "\\echo ' Lomash Wood: databases and service roles ready.'",
        "\\echo '================================================'",
        "",
    ]
    return "\n".join(out)


def line_of(script: str, fragment: str) -> int:
    """The 1-based line of the first line holding `fragment`."""
    for number, line in enumerate(script.splitlines(), 1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in the script")


# A script of harmless statements that lexing gets wrong in every easy way; psql itself says
# what it sends (ECHO queries), and the reader must agree statement for statement.
TRICKY = r"""-- a comment; with a semicolon
\set ON_ERROR_STOP on
\set greeting 'it''s; fine'
/* a block comment; /* nested; */ still comment */
SELECT 'semi;colon' AS a, "odd;""name" FROM (SELECT 1 AS "odd;""name") t;
SELECT E'back\'slash; quote' AS b;
SELECT $$dollar; body with 'quotes'$$ AS c;
SELECT $fn$ a $$ inside ; $fn$ AS d;
DO $body$
BEGIN
  PERFORM 1; -- ; in a body
  RAISE NOTICE '%', 'x;y';
END
$body$;
SELECT :'greeting' AS e;
CREATE TEMP TABLE tricky (x int);
CREATE RULE tricky_rule AS ON INSERT TO tricky DO ALSO (SELECT 1; SELECT 2);
SELECT 1::int + 2 AS f, (array[1,2])[1:1] AS g;
SELECT 'SELECT 3 AS via_gexec' AS h \gexec
SELECT 2 AS i
   -- the last statement has no semicolon: psql still sends it at the end
"""
