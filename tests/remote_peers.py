"""The peers a remote target talks to, for real, on free loopback ports:

- `Sshd`: Debian's OpenSSH server as the bastion (`sshd -D -e -f CONFIG`, its own host key, a
  client key made here);
- `Rds`: fresh databases and roles (random passwords) on the session stack's PostgreSQL, playing
  the target's RDS;
- secrets for them in moto's Secrets Manager (the session stack's AWS endpoint), and a target
  config (`-f` file) pointing at all of it.
"""

from __future__ import annotations

import json
import os
import re
import secrets as pysecrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import free_port

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
needs_sshd = pytest.mark.skipif(
    SSHD is None,
    reason="OpenSSH's sshd is not installed (Debian: "
    "apt-get install openssh-server; .ci/run "
    "installs it)",
)


def keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


@dataclass
class Sshd:
    folder: Path
    port: int
    user: str
    key: Path  # the client's private key
    known_hosts: Path  # a file holding this server's host key
    log: Path
    proc: subprocess.Popen | None = None

    @classmethod
    def start(cls, folder: Path) -> Sshd:
        folder.mkdir(parents=True, exist_ok=True)
        host_key = keygen(folder / "host_key")
        key = keygen(folder / "id_client")
        (folder / "authorized_keys").write_text((folder / "id_client.pub").read_text())
        port = free_port()
        config = folder / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"PidFile {folder / 'sshd.pid'}",
                    f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                    "StrictModes no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "AllowTcpForwarding yes",
                    "UsePAM no",
                    "PermitRootLogin prohibit-password",
                    "LogLevel DEBUG1",
                    "MaxStartups 50",
                    "",
                ]
            )
        )
        try:
            os.makedirs("/run/sshd", exist_ok=True)  # its privilege separation folder (as root)
        except OSError:
            pass  # not root: sshd runs unprivileged without it
        public = (folder / "host_key.pub").read_text().split()
        known = folder / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
        log = folder / "sshd.log"
        import getpass

        server = cls(folder, port, getpass.getuser(), key, known, log)
        server.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return server
            except OSError:
                time.sleep(0.05)
        server.stop()
        raise RuntimeError(f"sshd did not listen on {port}: {log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)

    def forwards(self) -> list[tuple[str, int]]:
        """The direct-tcpip targets sshd has opened so far (from its log)."""
        text = self.log.read_text(errors="replace")
        return [
            (h, int(p))
            for h, p in re.findall(
                r"server_request_direct_tcpip: originator \S+ port \d+, target (\S+) port (\d+)",
                text,
            )
        ]


@dataclass
class Rds:
    """Per-service databases and roles on the stack's PostgreSQL, as a target's RDS."""

    host: str
    port: int
    tag: str
    databases: dict[str, str] = field(default_factory=dict)  # alias -> database
    urls: dict[str, str] = field(default_factory=dict)  # alias -> DATABASE_URL
    passwords: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, ws, aliases) -> Rds:
        from lomash_tasks import connections

        pg = ws.registry.postgres
        tag = "rds" + pysecrets.token_hex(3)
        rds = cls(pg.host, pg.port, tag)
        extensions = sorted(
            set(re.findall(r'CREATE EXTENSION IF NOT EXISTS "([a-z_-]+)"', ws.init_sql.read_text()))
        )
        with connections.pg_connect(ws, superuser=True, autocommit=True) as conn:
            for svc in ws.registry.with_database:
                if svc.alias not in aliases:
                    continue
                role, db = f"{tag}_{svc.alias}", f"{tag}_{svc.database}"
                password = "Rds-" + pysecrets.token_urlsafe(18)
                conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
                conn.execute(f'CREATE DATABASE "{db}" OWNER "{role}" TEMPLATE template0')
                rds.databases[svc.alias] = db
                rds.passwords.append(password)
                rds.urls[svc.alias] = (
                    f"postgresql://{role}:{password}@{pg.host}:{pg.port}/{db}?schema=public"
                )
        for db in rds.databases.values():
            with connections.pg_connect(ws, superuser=True, dbname=db, autocommit=True) as conn:
                for ext in extensions:
                    conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{ext}" WITH SCHEMA public')
        return rds

    def query(self, ws, alias, sql):
        from lomash_tasks import connections

        with connections.pg_connect(
            ws, superuser=True, dbname=self.databases[alias], autocommit=True
        ) as conn:
            return conn.execute(sql).fetchall()

    def drop(self, ws) -> None:
        from lomash_tasks import connections

        with connections.pg_connect(ws, superuser=True, autocommit=True) as conn:
            for alias, db in self.databases.items():
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                conn.execute(f'DROP ROLE IF EXISTS "{self.tag}_{alias}"')


def aws_env(stack) -> dict[str, str]:
    """Credentials boto3's own chain finds (moto accepts any)."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-2",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def store_secrets(stack, prefix: str, urls: dict[str, str], extra: dict | None = None) -> None:
    from lomash_tasks import connections

    sm = connections.aws_client(stack.ws, "secretsmanager")
    for alias, url in urls.items():
        body = {"DATABASE_URL": url, **(extra or {})}
        sm.create_secret(Name=f"{prefix}/{alias}", SecretString=json.dumps(body))


def target_config(
    path: Path,
    name: str,
    *,
    stack,
    rds: Rds,
    prefix: str,
    sshd: Sshd | None,
    ecs: dict | None = None,
    production: bool = False,
    bastion: dict | None = None,
) -> Path:
    """An `-f` file for `inv` with target `name`, every key the shipped example sets overridden."""
    import yaml

    aws_url = f"http://127.0.0.1:{stack.env['INVOKE_INFRA_AWS_PORT']}"
    target = {
        "production": production,
        "aws": {"region": "eu-west-2", "endpoint_url": aws_url},
        "postgres": {"host": rds.host, "port": rds.port, "databases": rds.databases},
        "via": "bastion" if sshd else "direct",
        "secrets": {"prefix": prefix},
    }
    if sshd is not None:
        target["bastion"] = {
            "host": "127.0.0.1",
            "port": sshd.port,
            "user": sshd.user,
            "key_file": str(sshd.key),
            "known_hosts": str(sshd.known_hosts),
            **(bastion or {}),
        }
    target["ecs"] = ecs or {
        "cluster": "none",
        "subnets": ["subnet-x"],
        "security_groups": ["sg-x"],
        "services": {},
    }
    path.write_text(yaml.safe_dump({"targets": {name: target}}))
    return path
