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
    assert err.value.code == 7
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
    commands.run(["sh", "-c", "echo one; echo two"], on_line=seen.append)
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


def test_lines_reach_on_line_while_the_program_still_runs(tmp_path):
    """Each line is handed over as it comes (a long build's progress), stdout and stderr both,
    not at the end; the last line without a newline too."""
    gate = tmp_path / "gate"
    seen: list[tuple[str, bool]] = []

    def on_line(line: str) -> None:
        seen.append((line, gate.exists()))
        if line == "first":
            gate.touch()  # the program waits for this before it goes on

    script = f"echo first; while [ ! -e {gate} ]; do sleep 0.01; done; echo second >&2; printf last"
    done = commands.run(["sh", "-c", script], on_line=on_line, timeout=20)
    assert seen == [("first", False), ("second", True), ("last", True)]
    assert (done.stdout, done.stderr) == ("first\nlast", "second\n")


def test_input_reaches_the_program_and_large_output_does_not_block():
    text = "".join(f"row {i}\n" for i in range(50_000))  # more than a pipe holds, both ways
    done = commands.run(["sh", "-c", "cat; cat >&2 </dev/null; seq 1 50000 >&2"], input=text)
    assert done.stdout == text
    assert done.stderr.splitlines()[-1] == "50000"


def test_a_missing_program_is_one_error_for_every_way_of_starting(tmp_path):
    for start in (commands.run, commands.spawn, commands.interactive):
        with pytest.raises(commands.CommandNotFound) as err:
            start(["no-such-program-here", "x"])
        assert "`no-such-program-here` was not found" in str(err.value)
        assert err.value.code == 127
    text = tmp_path / "notes.txt"
    text.write_text("not a program\n")
    text.chmod(0o644)
    with pytest.raises(commands.CommandNotFound):
        commands.run([str(text)])  # there, but not a program


def test_a_deadline_ends_the_group_of_a_spawned_program_too(tmp_path):
    """`end_groups` is the one way a group ends: SIGTERM, then SIGKILL after the grace for a
    program that ignores it."""
    marker = tmp_path / "child.pid"
    script = f"trap '' TERM; sleep 30 & echo $! > {marker}; wait"
    proc = commands.spawn(["sh", "-c", script])
    from lomash_tasks import processes
    from lomash_tasks.helpers import poll_until

    assert poll_until(lambda: marker.exists() and marker.read_text().strip(), timeout=10)
    child = int(marker.read_text())
    began = time.monotonic()
    assert commands.end_groups([proc.pid], grace=0.5) == [proc.pid]
    assert commands.wait(proc, timeout=10) == -9  # ignored SIGTERM: killed after the grace
    assert 0.4 < time.monotonic() - began < 8
    assert poll_until(lambda: not processes.alive(child), timeout=5)


def test_no_preexec_fn_anywhere_in_the_package():
    """Switching user runs in Popen's own child code (user=, group=, extra_groups=): a
    preexec_fn is documented as unsafe while other threads run (initdb under a thread pool)."""
    import lomash_tasks

    root = Path(lomash_tasks.__file__).parent
    found = [str(p) for p in root.rglob("*.py") if "preexec" in p.read_text()]
    assert not found


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="switching user needs root")
def test_user_switch_runs_the_program_as_that_user_from_many_threads(tmp_path):
    """As root, `user=` runs the program as that user with only its own group, also while a
    pool of threads starts programs side by side (what the embedded stack does)."""
    import os
    import pwd
    from concurrent.futures import ThreadPoolExecutor

    name = next((u for u in ("nobody", "daemon") if _has_user(u)), None) or pytest.skip(
        "no unprivileged user here"
    )
    entry = pwd.getpwnam(name)
    folder = tmp_path / "open"
    folder.mkdir()
    os.chmod(folder, 0o755)

    def once(_: int) -> str:
        return commands.run(
            ["sh", "-c", "echo $(id -u) $(id -g) $(id -G)"], user=name, cwd=folder, timeout=30
        ).stdout.strip()

    with ThreadPoolExecutor(8) as pool:
        seen = set(pool.map(once, range(40)))
    assert seen == {f"{entry.pw_uid} {entry.pw_gid} {entry.pw_gid}"}
    proc = commands.spawn(["sh", "-c", "id -u"], user=name, pipe=True, cwd=folder)
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == str(entry.pw_uid)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
