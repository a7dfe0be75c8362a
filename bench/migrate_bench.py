"""Migrating all eight service databases: the old loop vs the Prisma runner vs the native runner.

Starts its own embedded PostgreSQL in a temporary workspace copy (node_modules linked), then
times, fresh databases (dropped and recreated with init.sql before each round) and no-op re-runs:

  (a) the old script's loop: `pnpm --filter <svc> exec prisma migrate deploy`, one at a time
  (b) `db.migrate --runner prisma` at several --jobs values
  (c) `db.migrate --runner native` at several --jobs values

Targets: (b) <= 1.2x the slowest single service's Prisma deploy; (c) <= 0.5 s for all eight.

    .venv/bin/python bench/migrate_bench.py [--runs 3]
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
    from lomash_tasks import connections
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
        subprocess.run([str(pnpm), "--filter", svc.name, "exec", "prisma", "migrate", "deploy"],
                       cwd=ws.root, env=env, check=True, capture_output=True,
                       stdin=subprocess.DEVNULL)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prisma-jobs", default="1,2,4,8")
    parser.add_argument("--native-jobs", default="1,4,8")
    args = parser.parse_args()

    from conftest import make_workspace, stack_config, stack_env
    from lomash_tasks import stack as backends
    from lomash_tasks.stack.base import Settings
    from lomash_tasks.context import plain

    parent = Path(tempfile.mkdtemp(prefix="migrate-bench-"))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    config, ws = stack_config(stack_env(root))
    backend = backends.get(ws, Settings.from_config(plain(config)), "embedded")
    try:
        backend.up(parts=["postgres"])
        times: dict[str, list[float]] = {}

        def add(label: str, value: float) -> None:
            times.setdefault(label, []).append(value)

        services = ws.registry.with_database
        for _ in range(args.runs):
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

    slowest = max(median(v) for k, v in times.items() if k.startswith("single:"))
    print(f"Migrating 8 databases, median of {args.runs} runs "
          f"({os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f})")
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
