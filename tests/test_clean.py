"""`inv clean`: build output and caches as the monorepo declares them, the suite's logs; never the
stack's data, backups, audit log or .env files; nothing at all while the stack runs."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import EXAMPLE, Inv, assert_user_error, checksums, make_workspace

BUILD = "require('fs').cpSync('src','dist',{recursive:true})"  # the services' own build script


def everything(root: Path) -> dict[str, str]:
    """checksums() of every file, .lomash and links included (node_modules left out)."""
    out = checksums(root)
    for path in root.rglob("*"):
        if path.is_symlink() and "node_modules" not in path.parts:
            out[str(path.relative_to(root))] = "-> " + os.readlink(path)
    return out


@pytest.fixture
def built(tmp_root):
    """A workspace after builds, tests and a few suite runs (no server: the stack is down)."""
    root = make_workspace(
        Path(tempfile.mkdtemp(prefix="clean-", dir=tmp_root)) / "ws", node_modules=True
    )
    for folder in ("services/auth-service", "services/order-payment-service", "api-gateway"):
        subprocess.run(["node", "-e", BUILD], cwd=root / folder, check=True)
    (root / "services/auth-service/coverage").mkdir()
    (root / "services/auth-service/coverage/lcov.info").write_text("TN:\n")
    # a TypeScript service: tsconfig.json declares its output and build info
    product = root / "services/product-service"
    (product / "tsconfig.json").write_text(
        '{\n  // the compiler\'s output\n  "compilerOptions": '
        '{"outDir": "./build", "tsBuildInfoFile": '
        '"./.tsbuildinfo",},\n}\n'
    )
    (product / "build").mkdir()
    (product / "build/index.js").write_text("module.exports = 1;\n")
    (product / ".tsbuildinfo").write_text("{}")
    # turbo.json at the root: its outputs, in each package (a generated client is left alone)
    (root / "turbo.json").write_text(
        json.dumps(
            {"tasks": {"build": {"outputs": ["lib/**", "node_modules/.prisma/**", "!lib/keep/**"]}}}
        )
    )
    (root / "api-gateway/lib").mkdir()
    (root / "api-gateway/lib/x.js").write_text("1\n")
    (root / ".turbo").mkdir()
    (root / ".turbo/cache.json").write_text("{}")
    # a clean script that names something outside its package is not followed
    content = root / "services/content-service/package.json"
    data = json.loads(content.read_text())
    data["scripts"]["clean"] = "rm -rf dist ../../outside"
    content.write_text(json.dumps(data, indent=2))
    (root / "outside").mkdir()
    (root / "outside/precious").write_text("x\n")
    # the suite's state: logs (go), the stack's data, backups and the audit log (stay)
    state = root / ".lomash"
    for rel, text in {
        "deps/auth-service.log": "installed\n",
        "setup-summary.json": "{}",
        "services/auth-service.log": "started\n",
        "postgres/data/PG_VERSION": "15\n",
        "redis/redis.conf": "port 1\n",
        "backups/production/20260101T000000Z/auth-lomash_auth.dump": "PGDMP",
        "remote-audit.log": "{}\n",
        "seeded.json": "{}",
    }.items():
        (state / rel).parent.mkdir(parents=True, exist_ok=True)
        (state / rel).write_text(text)
    (root / "services/auth-service/.env").write_text("PORT=3001\n")
    (root / "services/auth-service/.env.bak-20260101-000000").write_text("PORT=4001\n")
    return root


def test_clean_dry_lists_and_changes_nothing(built):
    inv = Inv({"INVOKE_WORKSPACE_ROOT": str(built)})
    before = everything(built)
    dry = inv("clean", "--dry", check=True)
    assert everything(built) == before
    for rel in (
        "services/auth-service/dist/",
        "services/auth-service/coverage/",
        "services/product-service/build/",
        "services/product-service/.tsbuildinfo",
        "api-gateway/lib/",
        ".turbo/",
        ".lomash/deps/",
        ".lomash/setup-summary.json",
        ".lomash/services/",
    ):
        assert rel in dry.stdout, rel
    assert "nothing was removed" in dry.stdout
    listed = json.loads(inv("clean", "--dry", "--json", check=True).stdout)
    paths = {r["path"] for r in listed["remove"]}
    assert paths == {
        "services/auth-service/dist",
        "services/auth-service/coverage",
        "services/order-payment-service/dist",
        "api-gateway/dist",
        "api-gateway/lib",
        "services/product-service/build",
        "services/product-service/.tsbuildinfo",
        ".turbo",
        ".lomash/deps",
        ".lomash/services",
        ".lomash/setup-summary.json",
    } | {p for p in paths if p.endswith("node_modules/.cache")}, paths
    assert not any("outside" in p or p.endswith(".dump") or "postgres" in p for p in paths)
    assert {r["path"] for r in listed["keep"]} >= {
        ".lomash/postgres",
        ".lomash/redis",
        ".lomash/backups",
        ".lomash/remote-audit.log",
    }
    assert everything(built) == before


def test_clean_removes_what_is_declared_and_keeps_data_env_files_and_sources(built):
    inv = Inv({"INVOKE_WORKSPACE_ROOT": str(built)})
    done = inv("clean", check=True)
    assert "path(s) removed" in done.stdout
    for rel in (
        "services/auth-service/dist",
        "services/auth-service/coverage",
        "services/product-service/build",
        "services/product-service/.tsbuildinfo",
        "api-gateway/lib",
        ".turbo",
        ".lomash/deps",
        ".lomash/setup-summary.json",
    ):
        assert not (built / rel).exists(), rel
    for rel in (
        "services/auth-service/src/index.js",
        "services/auth-service/.env",
        "services/auth-service/.env.bak-20260101-000000",
        "outside/precious",
        ".lomash/postgres/data/PG_VERSION",
        ".lomash/remote-audit.log",
        ".lomash/backups/production/20260101T000000Z/auth-lomash_auth.dump",
        "services/auth-service/node_modules/pg",
        "node_modules",
    ):
        assert (built / rel).exists() or (built / rel).is_symlink(), rel
    assert "Nothing to clean" in inv("clean", check=True).stdout
    # --all: the dependencies and the .env backups too; a linked node_modules goes as a link
    refused = inv("clean", "--all", env={"CI": "true"})
    assert_user_error(refused, "Not confirmed", "nothing was removed")
    assert (built / "services/auth-service/node_modules").exists()
    inv("clean", "--all", "--yes", check=True)
    assert not (built / "node_modules").is_symlink() and not (built / "node_modules").exists()
    assert not (built / "services/auth-service/node_modules").exists()
    assert not (built / "services/auth-service/.env.bak-20260101-000000").exists()
    assert (built / "services/auth-service/.env").read_text() == "PORT=3001\n"
    assert (EXAMPLE / "node_modules" / ".pnpm").is_dir()  # the link's target is intact


def test_clean_while_the_stack_runs_removes_nothing(stack):
    gateway = stack.root / "api-gateway"
    subprocess.run(["node", "-e", BUILD], cwd=gateway, check=True)

    def files():  # the running servers write their own data under .lomash/ meanwhile
        return {k: v for k, v in everything(stack.root).items() if not k.startswith(".lomash/")}

    try:
        before = files()
        refused = stack.inv("clean")
        assert_user_error(
            refused,
            "The stack runs in this workspace",
            "postgres (pid",
            "inv teardown",
            "clean --dry",
        )
        assert files() == before and (gateway / "dist/index.js").is_file()
        assert "api-gateway/dist/" in stack.inv("clean", "--dry", check=True).stdout
    finally:
        import shutil

        shutil.rmtree(gateway / "dist")
