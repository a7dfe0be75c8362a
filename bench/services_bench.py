"""Benchmark of the nine services: `inv services.up` against the workspace's own `pnpm dev`.

    .venv/bin/python bench/services_bench.py [--runs 3]

One workspace copy on free ports (infrastructure, services, debug ports), its stack started by
`inv setup --skip services --runner native`; each service's .env gets its free PORT (and the
gateway its upstream URLs), so `pnpm dev` and `inv services.up` serve the same ports. Then,
side by side in each round:

  baseline   `pnpm dev` at the root (all nine `dev` scripts in parallel, no health gate):
             seconds from the spawn to each service's GET /health answering 200; its slowest
             service is the reference; then an edit-to-new-code reload and a kill -9 (does
             anything bring it back?), its memory (the nine services and pnpm itself)
  ours cold  `inv services.up` with no supervisor running: seconds until it returns (every
             /health answered 200, the gateway after the eight); warm: the same again
  reload     append a line to a service's source: seconds until GET /health answers from a
             new process (behind the same debug port)
  crash      kill -9 of a service's process group: seconds until GET /health answers 200 again;
             kill -9 of a service's own process alone (its watcher lives on): seconds until
             the supervisor's record says crashed
  memory     RSS and PSS of the nine services' processes and of the supervisor
Targets: all nine healthy within 1.5x of the baseline's slowest service; supervision under 30 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(SUITE), str(SUITE / "tests")]

from conftest import make_workspace, stack_env  # noqa: E402
from lomash_tasks import processes  # noqa: E402
from test_faults import descendants  # noqa: E402
from test_services import NAMES, group_members, service_ports  # noqa: E402

PNPM = SUITE / "tools" / "node_modules" / ".bin" / "pnpm"


def inv(env, *args, check=True, timeout=300):
    full = {**os.environ, **env}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=SUITE, env=full,
                            capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
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


def reload_latency(root, name, port):
    before = health(port)[1]
    source = root / ("api-gateway" if name == "api-gateway" else f"services/{name}") / \
        "src/index.js"
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
        lines = [line for line in path.read_text().splitlines()
                 if not line.startswith("PORT=") and not line.endswith("_SERVICE_URL=")]
        lines.append(f"PORT={port}")
        if name == "api-gateway":
            lines = [line for line in lines if "_SERVICE_URL=" not in line]
            for other, (oport, _) in ports.items():
                if other != "api-gateway":
                    lines.append(f"{other.upper().replace('-', '_')}_URL=http://127.0.0.1:{oport}")
        path.write_text("\n".join(lines) + "\n")


def baseline_round(root, ports):
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env["PATH"] = f"{PNPM.parent}{os.pathsep}{env.get('PATH', '')}"  # the root script calls pnpm
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(PNPM), "dev"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        seen = wait_all({n: p for n, (p, _) in ports.items()}, t0)
        tree = [proc.pid, *descendants(proc.pid)]
        services = [p for p in tree if comm(p).endswith("node") and
                    "pnpm" not in " ".join(processes.command_line(p))]
        pnpm = [p for p in tree if p not in services]
        mem_services, mem_pnpm = memory(services), memory(pnpm)
        reload = reload_latency(root, "content-service", ports["content-service"][0])
        # kill -9 the serving child of one service: nothing brings it back
        _, child = health(ports["customer-service"][0])
        os.kill(child, signal.SIGKILL)
        time.sleep(3.0)
        back = health(ports["customer-service"][0])[0] == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.3)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    return {"seen": seen, "mem_services": mem_services, "mem_pnpm": mem_pnpm,
            "reload": reload, "crash_back": back}


def ours_round(root, env, ports):
    cold, _ = inv(env, "services.up")
    warm, _ = inv(env, "services.up")
    state = json.loads((root / ".lomash/services/state.json").read_text())["services"]
    pids = [p for rec in state.values() for p in group_members(rec["pgid"])]
    sup = int((root / ".lomash/services/supervisor.pid").read_text())
    mem_services, mem_sup = memory(pids), memory([sup])
    reload = reload_latency(root, "content-service", ports["content-service"][0])
    crash = crash_latency(state["customer-service"]["pgid"], ports["customer-service"][0])
    seen = crashed_latency(root, "analytics-service", ports["analytics-service"][0])
    time.sleep(0.5)
    down, _ = inv(env, "services.down")
    return {"cold": cold, "warm": warm, "mem_services": mem_services, "mem_sup": mem_sup,
            "reload": reload, "crash": crash, "seen": seen, "down": down}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="services-bench-"))
    base.chmod(0o755)
    root = make_workspace(base / "ws", node_modules=True)
    env = {**stack_env(root), "INVOKE_SERVICE_OPTIONS_BACKEND": "embedded"}
    ports = service_ports(env)
    try:
        seconds, _ = inv(env, "setup", "--backend", "embedded", "--runner", "native",
                         "--skip", "services")
        print(f"stack ready (inv setup --skip services) in {seconds:.1f}s; "
              f"load {os.getloadavg()[0]:.2f}")
        write_ports(root, env, ports)
        baseline, ours = [], []
        for n in range(args.runs):
            baseline.append(baseline_round(root, ports))
            ours.append(ours_round(root, env, ports))
            b, o = baseline[-1], ours[-1]
            print(f"round {n + 1}: pnpm dev slowest {max(b['seen'].values()):.2f}s "
                  f"({len(b['seen'])}/9 answered); services.up cold {o['cold']:.2f}s, "
                  f"warm {o['warm']:.2f}s")
        med = statistics.median
        slowest = med([max(b["seen"].values()) for b in baseline])
        first = med([min(b["seen"].values()) for b in baseline])
        cold = med([o["cold"] for o in ours])
        print()
        print(f"{'what':<58} {'pnpm dev':>10} {'services.up':>12}")
        print(f"{'all nine answering /health 200 (slowest), s':<58} {slowest:>10.2f} "
              f"{cold:>12.2f}   ratio {cold / slowest:.2f}x (target <= 1.5x)")
        print(f"{'first service answering, s':<58} {first:>10.2f}")
        print(f"{'warm (all running), s':<58} {'-':>10} {med([o['warm'] for o in ours]):>12.2f}")
        print(f"{'hot reload: edit -> new code answering, s':<58} "
              f"{med([b['reload'] for b in baseline]):>10.2f} "
              f"{med([o['reload'] for o in ours]):>12.2f}")
        crash = [o["crash"] for o in ours if o["crash"] is not None]
        back = "never" if not any(b["crash_back"] for b in baseline) else "yes"
        print(f"{'kill -9 -> healthy again, s':<58} {back:>10} "
              f"{(med(crash) if crash else float('nan')):>12.2f}")
        seen = [o["seen"] for o in ours if o["seen"] is not None]
        print(f"{'kill -9 of the service alone -> status crashed, s':<58} {'never':>10} "
              f"{(med(seen) if seen else float('nan')):>12.2f}   (target <= 2 s)")
        print(f"{'stop all (services.down), s':<58} {'-':>10} "
              f"{med([o['down'] for o in ours]):>12.2f}")
        ms, ps = med([b["mem_services"][0] for b in baseline]), med([b["mem_pnpm"][0] for b in baseline])
        os_, sup = med([o["mem_services"][0] for o in ours]), med([o["mem_sup"][0] for o in ours])
        sup_pss = med([o["mem_sup"][1] for o in ours])
        print(f"{'memory of the nine services (RSS), MB':<58} {ms:>10.0f} {os_:>12.0f}")
        print(f"{'memory of what supervises them (RSS; PSS), MB':<58} {ps:>10.0f} "
              f"{sup:>8.0f}; {sup_pss:.0f}   (target < 30 MB)")
    finally:
        inv(env, "teardown", check=False)
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
