"""The one command layer: argument lists, deadlines that kill the whole process group, one
error type with the exit code and the tail of stderr; Invoke's --echo and --dry reach it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import Inv

from lomash_tasks import commands


@pytest.fixture(autouse=True)
def _reset_options():
    yield
    commands.configure(echo=False, dry=False)


def test_run_captures_output_and_exit_code():
    done = commands.run(["sh", "-c", "echo out; echo err >&2"])
    assert (done.code, done.stdout, done.stderr) == (0, "out\n", "err\n")
    assert commands.run(["sh", "-c", "exit 3"], check=False).code == 3


def test_a_failure_is_one_error_with_the_code_and_the_stderr_tail():
    script = "for i in $(seq 1 40); do echo line$i >&2; done; exit 7"
    with pytest.raises(commands.CommandError) as err:
        commands.run(["sh", "-c", script])
    assert err.value.returncode == 7 and err.value.code == 7
    assert "line40" in str(err.value) and "line1\n" not in str(err.value)
    assert "failed (exit 7)" in str(err.value)


def test_a_shell_string_is_refused():
    with pytest.raises(TypeError):
        commands.run("echo hi")  # type: ignore[arg-type]


def test_a_missing_program_says_so():
    with pytest.raises(commands.CommandNotFound) as err:
        commands.run(["no-such-program-here"])
    assert "was not found" in str(err.value)


def test_the_deadline_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "child.pid"
    began = time.monotonic()
    with pytest.raises(commands.CommandTimeout) as err:
        commands.run(["sh", "-c", f"sleep 30 & echo $! > {marker}; wait"], timeout=0.5)
    assert time.monotonic() - began < 10
    assert "did not finish within 0.5 s" in str(err.value)
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    from lomash_tasks import processes

    while time.monotonic() < deadline:
        if not processes.alive(child):  # gone, or a zombie waiting to be reaped
            break
        time.sleep(0.05)
    else:
        pytest.fail("the background child outlived the deadline")


def test_lines_stream_as_they_come():
    seen: list[str] = []
    commands.stream(["sh", "-c", "echo one; echo two"], on_line=seen.append)
    assert seen == ["one", "two"]


def test_dry_prints_commands_that_change_something_and_runs_the_rest(capsys):
    commands.configure(dry=True)
    done = commands.run(["sh", "-c", "echo changed > /dev/null"], effect=True)
    assert done.dry and done.code == 0
    assert "(dry) sh -c" in capsys.readouterr().out
    assert commands.run(["echo", "looked"]).stdout == "looked\n"  # a query still runs


def test_inv_dry_prints_psql_instead_of_running_it(stack):
    result = stack.inv("--dry", "db.psql", "--service", "auth", check=True)
    text = result.stdout + result.stderr
    assert "(dry) psql" in text and "lomash_auth" in text
    assert "changeme_local" not in text


def test_inv_echo_prints_each_command_masked(stack, tmp_root):
    """A private copy of the workspace on the session's stack whose init.sql creates one more
    database: db.init runs psql for it, and --echo prints that command, masked."""
    import tempfile

    from conftest import make_workspace

    parent = Path(tempfile.mkdtemp(prefix="echo-", dir=tmp_root))
    root = make_workspace(parent / "ws")
    init = root / "infra" / "docker" / "postgres" / "init.sql"
    init.write_text(init.read_text() + "\nCREATE DATABASE echo_probe;\n")
    env = dict(stack.env, INVOKE_WORKSPACE_ROOT=str(root))
    try:
        result = Inv(env)("--echo", "db.init", check=True)
        text = result.stdout + result.stderr
        assert "psql -X -q -v ON_ERROR_STOP=1" in text
        assert "changeme_local" not in text
    finally:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=int(env["INVOKE_INFRA_POSTGRES_PORT"]),
            user="lomash_master",
            password="changeme_local",
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute("DROP DATABASE IF EXISTS echo_probe")


def test_output_is_complete_under_a_deadline_every_time():
    """With a deadline the output must still be read to the end (sh's own timed wait can
    return before it is: a template cache key once lost the server's version that way)."""
    from concurrent.futures import ThreadPoolExecutor

    def once(_):
        return commands.run(["sh", "-c", "printf 'a line\\n'"], timeout=30).stdout

    with ThreadPoolExecutor(8) as pool:
        outputs = list(pool.map(once, range(200)))
    assert outputs.count("a line\n") == 200


def test_a_program_killed_by_a_signal_reports_128_plus_the_signal():
    done = commands.run(["sh", "-c", "kill -TERM $$"], check=False)
    assert done.code == 128 + 15
