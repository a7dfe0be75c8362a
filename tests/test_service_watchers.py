"""Services under every kind of watcher: where the inspector lands, what a crash looks like.

Real watchers (nodemon + ts-node, ts-node-dev, tsx watch, node --watch), each run the way the
suite runs a dev script that is not a plain `node` command: `pnpm run dev`, with the suite's
Node preload in NODE_OPTIONS. First without the supervisor (the preload alone: which process
reports itself as the service's own, where the inspector opens, what a reload does), then
under `inv services.up` on the session's embedded stack (status, crashes, down), with /proc
hidden from the suite's own code in `inv` and in the supervisor (tests/proc_guard).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import devtools
import pytest
from conftest import SUITE_ROOT, Inv, assert_user_error, free_port, make_workspace

TOOLS = SUITE_ROOT / "tools" / "node_modules"
PNPM = TOOLS / ".bin" / "pnpm"
PACKAGES = ("nodemon", "ts-node", "typescript", "tsconfig-paths", "ts-node-dev", "tsx")

APP = """\
const http = require("http");
const port = Number(process.env.PORT);
if (process.env.APP_CRASH === "1") throw new Error("boom: the app cannot start");
if (process.env.APP_EXIT === "1") process.exit(0);
if (process.env.APP_QUIET !== "1") {
  http.createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ service: process.env.SERVICE_NAME, status: "ok", pid: process.pid }));
  }).listen(port, "127.0.0.1", () => console.log(`listening on ${port} (pid ${process.pid})`));
} else {
  setInterval(() => {}, 1000);
}
"""

# kind: (dev script, main file, extra files)
KINDS = {
    "nodemon + ts-node": (
        "nodemon",
        "src/main.ts",
        {
            "nodemon.json": json.dumps(
                {
                    "watch": ["src"],
                    "ext": "ts,json",
                    "delay": 500,
                    "signal": "SIGTERM",
                    "exec": "ts-node -r tsconfig-paths/register src/main.ts",
                    "env": {"TS_NODE_TRANSPILE_ONLY": "true"},
                }
            ),
            "tsconfig.json": json.dumps(
                {
                    "compilerOptions": {
                        "target": "es2020",
                        "module": "commonjs",
                        "esModuleInterop": True,
                    }
                }
            ),
        },
    ),
    "ts-node-dev": (
        "ts-node-dev --respawn --transpile-only src/main.ts",
        "src/main.ts",
        {
            "tsconfig.json": json.dumps(
                {
                    "compilerOptions": {
                        "target": "es2020",
                        "module": "commonjs",
                        "esModuleInterop": True,
                    }
                }
            )
        },
    ),
    "tsx watch": ("tsx watch src/main.ts", "src/main.ts", {}),
    "node --watch under pnpm": ("NODE_ENV=development node --watch src/main.js", "src/main.js", {}),
}


def write_service(folder: Path, kind: str, script: str | None = None) -> Path:
    """A service folder run by `kind`'s watcher, its tools linked from tools/node_modules."""
    dev, main, extra = KINDS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(
        json.dumps(
            {
                "name": folder.name,
                "version": "0.0.0",
                "private": True,
                "scripts": {"dev": script or dev},
            },
            indent=2,
        )
    )
    for name, text in extra.items():
        (folder / name).write_text(text)
    (folder / main).parent.mkdir(parents=True, exist_ok=True)
    (folder / main).write_text(APP)
    modules = folder / "node_modules"
    if modules.is_symlink() or modules.is_file():
        modules.unlink()
    elif modules.exists():
        import shutil

        shutil.rmtree(modules)
    (modules / ".bin").mkdir(parents=True)
    for pkg in PACKAGES:
        os.symlink(TOOLS / pkg, modules / pkg)
    for entry in (TOOLS / ".bin").iterdir():
        os.symlink(entry, modules / ".bin" / entry.name)
    return folder / main


def health(port: int) -> tuple[int | None, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except (OSError, ValueError):
        return None, {}


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout}s (last: {last!r})")


def events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def evaluate_or_none(port: int, expression: str):

    try:
        return devtools.evaluate(port, expression)
    except (OSError, ValueError):
        return None


