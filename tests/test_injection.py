"""No shell injection: every external command is an argument list, so a hostile value that
reaches one arrives as one verbatim argv entry and never runs anything.

Hostile values go through every flag that reaches a command or a server (service names,
`db.migrate --name`, `stripe.listen --events/--forward-to`, `stripe.trigger EVENT`,
`cache.keys --pattern`, fixture paths, a `.env` value, the workspace's own path); a marker
file that an injected `touch` would create must never appear. The Stripe CLI is the stand-in
(tests/standins/stripe, which records its argv): Stripe's servers are unreachable.
"""

from __future__ import annotations

import ast
import json
import tempfile
import uuid
from pathlib import Path

import pytest
from conftest import SUITE_ROOT, Inv, assert_user_error, free_port, make_workspace

STANDIN = SUITE_ROOT / "tests" / "standins" / "stripe"
MARKER = Path(tempfile.gettempdir()) / f"pwned-{uuid.uuid4().hex}"
HOSTILE = [
    f"x; touch {MARKER}",
    f"$(touch {MARKER})",
    f"`touch {MARKER}`",
    f"x && touch {MARKER} || touch {MARKER}",
    f"x | tee {MARKER}",
    f"x\ntouch {MARKER}",
    f"'\"; touch {MARKER}; echo \"'",
]


@pytest.fixture(autouse=True)
def no_marker():
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "an injected command ran"


def closed_ports() -> dict[str, str]:
    return {
        f"INVOKE_INFRA_{k}": str(free_port())
        for k in ("POSTGRES_PORT", "REDIS_PORT", "AWS_PORT", "SMTP_PORT", "SMTP_WEB_PORT")
    }


@pytest.fixture
def cli_ws(tmp_root, tmp_path):
    """A workspace whose order service has a .env, `inv` using the stand-in CLI with a log."""
    root = make_workspace(Path(tempfile.mkdtemp(prefix="inj-", dir=tmp_root)) / "ws")
    order = root / "services/order-payment-service"
    (order / ".env").write_text((order / ".env.example").read_text())
    log = tmp_path / "cli.jsonl"
    inv = Inv(
        {
            "INVOKE_WORKSPACE_ROOT": str(root),
            "INVOKE_STRIPE_CLI": str(STANDIN),
            "STANDIN_STRIPE_LOG": str(log),
            **closed_ports(),
        }
    )
    return root, inv, log


