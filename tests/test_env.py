"""The env collection, run through `inv` against real files in temporary workspaces."""

import re
import stat

from conftest import assert_user_error, checksums

ENV_FILES = 10  # the root, the gateway and eight services


def env_files(root):
    return sorted(p for p in root.rglob(".env") if "node_modules" not in p.parts)


def test_copy_creates_every_env_file_owner_only(workspace, inv):
    result = inv("env.copy", check=True)
    files = env_files(workspace)
    assert len(files) == ENV_FILES
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        example = path.with_name(".env.example").read_text()
        if path.parent.name == "order-payment-service":  # its empty signing secret is filled
            secret = re.search(
                r"^STRIPE_WEBHOOK_SECRET=(whsec_[A-Za-z0-9]{32})\n", path.read_text(), re.M
            )
            assert secret, path.read_text()
            example = example.replace(
                "STRIPE_WEBHOOK_SECRET=\n", f"STRIPE_WEBHOOK_SECRET={secret.group(1)}\n"
            )
            assert secret.group(1) not in result.stdout + result.stderr  # shown masked
        assert path.read_text() == example  # the stack at default ports changes nothing else
    assert "10 env files: 10 created" in result.stdout


def test_second_copy_reports_unchanged_and_changes_no_byte(workspace, inv):
    inv("env.copy", check=True)
    before = checksums(workspace)
    result = inv("env.copy", check=True)
    assert checksums(workspace) == before
    assert "all unchanged" in result.stdout


def test_hand_edits_survive_and_new_example_keys_are_appended(workspace, inv):
    inv("env.copy", check=True)
    env = workspace / "services/auth-service/.env"
    edited = env.read_text().replace("PORT=3001", "PORT=3001  # mine") + "MY_OWN=kept\n"
    env.write_text(edited)
    example = workspace / "services/auth-service/.env.example"
    example.write_text(example.read_text() + "# a feature flag\nNEW_FLAG=on\n")
    result = inv("env.copy", "--service", "auth", check=True)
    text = env.read_text()
    assert text.startswith(edited)  # every byte of the developer's file is kept
    assert text.rstrip().endswith("NEW_FLAG=on")
    assert text.count("NEW_FLAG") == 1
    assert "updated (+1 key: NEW_FLAG)" in result.stdout


def test_force_rewrites_after_a_backup(workspace, inv):
    inv("env.copy", check=True)
    env = workspace / ".env"
    env.write_text(env.read_text() + "MINE=1\n")
    mine = env.read_text()
    inv("env.copy", "--force", check=True)
    backups = list(workspace.glob(".env.bak-*"))
    assert len(backups) == 1
    assert backups[0].read_text() == mine
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    assert env.read_text() == (workspace / ".env.example").read_text()


def test_overlay_follows_the_configured_ports(workspace, inv):
    result = inv(
        "env.copy",
        "--service",
        "order",
        env={"INVOKE_INFRA_POSTGRES_PORT": "55432", "INVOKE_INFRA_REDIS_PORT": "56379"},
        check=True,
    )
    text = (workspace / "services/order-payment-service/.env").read_text()
    assert "@localhost:55432/lomash_orders" in text
    assert "@localhost:56379/2" in text
    assert "changeme_local" not in result.stdout


def test_compose_overlay_uses_service_names(workspace, inv):
    inv("env.copy", "--service", "content", "--overlay", "compose", check=True)
    text = (workspace / "services/content-service/.env").read_text()
    assert "@postgres:5432/lomash_content" in text
    assert "@redis:6379/4" in text


def test_check_passes_on_fresh_files_and_names_each_problem(workspace, inv):
    inv("env.copy", check=True)
    assert inv("env.check").returncode == 0
    env = workspace / "services/product-service/.env"
    text = env.read_text()
    text = text.replace("redis://:", "redis://").replace("/lomash_products", "/lomash_orders")
    text = text.replace("PORT=3002", "PORT=4002")
    env.write_text(text)
    result = inv("env.check")
    assert_user_error(
        result,
        "services/product-service/.env: REDIS_URL: has no ':' before the password",
        "names database 'lomash_orders', not product-service's own 'lomash_products'",
        "PORT: is 4002",
        "3 problems",
    )


def test_show_masks_secrets_unless_revealed(workspace, inv):
    inv("env.copy", check=True)
    shown = inv("env.show", "--service", "auth", check=True).stdout
    assert "changeme_local" not in shown
    assert "DATABASE_URL" in shown and "****" in shown
    assert "PORT" in shown and "3001" in shown
    revealed = inv("env.show", "--service", "auth", "--reveal", check=True).stdout
    assert "changeme_local" in revealed


def test_diff_lists_keys_on_each_side(workspace, inv):
    inv("env.copy", check=True)
    env = workspace / "api-gateway/.env"
    env.write_text(env.read_text().replace("PORT=3000\n", "") + "EXTRA=1\n")
    out = inv("env.diff", check=True).stdout
    assert "api-gateway/.env" in out and "PORT" in out and "EXTRA" in out


def test_unknown_service_lists_valid_ones(inv):
    assert_user_error(
        inv("env.copy", "--service", "autth"),
        "Unknown service 'autth'",
        "Did you mean 'auth'?",
        "analytics (analytics-service)",
    )


def test_malformed_env_names_file_and_line_and_changes_nothing(workspace, inv):
    inv("env.copy", check=True)
    env = workspace / "services/auth-service/.env"
    lines = env.read_text().splitlines(keepends=True)
    lines.insert(2, "this is not an assignment\n")
    env.write_text("".join(lines))
    before = checksums(workspace)
    result = inv("env.copy")
    assert_user_error(result, "services/auth-service/.env, line 3")
    assert checksums(workspace) == before


