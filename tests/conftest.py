"""Shared test helpers: temporary workspaces, free ports, and running `inv` for real.

Workspaces are copies of the reference monorepo (examples/lomash-wood) under a 0755 folder
in /tmp, so an unprivileged server user can reach them when the tests run as root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SUITE_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = SUITE_ROOT / "examples" / "lomash-wood"
IGNORED = shutil.ignore_patterns("node_modules", ".env", ".lomash", ".env.bak-*", ".vscode")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_workspace(dest: Path, node_modules: bool = False) -> Path:
    """A copy of the reference workspace at `dest` (without .env files or state).

    With `node_modules`, the installed Node dependencies are shared by symlink (pnpm's layout:
    the root `node_modules` holds the store, each package's own links point into it).
    """
    shutil.copytree(EXAMPLE, dest, ignore=IGNORED, symlinks=True)
    if node_modules and (EXAMPLE / "node_modules").is_dir():
        os.symlink(EXAMPLE / "node_modules", dest / "node_modules")
        for pkg_modules in EXAMPLE.glob("*/node_modules"):
            _copy_links(pkg_modules, dest / pkg_modules.relative_to(EXAMPLE))
        for pkg_modules in EXAMPLE.glob("*/*/node_modules"):
            _copy_links(pkg_modules, dest / pkg_modules.relative_to(EXAMPLE))
    return dest


def _copy_links(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True)


@dataclass
class Inv:
    """Runs `inv` as a user would, from the suite's root, with extra environment."""

    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
                 timeout: float = 300, check: bool | None = None) -> subprocess.CompletedProcess:
        full = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS",
                                                                 "GITHUB_STEP_SUMMARY")}
        full.update(self.env)
        full.update(env or {})
        result = subprocess.run(
            [sys.executable, "-m", "invoke", *args], cwd=SUITE_ROOT, env=full, input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"inv {' '.join(args)} exited {result.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result


@pytest.fixture(scope="session")
def tmp_root():
    """A 0755 folder under /tmp for this session's workspaces; removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="lomash-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def workspace(tmp_root, request):
    """A fresh copy of the reference workspace for one test."""
    dest = Path(tempfile.mkdtemp(prefix=f"ws-{request.node.name[:30]}-", dir=tmp_root))
    dest.rmdir()
    return make_workspace(dest)


@pytest.fixture
def inv(workspace):
    """`inv` pointed at the test's own workspace."""
    return Inv({"INVOKE_WORKSPACE_ROOT": str(workspace)})


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """A user error: non-zero exit, no traceback, a message naming every fragment."""
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


def checksums(root: Path) -> dict[str, str]:
    """Every file under `root` (not following links) with a hash of its bytes and mode."""
    import hashlib

    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and "node_modules" not in path.parts:
            data = path.read_bytes()
            out[str(path.relative_to(root))] = (hashlib.sha256(data).hexdigest()
                                                + oct(path.stat().st_mode))
    return out
