"""Resetting a service's test database: a clone of its template vs making it from scratch.

Starts its own embedded PostgreSQL in a temporary workspace copy (node_modules linked), then,
in interleaved rounds (so the machine's noise hits both alike), for each service asked:

  (a) template: `environments.reset(..., template=True)`: DROP, CREATE DATABASE ... TEMPLATE
      <database>_test_template, init.sql's grants, the `test` seed profile (what
      `inv db.reset --env test` and `inv test` do);
  (b) from scratch: `environments.reset(..., template=False)`: DROP, init.sql's CREATE and
      sections, every migration by the runner, the same seed (what a reset was before);

with the native runner and with each service's Prisma CLI. The template's first build (a miss:
init.sql and the migrations changed) is timed once on its own. Then `inv db.reset --env test`
and `inv test --service auth --kind e2e` end to end, with inv's own start-up.

    .venv/bin/python bench/testdb_bench.py [--runs 5] [--services auth,order]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import SUITE_ROOT, median, row, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--services",
        default="auth,order",
        help="comma-separated aliases (order has two migrations)",
    )
    parser.add_argument("--runners", default="native,prisma")
    args = parser.parse_args()

    from conftest import make_workspace, stack_config, stack_env

    from lomash_tasks import stack as backends
    from lomash_tasks.context import plain
    from lomash_tasks.db import environments
    from lomash_tasks.stack.base import Settings

    parent = Path(tempfile.mkdtemp(prefix="testdb-bench-"))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    env = stack_env(root)
    config, ws = stack_config(env)
    backend = backends.get(ws, Settings.load(plain(config)), "embedded")
    test = environments.load(plain(config), "test")
    times: dict[str, list[float]] = {}

    def add(label: str, value: float) -> None:
        times.setdefault(label, []).append(value)

    def reset(svc, runner: str, template: bool) -> float:
        began = time.perf_counter()
        result = environments.reset(ws, test, svc, runner=runner, template=template)
        elapsed = time.perf_counter() - began
        if not result.ok:
            raise SystemExit(f"{svc.name} ({runner}, template={template}): {result.error}")
        return elapsed

    services = [ws.registry.service(a) for a in args.services.split(",") if a.strip()]
    runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    try:
        backend.up(parts=["postgres"])
        environments.ensure(ws, test, services)
        for runner in runners:
            for svc in services:
                name = environments.template_name(test, svc)
                environments._drop(ws, name)  # a miss: the first build, timed on its own
                add(f"{svc.alias}: first reset, template made ({runner})", reset(svc, runner, True))
        for _ in range(args.runs):
            for runner in runners:
                for svc in services:
                    add(f"{svc.alias}: (a) template clone ({runner})", reset(svc, runner, True))
                    add(f"{svc.alias}: (b) from scratch ({runner})", reset(svc, runner, False))
        inv = [str(SUITE_ROOT / ".venv" / "bin" / "inv")]
        environ = {**env, "INVOKE_DB_RUNNER": "native"}
        timed(inv + ["env.copy", "--env", "test"], SUITE_ROOT, environ)
        for _ in range(args.runs):
            add(
                "inv db.reset --env test --service auth --yes (template)",
                timed(
                    inv + ["db.reset", "--env", "test", "--service", "auth", "--yes"],
                    SUITE_ROOT,
                    environ,
                ),
            )
            add(
                "inv test --service auth --kind e2e (reset + node --test)",
                timed(inv + ["test", "--service", "auth", "--kind", "e2e"], SUITE_ROOT, environ),
            )
    finally:
        backend.down()
        shutil.rmtree(parent, ignore_errors=True)

    print(
        f"Resetting a test database, median of {args.runs} runs ({os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f})"
    )
    for label, values in times.items():
        print(row(label, median(values)))
    for runner in runners:
        for svc in services:
            a = median(times[f"{svc.alias}: (a) template clone ({runner})"])
            b = median(times[f"{svc.alias}: (b) from scratch ({runner})"])
            print(
                f"  {svc.alias}, {runner} runner: the template clone takes {a / b:.2f}x the "
                f"time of a reset from scratch ({a * 1000:.0f} ms vs {b * 1000:.0f} ms)"
            )


if __name__ == "__main__":
    main()
