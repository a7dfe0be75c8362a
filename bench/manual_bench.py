"""The old README's manual path, scripted as bash, against `inv setup` on the same running
stack with fresh databases; and the peak memory of `inv setup`.

- bench/manual_path.sh (copy loop, poll for Postgres, sequential `pnpm --filter X exec prisma
  migrate deploy`, seeds, buckets) vs `inv setup --runner prisma` and `--runner native`;
- peak memory (max RSS) of the `inv setup` process, its largest child included, cold (native
  and Prisma runners) and warm.

(`inv setup`'s own speed, cold and warm, against its targets: bench/setup_bench.py.)

    .venv/bin/python bench/manual_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SUITE_ROOT
from conftest import free_port, make_workspace, stack_config


def inv_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


def run_inv(env: dict, *args: str) -> tuple[float, float, dict | None]:
    """Wall seconds, max RSS (MiB) of the inv process, and its --json summary if any."""
    full = dict(os.environ, **env)
    for key in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        full.pop(key, None)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            inv_cmd(*args),
            cwd=SUITE_ROOT,
            env=full,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        text = out.read()
        if status != 0:
            raise SystemExit(f"inv {' '.join(args)} failed:\n{text}\n{err.read()}")
    data = json.loads(text) if "--json" in args else None
    return elapsed, usage.ru_maxrss / 1024, data


def breakdown(data: dict) -> str:
    return ", ".join(
        f"{s['step']} {s['seconds']:.2f}s" for s in data["steps"] if s["status"] not in ("skipped",)
    )


def fresh_databases(env: dict) -> None:
    """Drop the eight service databases and re-create them (init.sql); remove the .env files."""
    from lomash_tasks import connections
    from lomash_tasks.stack import initsql as dbinit

    _, ws = stack_config(env)
    with connections.pg_connect(ws, superuser=True, autocommit=True) as conn:
        for svc in ws.registry.with_database:
            conn.execute(f'DROP DATABASE IF EXISTS "{svc.database}" WITH (FORCE)')
    dbinit.apply(ws)
    for pair in ws.env_pairs():
        pair.env.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lomash-bench-"))
    base.chmod(0o755)
    root = base / "ws"
    make_workspace(root, node_modules=True)
    env = {
        "INVOKE_WORKSPACE_ROOT": str(root),
        "INVOKE_STACK_BACKEND": "embedded",
        "INVOKE_SERVICE_OPTIONS_IN_SETUP": "0",
    }
    for key in ("POSTGRES", "REDIS", "AWS", "SMTP", "SMTP_WEB"):
        env[f"INVOKE_INFRA_{key}_PORT"] = str(free_port())
    print(
        f"the manual path vs inv setup on a temporary workspace ({os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f})"
    )
    try:
        cold, rss_native, data = run_inv(env, "setup", "--runner", "native", "--json")
        print(f"  cold, native runner:  {cold:6.2f} s\n    {breakdown(data)}")
        rss_warm = run_inv(env, "setup")[1]
        run_inv(env, "stack.down", "--volumes", "--yes")
        for pair in root.rglob(".env"):
            pair.unlink()
        cold_p, rss_prisma, data = run_inv(env, "setup", "--runner", "prisma", "--json")
        print(f"  cold, Prisma runner:  {cold_p:6.2f} s\n    {breakdown(data)}")

        pnpm = SUITE_ROOT / "tools" / "node_modules" / ".bin" / "pnpm"
        script = SUITE_ROOT / "bench" / "manual_path.sh"
        bindir = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
        path = os.environ["PATH"] + (f":{bindir}" if bindir else "")
        _reset_aws(env)
        fresh_databases(env)
        started = time.perf_counter()
        subprocess.run(
            [
                "bash",
                str(script),
                str(root),
                str(pnpm),
                "127.0.0.1",
                env["INVOKE_INFRA_POSTGRES_PORT"],
                f"http://127.0.0.1:{env['INVOKE_INFRA_AWS_PORT']}",
            ],
            check=True,
            env=dict(os.environ, PATH=path, PYTHON=sys.executable),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        manual = time.perf_counter() - started
        _reset_aws(env)
        fresh_databases(env)
        same_p, _, _ = run_inv(env, "setup", "--runner", "prisma", "--json")
        _reset_aws(env)
        fresh_databases(env)
        same_n, _, _ = run_inv(env, "setup", "--runner", "native", "--json")
        print("  on the same running stack, fresh databases, no .env files:")
        print(f"    old README as bash (sequential pnpm exec prisma): {manual:6.2f} s")
        print(
            f"    inv setup --runner prisma:                        {same_p:6.2f} s   "
            f"ratio {same_p / manual:.2f}x"
        )
        print(
            f"    inv setup --runner native:                        {same_n:6.2f} s   "
            f"ratio {same_n / manual:.2f}x"
        )
        print(
            f"  peak memory (max RSS of the inv process, its largest child included): "
            f"cold native {rss_native:.0f} MiB, cold Prisma {rss_prisma:.0f} MiB, "
            f"warm {rss_warm:.0f} MiB"
        )
    finally:
        subprocess.run(
            inv_cmd("stack.down", "--volumes", "--yes"),
            cwd=SUITE_ROOT,
            env=dict(os.environ, **env),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def _reset_aws(env: dict) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{env['INVOKE_INFRA_AWS_PORT']}",
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    for bucket in s3.list_buckets().get("Buckets", []):
        s3.delete_bucket(Bucket=bucket["Name"])


if __name__ == "__main__":
    main()
