"""`inv setup`'s figures side by side in one run, each against its target.

    .venv/bin/python bench/setup_bench.py [--warm-runs 9] [--cold-runs 3] [--services-runs 3]
                                          [--list-runs 21] [--compare REF] [--prisma]

  warm      `inv setup` with everything running (nine services healthy), the whole process,
            interleaved with a bare one-task Invoke project's `inv --list`: the median of each
            and their ratio. Target: <= 0.5 s and <= 4x the bare listing.
  cold      `inv setup` on a fresh copy of the workspace (no .lomash/, no .env files; Node
            dependencies installed; PostgreSQL's cluster template cached, as after any earlier
            setup on the machine), with the native runner and with the default runner, rounds
            interleaved. Targets: native <= 5 s; default <= 1.5x native. `--prisma`: once with
            the Prisma runner too, for reference.
  services  cold `inv services.up` (no supervisor) to all nine answering /health 200, against
            the workspace's own `pnpm dev` (all nine `dev` scripts, no health gate: its slowest
            service answering 200), rounds interleaved. Target: <= 0.5x.
  list      `inv --list` against the bare project (bench/list_bench.py). Target: <= 1.1x.

`--compare REF` measures another commit of the suite (e.g. `main`) the same way in the same run,
interleaved: its code is unpacked from git into a temporary folder (bytecode compiled, as a
user's would be after a first run) and run with this checkout's virtualenv, on its own copy of
the same workspace. Every figure is a median; the load average is printed with each phase.
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
from dataclasses import dataclass, field
from pathlib import Path

from _common import SUITE_ROOT
from conftest import make_workspace, stack_env

PNPM = SUITE_ROOT / "tools" / "node_modules" / ".bin" / "pnpm"
HIDDEN = ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "PYTHONDONTWRITEBYTECODE")


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


@dataclass
class Suite:
    """One version of the suite: where its code is, and its workspaces' figures."""

    label: str
    code: Path
    figures: dict = field(default_factory=dict)

    def inv(
        self, env: dict, *args: str, check: bool = True, timeout: float = 600
    ) -> tuple[float, str]:
        """Wall seconds and stdout of `inv ARGS` run from this suite's code."""
        full = {k: v for k, v in os.environ.items() if k not in HIDDEN}
        full.update(env)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=self.code,
            env=full,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        took = time.perf_counter() - started
        if check and result.returncode != 0:
            raise SystemExit(
                f"[{self.label}] inv {' '.join(args)} failed ({result.returncode}):"
                f"\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return took, result.stdout

    def add(self, key: str, value: float) -> None:
        self.figures.setdefault(key, []).append(value)

    def median(self, key: str) -> float | None:
        values = self.figures.get(key)
        return statistics.median(values) if values else None


def unpack(ref: str, dest: Path) -> Path:
    """The suite's code at `ref`, unpacked (no .git), its bytecode compiled."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(SUITE_ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "x", "-C", str(dest)], input=archive, check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            str(dest / "lomash_tasks"),
            str(dest / "tasks.py"),
        ],
        check=True,
    )
    where = subprocess.run(
        [sys.executable, "-c", "import lomash_tasks; print(lomash_tasks.__file__)"],
        cwd=dest,
        capture_output=True,
        text=True,
        check=True,
    )
    if not where.stdout.strip().startswith(str(dest)):
        raise SystemExit(f"{ref}: its lomash_tasks is not the one imported from {dest}")
    return dest


def workspace(base: Path, name: str) -> tuple[Path, dict]:
    root = make_workspace(base / name, node_modules=True)
    return root, {**stack_env(root, services=True), "INVOKE_STACK_BACKEND": "embedded"}


def steps(stdout: str) -> dict[str, float]:
    return {
        s["step"]: s["seconds"]
        for s in json.loads(stdout)["steps"]
        if s["status"] not in ("skipped",)
    }


def breakdown(times: dict[str, float]) -> str:
    return ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(times.items(), key=lambda kv: -kv[1]) if v >= 0.05
    )


# -- cold ---------------------------------------------------------------------------------------
def cold_round(suite: Suite, base: Path, runner: str | None, n: int) -> None:
    root, env = workspace(base, f"cold-{suite.label}-{runner or 'default'}-{n}")
    args = ["setup", "--json"] + (["--runner", runner] if runner else [])
    try:
        took, out = suite.inv(env, *args)
        key = f"cold {runner or 'default'}"
        suite.add(key, took)
        suite.figures.setdefault(f"{key} steps", []).append(steps(out))
        print(
            f"  [{suite.label}] cold, {runner or 'default'} runner: {took:5.2f} s "
            f"({breakdown(steps(out))}); {load()}",
            flush=True,
        )
    finally:
        suite.inv(env, "teardown", "--volumes", "--yes", check=False, timeout=180)
        shutil.rmtree(root, ignore_errors=True)


# -- services ----------------------------------------------------------------------------------
def service_ports(env: dict) -> list[int]:
    return [
        int(v)
        for k, v in env.items()
        if k.startswith("INVOKE_SERVICES_") and k.endswith("_PORT") and "DEBUG" not in k
    ]


def all_healthy(ports: list[int], since: float, deadline: float = 90.0) -> float | None:
    from lomash_tasks.services.shared import health_many

    waiting = set(ports)
    while waiting and time.perf_counter() - since < deadline:
        answers = health_many(sorted(waiting), timeout=1.0)
        waiting -= {p for p, (code, _) in answers.items() if code == 200}
        if waiting:
            time.sleep(0.01)
    return None if waiting else time.perf_counter() - since


def pnpm_dev(root: Path, ports: list[int]) -> float | None:
    """The workspace's own `pnpm dev`: seconds until its slowest service answers 200."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env["PATH"] = f"{PNPM.parent}{os.pathsep}{env.get('PATH', '')}"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(PNPM), "dev"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return all_healthy(ports, started)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.3)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        free_all(ports)


def free_all(ports: list[int], deadline: float = 20.0) -> None:
    from lomash_tasks.stack import ports as portcheck

    end = time.monotonic() + deadline
    while time.monotonic() < end and not all(portcheck.is_free("127.0.0.1", p) for p in ports):
        time.sleep(0.05)


# -- report -------------------------------------------------------------------------------------
def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "NOT MET")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-runs", type=int, default=9)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--services-runs", type=int, default=3)
    parser.add_argument("--list-runs", type=int, default=21)
    parser.add_argument("--compare", default="", help="Another commit to measure beside this one.")
    parser.add_argument("--prisma", action="store_true", help="One cold run with --runner prisma.")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="setup-bench-"))
    base.chmod(0o755)
    suites = [Suite("now", SUITE_ROOT)]
    if args.compare:
        suites.insert(0, Suite(args.compare, unpack(args.compare, base / "code-compare")))
    from list_bench import write_bare

    bare = write_bare(base / "bare")
    print(
        f"inv setup, side by side ({os.cpu_count()} cores, {load()}); suites: "
        f"{', '.join(s.label for s in suites)}",
        flush=True,
    )
    warm: dict[str, tuple[Path, dict]] = {}
    try:
        print("cold (fresh workspace copy each time):", flush=True)
        for n in range(args.cold_runs):
            for suite in suites:
                for runner in ("native", None):
                    cold_round(suite, base, runner, n)
        if args.prisma:
            for suite in suites:
                cold_round(suite, base, "prisma", 0)

        print("warm (everything running, nine services healthy):", flush=True)
        for suite in suites:
            root, env = workspace(base, f"warm-{suite.label}")
            warm[suite.label] = (root, env)
            suite.inv(env, "setup", "--runner", "native")
            suite.inv(env, "setup")  # the first warm run may still verify in full
        bare_inv = Suite("bare", bare)
        for _ in range(args.warm_runs):
            bare_inv.add("list", bare_inv.inv({}, "--list")[0])
            for suite in suites:
                suite.add("warm", suite.inv(warm[suite.label][1], "setup")[0])
        bare_list = bare_inv.median("list")
        for suite in suites:
            print(
                f"  [{suite.label}] warm {suite.median('warm'):.2f} s, bare inv --list "
                f"{bare_list:.3f} s: {suite.median('warm') / bare_list:.1f}x; {load()}",
                flush=True,
            )

        print("services (cold services.up vs pnpm dev):", flush=True)
        for suite in suites:
            suite.inv(warm[suite.label][1], "services.down")
        for n in range(args.services_runs):
            for suite in suites:
                root, env = warm[suite.label]
                ports = service_ports(env)
                free_all(ports)
                baseline = pnpm_dev(root, ports)
                took, _ = suite.inv(env, "services.up")
                suite.inv(env, "services.down")
                if baseline:
                    suite.add("pnpm dev", baseline)
                suite.add("services.up", took)
                print(
                    f"  [{suite.label}] round {n + 1}: services.up {took:.2f} s, pnpm dev "
                    f"{baseline or float('nan'):.2f} s; {load()}",
                    flush=True,
                )

        from list_bench import measure

        print("inv --list:", flush=True)
        for suite in suites:
            wall, cpu = measure(args.list_runs, suite.code, bare)
            suite.figures["list"] = [wall["ratio"]]
            suite.figures["list cpu"] = [cpu["ratio"]]
            suite.figures["list floor"] = [wall["floor"]]
            print(
                f"  [{suite.label}] {wall['suite'] * 1000:.0f} ms vs bare "
                f"{wall['bare'] * 1000:.0f} ms: {wall['ratio']:.2f}x (CPU time "
                f"{cpu['ratio']:.2f}x); the same tasks in plain Invoke {wall['floor']:.2f}x "
                f"bare; {load()}",
                flush=True,
            )
        report(suites, bare_list)
    finally:
        for suite in suites:
            if suite.label in warm:
                suite.inv(
                    warm[suite.label][1], "teardown", "--volumes", "--yes", check=False, timeout=180
                )
        shutil.rmtree(base, ignore_errors=True)


