"""`--target`: a real sshd as the bastion in front of a PostgreSQL playing RDS, secrets in moto's
Secrets Manager. Everything here is real; the ECS tests are in test_remote_ecs.py."""

from __future__ import annotations

import json
import re
import secrets as pysecrets

import pytest
from conftest import assert_user_error
from remote_peers import Rds, Sshd, aws_env, needs_sshd, store_secrets, target_config

pytestmark = [needs_sshd, pytest.mark.xdist_group("remote")]


@pytest.fixture(scope="module")
def sshd(tmp_root):
    import tempfile
    from pathlib import Path

    server = Sshd.start(Path(tempfile.mkdtemp(prefix="sshd-", dir=tmp_root)))
    yield server
    server.stop()


@pytest.fixture
def rds(stack):
    made = Rds.create(stack.ws, {"auth", "product"})
    yield made
    made.drop(stack.ws)


@pytest.fixture
def staging(stack, rds, sshd, tmp_path):
    """`inv` with target 'staging': the bastion, the RDS databases, their secrets."""
    prefix = f"test/{rds.tag}"
    store_secrets(stack, prefix, rds.urls)
    config = target_config(
        tmp_path / "targets.yaml", "staging", stack=stack, rds=rds, prefix=prefix, sshd=sshd
    )
    env = {**stack.env, **aws_env(stack)}
    return {"config": str(config), "env": env, "rds": rds, "prefix": prefix}


def run(stack, staging, *args, env=None, **kw):
    return stack.inv("-f", staging["config"], *args, env={**staging["env"], **(env or {})}, **kw)


def tunnel_port(text: str) -> int:
    found = re.search(r"tunnel open: 127\.0\.0\.1:(\d+)", text)
    assert found, text
    return int(found.group(1))


def test_db_migrate_and_status_through_the_tunnel_act_on_the_rds_database(stack, staging, sshd):
    from lomash_tasks.remote.tunnel import listening

    rds = staging["rds"]
    before = len(sshd.forwards())
    done = run(
        stack,
        staging,
        "db.migrate",
        "--target",
        "staging",
        "--via",
        "tunnel",
        "--service",
        "auth",
        "--runner",
        "native",
        check=True,
    )
    text = done.stdout + done.stderr
    assert "applied" in text
    assert not listening("127.0.0.1", tunnel_port(text)), "the tunnel is still listening"
    # the migrations are in the RDS database, and went through the bastion
    rows = rds.query(
        stack.ws, "auth", "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL"
    )
    assert rows[0][0] >= 1
    assert ("127.0.0.1", rds.port) in sshd.forwards()[before:]

    status = run(
        stack,
        staging,
        "db.status",
        "--target",
        "staging",
        "--service",
        "auth",
        "--service",
        "product",
        "--json",
        check=False,
    )
    states = {s["service"]: s for s in json.loads(status.stdout[status.stdout.index("[") :])}
    assert not states["auth-service"]["pending"], states
    assert states["product-service"]["pending"], "product was never migrated on the target"
    # the gate: product is behind on the target (as `prisma migrate status` exits 1)
    assert status.returncode == 1 and "product-service (1 pending)" in status.stderr
    report = run(
        stack,
        staging,
        "db.status",
        "--target",
        "staging",
        "--service",
        "auth",
        "--service",
        "product",
        "--report-only",
        check=False,
    )
    assert report.returncode == 0, report.stderr


def test_unknown_target_lists_the_known_ones(stack, staging):
    result = run(stack, staging, "db.status", "--target", "stagnig")
    assert_user_error(
        result,
        "Unknown target 'stagnig'",
        "Did you mean 'staging'",
        "Known targets: local, ",
        "staging",
    )


def test_an_unknown_host_key_is_refused_and_the_message_says_how_to_add_it(
    stack, staging, sshd, tmp_path, rds
):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = target_config(
        tmp_path / "t.yaml",
        "staging",
        stack=stack,
        rds=rds,
        prefix=staging["prefix"],
        sshd=sshd,
        bastion={"known_hosts": str(empty)},
    )
    result = stack.inv(
        "-f",
        str(config),
        "db.status",
        "--target",
        "staging",
        "--service",
        "auth",
        env=staging["env"],
    )
    assert_user_error(
        result, "not in", "refused", f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {empty}"
    )
    assert empty.read_text() == "", "the key was added"


