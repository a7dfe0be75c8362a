"""Benchmark of `--target`: what the tunnel and the target's secrets cost.

    .venv/bin/python bench/remote_bench.py [--runs 5]

Starts an embedded stack in a fresh copy of examples/lomash-wood (free ports), a real sshd on a
loopback port as the bastion (tests/remote_peers.py), per-service roles and databases on that
PostgreSQL playing RDS, and their secrets in the stack's moto. Then, side by side:
  tunnel      tunnel.opened() through the bastion: open (connect, host key, auth, a check
              channel to the database, the local listener) and close, in-process
  status      `inv db.status --service auth` (local) vs `inv db.status --service auth
              --target staging` (secrets + tunnel + the same query); the ratio is the cost
Figures are medians of --runs; no target (it is the price of a network hop, reported).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(SUITE), str(SUITE / "tests")]

from conftest import make_workspace, stack_config, stack_env  # noqa: E402
from remote_peers import Rds, Sshd, aws_env, store_secrets, target_config  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from lomash_tasks import stack as backends
    from lomash_tasks.context import plain
    from lomash_tasks.remote import tunnel
    from lomash_tasks.remote.targets import Hop
    from lomash_tasks.stack.base import Settings

    base = Path(tempfile.mkdtemp(prefix="remote-bench-"))
    base.chmod(0o755)
    root = make_workspace(base / "ws")
    env = stack_env(root)
    config, ws = stack_config(env)
    backend = backends.get(ws, Settings.load(plain(config)), "embedded")
    sshd = None
    try:
        backend.up()
        sshd = Sshd.start(base / "sshd")
        rds = Rds.create(ws, {"auth"})

        class Handle:
            pass

        handle = Handle()
        handle.ws, handle.env = ws, env
        store_secrets(handle, "bench/staging", rds.urls)
        cfg = target_config(
            base / "targets.yaml",
            "staging",
            stack=handle,
            rds=rds,
            prefix="bench/staging",
            sshd=sshd,
        )
        hop = Hop("127.0.0.1", sshd.port, sshd.user, str(sshd.key), str(sshd.known_hosts))
        pg = ws.registry.postgres
        opens = []
        for _ in range(args.runs):
            began = time.perf_counter()
            with tunnel.opened(hop, pg.host, pg.port, label="bench"):
                pass
            opens.append(time.perf_counter() - began)

        full = {**os.environ, **env, **aws_env(handle)}

        def inv(*argv: str) -> float:
            began = time.perf_counter()
            done = subprocess.run(
                [str(SUITE / ".venv/bin/inv"), "-f", str(cfg), *argv],
                cwd=SUITE,
                env=full,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            took = time.perf_counter() - began
            if done.returncode not in (0, 1):
                raise SystemExit(f"inv {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
            return took

        local, remote = [], []
        for _ in range(args.runs):  # interleaved, so load changes hit both alike
            local.append(inv("db.status", "--service", "auth"))
            remote.append(inv("db.status", "--service", "auth", "--target", "staging"))
        med = statistics.median
        print(f"load average: {os.getloadavg()[0]:.2f} (2 cores); runs: {args.runs}")
        print(f"tunnel open+close (in-process):         {med(opens) * 1000:7.0f} ms")
        print(f"inv db.status --service auth (local):   {med(local) * 1000:7.0f} ms")
        print(
            f"  ... --target staging (via bastion):   {med(remote) * 1000:7.0f} ms "
            f"({med(remote) / med(local):.2f}x)"
        )
        rds.drop(ws)
    finally:
        if sshd is not None:
            sshd.stop()
        backend.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
