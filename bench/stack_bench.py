"""Benchmark of the embedded stack: cold start, warm start, readiness latency.

    .venv/bin/python bench/stack_bench.py [--runs 3]

Each run uses a fresh copy of examples/lomash-wood in a temporary folder and free ports.
  cold     `inv stack.up --backend embedded` with no .lomash/: with an empty template cache
           (initdb, init.sql, saving the template, 4 servers), then in a second new workspace
           (the PostgreSQL cluster copied from the template cache)
  warm     `inv stack.up --backend embedded` again, everything already running (a no-op),
           and the same no-op called in-process (backend.up(), without inv's start-up)
  latency  per part: from the moment the server accepts TCP connections (polled every 1 ms)
           to the moment probes.wait_for() returns ready (PostgreSQL: an initialised cluster
           restarted, so the roles and databases exist)
Targets (2 cores): cold <= 5 s, warm <= 0.5 s, readiness latency <= 50 ms.
Figures are medians; the machine's load at the time is printed with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SUITE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(SUITE), str(SUITE / "tests")]
PARTS = ("postgres", "redis", "aws", "smtp")

from conftest import make_workspace, stack_env  # noqa: E402  (tests/ is on the path)


def new_workspace(base: Path) -> tuple[Path, dict[str, str]]:
    """A fresh copy of the reference workspace on free ports (the tests' own helpers)."""
    parent = Path(tempfile.mkdtemp(prefix="bench-", dir=base))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws")
    return root, stack_env(root)  # main() points INVOKE_STACK_CACHE_DIR at its own cache


def inv(env: dict[str, str], *args: str) -> float:
    full = dict(os.environ)
    full.update(env)
    start = time.perf_counter()
    result = subprocess.run(
        [str(SUITE / ".venv/bin/inv"), *args],
        cwd=SUITE,
        env=full,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    took = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"inv {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return took


def workspace_of(env: dict[str, str]):
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.registry import Registry
    from lomash_tasks.workspace import Workspace

    overrides = {
        "infra": {
            "postgres": {"port": int(env["INVOKE_INFRA_POSTGRES_PORT"])},
            "redis": {"port": int(env["INVOKE_INFRA_REDIS_PORT"])},
            "smtp": {
                "port": int(env["INVOKE_INFRA_SMTP_PORT"]),
                "web_port": int(env["INVOKE_INFRA_SMTP_WEB_PORT"]),
            },
            "aws": {"port": int(env["INVOKE_INFRA_AWS_PORT"])},
        }
    }
    config = load_config(overrides=overrides, env=False)
    return Workspace.locate(env["INVOKE_WORKSPACE_ROOT"], Registry.from_mapping(plain(config)))


def latency(ws, part_name: str) -> float:
    """Seconds from the server accepting connections to wait_for() returning ready."""
    from lomash_tasks.stack import ports, probes
    from lomash_tasks.stack.base import Settings
    from lomash_tasks.stack.embedded import EmbeddedBackend

    backend = EmbeddedBackend(ws, Settings())
    part = backend.part(part_name)
    part.stop()
    part.prepare()
    ep = part.endpoint
    done: dict[str, float] = {}

    def probe() -> None:
        probes.wait_for(ws, part_name, timeout=60, backend="embedded")
        done["ready"] = time.perf_counter()

    thread = threading.Thread(target=probe)
    thread.start()
    time.sleep(0.3)  # the probe is waiting on a closed port, as during a real start
    spawner = threading.Thread(target=part.spawn)
    spawner.start()
    while not ports.answers(ep.host, ep.port, timeout=0.05):
        time.sleep(0.001)
    accepted = time.perf_counter()
    thread.join()
    spawner.join()
    return max(0.0, done["ready"] - accepted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lomash-bench-"))
    base.chmod(0o755)
    cold, cold_cached, warm_inv, warm_call = [], [], [], []
    lat: dict[str, list[float]] = {p: [] for p in PARTS}
    envs = []
    try:
        for run in range(args.runs):
            cache = Path(tempfile.mkdtemp(prefix="cache-", dir=base))
            root, env = new_workspace(base)
            env["INVOKE_STACK_CACHE_DIR"] = str(cache)
            envs.append(env)
            cold.append(inv(env, "stack.up", "--backend", "embedded"))
            inv(env, "stack.down", "--backend", "embedded")
            root2, env2 = new_workspace(base)
            env2["INVOKE_STACK_CACHE_DIR"] = str(cache)
            envs.append(env2)
            cold_cached.append(inv(env2, "stack.up", "--backend", "embedded"))
            inv(env2, "stack.down", "--backend", "embedded", "--volumes", "--yes")
            inv(env, "stack.up", "--backend", "embedded")
            for _ in range(3):
                warm_inv.append(inv(env, "stack.up", "--backend", "embedded"))
            from lomash_tasks.stack.base import Settings
            from lomash_tasks.stack.embedded import EmbeddedBackend

            ws = workspace_of(env)
            for _ in range(5):
                start = time.perf_counter()
                EmbeddedBackend(ws, Settings()).up()
                warm_call.append(time.perf_counter() - start)
            for part in PARTS:
                lat[part].append(latency(ws, part))
            inv(env, "stack.down", "--backend", "embedded", "--volumes", "--yes")
            print(
                f"run {run + 1}/{args.runs}: cold {cold[-1]:.2f} s, cold with a template "
                f"{cold_cached[-1]:.2f} s",
                flush=True,
            )
    finally:
        for env in envs:
            subprocess.run(
                [
                    str(SUITE / ".venv/bin/inv"),
                    "stack.down",
                    "--backend",
                    "embedded",
                    "--volumes",
                    "--yes",
                ],
                cwd=SUITE,
                env={**os.environ, **env},
                capture_output=True,
            )
        shutil.rmtree(base, ignore_errors=True)

    med = statistics.median
    inv_list = med([inv({}, "--list") for _ in range(3)])
    load = os.getloadavg()
    print(
        f"\nembedded stack, median of {args.runs} runs ({os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
    )
    print(
        f"  cold stack.up, empty template cache   {med(cold):6.2f} s   target <= 5 s   "
        f"(min {min(cold):.2f}, max {max(cold):.2f})"
    )
    print(
        f"  cold stack.up, cluster from the cache {med(cold_cached):6.2f} s   target <= 5 s   "
        f"(min {min(cold_cached):.2f}, max {max(cold_cached):.2f})"
    )
    print(f"  `inv --list` on this machine now      {inv_list:6.3f} s   (inv's own start-up)")
    print(f"  warm stack.up (inv, all running)      {med(warm_inv):6.3f} s   target <= 0.5 s")
    print(f"  warm backend.up() in process          {med(warm_call) * 1000:6.1f} ms")
    for part in PARTS:
        print(
            f"  readiness latency {part:<9}           {med(lat[part]) * 1000:6.1f} ms  "
            f"target <= 50 ms (max {max(lat[part]) * 1000:.1f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
