"""The compose backend's figures, measured side by side in one run on a real Docker engine.

- cold and warm `inv setup --backend compose` against cold and warm `--backend embedded`
  (cold: a fresh workspace, no containers, no volumes / no .lomash; warm: everything ready);
- `inv stack.up --backend compose` against a bare `docker compose up -d --wait` of the same
  files, services, project and ports (containers removed before each round, volumes kept, so
  both start the same stopped stack); target: within 1.1x of the bare Compose call.

Needs the engine of `scripts/docker-engine.sh up` (started here when it does not answer, and
stopped again at the end).

    .venv/bin/python bench/compose_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import SUITE_ROOT, median, row
from conftest import make_workspace, stack_config, stack_env

STATE = Path(os.environ.get("LOMASH_DOCKER_STATE", "/var/tmp/lomash-docker"))
SCRIPT = SUITE_ROOT / "scripts" / "docker-engine.sh"
ENGINE = {"DOCKER_HOST": f"unix://{STATE}/docker.sock", "DOCKER_CONFIG": str(STATE / "config")}


def run(argv: list[str], env: dict, cwd: Path = SUITE_ROOT) -> float:
    full = dict(os.environ, **env)
    for key in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        full.pop(key, None)
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env=full, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}"
        )
    return elapsed


def inv(env: dict, *args: str) -> float:
    return run([sys.executable, "-m", "invoke", *args], env)


def workspace(tmp: Path, backend: str) -> dict:
    parent = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=tmp))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    env = stack_env(root, cache=tmp / "cache")
    env.update(ENGINE, INVOKE_STACK_PROJECT=f"lomash-bench-{uuid.uuid4().hex[:8]}")
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds of stack.up vs bare compose")
    args = parser.parse_args()
    was_running = (
        subprocess.run(
            ["bash", str(SCRIPT), "status"],
            capture_output=True,
            env=dict(os.environ, LOMASH_DOCKER_STATE=str(STATE)),
        ).returncode
        == 0
    )
    began = time.perf_counter()
    subprocess.run(
        ["bash", str(SCRIPT), "up"],
        check=True,
        capture_output=True,
        env=dict(os.environ, LOMASH_DOCKER_STATE=str(STATE)),
    )
    print(
        row(
            "scripts/docker-engine.sh up" + (" (engine already up)" if was_running else ""),
            time.perf_counter() - began,
        )
    )
    tmp = Path(tempfile.mkdtemp(prefix="lomash-compose-bench-"))
    tmp.chmod(0o755)
    envs = {b: workspace(tmp, b) for b in ("compose", "embedded")}
    try:
        print("inv setup (cold: fresh workspace, nothing running; warm: all ready)")
        figures = {}
        for backend in ("compose", "embedded"):
            env = envs[backend]
            cold = inv(env, "setup", "--backend", backend)
            warm = median([inv(env, "setup", "--backend", backend) for _ in range(3)])
            figures[backend] = (cold, warm)
            print(row(f"cold inv setup --backend {backend}", cold))
            print(row(f"warm inv setup --backend {backend} (median of 3)", warm))
        (cc, cw), (ec, ew) = figures["compose"], figures["embedded"]
        print(f"  compose / embedded: cold {cc / ec:.2f}x, warm {cw / ew:.2f}x")
        inv(envs["embedded"], "stack.down", "--backend", "embedded")

        print("stack.up --backend compose vs bare `docker compose up -d --wait` (same files)")
        env = envs["compose"]
        _, ws = stack_config(env)
        from lomash_tasks.stack.base import Settings
        from lomash_tasks.stack.compose import (
            SERVICES,
            ComposeBackend,
            classic_override,
            compose_command,
            compose_env,
        )

        os.environ.update(ENGINE)
        project = env["INVOKE_STACK_PROJECT"]
        backend = ComposeBackend(ws, Settings(project=project))
        # exactly the files and environment the backend uses (on an engine older than 23, its
        # classic-builder file too)
        extra = [p for p in [classic_override(ws)] if p] if backend.classic else []
        bare_env = compose_env(ws, backend.classic)
        bare = compose_command(ws, project, "up", "-d", "--wait", *SERVICES.values(), extra=extra)
        remove = compose_command(
            ws, project, "rm", "--stop", "--force", *SERVICES.values(), extra=extra
        )
        times: dict[str, list[float]] = {"inv": [], "bare": []}
        for _ in range(args.runs):
            for name in ("inv", "bare"):
                run(remove, bare_env, ws.compose_dir)
                if name == "inv":
                    times[name].append(inv(env, "stack.up", "--backend", "compose"))
                else:
                    times[name].append(run(bare, bare_env, ws.compose_dir))
        up_inv, up_bare = median(times["inv"]), median(times["bare"])
        print(row(f"inv stack.up --backend compose (median of {args.runs})", up_inv))
        print(row(f"docker compose up -d --wait (median of {args.runs})", up_bare))
        print(f"  inv / bare: {up_inv / up_bare:.2f}x (target: <= 1.10x)")
        inv(env, "stack.down", "--volumes", "--yes", "--backend", "compose")
    finally:
        for env in envs.values():
            subprocess.run(
                [sys.executable, "-m", "invoke", "stack.down", "--volumes", "--yes"],
                cwd=SUITE_ROOT,
                env=dict(os.environ, **env),
                capture_output=True,
            )
        subprocess.run(["rm", "-rf", str(tmp)])
        if not was_running:
            subprocess.run(
                ["bash", str(SCRIPT), "down"],
                capture_output=True,
                env=dict(os.environ, LOMASH_DOCKER_STATE=str(STATE)),
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
