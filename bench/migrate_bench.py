"""Migrating all eight service databases: the old loop vs the Prisma runner vs the native runner.

Starts its own embedded PostgreSQL in a temporary workspace copy (node_modules linked), then
times, fresh databases (dropped and recreated with init.sql before each round) and no-op re-runs:

  (a) the old script's loop: `pnpm --filter <svc> exec prisma migrate deploy`, one at a time
  (b) `db.migrate --runner prisma` at several --jobs values
  (c) `db.migrate --runner native` at several --jobs values

Targets: (b) <= 1.2x the slowest single service's Prisma deploy; (c) <= 0.5 s for all eight.

Then a long history (tests/migration_corpus.py: `--history` generated migrations with lone
CONCURRENTLY indexes, enum values, `$$` bodies, extensions and explicit transactions) in one
service's database: `prisma migrate deploy` (the CLI itself) vs the native runner, fresh and
no-op, as a ratio.

    .venv/bin/python bench/migrate_bench.py [--runs 3] [--history 300] [--only-history]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import SUITE_ROOT, median, row


def recreate(ws) -> None:
    from lomash_tasks.db import ops as database

    for svc in ws.registry.with_database:
        database.drop_database(ws, svc)
    database.init(ws)


def pnpm_loop(ws) -> float:
    from lomash_tasks import connections

    pnpm = SUITE_ROOT / "tools" / "node_modules" / ".bin" / "pnpm"
    began = time.perf_counter()
    for svc in ws.registry.with_database:
        env = dict(os.environ, DATABASE_URL=connections.database_url(ws, svc))
        subprocess.run(
            [str(pnpm), "--filter", svc.name, "exec", "prisma", "migrate", "deploy"],
            cwd=ws.root,
            env=env,
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
    return time.perf_counter() - began


def runner(ws, name: str, jobs: int) -> float:
    from lomash_tasks.db import migrate

    began = time.perf_counter()
    report = migrate.migrate(ws, runner=name, jobs=jobs)
    elapsed = time.perf_counter() - began
    if not report.ok:
        raise SystemExit(f"{name} runner failed: {[r.error for r in report.failed]}")
    return elapsed


def single(ws, svc) -> float:
    from lomash_tasks.db.migrate import prisma

    began = time.perf_counter()
    result = prisma.deploy(ws, svc)
    if not result.ok:
        raise SystemExit(result.error)
    return time.perf_counter() - began


def long_history(ws, runs: int, count: int) -> dict[str, list[float]]:
    """Native vs the Prisma CLI on a generated history of `count` migrations in one database."""
    from migration_corpus import long_history as generate
    from migration_corpus import write_history

    from lomash_tasks.db import ops as database
    from lomash_tasks.db.migrate import native, prisma

    svc = ws.registry.service("content")
    saved = Path(tempfile.mkdtemp(prefix="migrations-"))
    shutil.copytree(ws.migrations_dir(svc), saved / "m")
    write_history(ws.migrations_dir(svc), generate(count))
    times: dict[str, list[float]] = {}

    def fresh_db() -> None:
        database.drop_database(ws, svc)
        database.init(ws)

    def cli() -> float:
        run = prisma.run_cli(ws, svc, ["migrate", "deploy"], timeout=900)
        if run.code != 0:
            raise SystemExit(f"prisma migrate deploy failed: {run.output[-2000:]}")
        return run.seconds

    def own() -> float:
        began = time.perf_counter()
        result = native.apply(ws, svc, timeout=900)
        if not result.ok:
            raise SystemExit(f"native runner failed: {result.error}")
        return time.perf_counter() - began

    try:
        for _ in range(runs):
            fresh_db()
            times.setdefault("history fresh: prisma migrate deploy", []).append(cli())
            times.setdefault("history no-op: prisma migrate deploy", []).append(cli())
            fresh_db()
            times.setdefault("history fresh: native runner", []).append(own())
            times.setdefault("history no-op: native runner", []).append(own())
    finally:
        shutil.rmtree(ws.migrations_dir(svc))
        shutil.copytree(saved / "m", ws.migrations_dir(svc))
        shutil.rmtree(saved, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prisma-jobs", default="1,2,4,8")
    parser.add_argument("--native-jobs", default="1,4,8")
    parser.add_argument(
        "--history",
        type=int,
        default=300,
        help="migrations in the generated long history (0: skip it)",
    )
    parser.add_argument(
        "--only-history",
        action="store_true",
        help="time only the long history, not the eight services",
    )
    args = parser.parse_args()

    from conftest import make_workspace, stack_config, stack_env

    from lomash_tasks import stack as backends
    from lomash_tasks.context import plain
    from lomash_tasks.stack.base import Settings

    parent = Path(tempfile.mkdtemp(prefix="migrate-bench-"))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    config, ws = stack_config(stack_env(root))
    backend = backends.get(ws, Settings.load(plain(config)), "embedded")
    try:
        backend.up(parts=["postgres"])
        times: dict[str, list[float]] = {}

        def add(label: str, value: float) -> None:
            times.setdefault(label, []).append(value)

        services = ws.registry.with_database
        history = long_history(ws, args.runs, args.history) if args.history else {}
        for _ in range(0 if args.only_history else args.runs):
            recreate(ws)
            for svc in services:  # each single service's deploy onto a fresh database
                add(f"single:{svc.alias}", single(ws, svc))
            recreate(ws)
            add("fresh (a) pnpm loop", pnpm_loop(ws))
            add("no-op (a) pnpm loop", pnpm_loop(ws))
            for jobs in [int(j) for j in args.prisma_jobs.split(",")]:
                recreate(ws)
                add(f"fresh (b) prisma runner, jobs {jobs}", runner(ws, "prisma", jobs))
                add(f"no-op (b) prisma runner, jobs {jobs}", runner(ws, "prisma", jobs))
            for jobs in [int(j) for j in args.native_jobs.split(",")]:
                recreate(ws)
                add(f"fresh (c) native runner, jobs {jobs}", runner(ws, "native", jobs))
                add(f"no-op (c) native runner, jobs {jobs}", runner(ws, "native", jobs))
    finally:
        backend.down()
        shutil.rmtree(parent, ignore_errors=True)

    if history:
        print(
            f"A generated history of {args.history} migrations in one database, median of "
            f"{args.runs} runs ({os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f})"
        )
        for label, values in history.items():
            print(row(label, median(values)))
        for kind in ("fresh", "no-op"):
            ratio = median(history[f"history {kind}: prisma migrate deploy"]) / median(
                history[f"history {kind}: native runner"]
            )
            print(f"  {kind}: the native runner is {ratio:.1f}x faster than prisma migrate deploy")
    if args.only_history:
        return
    slowest = max(median(v) for k, v in times.items() if k.startswith("single:"))
    print(
        f"Migrating 8 databases, median of {args.runs} runs "
        f"({os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f})"
    )
    for label, values in times.items():
        if label.startswith("single:"):
            print(row(f"single prisma deploy, {label[7:]}", median(values)))
    print(row("slowest single service (fresh)", slowest))
    for label, values in times.items():
        if label.startswith("single:"):
            continue
        value = median(values)
        extra = ""
        if "(b)" in label:
            extra = f"{value / slowest:.2f}x slowest single (target <= 1.20x)"
        elif "(c)" in label:
            extra = f"target <= 500 ms ({'met' if value <= 0.5 else 'missed'})"
        print(row(label, value, extra))


if __name__ == "__main__":
    main()