def test_missing_example_is_an_error_and_nothing_is_written(workspace, inv):
    (workspace / "services/customer-service/.env.example").unlink()
    before = checksums(workspace)
    result = inv("env.copy")
    assert_user_error(result, "services/customer-service/.env.example")
    assert checksums(workspace) == before
    assert env_files(workspace) == []


def test_unwritable_env_is_an_error_and_nothing_is_written(workspace, inv):
    """A read-only .env (no owner write bit) is refused, even for root, who could write it."""
    inv("env.copy", check=True)
    env = workspace / "services/notification-service/.env"
    env.chmod(0o400)
    example = workspace / "services/notification-service/.env.example"
    example.write_text(example.read_text() + "NEW=1\n")
    before = checksums(workspace)
    result = inv("env.copy")
    assert_user_error(result, "services/notification-service/.env", "read-only")
    assert checksums(workspace) == before


def test_non_utf8_env_names_the_line(workspace, inv):
    inv("env.copy", check=True)
    env = workspace / ".env"
    env.write_bytes(env.read_bytes() + b"BAD=\xff\xfe\n")
    result = inv("env.check")
    assert_user_error(result, ".env, line", "UTF-8")


def test_not_a_workspace(tmp_root):
    from conftest import Inv

    result = Inv({"INVOKE_WORKSPACE_ROOT": str(tmp_root)})("env.copy")
    assert_user_error(result, "is not a Lomash Wood workspace", "INVOKE_WORKSPACE_ROOT")


def test_show_reads_lines_as_node_does_and_warns_about_odd_ones(workspace, inv):
    """`1BAD-NAME=x` is a variable for Node's dotenv (no longer a refused file); an unquoted
    '#' glued to a value and a line Node ignores are warned about, naming file and line."""
    import json
    import re

    inv("env.copy", check=True)
    env = workspace / "services/auth-service/.env"
    env.write_text(env.read_text() + "1BAD-NAME=x\nJWT_SECRET=abc#def\nJUST_A_WORD\n")
    result = inv("env.show", "auth", check=True)
    assert re.search(r"^1BAD-NAME +=  ?x$", result.stdout, re.M)
    assert "JWT_SECRET" in result.stdout and "abc" not in result.stdout  # masked
    lines = env.read_text().splitlines()
    assert (
        f"services/auth-service/.env, line {lines.index('JWT_SECRET=abc#def') + 1}: "
        f"the value of JWT_SECRET has an unquoted '#'"
    ) in result.stderr
    assert (
        f"line {lines.index('JUST_A_WORD') + 1}: Node's dotenv ignores this line" in result.stderr
    )
    shown = json.loads(inv("env.show", "auth", "--json", check=True).stdout)
    by_key = {v["key"]: v for v in shown}
    assert by_key["JWT_SECRET"]["value"] == "****" and by_key["JWT_SECRET"]["secret"]
    assert by_key["1BAD-NAME"] == {
        "key": "1BAD-NAME",
        "value": "x",
        "source": ".env",
        "secret": False,
    }
    assert "JUST_A_WORD" not in by_key
    revealed = json.loads(inv("env.show", "auth", "--json", "--reveal", check=True).stdout)
    assert {v["key"]: v["value"] for v in revealed}["JWT_SECRET"] == "abc"  # what Node reads


def test_copy_appends_a_new_multiline_value_whole_and_is_stable(workspace, inv):
    inv("env.copy", "--service", "auth", check=True)
    env = workspace / "services/auth-service/.env"
    example = workspace / "services/auth-service/.env.example"
    example.write_text(
        example.read_text() + 'JWT_PUBLIC_KEY="-----BEGIN-----\nNOT_A_KEY=1\n'
        '-----END-----"\nA_BARE_LINE\n'
    )
    from test_envfiles_node import node_parse

    before_merge = node_parse([env])[str(env)]
    first = inv("env.copy", "--service", "auth", check=True)
    assert "updated (+1 key: JWT_PUBLIC_KEY)" in first.stdout
    by_node = node_parse([env, example])  # in Node's eyes: the old values, plus the new one
    assert by_node[str(env)] == {
        **before_merge,
        "JWT_PUBLIC_KEY": by_node[str(example)]["JWT_PUBLIC_KEY"],
    }
    assert by_node[str(env)]["JWT_PUBLIC_KEY"] == "-----BEGIN-----\nNOT_A_KEY=1\n-----END-----"
    text = env.read_text()
    assert 'JWT_PUBLIC_KEY="-----BEGIN-----\nNOT_A_KEY=1\n-----END-----"\n' in text
    assert "\nNOT_A_KEY=1\n" in text and text.count("NOT_A_KEY") == 1
    before = checksums(workspace)
    second = inv("env.copy", "--service", "auth", check=True)
    assert "all unchanged" in second.stdout and checksums(workspace) == before
    assert "line" in second.stderr and "A_BARE_LINE" not in second.stdout
    # a fresh copy holds the example's bare line too: it is the example's, not refused
    env.unlink()
    inv("env.copy", "--service", "auth", check=True)
    assert "A_BARE_LINE" in env.read_text()
    third = inv("env.copy", "--service", "auth", check=True)
    assert "all unchanged" in third.stdout
    assert "services/auth-service/.env.example, line" in third.stderr  # still warned about
