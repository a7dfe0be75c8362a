"""`.env` files aligned with the stack: `env.copy` writes what the stack serves into new files
(and into existing ones with `--align`, after a backup), `env.check` names every disagreement
with the configured ports, and setup checks each service's URL logs in before it migrates.

The examples are drifted the way real monorepos' are (tests/drifted_examples.py); what the
services will read is read by the pinned Node dotenv and Node's own URL parser.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import Inv, assert_user_error, checksums, free_port, make_workspace, stack_env
from drifted_examples import CHANGED, EXAMPLE_PASSWORDS, drift
from test_envfiles_node import DOTENV

from lomash_tasks.env import files as envfiles
from lomash_tasks.env import placeholders, urls
from lomash_tasks.registry import Registry

NODE_READ = r"""
const fs = require('fs');
const dotenv = require(process.argv[1]);
const out = {};
for (const file of process.argv.slice(2)) {
  const env = dotenv.parse(fs.readFileSync(file, {encoding: 'utf8'}));
  const parsed = {};
  for (const [key, value] of Object.entries(env)) {
    if (!/^(postgres|postgresql|redis|rediss):\/\//.test(value)) continue;
    try {
      const u = new URL(value);
      parsed[key] = {user: decodeURIComponent(u.username),
                     password: decodeURIComponent(u.password), host: u.hostname, port: u.port,
                     path: u.pathname, query: u.search};
    } catch (err) {
      parsed[key] = {error: String(err)};
    }
  }
  out[file] = {env, urls: parsed};
}
process.stdout.write(JSON.stringify(out));
"""


def node_read(paths: list[Path]) -> dict[str, dict]:
    """What Node's dotenv reads from each file, and what Node's URL parser makes of its
    postgres/redis URLs (user and password decoded)."""
    node = shutil.which("node")
    if node is None or not DOTENV.is_dir():
        pytest.fail("node and tools/node_modules/dotenv are needed (run `make install`)")
    done = subprocess.run(
        [node, "-e", NODE_READ, str(DOTENV), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


def registry() -> Registry:
    from lomash_tasks.context import load_config, plain

    return Registry.from_mapping(plain(load_config(env=False)))


def env_files(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob(".env"))
        if "node_modules" not in p.parts
    }


@pytest.fixture
def drifted(workspace):
    drift(workspace)
    return workspace


# -- the placeholder rule and URLs, as plain functions ----------------------------------------
@pytest.mark.parametrize(
    "value, expected",
    [
        ("", True),
        ("REPLACE_WITH_64_CHAR_SECRET", True),
        ("replace-me", True),
        ("your_jwt_access_secret_here", True),
        ("your-super-secret-jwt-key-change-this", True),
        ("changeme", True),
        ("change_me", True),
        ("change-this-to-a-secure-random-secret", True),
        ("whsec_xxxxxxxxxxxxxxxxxxxxxxxxxxxxx", True),
        ("whsec_", True),
        ("sk_test_51xxxxxxxx", True),
        ("xxxxxxxxxxxxxxxxxx", True),
        ("<your-secret>", True),
        ("AKIAIOSFODNN7EXAMPLE", True),
        ("whsec_your_stripe_webhook_secret_here", True),
        ("sk_test_your_stripe_secret_key_here", True),
        ("pk_live_REPLACE_WITH_KEY", True),
        ("whsec_yourself0123456789abcdef", False),
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", True),
        ("changeme_local", False),
        ("dev_better_auth_secret_change_me_0123456789abcdef", False),
        ("test-jwt-secret-for-testing-only", False),
        ("Yaksh@2610", False),
        ("test", False),
        ("whsec_replayTestSecret0123456789abcdef", False),
        ("sk_test_placeholder", False),
    ],
)
def test_placeholder_values(value, expected):
    assert placeholders.is_placeholder(value) is expected


@pytest.mark.parametrize(
    "key, expected",
    [
        ("JWT_SECRET", placeholders.SECRET),
        ("BETTER_AUTH_SECRET", placeholders.SECRET),
        ("INTERNAL_API_KEY", placeholders.SECRET),
        ("AUTH_SERVICE_INTERNAL_TOKEN", placeholders.SECRET),
        ("SESSION_SECRET", placeholders.SECRET),
        ("WEBHOOK_SECRET", placeholders.SECRET),
        ("SEED_ADMIN_PASSWORD", placeholders.PASSWORD),
        ("STRIPE_WEBHOOK_SECRET", placeholders.STRIPE_WEBHOOK),
        ("AWS_ACCESS_KEY_ID", placeholders.AWS),
        ("AWS_SES_SECRET_ACCESS_KEY", placeholders.AWS),
        ("SES_ACCESS_KEY_ID", placeholders.AWS),
        # a provider's credential, or no secret at all: never given a value
        ("STRIPE_SECRET_KEY", None),
        ("TWILIO_AUTH_TOKEN", None),
        ("RAZORPAY_WEBHOOK_SECRET", None),
        ("FIREBASE_PRIVATE_KEY", None),
        ("KAFKA_SASL_PASSWORD", None),
        ("SMTP_PASS", None),
        ("LOCALSTACK_AUTH_TOKEN", None),
        ("SENTRY_DSN", None),
        ("LOG_FILE_PATH", None),
        ("JWT_PRIVATE_KEY_PATH", None),
        ("AWS_CLOUDFRONT_PRIVATE_KEY", None),
    ],
)
def test_which_placeholders_get_a_local_value(key, expected):
    assert placeholders.kind(key) == expected


def test_generated_values_have_the_right_shape():
    assert re.fullmatch(
        r"whsec_[A-Za-z0-9]{32}", placeholders.generate(placeholders.STRIPE_WEBHOOK)
    )
    assert placeholders.generate(placeholders.AWS) == "test"
    assert re.fullmatch(r"[0-9a-f]{64}", placeholders.generate(placeholders.SECRET))
    pw = placeholders.generate(placeholders.PASSWORD)
    assert re.fullmatch(r"[A-Za-z0-9]{24}", pw) and not placeholders.is_placeholder(pw)


@pytest.mark.parametrize(
    "value, user, password, host, port, path",
    [
        (
            "postgresql://postgres:Yaksh@2610@localhost:5432/db?schema=public",
            "postgres",
            "Yaksh@2610",
            "localhost",
            5432,
            "/db",
        ),
        (
            "postgresql://postgres:p#ss@w'rd@localhost:5432/db?schema=public",
            "postgres",
            "p#ss@w'rd",
            "localhost",
            5432,
            "/db",
        ),
        (
            "postgresql://u:an@lytics#1@127.0.0.1:55432/db",
            "u",
            "an@lytics#1",
            "127.0.0.1",
            55432,
            "/db",
        ),
        ("postgresql://u:p%40ss@h/db", "u", "p@ss", "h", None, "/db"),
        ("redis://:@localhost:6379/0", "", "", "localhost", 6379, "/0"),
        ("redis://localhost:6379", "", "", "localhost", 6379, ""),
        ("redis://[::1]:6379/2", "", "", "::1", 6379, "/2"),
    ],
)
def test_urls_are_read_as_their_author_meant(value, user, password, host, port, path):
    url = urls.parse(value)
    assert (url.user, url.password, url.host, url.port, url.path) == (
        user,
        password,
        host,
        port,
        path,
    )
    assert urls.parse("http://localhost:3000,http://localhost:3001") is None
    masked = urls.mask(value)
    if password:
        assert password not in masked and ":****@" in masked


# -- writing values in place, read back by Node --------------------------------------------------
LINES = [
    "KEY=old",
    "KEY='old'",
    'KEY="old"',
    "KEY=`old`",
    "KEY=old  # note",
    "KEY='old' # note",
    "export KEY=old",
    "KEY: old",
    "  KEY = old   ",
    "KEY=",
    "KEY=  # empty",
    "KEY=#glued",
    'KEY="multi\nline"',
]
VALUES = [
    "postgresql://lomash_auth:p%23ss%40w%27rd@localhost:55432/lomash_auth?schema=public",
    "a#b",
    "x'y",
    'x"y',
    "$HOME and ${X}",
    "with space",
    "",
    "`tick`'q'\"d\"",
]


@pytest.mark.parametrize("line", LINES)
def test_replace_values_keeps_the_line_and_node_reads_the_new_value(tmp_path, line):
    paths = []
    for i, value in enumerate(VALUES):
        for ending in ("\n", "\r\n"):
            path = tmp_path / f"{i}{len(ending)}.env"
            text = f"# head{ending}FIRST=1{ending}{line.replace(chr(10), ending)}{ending}LAST=2"
            path.write_bytes(text.encode())
            new = envfiles.replace_values(envfiles.read_env(path), {"KEY": value})
            assert new.startswith(f"# head{ending}FIRST=1{ending}") and new.endswith(
                f"{ending}LAST=2"
            )
            assert (
                "\r\n" not in new.replace(ending, "")
                if ending == "\n"
                else new.count("\n") == new.count("\r\n")
            )
            path.write_bytes(new.encode())
            paths.append((path, value))
    read = node_read([p for p, _ in paths])
    for path, value in paths:
        assert read[str(path)]["env"] == {"FIRST": "1", "KEY": value, "LAST": "2"}, path.read_text()


def test_replace_values_keeps_quotes_comments_and_export():
    env = envfiles.parse_env(
        'export DATABASE_URL="postgresql://a@h/d"  # the store\r\n'
        "REDIS_DB=3        \r\nX='y'\r\n",
        Path(".env"),
    )
    new = envfiles.replace_values(
        env, {"DATABASE_URL": "postgresql://b:c@h:1/d", "REDIS_DB": "4", "X": "z"}
    )
    assert new == (
        'export DATABASE_URL="postgresql://b:c@h:1/d"  # the store\r\n'
        "REDIS_DB=4        \r\nX='z'\r\n"
    )


# -- env.copy on drifted examples ---------------------------------------------------------------
def assert_frame_kept(old: str, new: str) -> None:
    """A changed line keeps its key, separator, quote characters, trailing text and ending."""
    head = re.match(r"[ \t]*(?:export[ \t]+)?[\w.-]+[ \t]*[=:][ \t]*", old).group(0)
    assert new.startswith(head), (old, new)
    rest_old, rest_new = old[len(head) :], new[len(head) :]
    ending = old[len(old.rstrip("\r\n")) :]
    assert new[len(new.rstrip("\r\n")) :] == ending
    q = rest_old[:1]
    if q in ("'", '"', "`"):
        assert rest_new[:1] == q
        assert rest_old[rest_old.index(q, 1) :] == rest_new[rest_new.index(q, 1) :]
    else:
        body = rest_old.rstrip("\r\n")
        assert rest_new.rstrip("\r\n").endswith(body[len(body.rstrip()) :])


def test_copy_writes_what_the_stack_serves_and_keeps_every_other_byte(drifted, inv):
    reg = registry()
    result = inv("env.copy", check=True)
    out = result.stdout + result.stderr
    files = env_files(drifted)
    assert set(files) == set(CHANGED)
    read = node_read(
        [p for p in files.values()] + [p.with_name(".env.example") for p in files.values()]
    )
    generated: dict[str, set[str]] = {}
    for rel, path in files.items():
        example = path.with_name(".env.example")
        old_lines = envfiles.split_lines(example.read_bytes().decode())
        new_lines = envfiles.split_lines(path.read_bytes().decode())
        assert len(old_lines) == len(new_lines), rel
        changed = set()
        for old, new in zip(old_lines, new_lines):
            key = re.match(r"\s*(?:export\s+)?([\w.-]+)", old)
            if old != new:
                changed.add(key.group(1))
                assert_frame_kept(old, new)
        assert changed == CHANGED[rel], rel  # every other line is byte for byte the example's
        env, ex = read[str(path)]["env"], read[str(example)]["env"]
        assert {k for k in env if env[k] != ex[k]} == CHANGED[rel]  # and so Node reads it
        for key in ("JWT_SECRET", "BETTER_AUTH_SECRET", "STRIPE_WEBHOOK_SECRET"):
            if key in CHANGED[rel]:
                generated.setdefault(key, set()).add(env[key])
    # generated secrets: one value per key in every file, of the right shape, never printed
    assert all(len(v) == 1 for v in generated.values()), generated
    (jwt,), (webhook,) = generated["JWT_SECRET"], generated["STRIPE_WEBHOOK_SECRET"]
    assert re.fullmatch(r"[0-9a-f]{64}", jwt) and re.fullmatch(r"whsec_[A-Za-z0-9]{32}", webhook)
    for value in (jwt, webhook, *generated["BETTER_AUTH_SECRET"]):
        assert value not in out

    for svc in reg.services:
        rel = f"{svc.path}/.env"
        got = read[str(files[rel])]
        env, parsed = got["env"], got["urls"]
        assert env["PORT"] == str(svc.port)
        if svc.has_database:
            db = parsed["DATABASE_URL"]
            assert (db["user"], db["host"], db["port"], db["path"], db["query"]) == (
                svc.role,
                "localhost",
                "5432",
                f"/{svc.database}",
                "?schema=public",
            ), rel
            wanted = EXAMPLE_PASSWORDS[svc.name]
            if wanted is None:  # generated, and accepted by the stack (test_setup_... below)
                assert re.fullmatch(r"[A-Za-z0-9]{24}", db["password"])
                assert db["password"] not in out
            else:
                assert db["password"] == wanted
            if "DIRECT_URL" in parsed:
                assert parsed["DIRECT_URL"] == db
        if svc.has_cache:
            if "REDIS_URL" in parsed:
                assert parsed["REDIS_URL"]["password"] == "changeme_local"
                assert parsed["REDIS_URL"]["path"] == f"/{svc.redis_db}"
            if "REDIS_DB" in env:
                assert env["REDIS_DB"] == str(svc.redis_db)
            assert env["REDIS_PASSWORD"] == "changeme_local"
        assert env.get("JWT_SECRET", jwt) == jwt
        for key in (
            "SENTRY_DSN",
            "LOG_FILE_PATH",
            "KAFKA_SASL_PASSWORD",
            "TWILIO_AUTH_TOKEN",
            "SMTP_PASS",
            "STRIPE_SECRET_KEY",
            "SMTP_USER",
            "FIREBASE_PRIVATE_KEY",
        ):
            if key in env:  # not secret, or a provider's: as the example wrote it
                ex = read[str(files[rel].with_name(".env.example"))]["env"]
                assert env[key] == ex[key], (rel, key)
    root = read[str(files[".env"])]
    assert root["urls"]["AUTH_DATABASE_URL"]["password"] == "Yaksh@2610"  # auth's role password
    assert root["urls"]["DATABASE_URL"]["user"] == "lomash_master"
    assert root["env"]["POSTGRES_PASSWORD"] == "changeme_local"  # what the stack has
    order = read[str(files["services/order-payment-service/.env"])]["env"]
    assert (
        order["DB_PASSWORD"] == '$ecret"q@1'
        and order["AWS_ENDPOINT_URL"] == "http://localhost:4566"
    )
    assert order["AWS_ACCESS_KEY_ID"] == "test" and order["SMTP_PORT"] == "1025"
    auth = read[str(files["services/auth-service/.env"])]["env"]
    assert auth["INTERNAL_API_KEY"] == "kept-as-written-not-a-placeholder"  # shared, not new
    notif = read[str(files["services/notification-service/.env"])]["env"]
    assert notif["TEMPLATE_BASE_URL"] == "http://localhost:3007/templates"

    # what was aligned and why, per file and key, masked
    assert (
        "services/auth-service/.env: PORT 4001 -> 3001 (auth-service listens on 3001 in the "
        "stack; from the registry)"
    ) in out
    assert (
        "services/content-service/.env: REDIS_DB 3 -> 4 (content-service owns Redis index "
        "4; from the registry)"
    ) in out
    assert "services/order-payment-service/.env: STRIPE_WEBHOOK_SECRET " in out
    assert "Yaksh" not in out and "$ecret" not in out and "an@lytics" not in out

    before = checksums(drifted)
    again = inv("env.copy", check=True)
    assert "all unchanged" in again.stdout and checksums(drifted) == before


def test_copy_json_reports_each_change_masked(drifted, inv):
    result = inv("env.copy", "--service", "auth", "--json", check=True)
    data = json.loads(result.stdout)
    assert [d["file"] for d in data] == ["services/auth-service/.env"]
    changes = {c["key"]: c for c in data[0]["changes"]}
    assert changes["PORT"] == {
        "file": "services/auth-service/.env",
        "key": "PORT",
        "line": 2,
        "old": "4001",
        "new": "3001",
        "reason": "auth-service listens on 3001 in the stack",
        "source": "the registry",
    }
    assert (
        changes["DATABASE_URL"]["new"]
        == "postgresql://lomash_auth:****@localhost:5432/lomash_auth?schema=public"
    )
    assert changes["BETTER_AUTH_SECRET"]["new"] == "****"
    assert changes["BETTER_AUTH_SECRET"]["source"] == "generated"
    assert "Yaksh" not in result.stdout


def test_the_generated_webhook_secret_signs_replays_right_away(drifted, inv):
    """`whsec_xxx...` in the example: env.copy writes a local signing secret, and
    `inv stripe.replay` signs with it what the service (a real receiver) verifies."""
    from test_stripe import Receiver

    inv("env.copy", check=True)
    path = drifted / "services/order-payment-service/.env"
    secret = node_read([path])[str(path)]["env"]["STRIPE_WEBHOOK_SECRET"]
    with Receiver(secret) as rx:
        result = inv("stripe.replay", "invoice.paid", "--to", rx.url, check=True)
    assert [e.type for e in rx.verified] == ["invoice.paid"] and not rx.rejected
    assert secret not in result.stdout + result.stderr


def moved_ports() -> dict[str, str]:
    return {
        "INVOKE_INFRA_POSTGRES_PORT": str(free_port()),
        "INVOKE_INFRA_REDIS_PORT": str(free_port()),
        "INVOKE_INFRA_SMTP_PORT": str(free_port()),
        "INVOKE_INFRA_AWS_PORT": str(free_port()),
    }


def copy_examples(root: Path) -> None:
    """What a developer did by hand: `cp .env.example .env` everywhere."""
    for example in root.rglob(".env.example"):
        if "node_modules" not in example.parts:
            target = example.with_name(".env")
            target.write_bytes(example.read_bytes())
            target.chmod(0o600)


def test_check_names_every_disagreement_with_the_configured_ports(drifted, inv):
    ports = moved_ports()
    pg, rd = ports["INVOKE_INFRA_POSTGRES_PORT"], ports["INVOKE_INFRA_REDIS_PORT"]
    copy_examples(drifted)
    result = inv("env.check", env=ports)
    text = result.stdout + result.stderr
    assert_user_error(result, "problems found")
    for line in [
        f"services/product-service/.env: REDIS_PORT: is 6379, but Redis listens on "
        f"localhost:{rd}. Fix: set REDIS_PORT={rd}; `inv env.copy --align` sets it",
        "services/product-service/.env: REDIS_PASSWORD is (empty), but the stack's Redis "
        "wants its password",
        "services/order-payment-service/.env: REDIS_DB: is 0, but order-payment-service owns "
        "Redis index 2. Fix: set REDIS_DB=2",
        f"services/auth-service/.env: DIRECT_URL: is postgresql://postgres:****@localhost:5432/"
        f"lomash_wood_auth?schema=public, but the stack serves database lomash_auth to role "
        f"lomash_auth; PostgreSQL listens on localhost:{pg}",
        ".env: POSTGRES_USER: is lw_master, but the stack's superuser is lomash_master",
        f".env: POSTGRES_PORT: is 5432, but PostgreSQL listens on localhost:{pg}",
        "services/auth-service/.env: BETTER_AUTH_SECRET is a placeholder: the services issue "
        "and check it themselves",
        "`inv env.copy --align` puts a generated local value in",
        "services/auth-service/.env: PORT: is 4001, but auth-service listens on 3001. Fix: set "
        "PORT=3001; `inv env.copy --align` sets it",
    ]:
        assert line in text, f"{line!r} not in:\n{text}"
    assert f"set REDIS_URL=redis://:****@localhost:{rd}/0" in text
    for line in text.splitlines():  # fixes name the configured ports, never the defaults
        assert not re.search(r"Fix:.*[:=](5432|6379|1025|4566)\b", line), line
    assert "Yaksh" not in text

    aligned = inv("env.copy", "--align", env=ports, check=True)
    assert "10 aligned" in aligned.stdout
    clean = inv("env.check", env=ports)
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_align_shows_a_masked_diff_backs_up_and_applies(drifted, inv, tmp_path):
    copy_examples(drifted)
    auth = drifted / "services/auth-service/.env"
    mine = auth.read_text() + "# my own note\nMY_OWN=kept\n"
    auth.write_text(mine)
    gateway = drifted / "api-gateway/.env"  # kept elsewhere, linked in
    outside = tmp_path / "gateway.env"
    outside.write_bytes(gateway.read_bytes())
    gateway.unlink()
    gateway.symlink_to(outside)
    linked_before = outside.read_text()
    before = checksums(drifted)

    plain = inv("env.copy", check=True)  # without --align: nothing changes, the drift is said
    assert checksums(drifted) == before and outside.read_text() == linked_before
    assert "disagree with the stack (`inv env.copy --align`)" in plain.stdout
    assert "inv env.copy --align" in plain.stderr

    dry = inv("env.copy", "--align", "--dry", check=True)
    assert checksums(drifted) == before and outside.read_text() == linked_before
    assert "-PORT=4001" in dry.stdout and "+PORT=3001" in dry.stdout
    assert "dry run: nothing was written" in dry.stdout

    result = inv("env.copy", "--align", env={"CI": "true"}, check=True)  # no prompt in CI
    out = result.stdout + result.stderr
    assert "--- services/auth-service/.env" in out
    assert (
        "-DATABASE_URL=postgresql://postgres:****@localhost:5432/lomash_wood_auth?schema=public"
    ) in out
    assert (
        "+DATABASE_URL=postgresql://lomash_auth:****@localhost:5432/lomash_auth?schema=public"
        in out
    )
    assert "+BETTER_AUTH_SECRET=****" in out
    assert "Yaksh" not in out and "$ecret" not in out
    backups = list(auth.parent.glob(".env.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == mine
    assert oct(backups[0].stat().st_mode & 0o777) == "0o600"
    text = auth.read_text()
    assert text.endswith("# my own note\nMY_OWN=kept\n") and "PORT=3001\n" in text
    assert (
        "DATABASE_URL=postgresql://lomash_auth:Yaksh%402610@localhost:5432/lomash_auth?"
        "schema=public\n" in text
    )
    # the symlink is written through, never replaced by a plain file; its backup beside it
    assert gateway.is_symlink() and gateway.resolve() == outside.resolve()
    assert "REDIS_URL=redis://:changeme_local@localhost:6379\n" in outside.read_text()
    assert [b.read_text() for b in gateway.parent.glob(".env.bak-*")] == [linked_before]

    after = checksums(drifted)
    again = inv("env.copy", "--align", check=True)
    assert "all unchanged" in again.stdout and checksums(drifted) == after
    assert inv("env.check").returncode == 0


# -- setup on the embedded stack with drifted examples -------------------------------------------
@pytest.fixture(scope="module")
def drifted_stack(tmp_root):
    root = Path(tempfile.mkdtemp(prefix="drift-", dir=tmp_root))
    root.rmdir()
    make_workspace(root)
    drift(root)
    inv = Inv({**stack_env(root), "INVOKE_STACK_BACKEND": "embedded"})
    yield root, inv
    inv("stack.down", "--volumes", "--yes", timeout=120)


@pytest.mark.xdist_group("drift-setup")
def test_setup_with_drifted_examples_migrates_and_a_broken_url_stops_it_first(drifted_stack):
    import psycopg

    root, inv = drifted_stack
    first = inv("setup", "--runner", "native", "--json", timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    steps = {s["step"]: s["status"] for s in json.loads(first.stdout)["steps"]}
    assert steps["env"] == "done" and steps["db.migrate"] == "done"
    assert "Yaksh" not in first.stdout + first.stderr
    pg_port = inv.env["INVOKE_INFRA_POSTGRES_PORT"]
    reg = registry()

    def migrations(svc_name: str) -> list[str]:
        """Log in with exactly what Node reads from the service's .env; its migrations."""
        path = root / reg.service(svc_name).path / ".env"
        url = node_read([path])[str(path)]["urls"]["DATABASE_URL"]
        assert url["port"] == pg_port
        with psycopg.connect(
            host="127.0.0.1",
            port=int(url["port"]),
            user=url["user"],
            password=url["password"],
            dbname=url["path"].lstrip("/"),
            connect_timeout=5,
        ) as conn:
            return sorted(
                r[0]
                for r in conn.execute(
                    "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL"
                )
            )

    for svc in reg.with_database:  # generated passwords (content, customer) included
        assert migrations(svc.name), svc.name

    # a typed check, called directly: every URL names its own role and database, and logs in
    from conftest import stack_config

    from lomash_tasks.db import preflight

    _, ws = stack_config(inv.env)
    checks = preflight.check_connections(ws)
    assert {(c.service, c.key) for c in checks} >= {
        ("auth-service", "DATABASE_URL"),
        ("auth-service", "DIRECT_URL"),
    }
    assert all(c.ok for c in checks), [c.line() for c in checks if not c.ok]

    # a hand-broken .env: the old login, a wrong password; a pending migration elsewhere
    auth = root / "services/auth-service/.env"
    auth.write_text(
        re.sub(
            r"(?m)^DATABASE_URL=.*$",
            f"DATABASE_URL=postgresql://postgres:wrong@localhost:{pg_port}/"
            f"lomash_wood_auth?schema=public",
            auth.read_text(),
        )
    )
    pending = root / "services/product-service/prisma/migrations/20270101000000_more"
    pending.mkdir()
    (pending / "migration.sql").write_text("CREATE TABLE more_things (id int);\n")
    broken = inv("setup", "--runner", "native", timeout=300)
    out = broken.stdout + broken.stderr
    assert_user_error(broken, "stopped at step 'db.migrate'")
    line = next(s for s in out.splitlines() if "auth-service: DATABASE_URL" in s)
    assert "logs in as postgres to lomash_wood_auth" in line
    assert "refused role postgres on database lomash_wood_auth" in line
    assert "the stack's role for auth-service is lomash_auth" in line
    assert "inv env.copy --align" in line and "db.init" not in line
    assert "auth-service: DIRECT_URL" not in out  # the role's password was left alone
    assert "20270101000000_more" not in migrations("product")  # nothing was migrated

    # DIRECT_URL with another password than DATABASE_URL's: the right role, refused
    inv("env.copy", "--align", "--service", "auth", check=True)
    product = root / "services/product-service/.env"
    product.write_text(
        re.sub(
            r'(?m)^DIRECT_URL=".*"$',
            f'DIRECT_URL="postgresql://lomash_product:nope@localhost:{pg_port}/'
            f'lomash_products?schema=public"',
            product.read_text(),
        )
    )
    broken = inv("setup", "--runner", "native", timeout=300)
    out = broken.stdout + broken.stderr
    assert_user_error(broken, "stopped at step 'db.migrate'")
    line = next(s for s in out.splitlines() if "product-service: DIRECT_URL" in s)
    assert "logs in as lomash_product to lomash_products" in line
    assert "password authentication failed" in line and "inv env.copy --align" in line
    assert "20270101000000_more" not in migrations("product")

    inv("env.copy", "--align", "--service", "product", check=True)
    fixed = inv("setup", "--runner", "native", timeout=300)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "20270101000000_more" in migrations("product")
    assert migrations("auth")  # auth logs in with the password its .env kept


# -- the plain functions ------------------------------------------------------------------------
def workspace_at(root: Path, **infra_ports: int):
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.workspace import Workspace

    overrides = {"infra": {part: {"port": port} for part, port in infra_ports.items()}}
    reg = Registry.from_mapping(plain(load_config(overrides=overrides, env=False)))
    return Workspace.locate(root, reg)


def test_aligner_fills_empty_urls_and_names_each_change(drifted):
    from lomash_tasks import connections
    from lomash_tasks.env import align, changes

    ws = workspace_at(drifted, postgres=55432, redis=56379)
    aligner = align.Aligner(ws, connections.stack_facts(ws))
    svc = ws.registry.service("customer")
    env = envfiles.parse_env(
        "DATABASE_URL=\nDIRECT_URL=''\nREDIS_URL=\nSENTRY_DSN=\n"
        "TWILIO_AUTH_TOKEN=your_twilio_auth_token\n",
        drifted / "services/customer-service/.env",
    )
    result = aligner.align(ws.env_pair(svc), env)
    by_key = {c.key: c for c in result.changes}
    assert set(by_key) == {"DATABASE_URL", "DIRECT_URL", "REDIS_URL"}
    db = urls.parse(envfiles.parse_env(result.text, Path(".env")).get("DATABASE_URL"))
    assert (db.user, db.host, db.port, db.database, db.query) == (
        "lomash_customer",
        "localhost",
        55432,
        "lomash_customers",
        "schema=public",
    )
    assert db.password in result.secrets and len(db.password) == 24  # generated: example's empty
    assert by_key["DATABASE_URL"].source == changes.GENERATED
    assert "DIRECT_URL=''" not in result.text and "DIRECT_URL='postgresql://" in result.text
    assert by_key["REDIS_URL"].new == "redis://:changeme_local@localhost:56379/5"
    assert by_key["REDIS_URL"].describe() == (
        "services/customer-service/.env: REDIS_URL (empty) -> redis://:****@localhost:56379/5 "
        "(Redis listens on localhost:56379; the stack's Redis wants its password as "
        "redis://:PASSWORD@; customer-service owns Redis index 5; from the registry)"
    )
    assert by_key["DATABASE_URL"].as_dict()["new"].startswith("postgresql://lomash_customer:****@")


def test_preflight_names_the_role_and_database_a_url_really_uses(drifted):
    """No server on the configured port: the facts still disagree, and the login says why."""
    from lomash_tasks.db import preflight

    port = free_port()
    ws = workspace_at(drifted, postgres=port)
    copy_examples(drifted)
    checks = {(c.service, c.key): c for c in preflight.check_connections(ws, timeout=1)}
    auth = checks[("auth-service", "DATABASE_URL")]
    assert (auth.user, auth.database, auth.address) == (
        "postgres",
        "lomash_wood_auth",
        "localhost:5432",
    )
    assert auth.problems == (
        "the stack's role for auth-service is lomash_auth",
        "its database is lomash_auth",
        f"the stack's PostgreSQL is at localhost:{port}",
    )
    assert auth.login.startswith(f"PostgreSQL does not answer at 127.0.0.1:{port}")
    assert not auth.ok and "inv env.copy --align" in auth.fix
    assert auth.as_dict()["problems"] == list(auth.problems)
    assert checks[("product-service", "DIRECT_URL")].user == "postgres"
    assert ("api-gateway", "DATABASE_URL") not in checks  # no database of its own
    from lomash_tasks.errors import UserError

    with pytest.raises(UserError, match="nothing was migrated"):
        preflight.require(ws, timeout=1)
