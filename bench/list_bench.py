"""`inv --list` for the suite vs a bare Invoke project with one trivial task.

Target: the suite's listing within 1.2x of the bare project's (heavy libraries are imported
inside the functions that use them, never at import time).

    .venv/bin/python bench/list_bench.py [--runs 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import SUITE_ROOT, interleaved, median, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    inv = [sys.executable, "-m", "invoke", "--list"]
    with tempfile.TemporaryDirectory() as bare:
        Path(bare, "tasks.py").write_text(
            "from invoke import task\n\n@task\ndef hello(c):\n    \"\"\"Say hello.\"\"\"\n"
            "    print('hello')\n")
        times = interleaved(args.runs, suite=(inv, SUITE_ROOT, None), bare=(inv, Path(bare), None))
    suite, bare_t = median(times["suite"]), median(times["bare"])
    print(f"inv --list, median of {args.runs} interleaved runs")
    print(row("bare Invoke project (one task)", bare_t))
    print(row("Lomash Wood suite", suite, f"ratio {suite / bare_t:.2f}x (target <= 1.20x)"))


if __name__ == "__main__":
    main()