def report(suites: list[Suite], bare_list: float) -> None:
    print(f"\nissue 19's figures (medians; {load()} at the end)")
    head = (
        f"{'path':<52}" + "".join(f"{s.label:>16}" for s in suites) + f"{'target':>22}  {'now':<8}"
    )
    print(head)
    print("-" * len(head))
    now = suites[-1]

    def row(label: str, values: list[str], target: str, ok: bool | None) -> None:
        print(f"{label:<52}" + "".join(f"{v:>16}" for v in values) + f"{target:>22}  {verdict(ok)}")

    def fig(suite: Suite, key: str, fmt: str = "{:.2f} s") -> str:
        value = suite.median(key)
        return "-" if value is None else fmt.format(value)

    warm = now.median("warm")
    row(
        "warm inv setup (all running, 9 healthy)",
        [fig(s, "warm") for s in suites],
        "<= 0.5 s",
        warm is not None and warm <= 0.5,
    )
    row(
        "  as a ratio to a bare project's inv --list",
        [f"{s.median('warm') / bare_list:.1f}x" for s in suites],
        "<= 4x",
        warm is not None and warm / bare_list <= 4,
    )
    native = now.median("cold native")
    row(
        "cold inv setup, native runner",
        [fig(s, "cold native") for s in suites],
        "<= 5 s",
        native is not None and native <= 5,
    )
    for s in suites:
        parts = s.figures.get("cold native steps") or []
        if parts:
            merged = {k: statistics.median([p.get(k, 0.0) for p in parts]) for k in parts[0]}
            print(f"    [{s.label}] {breakdown(merged)}")
    default = now.median("cold default")
    row("cold inv setup, default runner", [fig(s, "cold default") for s in suites], "", None)
    row(
        "  as a ratio to the native runner",
        [f"{s.median('cold default') / s.median('cold native'):.2f}x" for s in suites],
        "<= 1.5x",
        default is not None and native and default / native <= 1.5,
    )
    if any(s.median("cold prisma") for s in suites):
        row(
            "cold inv setup --runner prisma (reference)",
            [fig(s, "cold prisma") for s in suites],
            "",
            None,
        )
    row("cold services.up, all nine healthy", [fig(s, "services.up") for s in suites], "", None)
    row(
        "  the workspace's pnpm dev, slowest healthy",
        [fig(s, "pnpm dev") for s in suites],
        "",
        None,
    )
    ratios = []
    for s in suites:
        up, dev = s.median("services.up"), s.median("pnpm dev")
        ratios.append(f"{up / dev:.2f}x" if up and dev else "-")
    up, dev = now.median("services.up"), now.median("pnpm dev")
    row("  services.up / pnpm dev", ratios, "<= 0.5x", bool(up and dev and up / dev <= 0.5))
    row(
        "inv --list / a bare project's",
        [fig(s, "list", "{:.2f}x") for s in suites],
        "<= 1.1x",
        now.median("list") is not None and now.median("list") <= 1.1,
    )
    row("  the same in CPU time", [fig(s, "list cpu", "{:.2f}x") for s in suites], "", None)
    row(
        "  the suite's tasks in plain Invoke / bare",
        [fig(s, "list floor", "{:.2f}x") for s in suites],
        "",
        None,
    )


if __name__ == "__main__":
    main()
