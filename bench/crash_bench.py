"""Crash to `crashed`: how soon the supervisor's record says a service crashed, per watcher.

    .venv/bin/python bench/crash_bench.py [--rounds 3]

One supervisor (started as `inv services.up` starts it, without a stack: these services need
none) runs one service under each kind of watcher the tests use (nodemon + ts-node,
ts-node-dev, tsx watch, node --watch; each through `pnpm run dev`, with the suite's Node
preload), from tools/node_modules. Per round and service:

  kill -9        the service's own process killed (its watcher lives on and would wait for a
                 file change): seconds from the kill to the record saying crashed
  throw          an edit that makes the service throw at start: seconds from that process's
                 exit (its exit event's time) to the record saying crashed
Target: 2 s. The restart backoff brings each back before the next round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(SUITE), str(SUITE / "tests")]

from conftest import free_port  # noqa: E402
from test_service_watchers import KINDS, PNPM, write_service  # noqa: E402

from lomash_tasks.services import model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="crash-bench-"))
    state = root / "state"
    state.mkdir()
    services, mains = {}, {}
    for i, kind in enumerate(KINDS):
        name = f"s{i}"
        mains[name] = (kind, write_service(root / name, kind))
        port, debug = free_port(), free_port()
        events = state / f"{name}.events"
        env = {
            "PATH": f"{root / name / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", "/"),
            "PORT": str(port),
            "NODE_OPTIONS": model.node_options(""),
            "LOMASH_SERVICE_EVENTS": str(events),
            "LOMASH_INSPECT": f"127.0.0.1:{debug}",
        }
        services[name] = {
            "name": name,
            "argv": [str(PNPM), "run", "dev"],
            "cwd": str(root / name),
            "env": env,
            "port": port,
            "debug_port": debug,
            "log": str(state / f"{name}.log"),
            "events": str(events),
            "token": 1,
        }
    (state / "desired.json").write_text(
        json.dumps({"settings": {"backoff_base": 1.0}, "services": services})
    )
    sup = subprocess.Popen(
        [sys.executable, "-m", "lomash_tasks.services.supervisor", str(state)],
        cwd=SUITE,
        stdout=subprocess.DEVNULL,
    )

    def record(name):
        try:
            return json.loads((state / "state.json").read_text())["services"][name]
        except (OSError, ValueError, KeyError):
            return {}

    def wait(check, limit=120.0):
        end = time.time() + limit
        while time.time() < end:
            value = check()
            if value:
                return value
            time.sleep(0.005)
        return None

    results = {kind: {"kill -9": [], "throw": []} for kind in KINDS}
    try:
        for _ in range(args.rounds):
            for name, (kind, main) in mains.items():
                if not wait(lambda name=name: record(name).get("state") == "healthy"):
                    continue
                pid = record(name)["app"]["pid"]
                began = time.time()
                os.kill(pid, signal.SIGKILL)
                if wait(lambda name=name: record(name).get("state") == "crashed", 30):
                    results[kind]["kill -9"].append(time.time() - began)
                wait(lambda name=name: record(name).get("state") == "healthy")
                restarts = record(name).get("restarts", 0)
                source = main.read_text()
                main.write_text(source + "\nthrow new Error('boom');\n")
                seen = wait(
                    lambda name=name, restarts=restarts: (
                        record(name).get("state") == "crashed"
                        and record(name).get("restarts", 0) > restarts
                    ),
                    60,
                )
                now = time.time()
                exits = [
                    json.loads(line)
                    for line in (state / f"{name}.events").read_text().splitlines()
                    if '"exit"' in line
                ]
                main.write_text(source)
                if seen and exits:
                    results[kind]["throw"].append(now - exits[-1]["at"])
    finally:
        (state / "desired.json").write_text(json.dumps({"settings": {}, "services": {}}))
        os.kill(sup.pid, signal.SIGHUP)
        sup.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)
    print(f"{'watcher':<28} {'kill -9 -> crashed (median, max)':>34} {'throw -> crashed':>24}")
    for kind, found in results.items():
        cells = [
            f"{statistics.median(v):.2f} s, {max(v):.2f} s" if v else "-" for v in found.values()
        ]
        print(f"{kind:<28} {cells[0]:>34} {cells[1]:>24}")
    print("target: 2 s")


if __name__ == "__main__":
    main()
