"""Reading and showing `.env` files with huge values: parse (Node dotenv's grammar) and masking.

Times, in one run side by side:
  (a) `inv env.show auth` (masked) on a workspace whose auth .env holds a 1 MB secret value, a
      1 MB URL value and a 1 MB double-quoted multiline value (target: under 1 s)
  (b) in process: parsing that file, and masking one 1 MB line
  (c) the URL-password pattern masking used before (a regex retried at every letter) on
      20 kB / 40 kB / 80 kB values, against today's on the same values (the ratio)

    .venv/bin/python bench/env_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import SUITE_ROOT, median, row, timed

OLD_URL_PASSWORD = re.compile(
    r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?=@)"
)
MB = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from conftest import make_workspace

    from lomash_tasks import masking
    from lomash_tasks.env import files as envfiles

    parent = Path(tempfile.mkdtemp(prefix="env-bench-"))
    try:
        root = make_workspace(parent / "ws")
        env = root / "services/auth-service/.env"
        text = (root / "services/auth-service/.env.example").read_text()
        text += (
            "JWT_PRIVATE_KEY="
            + "k" * MB
            + "\n"
            + "BIG_URL=https://example.test/"
            + "p" * MB
            + "\n"
            + 'BIG_NOTE="'
            + "line\\n" * (MB // 6)
            + '"\n'
        )
        env.write_text(text)
        cmd = [sys.executable, "-m", "invoke", "env.show", "auth"]
        shown = [
            timed(cmd, SUITE_ROOT, {"INVOKE_WORKSPACE_ROOT": str(root)}) for _ in range(args.runs)
        ]
        parse, masked = [], []
        line = "DATABASE_URL=postgresql://u:pw@h/d " + "a" * MB
        for _ in range(args.runs):
            began = time.perf_counter()
            envfiles.parse_env(text, env)
            parse.append(time.perf_counter() - began)
            began = time.perf_counter()
            masking.mask(line)
            masked.append(time.perf_counter() - began)
        print(f"A .env with three values of 1 MB, median of {args.runs} runs")
        verdict = "met" if median(shown) < 1.0 else "missed"
        print(
            row(
                "(a) inv env.show auth (masked), whole process",
                median(shown),
                f"target < 1000 ms ({verdict})",
            )
        )
        print(row("(b) parse the file (Node dotenv's grammar)", median(parse)))
        print(row("(b) mask one 1 MB line", median(masked)))
        for size in (20_000, 40_000, 80_000):
            value = "JWT_SECRET=" + "a" * size
            began = time.perf_counter()
            OLD_URL_PASSWORD.sub(lambda m: m.group("head") + masking.MASK, value)
            old = time.perf_counter() - began
            began = time.perf_counter()
            masking.mask(value)
            new = time.perf_counter() - began
            print(
                row(
                    f"(c) {size // 1000} kB value: old URL pattern / mask() today",
                    old,
                    f"vs {new * 1000:.1f} ms: {old / max(new, 1e-9):.0f}x",
                )
            )
    finally:
        shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
