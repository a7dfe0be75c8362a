"""Secret hygiene on a real stack of its own: known unique secrets in every `.env`, every task run
on its normal and its failing paths (plain, --json, GitHub Actions with a step summary), and not
one of the values may appear unmasked anywhere the suite writes: stdout, stderr, JSON, the step
summary, the logs under .lomash/. Only `::add-mask::` lines carry them (that is how the runner
learns to hide them), and `--reveal` shows them because it was asked to.

Also: env files and state folders are owner-only, servers listen on loopback only and demand
their passwords, destructive tasks refuse a non-local target before connecting and refuse to act
unasked in CI. The Stripe CLI is the stand-in (Stripe's servers are unreachable).
"""

from __future__ import annotations

import json
import re
import stat
import tempfile
import uuid
from pathlib import Path

import pytest
from conftest import SUITE_ROOT, Inv, assert_user_error, free_port, make_workspace, stack_env

pytestmark = pytest.mark.xdist_group("secrets")  # one worker: these start their own stack

STANDIN = SUITE_ROOT / "tests" / "standins" / "stripe"
TAG = uuid.uuid4().hex[:10]
GH = {"GITHUB_ACTIONS": "true", "CI": "true"}


def port_env(root: Path) -> dict[str, str]:
    """Free ports for a dedicated embedded stack, with the stand-in Stripe CLI."""
    return {
        **stack_env(root),
        "INVOKE_STACK_BACKEND": "embedded",
        "INVOKE_STRIPE_CLI": str(STANDIN),
        "STANDIN_STRIPE_SECRET": f"whsec_captured{TAG}",
    }


def plant_secrets(root: Path) -> dict[str, str]:
    """Give every secret-looking key of every `.env` a unique known value; returns name -> value.

    Role passwords go into each service's DATABASE_URL (the embedded stack sets them at init);
    every REDIS_URL carries the root REDIS_PASSWORD, as the services need.
    """
    from lomash_tasks.masking import is_secret_key

    secrets: dict[str, str] = {}
    redis_pw = f"RedisPw{TAG}"
    for env in sorted(root.rglob(".env")):
        if "node_modules" in env.parts:
            continue
        label = env.parent.name
        lines = []
        for line in env.read_text().splitlines():
            key, sep, value = line.partition("=")
            if not sep or line.lstrip().startswith("#"):
                lines.append(line)
                continue
            if key == "REDIS_PASSWORD":
                value = redis_pw
            elif key == "DATABASE_URL":
                pw = f"Role{label.split('-')[0].title()}{TAG}"
                value = re.sub(
                    r"(://[^:/@]+:)[^@]*@", lambda m, pw=pw: m.group(1) + pw + "@", value
                )
                secrets[f"{label}:role"] = pw
            elif key == "REDIS_URL":
                value = re.sub(r"(://:)[^@]*@", lambda m: m.group(1) + redis_pw + "@", value)
            elif key == "STRIPE_SECRET_KEY":
                value = f"sk_test_{label[:5]}{TAG}"
            elif key == "STRIPE_WEBHOOK_SECRET":
                value = f"whsec_planted{TAG}"
            elif is_secret_key(key):
                value = f"{key.title().replace('_', '')[:14]}{label[:4]}{TAG}"
            else:
                lines.append(line)
                continue
            if key not in ("DATABASE_URL", "REDIS_URL"):
                secrets[f"{label}:{key}"] = value
            lines.append(f"{key}={value}")
        env.write_text("\n".join(lines) + "\n")
    secrets["redis"] = redis_pw
    secrets["captured whsec"] = f"whsec_captured{TAG}"
    return secrets


