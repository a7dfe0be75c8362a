"""Every benchmark, one after another, each printing its own figures (`make bench`).

    .venv/bin/python bench/run_all.py [--only list,stack,...] [--quick]

Each script runs in its own process (so one's servers and imports never skew another's) and
keeps going when one fails; the exit status is non-zero if any did. `--quick` passes each
script its smallest sensible repeat count.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = {
    "--runs": "3",
    "--warm-runs": "3",
    "--cold-runs": "1",
    "--services-runs": "1",
    "--list-runs": "7",
}


def scripts() -> list[Path]:
    return sorted(p for p in HERE.glob("*_bench.py"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="Comma-separated names (list, stack, ...).")
    parser.add_argument("--quick", action="store_true", help="Fewer repeats per script.")
    args = parser.parse_args()
    wanted = {n.strip() for n in args.only.split(",") if n.strip()}
    failed = []
    for script in scripts():
        name = script.stem.removesuffix("_bench")
        if wanted and name not in wanted:
            continue
        argv = [sys.executable, str(script)]
        if args.quick:
            text = script.read_text()
            for flag, value in QUICK.items():
                if f'"{flag}"' in text:
                    argv += [flag, value]
        print(f"\n== {script.name} ({' '.join(argv[2:]) or 'defaults'})", flush=True)
        began = time.monotonic()
        code = subprocess.call(argv, cwd=HERE.parent)
        print(f"== {script.name}: exit {code} after {time.monotonic() - began:.0f} s", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
