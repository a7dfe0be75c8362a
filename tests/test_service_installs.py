"""Services as the monorepo defines them: each installed by its own package manager, each run
by its own dev command.

Workspace copies where some services are npm projects of their own (outside the pnpm
workspace, a package-lock.json each, as in the real Lomash Wood monorepo): their lockfiles are
made by the real npm against the npm registry (nodemon), then `inv setup --only deps` installs
them with `npm ci`, side by side. The faults: a lockfile out of date, a `workspace:*`
dependency outside a workspace, two package managers' lockfiles in one service.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import devtools
import pytest
from conftest import Inv, assert_user_error, free_port, make_workspace, stack_env

APP = (
    (Path(__file__).parent / "test_service_watchers.py")
    .read_text()
    .split('APP = """\\\n')[1]
    .split('"""')[0]
)
NODEMON = "3.1.14"


def npm_service(
    root: Path,
    name: str,
    scripts: dict[str, str],
    deps: dict[str, str] | None = None,
    lock: bool = True,
) -> Path:
    """Turn services/<name> into an npm project of its own: out of the pnpm workspace, its own
    package.json (a name and version as npm shows them) and package-lock.json, no node_modules."""
    folder = root / "services" / name
    modules = folder / "node_modules"
    if modules.is_symlink():
        modules.unlink()
    elif modules.exists():
        shutil.rmtree(modules)
    ws_file = root / "pnpm-workspace.yaml"
    ws_file.write_text(ws_file.read_text() + f"  - '!services/{name}'\n")
    (folder / "package.json").write_text(
        json.dumps(
            {
                "name": f"@lomash-wood/{name}",
                "version": "1.2.3",
                "private": True,
                "scripts": scripts,
                "dependencies": deps or {"nodemon": NODEMON},
            },
            indent=2,
        )
    )
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / "main.js").write_text(APP)
    if lock:
        subprocess.run(
            [
                "npm",
                "install",
                "--package-lock-only",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            cwd=folder,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return folder


def workspace_with(tmp_root: Path, services: dict[str, dict]) -> tuple[Path, Inv]:
    parent = Path(tempfile.mkdtemp(prefix="installs-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    for name, spec in services.items():
        npm_service(root, name, **spec)
    env = {**stack_env(root, services=True), "INVOKE_STACK_BACKEND": "embedded"}
    return root, Inv(env)


def installed(folder: Path) -> bool:
    return (folder / "node_modules" / ".package-lock.json").is_file() and (
        folder / "node_modules" / ".bin" / "nodemon"
    ).exists()


# -- installs -------------------------------------------------------------------------------------
def test_deps_installs_each_npm_service_with_npm_ci_side_by_side(tmp_root):
    root, inv = workspace_with(
        tmp_root,
        {
            "notification-service": {"scripts": {"start:dev": "nodemon src/main.js"}},
            "analytics-service": {"scripts": {"dev": "nodemon src/main.js"}},
        },
    )
    plan = inv("setup", "--only", "deps", "--dry", check=True)
    assert "`npm ci` (notification-service, analytics-service)" in plan.stdout
    assert not (root / "services/notification-service/node_modules").exists()  # dry
    result = inv("setup", "--only", "deps", check=True, timeout=600)
    for name in ("notification-service", "analytics-service"):
        assert installed(root / "services" / name), result.stdout
        log = root / ".lomash" / "deps" / f"{name}.log"
        assert log.read_text().startswith("$ npm ci")
    assert "2 services installed by 2 installs" in result.stdout
    # the pnpm members were installed already: no pnpm install ran for them
    assert "pnpm" not in result.stdout.split("deps", 1)[1].split("\n", 3)[0]
    again = inv("setup", "--only", "deps", check=True)
    assert "already" in again.stdout.split("deps", 2)[2].split("\n")[0], again.stdout


def test_each_install_that_cannot_work_is_named_and_the_others_are_installed(tmp_root):
    root, inv = workspace_with(
        tmp_root,
        {
            "notification-service": {"scripts": {"start:dev": "nodemon src/main.js"}},
            "analytics-service": {"scripts": {"dev": "nodemon src/main.js"}, "lock": False},
            "customer-service": {"scripts": {"dev": "nodemon src/main.js"}},
            "content-service": {"scripts": {"dev": "nodemon src/main.js"}},
        },
    )
    # notification: package.json moved on, its lockfile did not
    pkg = root / "services/notification-service/package.json"
    data = json.loads(pkg.read_text())
    data["dependencies"]["left-pad"] = "1.3.0"
    pkg.write_text(json.dumps(data))
    # analytics: a workspace dependency, outside the workspace
    pkg = root / "services/analytics-service/package.json"
    data = json.loads(pkg.read_text())
    data["dependencies"]["@lomash/service-kit"] = "workspace:*"
    pkg.write_text(json.dumps(data))
    # customer: npm's and yarn's lockfiles, no packageManager to choose
    (root / "services/customer-service/yarn.lock").write_text("# yarn lockfile v1\n")
    result = inv("setup", "--only", "deps", timeout=600)
    assert_user_error(
        result,
        "services/notification-service/package-lock.json is out of date with its package.json",
        "run `npm install` in services/notification-service to update it",
        "@lomash/service-kit use the workspace: protocol",
        "analytics-service is not a member of the pnpm workspace",
        "has the lockfiles of more than one package manager (package-lock.json, yarn.lock)",
        "3 of 4 installs failed; the others are in place",
    )
    assert "Last lines of .lomash/deps/notification-service.log" in result.stderr + result.stdout
    # services.up then names why, not the install that just failed
    inv("env.copy", check=True)
    up = inv("services.up", "--service", "notification", "--service", "content", timeout=60)
    assert_user_error(
        up,
        "notification-service: its node_modules is missing or incomplete; its last install "
        "failed: services/notification-service/package-lock.json is out of date with its "
        "package.json",
        "(see .lomash/deps/notification-service.log)",
        "Fix what the failed installs say, then run `inv setup --only deps`",
    )
    assert "content-service" not in up.stderr  # installed
    assert installed(root / "services/content-service")
    assert not (root / "services/analytics-service/node_modules").exists()  # never tried
    assert not (root / "services/customer-service/node_modules").exists()


def test_services_up_names_each_missing_install_at_once(tmp_root):
    root, inv = workspace_with(
        tmp_root,
        {
            "notification-service": {"scripts": {"start:dev": "nodemon src/main.js"}},
            "analytics-service": {"scripts": {"dev": "nodemon src/main.js"}},
        },
    )
    inv("env.copy", check=True)
    # no stack runs: the missing installs are named before anything else is looked at
    result = inv("services.up", "--timeout", "600", timeout=60)
    assert_user_error(
        result,
        "cannot start without their Node dependencies",
        "notification-service: its node_modules is missing or incomplete (`npm ci` "
        "in services/notification-service)",
        "analytics-service: its node_modules is missing or incomplete",
        "inv setup --only deps",
    )
    assert "auth-service" not in result.stderr  # the pnpm members are installed
    assert not (root / ".lomash/services/desired.json").exists()


# -- the dev command ------------------------------------------------------------------------------
def workspace_object(root: Path, overrides: dict | None = None):
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.registry import Registry
    from lomash_tasks.workspace import Workspace

    config = load_config(
        overrides={"workspace": {"root": str(root)}, **(overrides or {})}, env=False
    )
    return Workspace.locate(str(root), Registry.from_mapping(plain(config)))


def test_the_dev_command_is_found_in_order_or_taken_from_config(tmp_root, tmp_path):
    from lomash_tasks.errors import UserError
    from lomash_tasks.services import model

    root = make_workspace(tmp_path / "ws")
    npm_service(
        root,
        "notification-service",
        {"start:dev": "nodemon src/main.js", "start:debug": "nodemon --inspect src/main.js"},
        lock=False,
    )
    npm_service(root, "auth-service", {"start": "node dist/main.js"}, lock=False)
    ws = workspace_object(root)
    order = ["dev", "start:dev", "develop", "serve:dev"]
    notification = ws.registry.service("notification")
    dev = model.dev_command(ws, notification, order)
    assert (dev.script, dev.text) == ("start:dev", "nodemon src/main.js")
    assert dev.source == "services/notification-service/package.json scripts.start:dev"
    argv, command = model.dev_argv(ws, notification, dev)
    assert Path(argv[0]).name == "npm" and argv[1:] == ["run", "start:dev"]
    assert command == "npm run start:dev (nodemon src/main.js)"
    # a member of the pnpm workspace runs through the workspace's pnpm (packageManager's version)
    product = ws.registry.service("product")
    dev = model.dev_command(ws, product, order)
    argv, command = model.dev_argv(ws, product, dev)
    assert dev.script == "dev" and argv[0].endswith("node")  # a plain node script: as it is
    assert model.dev_command(ws, notification, ["start:debug", "dev"]).script == "start:debug"
    with pytest.raises(UserError) as err:
        model.dev_command(ws, ws.registry.service("auth"), order)
    assert (
        "services/auth-service/package.json has none of the scripts dev, start:dev, "
        "develop, serve:dev (its scripts: start)" in err.value.text
    )
    assert "services.auth-service.command" in err.value.text
    assert "service_options.dev_scripts" in err.value.text
    ws = workspace_object(
        root, {"services": {"auth-service": {"command": "node --watch src/main.js --flag 'a b'"}}}
    )
    auth = ws.registry.service("auth")
    dev = model.dev_command(ws, auth, order)
    assert (dev.script, dev.source) == ("", "services.auth-service.command")
    assert model.dev_argv(ws, auth, dev)[0] == ["node", "--watch", "src/main.js", "--flag", "a b"]


def test_a_command_in_config_is_validated_like_the_other_keys(workspace, inv):
    result = inv("services.status", env={"INVOKE_SERVICES_AUTH_SERVICE_COMMAND": "npm run x"})
    assert result.returncode == 0, result.stderr
    (workspace / "invoke.yaml").write_text("services:\n  auth-service:\n    command: [npm, run]\n")
    result = inv("services.status", env={"INVOKE_WORKSPACE_ROOT": str(workspace)})
    assert_user_error(result, "services.auth-service.command", "must be a command line")


def test_an_npm_service_runs_its_start_dev_program_directly_with_its_inspector(stack, tmp_root):
    """The real monorepo's shape: no `dev`, `start:dev` = nodemon, installed by `npm ci`. The
    script names a program of node_modules/.bin, so it runs without npm in front (npm would
    only start first and stay alive), with what `npm run` tells a script."""
    from lomash_tasks import processes

    parent = Path(tempfile.mkdtemp(prefix="npm-run-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    npm_service(
        root,
        "notification-service",
        {"start:dev": "nodemon src/main.js", "start": "node src/main.js"},
    )
    port, debug = free_port(), free_port()
    env = {
        **stack.env,
        "INVOKE_WORKSPACE_ROOT": str(root),
        "INVOKE_SERVICE_OPTIONS_BACKEND": "embedded",
        "INVOKE_STACK_BACKEND": "embedded",
        "INVOKE_SERVICE_OPTIONS_IN_SETUP": "1",
        "INVOKE_SERVICES_NOTIFICATION_SERVICE_PORT": str(port),
        "INVOKE_SERVICES_NOTIFICATION_SERVICE_DEBUG_PORT": str(debug),
    }
    inv = Inv(env)
    inv("env.copy", check=True)
    try:
        inv("setup", "--only", "deps", check=True, timeout=600)
        inv("services.up", "--service", "notification", check=True, timeout=180)
        row = {
            r["service"]: r for r in json.loads(inv("services.status", "--json", check=True).stdout)
        }["notification-service"]
        assert row["state"] == "healthy"
        assert row["command"] == (
            "npm run start:dev (nodemon src/main.js; run without npm in front)"
        ), row["command"]
        members = processes.group_members(row["pid"]) if row.get("pid") else []
        names = [" ".join(processes.command_line(p)[:2]) for p in members]
        assert members and not any("npm" in Path(n.split()[0]).name for n in names), names
        assert any("nodemon" in n for n in names), names
        pid = devtools.evaluate(debug, "process.pid")
        assert f"own process (pid {pid}" in row["inspector"]
        assert processes.listeners(port) == [pid]
        # what `npm run` tells a script, as the real services read it (npm_package_version)
        assert devtools.evaluate(debug, "process.env.npm_package_version") == "1.2.3"
        assert devtools.evaluate(debug, "process.env.npm_lifecycle_event") == "start:dev"
    finally:
        inv("services.down", timeout=60)
    assert processes.in_folder(root / "services") == []


def test_what_a_failed_install_said_is_turned_into_its_cause_and_fix(tmp_path):
    """The classifier over npm's own words. The ERESOLVE text is what `npm ci` printed for the
    real monorepo's order-payment-service (an npm registry install; a peer conflict cannot be
    made offline: npm links file: packages without checking their peers)."""
    from lomash_tasks.services import packages

    root = make_workspace(tmp_path / "ws")
    ws = workspace_object(root)
    folder = root / "services" / "order-payment-service"
    inst = packages.Install(
        "order-payment-service",
        folder,
        "npm",
        ["npm", "ci"],
        ["order-payment-service"],
        folder / "package-lock.json",
    )
    eresolve = (
        "npm error code ERESOLVE\nnpm error ERESOLVE could not resolve\nnpm error\n"
        "npm error While resolving: bullmq@5.81.5\nnpm error Found: redis@4.7.1\n"
        "npm error\nnpm error Could not resolve dependency:\n"
        'npm error peerOptional redis@">=5.0.0" from bullmq@5.81.5\n'
    )
    cause = packages._classify(inst, eresolve, ws)
    assert 'a peer dependency conflict: peerOptional redis@">=5.0.0" from bullmq@5.81.5' in cause
    assert "legacy-peer-deps=true` in services/order-payment-service/.npmrc" in cause
    offline = "npm error code ENOTFOUND\nnpm error network request to https://x failed"
    assert "the package registry could not be reached" in packages._classify(inst, offline, ws)
    pnpm = packages.Install(
        "pnpm workspace", root, "pnpm", ["pnpm", "install"], ["a"], root / "pnpm-lock.yaml"
    )
    assert "run `pnpm install --no-frozen-lockfile` in ." in packages._classify(
        pnpm, ' ERR_PNPM_OUTDATED_LOCKFILE  Cannot install with "frozen-lockfile"', ws
    )
    assert (
        packages._classify(inst, "something else", ws)
        == "`npm ci` failed in services/order-payment-service"
    )