def test_a_bastion_that_refuses_the_key(stack, staging, sshd, tmp_path, rds):
    from remote_peers import keygen

    other = keygen(tmp_path / "other_key")
    config = target_config(
        tmp_path / "t.yaml",
        "staging",
        stack=stack,
        rds=rds,
        prefix=staging["prefix"],
        sshd=sshd,
        bastion={"key_file": str(other)},
    )
    result = stack.inv(
        "-f",
        str(config),
        "db.status",
        "--target",
        "staging",
        "--service",
        "auth",
        env=staging["env"],
    )
    assert_user_error(result, "refused the key", str(other), "authorized_keys")


def test_an_unreachable_bastion(stack, staging, sshd, tmp_path, rds):
    from conftest import free_port

    config = target_config(
        tmp_path / "t.yaml",
        "staging",
        stack=stack,
        rds=rds,
        prefix=staging["prefix"],
        sshd=sshd,
        bastion={"port": free_port(), "timeout": 3},
    )
    result = stack.inv(
        "-f",
        str(config),
        "db.status",
        "--target",
        "staging",
        "--service",
        "auth",
        env=staging["env"],
    )
    assert_user_error(result, "can't reach the bastion")


def test_a_missing_secret_and_a_secret_without_database_url(stack, staging, sshd, tmp_path, rds):
    from lomash_tasks import connections

    prefix = f"test/{rds.tag}-partial"
    sm = connections.aws_client(stack.ws, "secretsmanager")
    sm.create_secret(Name=f"{prefix}/auth", SecretString=json.dumps({"JWT_SECRET": "x" * 20}))
    config = target_config(
        tmp_path / "t.yaml", "staging", stack=stack, rds=rds, prefix=prefix, sshd=sshd
    )
    no_url = stack.inv(
        "-f",
        str(config),
        "db.status",
        "--target",
        "staging",
        "--service",
        "auth",
        env=staging["env"],
    )
    assert_user_error(no_url, f"{prefix}/auth holds no DATABASE_URL", "JWT_SECRET")
    missing = stack.inv(
        "-f",
        str(config),
        "db.status",
        "--target",
        "staging",
        "--service",
        "product",
        env=staging["env"],
    )
    assert_user_error(missing, f"{prefix}/product", "does not exist")