def runs(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_service_names_never_reach_a_shell(value, tmp_root):
    root = make_workspace(Path(tempfile.mkdtemp(prefix="inj-", dir=tmp_root)) / "ws")
    inv = Inv({"INVOKE_WORKSPACE_ROOT": str(root), **closed_ports()})
    for args in (
        ("env.show", value),
        ("db.migrate", "--service", value),
        ("cache.flush", value, "--yes"),
        ("db.psql", value),
    ):
        assert_user_error(inv(*args), "Unknown service")


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_stripe_trigger_event_arrives_verbatim(cli_ws, value):
    root, inv, log = cli_ws
    result = inv("stripe.trigger", value, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = runs(log)
    assert run["argv"] == ["trigger", value]


def test_stripe_listen_events_and_forward_to_arrive_verbatim(cli_ws):
    root, inv, log = cli_ws
    events = f"charge.succeeded,$(touch {MARKER})"
    forward = f"localhost:3003/v1/webhooks/stripe;touch {MARKER}"
    result = inv(
        "stripe.listen",
        "--events",
        events,
        "--forward-to",
        forward,
        env={"STANDIN_STRIPE_MODE": "fail"},
        timeout=60,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    (run,) = runs(log)
    assert run["argv"] == ["listen", "--forward-to", forward, "--events", events]


def test_an_env_value_reaches_the_cli_environment_verbatim(cli_ws):
    root, inv, log = cli_ws
    env = root / "services/order-payment-service/.env"
    key = f"sk_test_abc$(touch {MARKER})`touch {MARKER}`"
    env.write_text(
        env.read_text().replace(
            "STRIPE_SECRET_KEY=sk_test_placeholder", f"STRIPE_SECRET_KEY='{key}'"
        )
    )
    result = inv("stripe.trigger", "charge.succeeded", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = runs(log)
    assert run["api_key"] == key  # in the environment, never on the command line
    assert key not in " ".join(run["argv"])


@pytest.mark.parametrize("value", HOSTILE[:3], ids=range(3))
def test_fixture_paths_and_urls_are_data(cli_ws, value):
    root, inv, log = cli_ws
    assert_user_error(inv("stripe.replay", f"/tmp/{value}.json"), "does not exist")
    env = root / "services/order-payment-service/.env"
    env.write_text(
        env.read_text().replace("STRIPE_WEBHOOK_SECRET=", "STRIPE_WEBHOOK_SECRET=whsec_x")
    )
    result = inv(
        "stripe.replay",
        "charge.refunded",
        "--to",
        f"http://127.0.0.1:{free_port()}/{value}",
        "--timeout",
        "2",
        timeout=60,
    )
    assert_user_error(result)
    text = result.stdout + result.stderr
    assert "did not answer" in text or "cannot be used: it contains spaces" in text, text


def test_a_workspace_path_with_shell_characters_works(tmp_root, tmp_path):
    parent = Path(tempfile.mkdtemp(prefix="inj-", dir=tmp_root))
    root = make_workspace(parent / f"my ws; touch {MARKER.name} $(touch {MARKER.name})")
    log = tmp_path / "cli.jsonl"
    inv = Inv(
        {
            "INVOKE_WORKSPACE_ROOT": str(root),
            "INVOKE_STRIPE_CLI": str(STANDIN),
            "STANDIN_STRIPE_LOG": str(log),
            **closed_ports(),
        }
    )
    inv("env.copy", check=True)
    inv("debug.vscode", check=True)
    inv("stripe.secret", check=True, env={"STANDIN_STRIPE_SECRET": "whsec_pathtest123"})
    assert "whsec_pathtest123" in (root / "services/order-payment-service/.env").read_text()
    assert not (parent / MARKER.name).exists() and not (SUITE_ROOT / MARKER.name).exists()


def test_redis_pattern_is_a_scan_argument(stack):
    """The pattern goes to SCAN MATCH as data; the listing echoes it back unchanged."""
    for value in HOSTILE[:3]:
        result = stack.inv("cache.keys", "auth", "--pattern", value, "--json", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["pattern"] == value


def test_migration_names_are_checked_before_any_file_or_command(stack):
    for value in HOSTILE:
        result = stack.inv(
            "db.migrate", "--mode", "dev", "--service", "auth", "--name", value, timeout=120
        )
        assert_user_error(result, "is not usable")
    assert not list(stack.root.glob("services/auth-service/prisma/migrations/*touch*"))


def test_psql_gets_an_argument_list_and_the_password_in_its_environment(stack):
    from lomash_tasks.db import ops as database

    svc = stack.ws.registry.service("auth")
    argv, env = database.psql_command(stack.ws, svc)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    assert env["PGPASSWORD"] and env["PGPASSWORD"] not in " ".join(argv)


# -- static: no shell anywhere in the suite's code ---------------------------------------------
FORBIDDEN_CALLS = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("os", "execlp"),
    ("pty", "spawn"),
}


def python_sources() -> list[Path]:
    files = [SUITE_ROOT / "tasks.py", *sorted((SUITE_ROOT / "lomash_tasks").rglob("*.py"))]
    assert len(files) > 30
    return files


def test_no_shell_in_the_package():
    problems = []
    for path in python_sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                if (
                    isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name)
                    and (func.value.id, func.attr) in FORBIDDEN_CALLS
                ):
                    problems.append(f"{path}:{node.lineno}: {func.value.id}.{func.attr}()")
                for kw in node.keywords:
                    if kw.arg == "shell" and not (
                        isinstance(kw.value, ast.Constant) and kw.value.value is False
                    ):
                        problems.append(f"{path}:{node.lineno}: shell=...")
                first = node.args[0] if node.args else None
                if isinstance(first, (ast.List, ast.Tuple)) and len(first.elts) >= 2:
                    head = [e.value for e in first.elts[:2] if isinstance(e, ast.Constant)]
                    if (
                        len(head) == 2
                        and str(head[0]).rsplit("/", 1)[-1] in ("sh", "bash")
                        and head[1] == "-c"
                    ):
                        problems.append(f"{path}:{node.lineno}: sh -c")
        text = path.read_text()
        for needle in ("shell=True", "os.system(", "os.popen("):
            if needle in text:
                problems.append(f"{path}: contains {needle}")
    assert problems == []


def test_the_static_check_can_fail(tmp_path):
    """The check above finds what it looks for (it is not a tautology)."""
    sample = tmp_path / "bad.py"
    sample.write_text(
        "import os, subprocess\nos.system('ls')\nsubprocess.run('ls', shell=True)\n"
        "subprocess.run(['sh', '-c', 'ls'])\n"
    )
    tree = ast.parse(sample.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert any(
        isinstance(c.func, ast.Attribute)
        and (getattr(c.func.value, "id", None), c.func.attr) in FORBIDDEN_CALLS
        for c in calls
    )
    assert any(kw.arg == "shell" for c in calls for kw in c.keywords)


def test_the_shell_shims_pass_arguments_quoted():
    for shim in (SUITE_ROOT / "scripts" / name for name in ("migrate.sh", "seed.sh")):
        text = shim.read_text()
        assert '"$@"' in text and "$*" not in text and "eval" not in text, shim