# -- the preload alone -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
def test_the_inspector_lands_in_the_services_own_process_and_stays_across_reloads(kind, tmp_path):
    from lomash_tasks import processes
    from lomash_tasks.services import inspector, model

    main = write_service(tmp_path / "svc", kind)
    port, debug = free_port(), free_port()
    log = tmp_path / "events"
    env = {
        **os.environ,
        "PORT": str(port),
        "SERVICE_NAME": "svc",
        "PATH": f"{tmp_path / 'svc' / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
        "NODE_OPTIONS": model.node_options(""),
        "LOMASH_SERVICE_EVENTS": str(log),
        "LOMASH_INSPECT": f"127.0.0.1:{debug}",
    }
    proc = subprocess.Popen(
        [str(PNPM), "run", "dev"],
        cwd=tmp_path / "svc",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code, body = wait_until(
            lambda port=port: (lambda r: r if r[0] == 200 else None)(health(port)),
            60,
            f"{kind}: the service did not answer",
        )
        pid = body["pid"]
        starts = [e for e in events(log) if e["event"] == "start"]
        assert [e["pid"] for e in starts] == [pid]  # pnpm and the watcher are not the service
        opened = [e for e in events(log) if e["event"] == "inspector"]
        assert opened and opened[0]["pid"] == pid and f":{debug}/" in opened[0]["url"]
        assert inspector.targets(debug)[0]["webSocketDebuggerUrl"].startswith(
            f"ws://127.0.0.1:{debug}/"
        )
        assert processes.listeners(debug) == [pid] and processes.listeners(port) == [pid]
        assert devtools.evaluate(debug, "process.pid") == pid
        assert inspector.placed(debug, {"pid": pid}, opened[0])[0]
        # an edit: the watcher starts a new process, which takes the same debug port
        main.write_text(main.read_text() + "\nglobalThis.RELOAD_MARK = 'edited';\n")
        wait_until(
            lambda: evaluate_or_none(debug, "globalThis.RELOAD_MARK") == "edited",
            60,
            f"{kind}: the edited code did not answer behind the same debug port",
        )
        code, after = wait_until(
            lambda port=port: (lambda r: r if r[0] == 200 else None)(health(port)),
            30,
            f"{kind}: not answering after the reload",
        )
        assert after["pid"] != pid
        assert devtools.evaluate(debug, "process.pid") == after["pid"]
        assert [e["pid"] for e in events(log) if e["event"] == "start"][-1] == after["pid"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        out = proc.stdout.read().decode(errors="replace")
        proc.stdout.close()
    assert "Traceback" not in out


def test_a_wrapper_the_preload_does_not_know_is_named_through_service_options(tmp_path):
    """A program that only starts the service takes the inspector unless it is named."""
    from lomash_tasks.services import inspector, model

    folder = tmp_path / "svc"
    write_service(folder, "node --watch under pnpm", "my-runner src/main.js")
    runner = folder / "node_modules" / "my-runner"
    runner.mkdir()
    (runner / "package.json").write_text('{"name": "my-runner", "bin": "run.js"}')
    (runner / "run.js").write_text(
        "#!/usr/bin/env node\nconst { spawn } = require('child_process');\n"
        "const c = spawn(process.execPath, process.argv.slice(2), { stdio: 'inherit' });\n"
        "c.on('exit', (code) => process.exit(code ?? 1));\n"
    )
    (runner / "run.js").chmod(0o755)
    os.symlink(runner / "run.js", folder / "node_modules" / ".bin" / "my-runner")
    for wrappers in ("", "my-runner"):
        port, debug = free_port(), free_port()
        log = tmp_path / f"events-{wrappers or 'none'}"
        env = {
            **os.environ,
            "PORT": str(port),
            "PATH": f"{folder / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
            "NODE_OPTIONS": model.node_options(""),
            "LOMASH_SERVICE_EVENTS": str(log),
            "LOMASH_INSPECT": f"127.0.0.1:{debug}",
            "LOMASH_WRAPPERS": wrappers,
        }
        proc = subprocess.Popen(
            [str(PNPM), "run", "dev"],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _, body = wait_until(
                lambda port=port: (lambda r: r if r[0] == 200 else None)(health(port)),
                30,
                "the service did not answer",
            )
            starts = [e for e in events(log) if e["event"] == "start"]
            if not wrappers:  # the runner reported itself and took the port
                assert starts[0]["main"].endswith("my-runner/run.js")
                ok, why = inspector.placed(debug, {"pid": body["pid"]}, {})
                assert not ok and f"held by pid {starts[0]['pid']}" in why
                assert "service_options.wrappers" in why
            else:
                assert [e["pid"] for e in starts] == [body["pid"]]
                assert devtools.evaluate(debug, "process.pid") == body["pid"]
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_own_inspect_flag_is_kept_and_its_port_reported():
    from lomash_tasks.services.model import own_inspector

    assert own_inspector("nodemon --inspect") == 9229
    assert own_inspector("node --inspect=9333 src/index.js") == 9333
    assert own_inspector("node --inspect-brk=0.0.0.0:9444 src/index.js") == 9444
    assert own_inspector("nodemon", "--max-old-space-size=512 --inspect=127.0.0.1:9555") == 9555
    assert own_inspector("node --watch src/index.js", "") is None
    assert own_inspector("echo '--inspect is a word here'") is None


def test_node_options_keeps_the_services_own_and_quotes_a_path_with_a_space(tmp_path):
    from lomash_tasks.services.model import node_options

    spaced = tmp_path / "a folder" / "preload.cjs"
    assert (
        node_options("--max-old-space-size=512", spaced)
        == f'--max-old-space-size=512 --require "{spaced}"'
    )
    once = node_options("", spaced)
    assert node_options(once, spaced) == once  # never twice


# -- under the supervisor: `inv services.*` on the session's embedded stack ------------------------
def solo_workspace(stack, tmp_root: Path, kinds: dict[str, str]) -> tuple[Path, Inv, dict]:
    """A workspace copy on the session stack's servers, its services on free ports, the named
    services (alias -> kind) rewritten to run under those watchers."""
    import tempfile

    parent = Path(tempfile.mkdtemp(prefix="watchers-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    env = {
        **stack.env,
        "INVOKE_WORKSPACE_ROOT": str(root),
        "INVOKE_SERVICE_OPTIONS_BACKEND": "embedded",
        # /proc hidden from the suite's code in `inv` and in the supervisor (test_processes)
        "PYTHONPATH": os.pathsep.join(
            [str(SUITE_ROOT / "tests" / "proc_guard"), os.environ.get("PYTHONPATH", "")]
        ),
        "LOMASH_PROC_GUARD": str(parent / "proc-violations"),
    }
    ports = {}
    for name in ("auth-service", "product-service"):
        key = name.upper().replace("-", "_")
        ports[name] = (free_port(), free_port())
        env[f"INVOKE_SERVICES_{key}_PORT"] = str(ports[name][0])
        env[f"INVOKE_SERVICES_{key}_DEBUG_PORT"] = str(ports[name][1])
    for name, kind in kinds.items():
        write_service(root / "services" / name, kind)
    inv = Inv(env)
    inv("env.copy", check=True)
    return root, inv, ports


def set_env(root: Path, name: str, **values: str) -> None:
    path = root / "services" / name / ".env"
    path.write_text(path.read_text() + "".join(f"{k}={v}\n" for k, v in values.items()))


def rows(inv: Inv) -> dict[str, dict]:
    return {
        r["service"]: r for r in json.loads(inv("services.status", "--json", check=True).stdout)
    }


def state(root: Path) -> dict:
    path = root / ".lomash" / "services" / "state.json"
    return json.loads(path.read_text()).get("services", {}) if path.exists() else {}


@pytest.fixture
def watched(stack, tmp_root):
    made = []

    def make(kinds: dict[str, str]):
        made.append(solo_workspace(stack, tmp_root, kinds))
        return made[-1]

    yield make
    from lomash_tasks import processes

    for root, inv, _ports in made:
        inv("services.down", timeout=60)
        assert processes.in_folder(root / "services") == []
        violations = root.parent / "proc-violations"
        assert not violations.exists(), violations.read_text()


def test_nodemon_ts_node_service_healthy_inspected_reloaded_crashed_and_stopped(watched):
    from lomash_tasks import processes

    root, inv, ports = watched({"auth-service": "nodemon + ts-node"})
    port, debug = ports["auth-service"]
    result = inv("services.up", "--service", "auth", check=True, timeout=180)
    assert "1 started" in result.stdout
    row = rows(inv)["auth-service"]
    pid = health(port)[1]["pid"]
    assert row["state"] == "healthy"
    assert row["command"].endswith("(nodemon; run without pnpm in front)"), row["command"]
    assert row["debug_port"] == debug and row["debugger"] == "not attached"
    assert f"in the service's own process (pid {pid}" in row["inspector"]
    assert devtools.evaluate(debug, "process.pid") == pid
    assert state(root)["auth-service"]["app"]["pid"] == pid

    main = root / "services/auth-service/src/main.ts"
    source = main.read_text()
    main.write_text(source + "\nglobalThis.RELOAD_MARK = 'edited';\n")
    wait_until(
        lambda: evaluate_or_none(debug, "globalThis.RELOAD_MARK") == "edited",
        60,
        "the edited code did not answer behind the same debug port",
    )
    wait_until(lambda: rows(inv)["auth-service"]["state"] == "healthy", 30, "not healthy again")
    assert state(root)["auth-service"]["restarts"] == 0  # a reload is not a crash

    main.write_text(source + "\nthrow new Error('boom after an edit');\n")
    wait_until(
        lambda: state(root)["auth-service"]["state"] == "crashed",
        60,
        "the crash after an edit was not seen",
    )
    log = (root / ".lomash/services/auth-service.log").read_text()
    assert "its watcher said: [nodemon] app crashed - waiting for file changes" in log
    assert "boom after an edit" in log
    main.write_text(source)  # fixed: the supervisor's restart (after its backoff) serves again
    wait_until(
        lambda: state(root)["auth-service"]["state"] == "healthy",
        60,
        "the fixed service did not come back",
    )
    assert state(root)["auth-service"]["restarts"] >= 1

    inv("services.down", check=True)
    assert processes.in_folder(root / "services") == []
    assert processes.listeners(port) == [] and processes.listeners(debug) == []


def test_a_crash_at_start_is_reported_at_once_and_the_others_keep_starting(watched):
    root, inv, ports = watched({"auth-service": "nodemon + ts-node"})
    set_env(root, "auth-service", APP_CRASH="1")
    # a deadline far beyond the test's own: `up` must not wait it out
    result = inv(
        "services.up", "--service", "auth", "--service", "product", "--timeout", "600", timeout=150
    )
    assert_user_error(
        result,
        "auth-service exited during start",
        "its watcher said: [nodemon] app crashed",
        "boom: the app cannot start",
        "1 of 2 services did not become healthy",
    )
    text = result.stdout + result.stderr
    # the tail was printed when it happened; the closing message names it in one line
    assert text.count("boom: the app cannot start") >= 1
    assert "its log's tail is above" in text
    assert health(ports["product-service"][0])[0] == 200
    assert rows(inv)["auth-service"]["state"] in ("crashed", "restarting")


@pytest.mark.parametrize("kind", ["tsx watch", "ts-node-dev"])
def test_a_watcher_that_says_nothing_still_has_its_crash_seen(watched, kind):
    root, inv, ports = watched({"auth-service": kind})
    inv("services.up", "--service", "auth", check=True, timeout=180)
    pid = health(ports["auth-service"][0])[1]["pid"]
    main = root / "services/auth-service/src/main.ts"
    main.write_text(main.read_text() + "\nthrow new Error('boom after an edit');\n")
    wait_until(
        lambda: state(root)["auth-service"]["state"] in ("crashed", "restarting"),
        60,
        f"{kind}: the crash was not seen",
    )
    log = (root / ".lomash/services/auth-service.log").read_text()
    assert "crashed: the service's own process (pid" in log
    assert "none followed within" in log or "its watcher said" in log
    assert pid not in [r.get("pid") for r in [state(root)["auth-service"].get("app") or {}]]


def test_a_script_that_exits_at_once_under_its_watcher_is_crashed(watched):
    root, inv, ports = watched({"auth-service": "nodemon + ts-node"})
    set_env(root, "auth-service", APP_EXIT="1")
    result = inv("services.up", "--service", "auth", "--timeout", "600", timeout=150)
    assert_user_error(
        result,
        "auth-service exited during start",
        "exit code 0",
        "clean exit - waiting for changes",
    )


def test_a_service_that_never_listens_is_named_at_the_deadline(watched):
    root, inv, ports = watched({"auth-service": "nodemon + ts-node"})
    set_env(root, "auth-service", APP_QUIET="1")
    result = inv("services.up", "--service", "auth", "--timeout", "8", timeout=150)
    assert_user_error(
        result, "did not answer GET /health with 200 within 8s", "runs but listens on no port"
    )


def test_a_script_with_its_own_inspect_keeps_it_and_status_says_where(watched):
    root, inv, ports = watched({"auth-service": "node --watch under pnpm"})
    own = free_port()
    pkg = root / "services/auth-service/package.json"
    data = json.loads(pkg.read_text())
    data["scripts"]["dev"] = f"nodemon --inspect=127.0.0.1:{own} src/main.js"
    pkg.write_text(json.dumps(data))
    result = inv("services.up", "--service", "auth", check=True, timeout=180)
    assert f"opens its own inspector (--inspect: port {own})" in result.stdout
    row = rows(inv)["auth-service"]
    pid = health(ports["auth-service"][0])[1]["pid"]
    assert row["debug_port"] == own and f"own process (pid {pid}" in row["inspector"]
    assert not __import__("lomash_tasks.processes").processes.listeners(ports["auth-service"][1])
    # nodemon hands --inspect to node only: under an `exec` of ts-node nothing opens it
    write_service(
        root / "services/auth-service", "nodemon + ts-node", f"nodemon --inspect=127.0.0.1:{own}"
    )
    inv("services.restart", "--service", "auth", check=True, timeout=180)
    row = rows(inv)["auth-service"]
    assert row["debugger"] == "no inspector"
    assert "asks for its own inspector" in row["inspector"] and "ts-node" in row["inspector"]
    table = inv("services.status", check=True).stdout
    assert "inspector: none: the dev script asks for its own inspector" in " ".join(table.split())
