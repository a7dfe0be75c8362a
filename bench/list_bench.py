"""`inv --list` for the suite against Invoke projects without the suite, side by side.

Target (issue 19): the suite's listing within 1.1x of a bare Invoke project with one trivial
task, on a quiet machine and beside other work (`--busy N` keeps N processes spinning on the
CPU meanwhile, like the other jobs of a shared machine or a laptop's build).

Four listings are timed in each round, in alternating order (ABBA), so drift in the machine's
load hits them alike; wall time and CPU time (user + system of the process) are both reported:

  bare     a tasks.py with one task: what Invoke itself costs
  invoke   a tasks.py generated from the suite's own namespace: the same tasks, names, flags,
           help, aliases, collections and root configuration, every body `pass`, no import but
           Invoke's. What Invoke alone costs for a project of the suite's size: the floor the
           suite cannot go below without replacing Invoke's own parsing
  suite    `inv --list` in this repository (its tasks.py imports the suite's namespace)
  lomash   `lomash --list`: the suite's own console script

    .venv/bin/python bench/list_bench.py [--runs 21] [--busy 0]
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing
import os
import py_compile
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _common import SUITE_ROOT

LOMASH = Path(sys.executable).with_name("lomash")


def run_once(cwd: Path, argv: list[str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one listing in `cwd` (`inv --list` unless `argv`), bytecode
    cache on as a user has it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv or [sys.executable, "-m", "invoke", "--list"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"listing failed in {cwd}: {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime


def write_bare(folder: Path) -> Path:
    """A one-task Invoke project in `folder` (made if missing): what Invoke itself costs."""
    folder.mkdir(exist_ok=True)
    (folder / "tasks.py").write_text(
        'from invoke import task\n\n@task\ndef hello(c):\n    """Say hello."""\n'
        "    print('hello')\n"
    )
    return folder


def write_invoke_twin(folder: Path) -> Path:
    """A plain Invoke project with the suite's tasks (as loaded by this interpreter), empty
    bodies. The tasks live in a module the tasks.py imports, so its bytecode is cached as the
    suite's is (`inv` turns bytecode writing off for the tasks.py itself). `folder` is made if
    missing."""
    from lomash_tasks.tasks import namespace

    folder.mkdir(exist_ok=True)
    lines = ["import json", "", "from invoke import Collection, task", ""]

    def emit(coll, prefix: str) -> list[str]:
        names = []
        for name, t in coll.tasks.items():
            params = ["c"]
            for p in list(inspect.signature(t.body).parameters.values())[1:]:
                empty = p.default is inspect.Parameter.empty
                params.append(p.name if empty else f"{p.name}={p.default!r}")
            options = {"name": name, "help": t.help}
            for attr in ("iterable", "incrementable", "aliases", "positional", "optional"):
                if getattr(t, attr):
                    options[attr] = list(getattr(t, attr))
            fn = f"{prefix}_{t.body.__name__}"
            lines.extend(
                [
                    f"@task({', '.join(f'{k}={v!r}' for k, v in options.items())})",
                    f"def {fn}({', '.join(params)}):",
                    f"    {t.__doc__!r}",
                    "",
                ]
            )
            names.append(fn)
        return names

    subs = {}
    for cname, sub in namespace.collections.items():
        var = cname.replace("-", "_")
        lines.append(f"{var}_ns = Collection({cname!r}, {', '.join(emit(sub, var))})")
        subs[cname] = var
    lines.append(f"namespace = Collection({', '.join(emit(namespace, 'root'))})")
    lines.extend(f"namespace.add_collection({var}_ns)" for var in subs.values())
    config = json.dumps(namespace.configuration(), default=str)
    lines.append(f"namespace.configure(json.loads({config!r}))")
    module = folder / "twin_tasks.py"
    module.write_text("\n".join(lines) + "\n")
    py_compile.compile(str(module), doraise=True)
    (folder / "tasks.py").write_text("from twin_tasks import namespace  # noqa: F401\n")
    return folder


def measure(
    runs: int, suite: Path = SUITE_ROOT, bare: Path | None = None, lomash: bool = False
) -> tuple[dict[str, float], dict[str, float]]:
    """Medians of `runs` ABBA rounds, in wall seconds and in CPU seconds: {bare, invoke, suite
    (and lomash), ratio (suite / bare), floor (invoke / bare), over_floor (suite / invoke)}."""
    with tempfile.TemporaryDirectory() as tmp:
        listings: dict[str, tuple[Path, list[str] | None]] = {
            "bare": (bare or write_bare(Path(tmp) / "bare"), None),
            "invoke": (write_invoke_twin(Path(tmp) / "twin"), None),
            "suite": (suite, None),
        }
        if lomash and LOMASH.exists():
            listings["lomash"] = (suite, [str(LOMASH), "--list"])
        for cwd, argv in listings.values():  # warm-up: caches filled, bytecode written
            run_once(cwd, argv)
        got: dict[str, list[tuple[float, float]]] = {name: [] for name in listings}
        order = list(listings.items())
        for n in range(runs):
            for name, (cwd, argv) in order if n % 2 == 0 else order[::-1]:
                got[name].append(run_once(cwd, argv))
    out = []
    for i in (0, 1):
        m = {name: statistics.median(v[i] for v in values) for name, values in got.items()}
        m["ratio"] = m["suite"] / m["bare"]
        m["floor"] = m["invoke"] / m["bare"]
        m["over_floor"] = m["suite"] / m["invoke"]
        out.append(m)
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
    for busy in series:
        spinners = [
            multiprocessing.Process(target=_spin, args=(time.monotonic() + 600,), daemon=True)
            for _ in range(busy)
        ]
        for p in spinners:
            p.start()
        began = time.monotonic()
        try:
            wall, cpu = measure(args.runs, lomash=True)
        finally:
            # what the spinners really took (the load average lags a minute behind)
            spent = sum(sum(psutil.Process(p.pid).cpu_times()[:2]) for p in spinners)
            for p in spinners:
                p.terminate()
                p.join()
        took = time.monotonic() - began
        print(
            f"listing, median of {args.runs} ABBA rounds, {busy} spinning process(es) "
            f"beside{f' (they took {spent / took:.2f} CPUs over the {took:.0f} s)' if busy else ''}"
            f", load {os.getloadavg()[0]:.1f}"
        )
        names = {
            "bare": "bare Invoke project (one task)",
            "invoke": "the suite's tasks in plain Invoke",
            "suite": "inv --list (the suite)",
            "lomash": "lomash --list",
        }
        for key, label in names.items():
            if key in wall:
                print(
                    f"  {label:<36} {wall[key] * 1000:6.0f} ms wall {cpu[key] * 1000:6.0f} ms "
                    f"CPU   {wall[key] / wall['bare']:5.2f}x bare"
                )
        met = wall["ratio"] <= 1.1
        print(
            f"  suite / bare: {wall['ratio']:.2f}x wall, {cpu['ratio']:.2f}x CPU; target <= "
            f"1.10x: {'met' if met else 'NOT MET'}"
        )
        print(
            f"  of which Invoke's own cost for the suite's tasks: "
            f"{wall['floor']:.2f}x; the suite over that: {wall['over_floor']:.2f}x wall, "
            f"{cpu['over_floor']:.2f}x CPU"
        )


if __name__ == "__main__":
    main()
