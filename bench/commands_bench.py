"""The command layer's job, done by `sh` and by plain `subprocess`, side by side in one run.

    .venv/bin/python bench/commands_bench.py [--runs 200] [--lines 100000]

Figures (medians, in-process, interleaved so noise hits both alike):
  - one short program run to completion, output captured, in its own session: `sh` as the
    layer used it (`_bg`, callbacks, `_new_session`, then wait), `subprocess.run`, and the
    layer itself (`lomash_tasks.commands.run`, on subprocess);
  - the same from 8 threads at once (the embedded stack starts parts side by side);
  - a program printing `--lines` lines, each handed to a callback as it comes;
  - the cost of `import sh` in a fresh interpreter (beside `python -c pass`).
`sh` is installed by the `dev` extra for this comparison only.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from _common import SUITE_ROOT  # noqa: F401 - puts the suite on sys.path


def by_sh(argv: list[str], on_line: Callable[[str], None] | None = None) -> str:
    import sh

    out: list[str] = []

    def take(line: str) -> None:
        out.append(line)
        if on_line is not None:
            on_line(line)

    proc = sh.Command(argv[0])(
        *argv[1:],
        _tty_out=False,
        _new_session=True,
        _bg=True,
        _bg_exc=False,
        _ok_code=list(range(256)),
        _decode_errors="replace",
        _out=take,
        _err=take,
        _in="",
    )
    proc.wait()
    return "".join(out)


def by_subprocess(argv: list[str], on_line: Callable[[str], None] | None = None) -> str:
    if on_line is None:
        done = subprocess.run(
            argv, capture_output=True, stdin=subprocess.DEVNULL, start_new_session=True
        )
        return done.stdout.decode()
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        out = []
        for line in proc.stdout:
            out.append(line)
            on_line(line)
    return "".join(out)


def by_layer(argv: list[str], on_line: Callable[[str], None] | None = None) -> str:
    from lomash_tasks import commands

    return commands.run(argv, on_line=on_line, timeout=60).stdout


WAYS = {"sh": by_sh, "subprocess": by_subprocess, "commands.run": by_layer}


def per_call(fn: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return times


def interleaved(runs: int, jobs: dict[str, Callable[[], object]]) -> dict[str, float]:
    for job in jobs.values():  # warm-up
        job()
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(runs):
        for name, job in jobs.items():
            times[name] += per_call(job, 1)
    return {name: statistics.median(t) for name, t in times.items()}


def show(title: str, medians: dict[str, float], unit: str = "ms") -> None:
    base = medians["subprocess"]
    print(f"\n{title}")
    for name, value in medians.items():
        print(f"  {name:<14} {value * 1000:9.2f} {unit}   {value / base:5.2f}x subprocess")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="Rounds per figure.")
    parser.add_argument("--lines", type=int, default=100_000, help="Lines for the stream run.")
    args = parser.parse_args()
    short = ["/bin/echo", "hello"]
    show(
        f"one short program ({' '.join(short)}), median of {args.runs}",
        interleaved(args.runs, {n: (lambda f=f: f(short)) for n, f in WAYS.items()}),
    )

    def threaded(fn: Callable[[list[str]], str]) -> Callable[[], object]:
        def go() -> object:
            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(lambda _: fn(short), range(32)))

        return go

    show(
        f"32 short programs from 8 threads, median of {max(3, args.runs // 20)}",
        interleaved(max(3, args.runs // 20), {n: threaded(f) for n, f in WAYS.items()}),
    )
    many = ["seq", "1", str(args.lines)]
    counted: list[int] = [0]

    def count(_line: str) -> None:
        counted[0] += 1

    show(
        f"{args.lines} lines, each to a callback, median of {max(3, args.runs // 40)}",
        interleaved(
            max(3, args.runs // 40), {n: (lambda f=f: f(many, count)) for n, f in WAYS.items()}
        ),
    )
    py = [sys.executable, "-X", "importtime", "-c"]
    spawn = {
        "subprocess": lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
        "sh": lambda: subprocess.run([sys.executable, "-c", "import sh"], check=True),
    }
    show(
        "a fresh interpreter (rows: `python -c pass`, `python -c 'import sh'`)",
        interleaved(max(5, args.runs // 10), spawn),
    )
    stderr = subprocess.run([*py, "import sh"], capture_output=True, text=True).stderr
    own = [line for line in stderr.splitlines() if line.rstrip().endswith("| sh")]
    if own:
        cumulative = int(own[-1].split("|")[1])
        print(f"  import sh alone (-X importtime, cumulative): {cumulative / 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
