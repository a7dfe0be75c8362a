"""The workspace's `infra/docker/postgres/init.sql`: read as psql reads it, run as the image
runs it.

    script.py   the reader: sections per database, statements and what each creates
    needs.py    what the script needs from the server (locales, preloaded libraries,
                extensions), decided before anything is created
    runs.py     the runs: whole on a new cluster (`first_run`), later only what is missing
                (`apply`, db.init), one database rebuilt (`check_rebuild` + `apply_plan`,
                db.reset), or made under another name (`renamed_database`: a test
                database or a template made as init.sql makes the real one)

The embedded backend runs `first_run` on its new cluster (the official image does the same on
Compose); `db.init` runs `apply` on any backend.
"""

from lomash_tasks.stack.initsql.runs import (
    InitOutcome,
    Plan,
    ScriptFailed,
    apply,
    apply_plan,
    check_rebuild,
    first_run,
    inventory,
    keep_metas,
    make_plan,
    missing_objects,
    read_script,
    run_plan,
    set_role_passwords,
)
from lomash_tasks.stack.initsql.script import renamed_database

__all__ = [
    "InitOutcome",
    "Plan",
    "ScriptFailed",
    "apply",
    "apply_plan",
    "check_rebuild",
    "first_run",
    "inventory",
    "keep_metas",
    "make_plan",
    "missing_objects",
    "read_script",
    "renamed_database",
    "run_plan",
    "set_role_passwords",
]
