"""Benchmark of the nine services: `inv services.up` against the way the monorepo's developers
start them, on both reference monorepos.

    .venv/bin/python bench/services_bench.py [--runs 3] [--workspace pnpm|npm|both]

Workspaces (`both` by default, one after the other):

  pnpm   examples/lomash-wood: a pnpm workspace, every service `node --watch src/index.js`;
         baseline `pnpm dev` at the root (all nine `dev` scripts in parallel)
  npm    examples/lomash-wood-npm: nine npm packages with their own installs, every service
         under nodemon + ts-node (`src/main.ts`); baseline: in each package the script its
         developers run, `npm run dev` or (auth, notification: no `dev`) `npm run start:dev`,
         all nine at once (nine terminals)

One workspace copy on free ports (infrastructure, services, debug ports), its stack started by
`inv setup --skip services --runner native`; each service's .env gets its free PORT (and the
gateway its upstream URLs), so the baseline and `inv services.up` serve the same ports. Then,
side by side in each round:

  baseline   seconds from the spawn to each service's GET /health answering 200 (no health
             gate): its slowest service is the reference; then an edit-to-new-code reload and a
             kill -9 of one service's own process (does anything bring it back?), its memory
             (the services' own processes, and what starts and watches them)
  ours cold  `inv services.up` with no supervisor running: seconds until it returns (every
             /health answered 200, the gateway after the eight); warm: the same again
  reload     append a line to a service's source: seconds until GET /health answers from a
             new process (behind the same debug port)
  crash      kill -9 of a service's process group: seconds until GET /health answers 200 again;
             kill -9 of a service's own process alone (its watcher lives on): seconds until
             the supervisor's record says crashed
  memory     RSS and PSS of the nine services' processes and of the supervisor
Targets: all nine healthy within 1.5x of the baseline's slowest service; the supervisor under
30 MB RSS; a crash in the record within 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SUITE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(SUITE), str(SUITE / "tests")]

from conftest import make_npm_workspace, make_workspace, stack_env  # noqa: E402
from test_faults import descendants  # noqa: E402
from test_services import NAMES, group_members, service_ports  # noqa: E402

from lomash_tasks import processes  # noqa: E402

PNPM = SUITE / "tools" / "node_modules" / ".bin" / "pnpm"


def inv(env, *args, check=True, timeout=300):
    full = {**os.environ, **env}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=SUITE,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise SystemExit(f"inv {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started, result


def health(port, timeout=1.0):
    """(status, pid) of GET /health, or (None, None)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return None, None
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        return int(head.split()[1]), json.loads(body).get("pid")
    except (IndexError, ValueError):
        return None, None


def memory(pids):
    """(RSS, PSS) in MB of the processes."""
    return processes.memory(pids)


def comm(pid):
    return (processes.command_line(pid) or [""])[0]


def wait_all(ports, since, deadline=60.0):
    seen = {}
    while len(seen) < len(ports) and time.perf_counter() - since < deadline:
        for name, port in ports.items():
            if name not in seen and health(port, 0.5)[0] == 200:
                seen[name] = time.perf_counter() - since
        time.sleep(0.005)
    return seen


def dev_script(where):
    """(name, command) of the script a service's developers run: `dev`, or `start:dev` where
    there is no `dev`."""
    scripts = json.loads((where / "package.json").read_text())["scripts"]
    name = "dev" if "dev" in scripts else "start:dev"
    return name, scripts[name]


def folder(root, name):
    return root / ("api-gateway" if name == "api-gateway" else f"services/{name}")


def reload_latency(root, name, port, main="src/index.js"):
    before = health(port)[1]
    source = folder(root, name) / main
    source.write_text(source.read_text() + f"\n// edited {time.time()}\n")
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 20:
        code, pid = health(port, 0.5)
        if code == 200 and pid != before:
            return time.perf_counter() - t0
        time.sleep(0.005)
    return float("nan")


def crashed_latency(root, name, port, wait=30.0):
    """kill -9 of a service's own process (Node's watcher lives on and would wait for a file
    change): seconds until `services.status`'s record says crashed."""
    state_file = root / ".lomash/services/state.json"
    _, pid = health(port)
    os.kill(pid, signal.SIGKILL)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < wait:
        try:
            rec = json.loads(state_file.read_text())["services"][name]
        except (OSError, ValueError, KeyError):
            rec = {}
        if rec.get("state") in ("crashed", "restarting"):
            return time.perf_counter() - t0
        time.sleep(0.005)
    return None


def crash_latency(pgid, port, wait=30.0):
    os.killpg(pgid, signal.SIGKILL)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < wait:
        if health(port, 0.5)[0] == 200 and time.perf_counter() - t0 > 0.05:
            return time.perf_counter() - t0
        time.sleep(0.005)
    return None


