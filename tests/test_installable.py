"""The suite as a package another monorepo installs and composes from its own tasks.py.

A copy of the reference workspace outside this repository gets a fresh venv with the suite
installed by `pip install` from this checkout (not editable), a tasks.py like the README's,
and real servers on free ports. Nothing may be written into this repository's examples/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from conftest import EXAMPLE, SUITE_ROOT, assert_user_error, checksums, free_port, make_workspace

pytestmark = pytest.mark.xdist_group("installable")

MONOREPO_TASKS = '''\
"""The monorepo's own tasks, composed with the Lomash Wood suite's."""
from invoke import call, task

from lomash_tasks import tasks as suite

namespace = suite.namespace


@task(pre=[call(suite.db.migrate, service="auth", runner="native")])
def auth_ready(c):
    """Migrate the auth service, then say so."""
    print("auth is migrated")


@task(pre=[call(suite.aws.bootstrap), call(suite.aws.status)],
      post=[call(suite.setup.setup, dry=True)])
def chained(c):
    """Run suite tasks of other namespaces as pre- and post-calls."""
    # and one from the task's body (a report: whether an earlier test migrated auth or not)
    suite.db.status(c, service="auth", report_only=True)
    print("chained body ran")


namespace.add_task(auth_ready)
namespace.add_task(chained)
'''


@pytest.fixture(scope="module")
def monorepo():
    """(root, venv bin, env): the installed suite and a monorepo with its stack running."""
    base = Path(tempfile.mkdtemp(prefix="lomash-mono-"))
    base.chmod(0o755)
    root = make_workspace(base / "lomash-wood")
    (root / "tasks.py").write_text(MONOREPO_TASKS)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    done = subprocess.run(
        [*pip, f"{SUITE_ROOT}[embedded]"], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("INVOKE_") and k not in ("CI", "GITHUB_ACTIONS", "PYTHONPATH")
    }
    env.update(
        {
            "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}",
            "INVOKE_INFRA_POSTGRES_PORT": str(free_port()),
            "INVOKE_INFRA_REDIS_PORT": str(free_port()),
            "INVOKE_INFRA_SMTP_PORT": str(free_port()),
            "INVOKE_INFRA_SMTP_WEB_PORT": str(free_port()),
            "INVOKE_INFRA_AWS_PORT": str(free_port()),
            "INVOKE_STACK_CACHE_DIR": str(base / "cache"),
        }
    )
    before = checksums(EXAMPLE)
    yield root, venv / "bin", env
    subprocess.run(
        [str(venv / "bin" / "inv"), "stack.down", "--volumes", "--yes"],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert checksums(EXAMPLE) == before, "the suite wrote into this repository's examples/"
    shutil.rmtree(base, ignore_errors=True)


def run(
    monorepo, *argv: str, env: dict | None = None, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    root, bindir, base_env = monorepo
    result = subprocess.run(
        [str(bindir / argv[0]), *argv[1:]],
        cwd=cwd or root,
        env={**base_env, **(env or {})},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, (
            f"{' '.join(argv)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def test_installed_package_ships_the_collections_and_the_registry(monorepo):
    root, bindir, env = monorepo
    found = subprocess.run(
        [
            str(bindir / "python"),
            "-c",
            "import lomash_tasks, lomash_tasks.tasks as s; "
            "print(lomash_tasks.__file__); print(sorted(s.namespace.collections))",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=True,
    )
    assert "site-packages" in found.stdout and str(SUITE_ROOT) not in found.stdout
    assert "['aws', 'cache', 'db', 'debug', 'env', 'services', 'stack', 'stripe']" in found.stdout
    listing = run(monorepo, "inv", "--list").stdout
    for name in ("setup", "db.migrate", "stack.up", "dashboard", "auth-ready", "chained"):
        assert name in listing
    assets = subprocess.run(
        [
            str(bindir / "python"),
            "-c",
            "from lomash_tasks.dashboard.server import load_assets; print(sorted(load_assets()))",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=True,
    )
    assert "['app.js', 'index.html', 'style.css']" in assets.stdout  # the page's package data


def test_monorepo_composes_the_suite_from_its_own_tasks_py(monorepo):
    root, _, env = monorepo
    run(monorepo, "inv", "env.copy")
    assert (root / "services" / "auth-service" / ".env").is_file()
    run(monorepo, "inv", "stack.up", "--backend", "embedded")
    out = run(monorepo, "inv", "auth-ready")
    assert "auth is migrated" in out.stdout
    import psycopg

    url = (
        f"postgresql://lomash_master:changeme_local@127.0.0.1:"
        f"{env['INVOKE_INFRA_POSTGRES_PORT']}/lomash_auth"
    )
    with psycopg.connect(url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL"
            )
        ]
        assert names, "auth's migrations were not applied"
    with psycopg.connect(url.replace("/lomash_auth", "/lomash_products")) as conn:
        assert conn.execute("SELECT to_regclass('_prisma_migrations')").fetchone()[0] is None, (
            "service='auth' (a string) must mean the auth service only"
        )


def test_pre_post_and_body_calls_of_other_namespaces(monorepo):
    run(monorepo, "inv", "stack.up", "--backend", "embedded")
    out = run(monorepo, "inv", "chained")
    text = out.stdout + out.stderr
    assert "Traceback" not in text
    assert "chained body ran" in text
    assert "db.status" in text  # the body's call printed its table
    assert "inv setup --dry (nothing changed)" in text  # the post-call ran, dry


def test_config_is_validated_the_same_through_a_pre_call(monorepo):
    result = run(monorepo, "inv", "auth-ready", env={"INVOKE_DB_RUNNER": "flyway"}, check=False)
    assert_user_error(
        result, "db.runner must be one of auto, prisma, native, not 'flyway'", "INVOKE_DB_RUNNER"
    )


def test_lomash_program_runs_without_a_tasks_py(monorepo, tmp_path):
    root, _, env = monorepo
    out = run(monorepo, "lomash", "--list", cwd=tmp_path)
    assert "db.migrate" in out.stdout and "auth-ready" not in out.stdout
    nested = root / "services" / "auth-service"
    url = run(monorepo, "lomash", "db.url", "--service", "auth", cwd=nested).stdout
    assert f":{env['INVOKE_INFRA_POSTGRES_PORT']}/lomash_auth" in url and "****" in url
    url = run(
        monorepo, "lomash", "--root", str(root), "db.url", "--service", "auth", cwd=tmp_path
    ).stdout
    assert "lomash_auth" in url
    missing = run(monorepo, "lomash", "db.url", "--service", "auth", cwd=tmp_path, check=False)
    assert_user_error(missing, "No Lomash Wood workspace was found", "--root")


def test_lomash_names_itself_in_its_hints(monorepo):
    """Run as `lomash` (a monorepo with no tasks.py has no `inv` to run), every hint names
    `lomash`: in a failure Invoke prints and in the console's lines (the setup summary);
    `inv` from a tasks.py keeps naming `inv`."""
    root, _, env = monorepo
    closed = {"INVOKE_INFRA_POSTGRES_PORT": str(free_port())}
    for program in ("lomash", "inv"):
        failed = run(
            monorepo, program, "setup", "--only", "db.migrate", cwd=root, env=closed, check=False
        )
        assert_user_error(
            failed, f"`{program} env.copy --align`", f"`{program} setup --only db.migrate`"
        )
        assert f"{program} setup stopped at step 'db.migrate'" in failed.stderr
        other = "inv" if program == "lomash" else "lomash"
        assert f"`{other} " not in failed.stdout + failed.stderr
        assert f"\n{other} setup" not in failed.stdout + failed.stderr  # the summary's title


def test_monorepo_invoke_yaml_overrides_a_registry_key(monorepo, tmp_path):
    root, _, env = monorepo
    config = root / "invoke.yaml"
    original = config.read_text() if config.exists() else None
    config.write_text(
        (original or "")
        + textwrap.dedent("""
        services:
          auth-service:
            port: 3901
    """)
    )
    try:
        import json

        entries = json.loads(run(monorepo, "inv", "debug.ports", "--json").stdout)
        auth = next(e for e in entries if e["name"] == "auth-service" and e["group"] == "service")
        assert auth["port"] == 3901
    finally:
        if original is None:
            config.unlink()
        else:
            config.write_text(original)
