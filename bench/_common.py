"""Shared helpers for the benchmarks: timing commands side by side, printing figures."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SUITE_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(SUITE_ROOT), str(SUITE_ROOT / "tests")]


def timed(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True
) -> float:
    """Wall seconds for one run of `cmd`, with Python's bytecode cache on as a user has it
    (PYTHONDONTWRITEBYTECODE would make every run compile the changed modules again)."""
    full = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    full.update(env or {})
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if check and result.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return elapsed


def interleaved(runs: int, **commands: tuple) -> dict[str, list[float]]:
    """Run each (cmd, cwd, env) in turn, `runs` rounds, so machine noise hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for cmd, cwd, env in commands.values():  # warm-up: caches filled, bytecode written
        timed(cmd, cwd, env)
    for _ in range(runs):
        for name, (cmd, cwd, env) in commands.items():
            times[name].append(timed(cmd, cwd, env))
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def row(label: str, seconds: float, extra: str = "") -> str:
    return f"  {label:<48} {seconds * 1000:8.0f} ms  {extra}"
