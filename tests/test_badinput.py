"""The bad-input catalogue: every namespace fed mistakes a user makes, run through `inv` as a
user would.

Each case asserts: a non-zero exit, no traceback, a message naming the culprit and the fix, and
no file of the workspace changed (not one byte, not one mode). The infrastructure ports point at
closed ports, so a case that wrongly got as far as connecting fails loudly instead of touching a
server; the few cases that need a server to reach their check use the session stack.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import Inv, assert_user_error, checksums, free_port, make_workspace

MARKER = Path(tempfile.gettempdir()) / f"pwned-{uuid.uuid4().hex}"
ORDER_ENV = "services/order-payment-service/.env"
AUTH_ENV = "services/auth-service/.env"
VALID = "Valid services (alias or full name)"


@dataclass
class Case:
    id: str
    args: tuple[str, ...]
    fragments: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    mutate: Callable[[Path, Path], None] | None = None  # (workspace, scratch folder)


# -- workspace mutations (made before the "before" checksums are taken) ------------------------
def write(rel: str, data: bytes | str, mode: int | None = None):
    def mutate(ws: Path, scratch: Path) -> None:
        path = ws / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        if mode is not None:
            path.chmod(mode)

    return mutate


def copy_example(rel_dir: str, mode: int = 0o600, extra: str = ""):
    def mutate(ws: Path, scratch: Path) -> None:
        folder = ws / rel_dir
        text = (folder / ".env.example").read_text() + extra
        (folder / ".env").write_text(text)
        (folder / ".env").chmod(mode)

    return mutate


def folder_at(rel: str):
    def mutate(ws: Path, scratch: Path) -> None:
        (ws / rel).mkdir(parents=True)
        (ws / rel / "keep").write_text("x\n")

    return mutate


def both(*mutations):
    def mutate(ws: Path, scratch: Path) -> None:
        for m in mutations:
            m(ws, scratch)

    return mutate


def read_only_auth_env_missing_a_key(ws: Path, scratch: Path) -> None:
    example = (ws / "services/auth-service/.env.example").read_text()
    env = ws / AUTH_ENV
    env.write_text(
        "\n".join(line for line in example.splitlines() if not line.startswith("PORT=")) + "\n"
    )
    env.chmod(0o444)


def scratch_file(name: str, data: str):
    """A file outside the workspace (runtime config, fixtures); its path is in the args as {S}."""

    def mutate(ws: Path, scratch: Path) -> None:
        (scratch / name).write_text(data)

    return mutate


def empty_path_dir(ws: Path, scratch: Path) -> None:
    (scratch / "bin").mkdir(exist_ok=True)


CASES = [
    # -- env ------------------------------------------------------------------------------------
    Case("env.show-unknown-service", ("env.show", "nope"), ("Unknown service 'nope'", VALID)),
    Case(
        "env.show-typo-suggests",
        ("env.show", "auht"),
        ("Unknown service 'auht'", "Did you mean 'auth'?"),
    ),
    Case(
        "env.show-shell-metachars",
        ("env.show", "auth; rm -rf /"),
        ("Unknown service 'auth; rm -rf /'", VALID),
    ),
    Case(
        "env.copy-command-substitution",
        ("env.copy", "--service", f"$(touch {MARKER})"),
        (f"Unknown service '$(touch {MARKER})'", VALID),
    ),
    Case(
        "env.check-backticks",
        ("env.check", "--service", f"`touch {MARKER}`"),
        ("Unknown service '`touch", VALID),
    ),
    Case(
        "env.diff-unknown-service",
        ("env.diff", "--service", "gatewy"),
        ("Unknown service 'gatewy'", "Did you mean 'gateway'?"),
    ),
    Case(
        "env.copy-unknown-overlay",
        ("env.copy", "--overlay", "staging"),
        ("Unknown overlay 'staging'", "Overlays in"),
    ),
    Case(
        "env.copy-unterminated-quote",
        ("env.copy",),
        (".env, line 2: cannot parse this line", "Fix or remove that line"),
        mutate=write(".env", 'NODE_ENV=development\nPOSTGRES_PASSWORD="unterminated\n'),
    ),
    Case(
        "env.check-not-utf8",
        ("env.check",),
        (AUTH_ENV + ", line 2: bytes that are not UTF-8", "Save the file as UTF-8"),
        mutate=write(AUTH_ENV, b"PORT=3001\nJWT_SECRET=\xff\xfe\xfa\n"),
    ),
    Case(
        "env.copy-env-is-a-folder",
        ("env.copy",),
        (".env is a folder, not an env file",),
        mutate=folder_at(".env"),
    ),
    Case(
        "env.copy-read-only-env",
        ("env.copy", "--service", "auth"),
        ("read-only", "chmod u+w", "nothing was changed"),
        mutate=read_only_auth_env_missing_a_key,
    ),
    Case(
        "env.copy-force-read-only-env",
        ("env.copy", "--service", "auth", "--force"),
        ("read-only", "chmod u+w"),
        mutate=copy_example("services/auth-service", 0o444),
    ),
    # -- stack ----------------------------------------------------------------------------------
    Case(
        "stack.up-unknown-part",
        ("stack.up", "--part", "mysql"),
        ("Unknown stack part 'mysql'", "Valid parts: postgres, redis, aws, smtp"),
    ),
    Case(
        "stack.up-unknown-backend",
        ("stack.up", "--backend", "podman"),
        ("Unknown backend 'podman'", "Valid backends: auto, embedded, compose"),
    ),
    Case(
        "stack.up-zero-timeout",
        ("stack.up", "--timeout", "0"),
        ("--timeout must be a number of seconds greater than 0", "'0'"),
    ),
    Case(
        "stack.wait-negative-timeout",
        ("stack.wait", "--timeout", "-1"),
        ("--timeout must be a number of seconds greater than 0", "'-1'"),
    ),
    Case(
        "stack.wait-non-numeric-timeout",
        ("stack.wait", "--timeout", "soon"),
        ("--timeout", "'soon'"),
    ),
    Case("stack.wait-nan-timeout", ("stack.wait", "--timeout", "nan"), ("--timeout", "'nan'")),
    Case(
        "stack.logs-follow-without-part",
        ("stack.logs", "--follow"),
        ("--follow needs one part", "--part"),
    ),
    Case(
        "stack.down-volumes-without-yes",
        ("stack.down", "--volumes"),
        ("pass --yes", "nothing was stopped or deleted"),
    ),
    Case(
        "setup-deps-node-missing",
        ("setup", "--only", "deps", "--runner", "prisma"),
        ("inv setup stopped at step 'deps'", "node was not found", "--runner native"),
        env={"PATH": "{S}/bin"},
        mutate=empty_path_dir,
    ),
    Case(
        "db.psql-psql-missing",
        ("db.psql", "auth"),
        ("psql (the PostgreSQL client) was not found", "apt-get install postgresql-client"),
        env={"PATH": "{S}/bin", "INVOKE_STACK_POSTGRES_BINDIR": "/nonexistent"},
        mutate=empty_path_dir,
    ),
    Case(
        "stack.up-postgres-binaries-missing",
        ("stack.up", "--backend", "embedded", "--part", "postgres"),
        ("stack.postgres_bindir is /nonexistent/pg/bin", "INVOKE_STACK_POSTGRES_BINDIR"),
        env={"INVOKE_STACK_POSTGRES_BINDIR": "/nonexistent/pg/bin"},
    ),
    # -- db -------------------------------------------------------------------------------------
    Case(
        "db.migrate-unknown-service",
        ("db.migrate", "--service", "payments"),
        ("Unknown service 'payments'", VALID),
    ),
    Case(
        "db.migrate-negative-jobs",
        ("db.migrate", "--jobs", "-1"),
        ("--jobs must be a whole number of at least 0", "'-1'"),
    ),
    Case(
        "db.migrate-non-numeric-jobs",
        ("db.migrate", "--jobs", "two"),
        ("--jobs must be a whole number", "'two'"),
    ),
    Case(
        "db.migrate-unknown-runner",
        ("db.migrate", "--runner", "flyway"),
        ("Unknown runner 'flyway'", "auto, prisma, native"),
    ),
    Case(
        "db.migrate-unknown-mode",
        ("db.migrate", "--mode", "reset"),
        ("Unknown --mode 'reset'", "deploy", "dev"),
    ),
    Case(
        "db.migrate-dev-without-name",
        ("db.migrate", "--mode", "dev", "--service", "auth"),
        ("pass exactly one --service and --name",),
    ),
    Case(
        "db.migrate-timeout-config-negative",
        ("db.migrate",),
        ("db.timeout must be a number of seconds greater than 0", "-5"),
        env={"INVOKE_DB_TIMEOUT": "-5"},
    ),
    Case(
        "db.migrate-jobs-env-not-a-number",
        ("db.migrate",),
        ("INVOKE_DB_JOBS='many'", "whole number", "unset INVOKE_DB_JOBS"),
        env={"INVOKE_DB_JOBS": "many"},
    ),
    Case("db.reset-without-yes", ("db.reset", "auth"), ("pass --yes", "nothing was dropped")),
    Case(
        "db.reset-unknown-service",
        ("db.reset", "'; DROP DATABASE lomash_auth; --", "--yes"),
        ("Unknown service ''; DROP DATABASE lomash_auth; --'", VALID),
    ),
    Case(
        "db.url-service-without-database", ("db.url", "gateway"), ("api-gateway has no database",)
    ),
    Case(
        "db.psql-service-without-database", ("db.psql", "gateway"), ("api-gateway has no database",)
    ),
    Case(
        "db.seed-command-substitution",
        ("db.seed", "--service", f"$(touch {MARKER})"),
        ("Unknown service '$(touch", VALID),
    ),
    Case(
        "db.wait-zero-timeout",
        ("db.wait", "--timeout", "0"),
        ("must be a number of seconds greater than 0", "'0'"),
    ),
    Case(
        "db.status-unknown-env",
        ("db.status", "--env", "tets"),
        (
            "Unknown environment 'tets'",
            "Did you mean 'test'?",
            "Known environments: development, test",
        ),
    ),
    Case(
        "env.copy-unknown-env",
        ("env.copy", "--env", "staging"),
        ("Unknown environment 'staging'", "Known environments: development, test"),
    ),
    Case(
        "db.migrate-env-with-target",
        ("db.migrate", "--env", "test", "--target", "staging"),
        ("--env test and --target staging do not go together",),
    ),
    Case(
        "db.migrate-env-dev-mode",
        ("db.migrate", "--env", "test", "--mode", "dev", "--service", "auth", "--name", "x"),
        ("--mode dev writes a new migration from the development database",),
    ),
    Case(
        "db.seed-profile-with-a-path",
        ("db.seed", "--profile", "../../etc/passwd"),
        ("Seed profile '../../etc/passwd' is not usable", "seed.<profile>.sql"),
    ),
    Case(
        "db.reset-profile-without-env",
        ("db.reset", "auth", "--profile", "demo", "--yes"),
        ("--profile goes with --env",),
    ),
    Case(
        "db.baseline-service-without-database",
        ("db.baseline", "gateway", "--yes"),
        ("api-gateway has no database",),
    ),
    Case(
        "db.diff-unknown-service",
        ("db.diff", "--service", "orders"),
        ("Unknown service 'orders'", VALID),
    ),
    Case(
        "test-unknown-kind",
        ("test", "--kind", "smoke"),
        ("Unknown --kind 'smoke'", "unit, integration, e2e"),
    ),
    Case(
        "test-service-without-the-script",
        ("test", "--service", "product", "--kind", "e2e"),
        ("product-service has no test:e2e script", "services/product-service/package.json"),
    ),
    Case(
        "test-on-development",
        ("test", "--env", "development"),
        ("never development's", "--env test"),
    ),
    Case(
        "runtime-config-env-empty-suffix",
        ("-f", "{S}/envs.yaml", "db.status", "--env", "qa"),
        ("'environments.qa.database_suffix'", "development databases themselves"),
        mutate=scratch_file("envs.yaml", "environments:\n  qa:\n    database_suffix: ''\n"),
    ),
    Case(
        "runtime-config-backup-unknown-kind",
        ("-f", "{S}/backup.yaml", "db.migrate", "--target", "prod"),
        ("'targets.prod.backup'", "must be pg_dump", "or snapshot", "'tarball'"),
        mutate=scratch_file(
            "backup.yaml",
            "targets:\n  prod:\n    aws: {region: eu-west-2}\n"
            "    postgres: {host: db.internal}\n    secrets: {prefix: p}\n"
            "    backup: tarball\n",
        ),
    ),
    Case(
        "runtime-config-backup-snapshot-of-what",
        ("-f", "{S}/snap.yaml", "db.migrate", "--target", "prod"),
        ("'targets.prod.backup.instance' is missing", "cannot be told from the host db.internal"),
        mutate=scratch_file(
            "snap.yaml",
            "targets:\n  prod:\n    aws: {region: eu-west-2}\n"
            "    postgres: {host: db.internal}\n    secrets: {prefix: p}\n"
            "    backup: snapshot\n",
        ),
    ),
    # -- cache ----------------------------------------------------------------------------------
    Case(
        "cache.flush-unknown-service",
        ("cache.flush", "sessions", "--yes"),
        ("Unknown service 'sessions'", VALID),
    ),
    Case(
        "cache.flush-service-without-cache",
        ("cache.flush", "gateway", "--yes"),
        ("api-gateway has no cache", "Services with one"),
    ),
    Case("cache.flush-without-yes", ("cache.flush", "auth"), ("Pass --yes",)),
    Case(
        "cache.keys-negative-limit",
        ("cache.keys", "auth", "--limit", "-3"),
        ("--limit must be a whole number of at least 0", "'-3'"),
    ),
    Case(
        "cache.wait-zero-timeout",
        ("cache.wait", "--timeout", "0"),
        ("--timeout must be a number of seconds greater than 0",),
    ),
    Case(
        "cache.stats-timeout-env-not-a-number",
        ("cache.stats",),
        ("INVOKE_CACHE_TIMEOUT='fast'", "unset INVOKE_CACHE_TIMEOUT"),
        env={"INVOKE_CACHE_TIMEOUT": "fast"},
    ),
    # -- aws ------------------------------------------------------------------------------------
    Case(
        "aws.wait-non-numeric-timeout",
        ("aws.wait", "--timeout", "abc"),
        ("--timeout must be a number", "'abc'"),
    ),
    Case("aws.wait-infinite-timeout", ("aws.wait", "--timeout", "inf"), ("--timeout", "'inf'")),
    Case(
        "aws.queues-zero-max-receive",
        ("aws.queues",),
        ("aws.max_receive_count must be a whole number of at least 1",),
        env={"INVOKE_AWS_MAX_RECEIVE_COUNT": "0"},
    ),
    Case(
        "aws.buckets-list-from-env",
        ("aws.buckets",),
        ("INVOKE_INFRA_AWS_BUCKETS", "takes a list", "inv -f"),
        env={"INVOKE_INFRA_AWS_BUCKETS": "one,two"},
    ),
    # -- stripe ---------------------------------------------------------------------------------
    Case(
        "stripe.replay-unknown-fixture",
        ("stripe.replay", "charge.succeded"),
        ("Unknown fixture 'charge.succeded'", "Shipped fixtures"),
    ),
    Case(
        "stripe.replay-fixture-not-json",
        ("stripe.replay", "{S}/event.json"),
        ("event.json is not JSON", "one Stripe event object"),
        mutate=scratch_file("event.json", '{"object": "event", "id": "evt_1",\n'),
    ),
    Case(
        "stripe.replay-missing-fixture-file",
        ("stripe.replay", "{S}/nowhere.json"),
        ("nowhere.json does not exist", "shipped fixture"),
    ),
    Case(
        "stripe.replay-zero-timeout",
        ("stripe.replay", "charge.refunded", "--timeout", "0"),
        ("--timeout must be a number of seconds greater than 0",),
    ),
    Case(
        "stripe.replay-url-bad-scheme",
        ("stripe.replay", "charge.refunded", "--to", "ftp://x/"),
        ("The webhook URL 'ftp://x/' cannot be used", "not http or https", "--to"),
        mutate=write(ORDER_ENV, "STRIPE_WEBHOOK_SECRET=whsec_badinput\n"),
    ),
    Case(
        "stripe.replay-url-malformed",
        ("stripe.replay", "charge.refunded", "--to", "http://[::1"),
        ("The webhook URL 'http://[::1' cannot be used", "Invalid IPv6 URL"),
        mutate=write(ORDER_ENV, "STRIPE_WEBHOOK_SECRET=whsec_badinput\n"),
    ),
    Case(
        "stripe.trigger-cli-path-missing",
        ("stripe.trigger", "charge.succeeded"),
        ("The Stripe CLI ('/nonexistent/stripe') was not found", "INVOKE_STRIPE_CLI"),
        env={"INVOKE_STRIPE_CLI": "/nonexistent/stripe"},
    ),
    Case(
        "stripe.listen-cli-not-on-path",
        ("stripe.listen",),
        ("The Stripe CLI ('stripe') was not found", "npm install -g @stripe/cli"),
        env={"PATH": "{S}/bin"},
        mutate=both(copy_example("services/order-payment-service"), empty_path_dir),
    ),
    Case(
        "stripe.listen-without-env-file",
        ("stripe.listen",),
        (f"{ORDER_ENV} does not exist yet", "inv env.copy"),
    ),
    Case(
        "stripe.secret-ready-timeout-env",
        ("stripe.secret",),
        ("INVOKE_STRIPE_READY_TIMEOUT='30s'", "unset INVOKE_STRIPE_READY_TIMEOUT"),
        env={"INVOKE_STRIPE_READY_TIMEOUT": "30s"},
    ),
    # -- debug ----------------------------------------------------------------------------------
    Case(
        "debug.doctor-zero-timeout",
        ("debug.doctor", "--timeout", "0"),
        ("--timeout must be a number of seconds greater than 0",),
    ),
    Case(
        "debug.vscode-folder-is-a-file",
        ("debug.vscode",),
        (".vscode is a file", "Move that file away"),
        mutate=write(".vscode", "not a folder\n"),
    ),
    Case(
        "debug.vscode-malformed-launch-json",
        ("debug.vscode",),
        (".vscode/launch.json is malformed at line 2", "left as it is"),
        mutate=write(".vscode/launch.json", '{"configurations": [\n  }\n'),
    ),
    Case(
        "debug.vscode-read-only-launch-json",
        ("debug.vscode",),
        ("read-only", "chmod u+w"),
        mutate=write(".vscode/launch.json", '{"configurations": []}\n', 0o444),
    ),
    Case(
        "debug.ports-port-out-of-range",
        ("debug.ports",),
        (
            "'infra.postgres.port' must be a whole number from 1 to 65535, not 70000",
            "INVOKE_* variable",
        ),
        env={"INVOKE_INFRA_POSTGRES_PORT": "70000"},
    ),
    # -- setup / teardown, and the workspace and config themselves ------------------------------
    Case(
        "setup-unknown-step",
        ("setup", "--only", "migrate"),
        ("Unknown step 'migrate' for --only", "The steps, in order"),
    ),
    Case(
        "setup-skip-typo",
        ("setup", "--skip", "db.sed"),
        ("Unknown step 'db.sed'", "Did you mean 'db.seed'?"),
    ),
    Case("teardown-volumes-without-yes", ("teardown", "--volumes"), ("pass --yes",)),
    Case(
        "workspace-not-a-workspace",
        ("env.check",),
        ("is not a Lomash Wood workspace", "INVOKE_WORKSPACE_ROOT"),
        env={"INVOKE_WORKSPACE_ROOT": "{S}"},
    ),
    Case(
        "workspace-does-not-exist",
        ("db.migrate",),
        ("Workspace root /nonexistent/lomash-wood does not exist", "INVOKE_WORKSPACE_ROOT"),
        env={"INVOKE_WORKSPACE_ROOT": "/nonexistent/lomash-wood"},
    ),
    Case(
        "config-port-not-a-number",
        ("env.check",),
        ("INVOKE_INFRA_POSTGRES_PORT='fivefourthreetwo'", "whole number"),
        env={"INVOKE_INFRA_POSTGRES_PORT": "fivefourthreetwo"},
    ),
    Case(
        "config-empty-host",
        ("db.wait",),
        ("'infra.postgres.host' must be a non-empty string",),
        env={"INVOKE_INFRA_POSTGRES_HOST": ""},
    ),
    Case(
        "runtime-config-yaml-syntax",
        ("-f", "{S}/broken.yaml", "env.check"),
        ("broken.yaml is not valid YAML", "line 1"),
        mutate=scratch_file("broken.yaml", "infra: [1, 2\n"),
    ),
    Case(
        "runtime-config-missing",
        ("-f", "{S}/missing.yaml", "env.check"),
        ("missing.yaml) does not exist", "leave -f out"),
    ),
    Case(
        "runtime-config-not-a-mapping",
        ("-f", "{S}/list.yaml", "env.check"),
        ("list.yaml must hold a mapping of config keys",),
        mutate=scratch_file("list.yaml", "- infra\n- services\n"),
    ),
    Case(
        "runtime-config-port-out-of-range",
        ("-f", "{S}/ports.yaml", "cache.stats"),
        ("'infra.redis.port' must be a whole number from 1 to 65535, not 99999",),
        mutate=scratch_file("ports.yaml", "infra:\n  redis:\n    port: 99999\n"),
    ),
    Case(
        "runtime-config-unknown-service-key",
        ("-f", "{S}/svc.yaml", "db.migrate"),
        ("'services.auth-service.databse' is not a known key", "Did you mean 'database'"),
        mutate=scratch_file("svc.yaml", "services:\n  auth-service:\n    databse: x\n"),
    ),
    Case(
        "runtime-config-duplicate-port",
        ("-f", "{S}/dup.yaml", "stack.status"),
        ("port 3001 is also used by", "services.auth-service.port"),
        mutate=scratch_file("dup.yaml", "services:\n  product-service:\n    port: 3001\n"),
    ),
]


def test_the_catalogue_is_large_and_covers_every_namespace():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    tasks = {(c.args[2:] if c.args[0] == "-f" else c.args)[0] for c in CASES}
    namespaces = {t.split(".")[0] for t in tasks}
    assert {
        "env",
        "stack",
        "db",
        "cache",
        "aws",
        "stripe",
        "debug",
        "setup",
        "teardown",
        "test",
    } <= namespaces


@pytest.fixture
def scratch(tmp_root):
    path = Path(tempfile.mkdtemp(prefix="bad-", dir=tmp_root))
    yield path
    for p in path.rglob("*"):
        if not p.is_symlink():
            p.chmod(0o700 if p.is_dir() else 0o600)
    shutil.rmtree(path, ignore_errors=True)


def without_locks(sums: dict[str, str]) -> dict[str, str]:
    """The files, less the lock files of the suite's state folder: `stack.up` and `setup` take
    their lock before they look for binaries, and a lock (empty, or the holder's pid) is no work
    half done; nor is the record of how the last `inv setup` ended (the dashboard shows it).
    Any other new or changed file still fails the case."""
    return {
        k: v
        for k, v in sums.items()
        if not (
            k.startswith(".lomash/")
            and k.count("/") == 1
            and (k.endswith(".lock") or k == ".lomash/setup-summary.json")
        )
    }


def closed_ports() -> dict[str, str]:
    """Every infrastructure port pointed at a port nothing listens on."""
    return {
        f"INVOKE_INFRA_{k}": str(free_port())
        for k in ("POSTGRES_PORT", "REDIS_PORT", "AWS_PORT", "SMTP_PORT", "SMTP_WEB_PORT")
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, scratch: Path):
    ws = make_workspace(scratch / "ws")
    if case.mutate:
        case.mutate(ws, scratch)
    fill = lambda s: s.replace("{S}", str(scratch))  # noqa: E731
    env = {"INVOKE_WORKSPACE_ROOT": str(ws), "INVOKE_STACK_BACKEND": "embedded", **closed_ports()}
    env.update({k: fill(v) for k, v in case.env.items()})
    before = checksums(ws)
    result = Inv(env)(*[fill(a) for a in case.args], timeout=60)
    assert_user_error(result, *[fill(f) for f in case.fragments])
    assert len(result.stderr.strip().splitlines()) <= 12, result.stderr  # a paragraph, no dump
    assert without_locks(checksums(ws)) == before, "a failing task changed the workspace"
    assert not MARKER.exists(), "an injected command ran"


# -- cases that need a running server to reach their check (the session stack) -----------------
SERVER_CASES = [
    (
        "db.migrate-dev-name-with-path",
        ("db.migrate", "--mode", "dev", "--service", "auth", "--name", "../../../../tmp/evil"),
        ("Migration name '../../../../tmp/evil' is not usable", "letters, digits and underscores"),
    ),
    (
        "db.migrate-dev-name-with-shell",
        ("db.migrate", "--mode", "dev", "--service", "auth", "--name", f"x; touch {MARKER}"),
        ("is not usable", "--name add_wishlist_notes"),
    ),
    (
        "db.migrate-dev-service-without-database",
        ("db.migrate", "--mode", "dev", "--service", "gateway", "--name", "x"),
        ("api-gateway has no database",),
    ),
    ("cache.keys-service-without-cache", ("cache.keys", "gateway"), ("api-gateway has no cache",)),
    (
        "clean-while-the-stack-runs",
        ("clean",),
        ("The stack runs in this workspace", "removes nothing", "inv teardown"),
    ),
]


@pytest.mark.parametrize(
    "args,fragments", [c[1:] for c in SERVER_CASES], ids=[c[0] for c in SERVER_CASES]
)
def test_bad_input_with_a_server(stack, args, fragments):
    def files():
        return {k: v for k, v in checksums(stack.root).items() if not k.startswith(".lomash/")}

    before = files()
    result = stack.inv(*args, timeout=120)
    assert_user_error(result, *fragments)
    assert files() == before
    assert not MARKER.exists()
    assert not Path("/tmp/evil").exists()
