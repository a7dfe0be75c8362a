"""Benchmark of `inv dashboard`: page load in headless Chromium, and the server's memory beside
`inv services.status`'s.

    .venv/bin/python bench/dashboard_bench.py [--runs 5]

One workspace copy on free ports, `inv setup --runner native` with the nine services, then
`inv dashboard` on a free port. Figures:

  page load   Debian's chromium (headless, through chromium-driver), a fresh load of the page
              each run: DOMContentLoaded, load, and the first snapshot drawn (the page marks
              `dashboard:first-state` when the WebSocket's first state message is rendered);
              median of --runs
  memory      the dashboard's process (RSS, PSS, peak RSS) idle, with one page open, with ten
              pages open; beside it the peak RSS of `inv services.status` (one run), and of the
              short-lived probe child that reads migrations, keys and AWS (`db.status`,
              `cache.stats`, `aws.status` in one process)
  cpu         the dashboard's CPU per second of wall time with one page open, its own and its
              probe children's, over 60 s
Target: the server under 40 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(SUITE), str(SUITE / "tests")]

from conftest import free_port, make_workspace, stack_env  # noqa: E402
from test_dashboard import js, serve, start_browser, stop, wait_until  # noqa: E402
from test_services import service_ports  # noqa: E402


def inv(env, *args, timeout=300):
    full = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    full.update(env)
    result = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=SUITE,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise SystemExit(f"inv {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def peak_of(argv, env, cwd) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one run of `argv` (its own rusage, by wait4)."""
    full = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    full.update(env)
    began = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=full,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(map(str, argv))} exited {proc.returncode}")
    return time.perf_counter() - began, usage.ru_maxrss / 1024


def memory(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Rss:", "Pss:")):
            out[line.split(":")[0].lower()] = int(line.split()[1]) / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            out["peak"] = int(line.split()[1]) / 1024
    return out


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(its own, its waited-for children's) CPU seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, (int(fields[13]) + int(fields[14])) / ticks


def page_load(driver, url: str) -> dict[str, float]:
    driver.get("about:blank")
    driver.get(url)
    wait_until(
        lambda: js(driver, "return performance.getEntriesByName('dashboard:first-state').length"),
        60,
        "no first state",
    )
    wait_until(
        lambda: js(driver, "return performance.getEntriesByType('navigation')[0].loadEventEnd") > 0,
        30,
        "no load event",
    )
    nav = js(
        driver,
        "const n = performance.getEntriesByType('navigation')[0]; return "
        "[n.domContentLoadedEventEnd, n.loadEventEnd, performance.getEntriesByName("
        "'dashboard:first-state')[0].startTime];",
    )
    return {"domcontentloaded": nav[0], "load": nav[1], "first state": nav[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    parent = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    env = stack_env(root, services=True)
    service_ports(env)
    print(f"workspace {root}; load average {os.getloadavg()[0]:.1f}", flush=True)
    proc = None
    driver = None
    try:
        inv(env, "setup", "--backend", "embedded", "--runner", "native", timeout=600)
        status_s, status_mb = peak_of(
            [sys.executable, "-m", "invoke", "services.status"], env, SUITE
        )
        proc, url, _ = serve(["dashboard", "--port", str(free_port())], env)
        time.sleep(2)
        idle = memory(proc.pid)
        driver = start_browser(str(parent / "chromium-profile"))
        loads = [page_load(driver, url) for _ in range(args.runs)]
        time.sleep(12)  # a probe has run (migrations, keys, AWS) with the page open
        one = memory(proc.pid)
        (own0, kids0), t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(60)
        own1, kids1 = cpu_seconds(proc.pid)
        wall = time.monotonic() - t0
        cpu = ((own1 - own0) / wall, (kids1 - kids0) / wall)
        js(
            driver,
            "window.pages = []; for (let i = 0; i < 9; i++) "
            "window.pages.push(window.open(arguments[0], '_blank'));",
            url,
        )
        wait_until(
            lambda: js(
                driver,
                "return window.pages.every(w => w.document && "
                "w.document.getElementById('conn') && w.document"
                ".getElementById('conn').dataset.state === 'live')",
            ),
            120,
            "the ten pages did not all connect",
        )
        time.sleep(12)
        ten = memory(proc.pid)
        config = root / ".lomash" / "dashboard" / "config.json"
        probe_s, probe_mb = peak_of(
            [
                sys.executable,
                "-m",
                "lomash_tasks.dashboard.probe",
                str(config),
                "migrations",
                "cache",
                "aws",
            ],
            env,
            root,
        )
    finally:
        if driver is not None:
            driver.quit()
        if proc is not None:
            stop(proc)
        inv(env, "teardown", timeout=300)
        shutil.rmtree(parent, ignore_errors=True)

    print(f"\npage load in headless Chromium ({args.runs} fresh loads, median):")
    for key in ("domcontentloaded", "load", "first state"):
        values = [run[key] for run in loads]
        print(
            f"  {key:<32} {statistics.median(values):7.0f} ms   "
            f"(min {min(values):.0f}, max {max(values):.0f})"
        )
    print("\nmemory (MB):                         RSS     PSS    peak RSS")
    for label, m in (
        ("dashboard, idle", idle),
        ("dashboard, one page open", one),
        ("dashboard, ten pages open", ten),
    ):
        print(f"  {label:<32} {m['rss']:7.1f} {m['pss']:7.1f} {m['peak']:9.1f}")
    print(
        f"  {'inv services.status (one run)':<32} {'':7} {'':7} {status_mb:9.1f}   "
        f"({status_s:.2f} s)"
    )
    print(
        f"  {'probe child (one run)':<32} {'':7} {'':7} {probe_mb:9.1f}   ({probe_s:.2f} s; "
        f"every 10 s while a page is open, AWS once a minute)"
    )
    print(
        f"\ncpu with one page open, over 60 s: the dashboard {cpu[0] * 100:.1f}% of one core, "
        f"its probe children {cpu[1] * 100:.1f}%"
    )
    print(
        f"target: the server under 40 MB RSS: "
        f"{'met' if max(idle['rss'], one['rss'], ten['rss']) < 40 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