@pytest.fixture(scope="module")
def planted(tmp_root):
    root = Path(tempfile.mkdtemp(prefix="secrets-", dir=tmp_root))
    root.rmdir()
    make_workspace(root, node_modules=True)
    inv = Inv(port_env(root))
    inv("env.copy", check=True)
    secrets = plant_secrets(root)
    assert len(secrets) >= 25
    first = inv("setup", "--runner", "native", "--json", timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    yield root, inv, secrets, [("setup --json", first.stdout + first.stderr)]
    inv("stack.down", "--volumes", "--yes", timeout=120)


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    found = []
    for line in text.splitlines():
        if line.startswith("::add-mask::"):
            continue
        found += [
            f"{name}: {line.strip()[:160]}" for name, value in secrets.items() if value in line
        ]
    return found


# Normal paths: those that only read run a few at a time; those that write, one after another.
READING = [
    ("env.check",),
    ("env.diff",),
    ("env.show", "auth"),
    ("env.show", "order"),
    ("stack.status",),
    ("stack.status", "--json"),
    ("stack.wait",),
    ("stack.logs",),
    ("db.wait",),
    ("db.status",),
    ("db.status", "--json"),
    ("db.url", "auth"),
    ("cache.wait",),
    ("cache.stats",),
    ("cache.stats", "--json"),
    ("cache.keys", "auth"),
    ("cache.keys", "auth", "--json"),
    ("aws.wait",),
    ("aws.status",),
    ("aws.status", "--json"),
    ("debug.ports",),
    ("debug.ports", "--json"),
    ("setup", "--dry"),
]
WRITING = [
    ("env.copy",),
    ("db.migrate", "--runner", "native"),
    ("db.seed",),
    ("db.reset", "customer", "--yes", "--runner", "native"),
    ("cache.flush", "auth", "--yes"),
    ("aws.bootstrap",),
    ("aws.bootstrap", "--json"),
    ("aws.secrets",),
    ("debug.vscode",),
    ("stripe.secret",),
    ("stripe.trigger", "charge.succeeded"),
    ("setup", "--runner", "native"),
    ("setup", "--runner", "native", "--json"),
]
NORMAL = READING + WRITING


# Failing paths: the stack is not where the config says, the CLI fails, the endpoint is down.
def failing(inv: Inv) -> list[tuple[tuple[str, ...], dict[str, str]]]:
    closed = {
        "INVOKE_INFRA_POSTGRES_PORT": str(free_port()),
        "INVOKE_INFRA_REDIS_PORT": str(free_port()),
        "INVOKE_INFRA_AWS_PORT": str(free_port()),
        "INVOKE_INFRA_SMTP_PORT": str(free_port()),
    }
    return [
        (("db.migrate", "--runner", "native"), closed),
        (("db.status", "--json"), closed),
        (("db.seed",), closed),
        (("db.wait", "--timeout", "1"), closed),
        (("cache.keys", "order"), closed),
        (("cache.flush", "order", "--yes"), closed),
        (("aws.secrets",), closed),
        (("aws.bootstrap", "--json"), closed),
        (("debug.doctor",), closed),
        (("debug.doctor", "--json"), closed),
        (
            ("setup", "--runner", "native", "--only", "wait", "--json"),
            dict(closed, INVOKE_STACK_WAIT_TIMEOUT="1"),
        ),
        (("stripe.listen",), {"STANDIN_STRIPE_MODE": "fail"}),
        (
            ("stripe.listen",),
            {"STANDIN_STRIPE_MODE": "never-ready", "INVOKE_STRIPE_READY_TIMEOUT": "1"},
        ),
        (
            (
                "stripe.replay",
                "charge.refunded",
                "--to",
                f"http://127.0.0.1:{free_port()}/x",
                "--timeout",
                "2",
            ),
            {},
        ),
        (("env.show", "auth"), {"INVOKE_WORKSPACE_ROOT": "/nonexistent"}),
    ]


def test_no_task_prints_a_secret_on_normal_and_failing_paths(planted):
    from concurrent.futures import ThreadPoolExecutor

    root, inv, secrets, outputs = planted
    for args in WRITING:
        result = inv(*args, timeout=300)
        assert result.returncode == 0, (args, result.stdout + result.stderr)
        outputs.append((" ".join(args), result.stdout + result.stderr))
    with ThreadPoolExecutor(3) as pool:
        reading = list(pool.map(lambda args: (args, inv(*args, timeout=300)), READING))
        failed = list(
            pool.map(lambda case: (case[0], inv(*case[0], env=case[1], timeout=120)), failing(inv))
        )
    for args, result in reading:
        assert result.returncode == 0, (args, result.stdout + result.stderr)
        outputs.append((" ".join(args), result.stdout + result.stderr))
    for args, result in failed:
        assert result.returncode != 0, (args, result.stdout + result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        outputs.append((" ".join(args) + " (failing)", result.stdout + result.stderr))
    # JSON output is JSON, and is as clean as the rest.
    json.loads(inv("stack.status", "--json", check=True).stdout)
    found = {name: leaks(text, secrets) for name, text in outputs}
    assert {k: v for k, v in found.items() if v} == {}
    # the captured signing secret really went to the file (so it was a secret worth hiding)
    assert f"whsec_captured{TAG}" in (root / "services/order-payment-service/.env").read_text()


def test_github_actions_masks_and_the_step_summary_is_clean(planted, tmp_path):
    root, inv, secrets, _ = planted
    summary = tmp_path / "summary.md"
    env = dict(GH, GITHUB_STEP_SUMMARY=str(summary))
    texts = []
    for args in [
        ("setup", "--runner", "native"),
        ("debug.doctor",),
        ("aws.bootstrap",),
        ("env.show", "order"),
        ("db.url", "order"),
    ]:
        result = inv(*args, env=env, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        texts.append(result.stdout + result.stderr)
    folder = root / "services/content-service/prisma/migrations/20270101000000_broken"
    folder.mkdir()
    (folder / "migration.sql").write_text("SELECT no_such_column FROM no_such_table;\n")
    try:
        failed = inv("setup", "--runner", "native", env=env, timeout=300)
    finally:
        import shutil

        shutil.rmtree(folder)
    assert failed.returncode != 0
    texts.append(failed.stdout + failed.stderr)
    everything = "\n".join(texts)
    assert leaks(everything, secrets) == []
    assert summary.is_file() and "db.migrate" in summary.read_text()
    assert leaks(summary.read_text(), secrets) == []
    masked = {
        line[len("::add-mask::") :]
        for line in everything.splitlines()
        if line.startswith("::add-mask::")
    }
    # the runner is told every secret the env files hold now (stripe.secret replaced one)
    files = "\n".join(p.read_text() for p in root.rglob(".env") if "node_modules" not in p.parts)
    current = {v for v in secrets.values() if v in files}
    assert len(current) >= len(set(secrets.values())) - 1
    assert current <= masked, sorted(current - masked)


def test_reveal_shows_what_was_asked_for(planted):
    root, inv, secrets, _ = planted
    shown = inv("env.show", "auth", "--reveal", check=True).stdout
    assert secrets["auth-service:JWT_SECRET"] in shown
    assert secrets["auth-service:BETTER_AUTH_SECRET"] in shown
    assert secrets["auth-service:role"] in shown
    url = inv("db.url", "order", "--reveal", check=True).stdout
    assert f":{secrets['order-payment-service:role']}@" in url
    masked = inv("db.url", "order", check=True).stdout
    assert secrets["order-payment-service:role"] not in masked and ":****@" in masked


def test_logs_and_state_files_hold_no_secret_and_are_owner_only(planted):
    root, inv, secrets, _ = planted
    state = root / ".lomash"
    logs = [p for p in state.rglob("*.log") if p.is_file()]
    assert logs, "no server logs found under .lomash/"
    for log in logs:
        assert leaks(log.read_text(errors="replace"), secrets) == [], log
    # .lomash itself may be 0711 (the unprivileged PostgreSQL user passes through it to its own
    # folder, as it must); nobody else may list or write it, and every folder in it is 0700.
    assert stat.S_IMODE(state.stat().st_mode) in (0o700, 0o711)
    for child in state.iterdir():
        mode = stat.S_IMODE(child.stat().st_mode)
        assert mode & 0o077 == 0, f"{child} is {oct(mode)}"
    for env in root.rglob(".env*"):
        if env.name == ".env.example" or "node_modules" in env.parts:
            continue
        assert stat.S_IMODE(env.stat().st_mode) == 0o600, env
    for conf in state.rglob("*.conf"):  # redis.conf holds the password: owner-only
        assert stat.S_IMODE(conf.stat().st_mode) & 0o077 == 0, conf


def test_no_secret_on_a_server_command_line(planted):
    """`ps` shows every process's argv to every user: passwords must not be there."""
    root, inv, secrets, _ = planted
    rows = json.loads(inv("stack.status", "--json", check=True).stdout)
    pids = [r["pid"] for r in rows if r.get("pid")]
    assert len(pids) == 4
    from lomash_tasks import processes

    for pid in pids:
        argv = " ".join(processes.command_line(pid))
        assert argv and leaks(argv, secrets) == [], argv


def test_servers_listen_on_loopback_only_and_demand_passwords(planted):
    root, inv, secrets, _ = planted
    env = inv.env
    from lomash_tasks import processes

    loopback = {"127.0.0.1", "::1"}
    for key in ("POSTGRES_PORT", "REDIS_PORT", "AWS_PORT", "SMTP_PORT"):
        port = int(env[f"INVOKE_INFRA_{key}"])
        addresses = processes.listening_addresses(port)
        assert addresses, f"nothing listens on {port} ({key})"
        assert set(addresses) <= loopback, f"{key} {port} listens on {addresses}"

    import psycopg
    import redis

    pg = dict(
        host="127.0.0.1",
        port=int(env["INVOKE_INFRA_POSTGRES_PORT"]),
        dbname="lomash_auth",
        connect_timeout=5,
    )
    for user, password in [
        ("lomash_master", ""),
        ("lomash_master", "changeme_local"),
        ("lomash_auth", "changeme_local"),
        ("lomash_auth", "wrong"),
    ]:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(user=user, password=password, **pg).close()
    with psycopg.connect(user="lomash_auth", password=secrets["auth-service:role"], **pg) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "lomash_auth"
    port = int(env["INVOKE_INFRA_REDIS_PORT"])
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, password="changeme_local").ping()
    assert redis.Redis(port=port, password=secrets["redis"]).ping()


REMOTE = [
    (
        ("cache.flush", "auth", "--yes"),
        {"INVOKE_INFRA_REDIS_HOST": "db.example.com"},
        ("Refusing to flush Redis index 0 on db.example.com", "--allow-remote"),
    ),
    (
        ("db.reset", "auth", "--yes"),
        {"INVOKE_INFRA_POSTGRES_HOST": "db.example.com"},
        ("Refusing to drop database lomash_auth on db.example.com", "--allow-remote"),
    ),
    (
        ("stack.down", "--volumes", "--yes"),
        {"INVOKE_INFRA_POSTGRES_HOST": "db.example.com"},
        (
            "Refusing to remove the stack's data (infra.postgres.host) on db.example.com",
            "--allow-remote",
        ),
    ),
    (
        ("teardown", "--volumes", "--yes"),
        {"INVOKE_INFRA_REDIS_HOST": "db.example.com"},
        ("Refusing to remove the stack's data (infra.redis.host) on db.example.com",),
    ),
]


@pytest.mark.parametrize("args,env,fragments", REMOTE, ids=[r[0][0] for r in REMOTE])
def test_destructive_tasks_refuse_a_remote_target_before_connecting(planted, args, env, fragments):
    """No network is used: the refusal comes before any connection (db.example.com does not
    even resolve here, so a connection attempt would fail with a different message)."""
    root, inv, secrets, _ = planted
    result = inv(*args, env=env, timeout=60)
    assert_user_error(result, *fragments)
    assert "Cannot reach" not in result.stderr and "connect" not in result.stderr.lower()
    assert inv("stack.status", "--json", check=True).stdout.count('"running"') == 4


@pytest.mark.parametrize(
    "args,fragment",
    [
        (("cache.flush", "auth"), "non-interactive (CI)"),
        (("db.reset", "auth"), "pass --yes"),
        (("stack.down", "--volumes"), "pass --yes"),
        (("teardown", "--volumes"), "pass --yes"),
    ],
    ids=["cache.flush", "db.reset", "stack.down", "teardown"],
)
def test_destructive_tasks_refuse_without_yes_in_ci(planted, args, fragment):
    root, inv, secrets, _ = planted
    import redis

    client = redis.Redis(
        port=int(inv.env["INVOKE_INFRA_REDIS_PORT"]), password=secrets["redis"], db=0
    )
    client.set("session:keep", "1")
    result = inv(*args, env=GH, timeout=60)
    assert_user_error(result, fragment)
    assert client.get("session:keep") == b"1"
    assert inv("stack.status", "--json", check=True).stdout.count('"running"') == 4