def test_expired_aws_credentials_are_a_clear_message(stack, staging, sshd, tmp_path):
    """moto answers every call as valid: a tiny endpoint answers like AWS with expired ones."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Expired(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps(
                {
                    "__type": "ExpiredTokenException",
                    "message": "The security token included in the request is expired",
                }
            ).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Expired)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = tmp_path / "t.yaml"
        text = (
            open(staging["config"])
            .read()
            .replace(
                f"http://127.0.0.1:{stack.env['INVOKE_INFRA_AWS_PORT']}",
                f"http://127.0.0.1:{server.server_address[1]}",
            )
        )
        config.write_text(text)
        result = stack.inv(
            "-f",
            str(config),
            "db.url",
            "--service",
            "auth",
            "--target",
            "staging",
            env=staging["env"],
        )
        assert_user_error(result, "have expired", "ExpiredToken", "configure-aws-credentials")
    finally:
        server.shutdown()


def test_db_url_is_masked_and_reveal_is_refused(stack, staging):
    rds = staging["rds"]
    shown = run(stack, staging, "db.url", "--service", "auth", "--target", "staging", check=True)
    assert f"{rds.tag}_auth:****@" in shown.stdout
    assert rds.passwords[0] not in shown.stdout + shown.stderr
    refused = run(stack, staging, "db.url", "--service", "auth", "--target", "staging", "--reveal")
    assert_user_error(refused, "never printed")


def test_no_secret_from_secrets_manager_reaches_output_logs_or_files(stack, staging, sshd):
    """Every task that reads the target's secrets, on good and failing paths; then every byte
    they printed, the audit log, the workspace's files and the sshd log are searched."""
    rds = staging["rds"]
    results = [
        run(stack, staging, "db.url", "--service", "auth", "--target", "staging"),
        run(stack, staging, "db.status", "--target", "staging", "--service", "auth"),
        run(
            stack,
            staging,
            "db.migrate",
            "--target",
            "staging",
            "--via",
            "tunnel",
            "--service",
            "auth",
            "--service",
            "product",
            "--runner",
            "prisma",
        ),
        run(stack, staging, "db.status", "--target", "staging", "--service", "auth", "--json"),
        run(
            stack,
            staging,
            "db.psql",
            "--service",
            "auth",
            "--target",
            "staging",
            input="SELECT current_user;\n\\conninfo\n",
        ),
        run(stack, staging, "aws.status", "--target", "staging", "--json"),
        run(
            stack,
            staging,
            "db.migrate",
            "--target",
            "staging",
            "--via",
            "tunnel",
            "--service",
            "auth",
            env={"GITHUB_ACTIONS": "true"},
        ),
    ]
    # a failing path: the database refuses (the role's password changed after the secret)
    rds_ws = stack.ws
    from lomash_tasks import connections

    with connections.pg_connect(rds_ws, superuser=True, autocommit=True) as conn:
        conn.execute(
            f"ALTER ROLE \"{rds.tag}_product\" PASSWORD 'changed-{pysecrets.token_hex(4)}'"
        )
    results.append(run(stack, staging, "db.status", "--target", "staging", "--service", "product"))
    assert results[2].returncode == 0, results[2].stdout + results[2].stderr
    assert "current_user" in results[4].stdout or f"{rds.tag}_auth" in results[4].stdout
    wanted = [p for p in rds.passwords] + list(rds.urls.values())
    text = "".join(r.stdout + r.stderr for r in results)
    # Under GitHub Actions each value is handed to the runner once, so the runner masks it too
    assert "::add-mask::" in results[6].stdout
    text = "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))
    for secret in wanted:
        assert secret not in text
    audit = stack.root / ".lomash" / "remote-audit.log"
    assert audit.stat().st_mode & 0o077 == 0
    files = [p for p in stack.root.rglob("*") if p.is_file() and "node_modules" not in p.parts]
    files.append(sshd.log)
    for path in files:
        data = path.read_bytes()
        for secret in wanted:
            assert secret.encode() not in data, f"{secret[:6]}... in {path}"
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert {"who", "what", "when", "result", "target"} <= set(lines[-1])
    assert any(e["what"] == "db.migrate" and e["result"] == "done" for e in lines)


def test_a_direct_target_whose_database_does_not_answer(stack, staging, tmp_path):
    import yaml
    from conftest import free_port

    config = target_config(
        tmp_path / "t.yaml",
        "staging",
        stack=stack,
        rds=staging["rds"],
        prefix=staging["prefix"],
        sshd=None,
    )
    data = yaml.safe_load(config.read_text())
    data["targets"]["staging"]["postgres"]["port"] = free_port()
    config.write_text(yaml.safe_dump(data))
    result = stack.inv(
        "-f",
        str(config),
        "db.status",
        "--target",
        "staging",
        "--service",
        "auth",
        env=staging["env"],
    )
    assert_user_error(
        result, "Target 'staging': its database", "does not answer directly", "Connection refused"
    )


def test_db_status_direct_reaches_the_rds_database(stack, staging, tmp_path):
    config = target_config(
        tmp_path / "t.yaml",
        "staging",
        stack=stack,
        rds=staging["rds"],
        prefix=staging["prefix"],
        sshd=None,
    )
    result = stack.inv(
        "-f",
        str(config),
        "db.status",
        "--target",
        "staging",
        "--service",
        "auth",
        "--json",
        "--report-only",
        env=staging["env"],
    )
    assert result.returncode == 0, result.stderr
    (state,) = json.loads(result.stdout)
    assert state["pending"] and not state["applied"]  # a fresh RDS database, not the local one
