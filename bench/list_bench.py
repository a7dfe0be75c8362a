"""`inv --list` for the suite vs a bare Invoke project with one trivial task.

Target: the suite's listing within 1.1x of the bare project's, on a quiet machine and beside
other work (`--busy N` keeps N processes spinning on the CPU meanwhile, like the other jobs of a
shared machine or a laptop's build). Each round runs both, in alternating order (ABBA), so drift
in the machine's load hits both alike; wall time and CPU time (user + system of the process) are
both reported: the CPU ratio is what the suite's own work costs, the wall ratio what a developer
waits.

    .venv/bin/python bench/list_bench.py [--runs 21] [--busy 0]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SUITE_ROOT


def run_once(cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one `inv --list` in `cwd`, bytecode cache on as a user has it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"inv --list failed in {cwd}: {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime


def measure(
    runs: int, suite: Path = SUITE_ROOT, bare: Path | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """Medians of `runs` ABBA rounds: ({suite, bare, ratio} in wall seconds, the same in CPU)."""
    with tempfile.TemporaryDirectory() as tmp:
        if bare is None:
            bare = Path(tmp)
            (bare / "tasks.py").write_text(
                'from invoke import task\n\n@task\ndef hello(c):\n    """Say hello."""\n'
                "    print('hello')\n"
            )
        for cwd in (suite, bare):  # warm-up: caches filled, bytecode written
            run_once(cwd)
        got: dict[str, list[tuple[float, float]]] = {"suite": [], "bare": []}
        for n in range(runs):
            order = [("suite", suite), ("bare", bare)]
            for name, cwd in order if n % 2 == 0 else order[::-1]:
                got[name].append(run_once(cwd))
    out = []
    for i in (0, 1):
        s = statistics.median(v[i] for v in got["suite"])
        b = statistics.median(v[i] for v in got["bare"])
        out.append({"suite": s, "bare": b, "ratio": s / b})
    return out[0], out[1]


def _spin(stop: float) -> None:
    while time.monotonic() < stop:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument(
        "--busy",
        type=int,
        default=-1,
        help="Processes spinning meanwhile (default: one series with none, one with one per core).",
    )
    args = parser.parse_args()
    series = [args.busy] if args.busy >= 0 else [0, os.cpu_count() or 2]
    ok = True
    for busy in series:
        spinners = [
            multiprocessing.Process(target=_spin, args=(time.monotonic() + 600,), daemon=True)
            for _ in range(busy)
        ]
        for p in spinners:
            p.start()
        try:
            wall, cpu = measure(args.runs)
        finally:
            for p in spinners:
                p.terminate()
                p.join()
        met = wall["ratio"] <= 1.1
        ok = ok and met
        print(
            f"inv --list, median of {args.runs} ABBA rounds, {busy} spinning process(es) "
            f"beside, load {os.getloadavg()[0]:.1f}"
        )
        print(
            f"  bare Invoke project (one task)   {wall['bare'] * 1000:6.0f} ms wall "
            f"{cpu['bare'] * 1000:6.0f} ms CPU"
        )
        print(
            f"  Lomash Wood suite                {wall['suite'] * 1000:6.0f} ms wall "
            f"{cpu['suite'] * 1000:6.0f} ms CPU"
        )
        print(
            f"  ratio                            {wall['ratio']:6.2f}x wall "
            f"{cpu['ratio']:6.2f}x CPU   target <= 1.10x: {'met' if met else 'NOT MET'}"
        )


if __name__ == "__main__":
    main()