def write_ports(root, env, ports):
    """Each service's .env gets its free PORT (and the gateway its upstreams' URLs)."""
    for name, (port, _) in ports.items():
        folder = root / ("api-gateway" if name == "api-gateway" else f"services/{name}")
        path = folder / ".env"
        lines = [
            line
            for line in path.read_text().splitlines()
            if not line.startswith("PORT=") and not line.endswith("_SERVICE_URL=")
        ]
        lines.append(f"PORT={port}")
        if name == "api-gateway":
            lines = [line for line in lines if "_SERVICE_URL=" not in line]
            for other, (oport, _) in ports.items():
                if other != "api-gateway":
                    lines.append(f"{other.upper().replace('-', '_')}_URL=http://127.0.0.1:{oport}")
        path.write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class Kind:
    """One reference monorepo and the way its developers start the nine services."""

    name: str
    make: Callable[[Path, bool], Path]
    main: str  # the source file a developer edits (relative to the service)
    baseline: str  # what the baseline runs, for the table
    own: Callable[[list[str]], bool]  # a command line of a service's own process
    write_ports: bool  # .env ports written here (else `inv setup`'s env step aligns)

    def start_baseline(self, root: Path, env: dict[str, str]) -> list[subprocess.Popen]:
        """The baseline's processes, each in a process group of its own (a terminal's)."""
        quiet = dict(
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        if self.name == "pnpm":
            return [subprocess.Popen([str(PNPM), "dev"], cwd=root, **quiet)]
        procs = []
        for name in NAMES:
            script, _ = dev_script(folder(root, name))
            procs.append(subprocess.Popen(["npm", "run", script], cwd=folder(root, name), **quiet))
        return procs


KINDS = {
    "pnpm": Kind(
        "pnpm",
        make_workspace,
        "src/index.js",
        "pnpm dev",
        lambda argv: bool(argv) and argv[0].endswith("node") and "pnpm" not in " ".join(argv),
        True,
    ),
    "npm": Kind(
        "npm",
        make_npm_workspace,
        "src/main.ts",
        "npm run dev/start:dev x9",
        lambda argv: (
            bool(argv) and argv[0].endswith("node") and any(a.endswith("/ts-node") for a in argv)
        ),
        False,
    ),
}


def stop_groups(procs):
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            pass
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    time.sleep(0.3)
    for proc in procs:  # whatever a watcher started on its way out (see the npm README)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait(timeout=10)


def baseline_round(kind, root, ports):
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env["PATH"] = f"{PNPM.parent}{os.pathsep}{env.get('PATH', '')}"  # the root script calls pnpm
    t0 = time.perf_counter()
    procs = kind.start_baseline(root, env)
    try:
        seen = wait_all({n: p for n, (p, _) in ports.items()}, t0)
        tree = [p for proc in procs for p in [proc.pid, *descendants(proc.pid)]]
        services = [p for p in tree if kind.own(processes.command_line(p))]
        launchers = [p for p in tree if p not in services]
        mem_services, mem_launchers = memory(services), memory(launchers)
        reload = reload_latency(root, "content-service", ports["content-service"][0], kind.main)
        # kill -9 the service's own process: does anything bring it back?
        _, child = health(ports["customer-service"][0])
        os.kill(child, signal.SIGKILL)
        time.sleep(3.0)
        back = health(ports["customer-service"][0])[0] == 200
    finally:
        stop_groups(procs)
    return {
        "seen": seen,
        "mem_services": mem_services,
        "mem_launchers": mem_launchers,
        "reload": reload,
        "crash_back": back,
    }


def floor_round(root, ports):
    """The nine services' own dev scripts, each exec'd directly by this bench at once: no
    package manager, no supervisor, no health gate, no debug port. Seconds from the spawn to
    each GET /health 200: what the services themselves take to boot side by side on this
    machine, below which no way of starting them can go."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    t0 = time.perf_counter()
    procs = []
    for name in NAMES:
        where = folder(root, name)
        _, script = dev_script(where)
        bins = [where / "node_modules" / ".bin", root / "node_modules" / ".bin"]
        path = os.pathsep.join([*map(str, bins), env.get("PATH", "")])
        procs.append(
            subprocess.Popen(
                shlex.split(script),
                cwd=where,
                env={**env, "PATH": path},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    try:
        return wait_all({n: p for n, (p, _) in ports.items()}, t0)
    finally:
        stop_groups(procs)


def ours_round(kind, root, env, ports):
    cold, _ = inv(env, "services.up")
    warm, _ = inv(env, "services.up")
    state = json.loads((root / ".lomash/services/state.json").read_text())["services"]
    members = [p for rec in state.values() for p in group_members(rec["pgid"])]
    services = [p for p in members if kind.own(processes.command_line(p))]
    launchers = [p for p in members if p not in services]
    sup = int((root / ".lomash/services/supervisor.pid").read_text())
    mem_services, mem_launchers = memory(services), memory(launchers)
    mem_sup = memory([sup])
    reload = reload_latency(root, "content-service", ports["content-service"][0], kind.main)
    crash = crash_latency(state["customer-service"]["pgid"], ports["customer-service"][0])
    seen = crashed_latency(root, "analytics-service", ports["analytics-service"][0])
    time.sleep(0.5)
    down, _ = inv(env, "services.down")
    return {
        "cold": cold,
        "warm": warm,
        "mem_services": mem_services,
        "mem_launchers": mem_launchers,
        "mem_sup": mem_sup,
        "reload": reload,
        "crash": crash,
        "seen": seen,
        "down": down,
    }


def bench(kind: Kind, runs: int) -> None:
    base = Path(tempfile.mkdtemp(prefix=f"services-bench-{kind.name}-"))
    base.chmod(0o755)
    root = kind.make(base / "ws", True)
    env = {**stack_env(root), "INVOKE_SERVICE_OPTIONS_BACKEND": "embedded"}
    ports = service_ports(env)
    try:
        seconds, _ = inv(
            env, "setup", "--backend", "embedded", "--runner", "native", "--skip", "services"
        )
        print(
            f"[{kind.name}] stack ready (inv setup --skip services) in {seconds:.1f}s; "
            f"load {os.getloadavg()[0]:.2f}"
        )
        if kind.write_ports:
            write_ports(root, env, ports)
        baseline, ours, floor = [], [], []
        for n in range(runs):
            baseline.append(baseline_round(kind, root, ports))
            floor.append(floor_round(root, ports))
            ours.append(ours_round(kind, root, env, ports))
            b, o = baseline[-1], ours[-1]
            silent = sorted(set(NAMES) - set(b["seen"]))
            print(
                f"[{kind.name}] round {n + 1}: {kind.baseline} slowest "
                f"{max(b['seen'].values(), default=float('nan')):.2f}s "
                f"({len(b['seen'])}/9 answered{': not ' + ', '.join(silent) if silent else ''}"
                f"); the services alone {max(floor[-1].values(), default=float('nan')):.2f}s; "
                f"services.up cold {o['cold']:.2f}s, warm {o['warm']:.2f}s; "
                f"load {os.getloadavg()[0]:.2f}"
            )
        report(kind, baseline, ours, floor)
    finally:
        inv(env, "teardown", check=False)
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def report(kind: Kind, baseline: list[dict], ours: list[dict], floor: list[dict]) -> None:
    med = statistics.median
    nan = float("nan")
    complete = [b for b in baseline if len(b["seen"]) == len(NAMES)] or baseline
    slowest = med([max(b["seen"].values(), default=nan) for b in complete])  # all nine answered
    first = med([min(b["seen"].values(), default=nan) for b in baseline])
    cold = med([o["cold"] for o in ours])
    title = f"[{kind.name}] what"
    print()
    print(f"{title:<58} {kind.baseline:>24} {'services.up':>12}")
    print(
        f"{'all nine answering /health 200 (slowest), s':<58} {slowest:>24.2f} "
        f"{cold:>12.2f}   ratio {cold / slowest:.2f}x (target <= 1.5x)"
    )
    alone = med([max(f.values(), default=nan) for f in floor if len(f) == len(NAMES)] or [nan])
    print(
        f"{'the nine dev scripts exec-ed at once, no launcher, s':<58} {alone:>24.2f} "
        f"{'':>12}   {kind.baseline} {slowest / alone:.2f}x of it, services.up "
        f"{cold / alone:.2f}x; the least any launcher can reach: {alone / slowest:.2f}x "
        f"{kind.baseline}"
    )
    print(f"{'first service answering, s':<58} {first:>24.2f}")
    print(f"{'warm (all running), s':<58} {'-':>24} {med([o['warm'] for o in ours]):>12.2f}")
    print(
        f"{'hot reload: edit -> new code answering, s':<58} "
        f"{med([b['reload'] for b in baseline]):>24.2f} "
        f"{med([o['reload'] for o in ours]):>12.2f}"
    )
    crash = [o["crash"] for o in ours if o["crash"] is not None]
    back = "never" if not any(b["crash_back"] for b in baseline) else "yes"
    print(
        f"{'kill -9 of a group -> healthy again, s':<58} {back:>24} "
        f"{(med(crash) if crash else nan):>12.2f}"
    )
    seen = [o["seen"] for o in ours if o["seen"] is not None]
    print(
        f"{'kill -9 of the service alone -> status crashed, s':<58} {'never':>24} "
        f"{(med(seen) if seen else nan):>12.2f}   (target <= 2 s)"
    )
    print(f"{'stop all (services.down), s':<58} {'-':>24} {med([o['down'] for o in ours]):>12.2f}")
    for label, key in (
        ("the services' own processes", "mem_services"),
        ("what starts and watches them", "mem_launchers"),
    ):
        print(
            f"{'memory, MB RSS: ' + label:<58} "
            f"{med([b[key][0] for b in baseline]):>24.0f} "
            f"{med([o[key][0] for o in ours]):>12.0f}"
        )
    sup, sup_pss = med([o["mem_sup"][0] for o in ours]), med([o["mem_sup"][1] for o in ours])
    print(
        f"{'memory, MB RSS; PSS: the supervisor':<58} {'-':>24} "
        f"{sup:>8.0f}; {sup_pss:.0f}   (target < 30 MB)"
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workspace", choices=["pnpm", "npm", "both"], default="both")
    args = parser.parse_args()
    for name in ["pnpm", "npm"] if args.workspace == "both" else [args.workspace]:
        bench(KINDS[name], args.runs)


if __name__ == "__main__":
    main()
