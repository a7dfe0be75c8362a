"""The one place that runs external programs (pg_ctl, initdb, psql, pnpm, prisma, node, stripe,
docker compose, ss, ...). Nothing else in the suite imports `subprocess`; a test keeps it so.

    commands.run(argv, env=..., cwd=..., timeout=..., on_line=...)  -> Completed (or CommandError)
    commands.spawn(argv, log=path)                                -> Popen of a detached daemon
    commands.interactive(argv)                                    -> exit code (psql on a terminal)
    commands.end_groups([pgid], SIGTERM, grace=2.0)               -> process groups ended
    commands.open_url(url)                                        -> the user's browser on a page

Every call takes an argument list, never a shell string. One foundation starts every child
(`_start`: its environment, folder, user and session); one function ends process groups
(`end_groups`: SIGTERM or SIGINT, a grace, then SIGKILL). Foreground calls (`run`) get no tty
and their own session and process group, their output read line by line (`on_line` sees each
as it comes) until the deadline, which kills the whole group. `user=` switches user through
`Popen(user=, group=, extra_groups=)`, done by Popen's C code between fork and exec, which is
safe while a thread pool starts programs side by side (a Python callback there is not).
`--echo` (Invoke's `run.echo`) prints each command, masked, before it runs; `--dry` (`run.dry`)
prints the commands that change something (`effect=True`) instead of running them.

Why `subprocess` and not `sh` (which this layer used until issue 22): measured for this layer's
job by `bench/commands_bench.py` (2 cores), `sh` took 6.1 ms per short program against 1.5 ms
(4.2x), 213 ms against 27 ms for 32 programs from 8 threads (7.8x), 120 ms against 50 ms to hand
100,000 lines to a callback (2.4x this layer's reader, 5.4x a bare Popen), and 87 ms to import.
Its threads per call, its own timed wait (which returned before the last output was read) and
its user switch by a Python callback between fork and exec were each worked around here;
`subprocess` needs none of that.
"""

from __future__ import annotations

import os
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lomash_tasks.errors import UserError
from lomash_tasks.helpers import poll_until

TAIL_LINES = 15
Argv = Sequence["str | os.PathLike[str]"]  # an argument list: words and paths, never one string


@dataclass
class Options:
    """What Invoke's `run.echo` / `run.dry` say for this process (set by the task layer)."""

    echo: bool = False
    dry: bool = False


OPTIONS = Options()


def configure(echo: bool | None = None, dry: bool | None = None) -> None:
    if echo is not None:
        OPTIONS.echo = bool(echo)
    if dry is not None:
        OPTIONS.dry = bool(dry)


@dataclass
class Completed:
    argv: list[str]
    code: int
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    dry: bool = False

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def output(self) -> str:
        return (self.stdout or "") + (self.stderr or "")


class CommandError(UserError):
    """A program exited non-zero (or could not start, or ran past its deadline).

    A UserError, so an unhandled one is still a clean message; callers usually catch it and say
    what it means for the task (`.code`, `.stdout`, `.stderr`, `.tail()`).
    """

    def __init__(
        self,
        argv: Sequence[str],
        code: int,
        stdout: str = "",
        stderr: str = "",
        what: str | None = None,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.stdout = stdout or ""
        self.stderr = stderr or ""
        detail = self.tail()
        head = what or f"`{display(self.argv)}` failed (exit {code})"
        super().__init__(head + (f":\n{detail}" if detail else "."), code=code or 1)

    def tail(self, lines: int = TAIL_LINES) -> str:
        text = self.stderr.strip() or self.stdout.strip()
        return "\n".join(text.splitlines()[-lines:])


class CommandNotFound(CommandError):
    def __init__(self, argv: Sequence[str]) -> None:
        super().__init__(
            argv, 127, what=f"`{argv[0]}` was not found (is it installed and on PATH?)"
        )


class CommandTimeout(CommandError):
    def __init__(
        self, argv: Sequence[str], timeout: float, stdout: str = "", stderr: str = ""
    ) -> None:
        super().__init__(
            argv,
            124,
            stdout,
            stderr,
            what=f"`{display(argv)}` did not finish within {timeout:g} s (stopped)",
        )
        self.timeout = timeout


def display(argv: Sequence[str]) -> str:
    """The command as a person would type it (for messages and --echo; masked on output)."""
    parts = [str(a) for a in argv]
    if parts:
        parts[0] = os.path.basename(parts[0]) if os.path.isabs(parts[0]) else parts[0]
    return shlex.join(parts)


def which(name: str, path: str | None = None) -> str | None:
    return shutil.which(name, path=path)


_SHELL_SYNTAX = re.compile(r"[|&;<>()$`\\*?\[\]#~\n]")


def script_argv(line: str) -> list[str]:
    """argv for a command line the monorepo itself wrote (a package.json script, a Prisma seed
    command), run the way npm runs scripts: split into words when it is a plain command,
    through `sh -c` when it uses shell syntax (pipes, `&&`, variables, `VAR=x cmd`). Never for
    text the suite composes from its own values: those are argument lists."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = []
    if not words or _SHELL_SYNTAX.search(line) or "=" in words[0]:
        return ["sh", "-c", line]
    return words


def pnpm_path() -> str | None:
    """The pnpm the suite uses: a source checkout's pinned tools/ install first, then PATH."""
    from lomash_tasks import CHECKOUT_DIR

    local = CHECKOUT_DIR / "tools" / "node_modules" / ".bin" / "pnpm"
    if local.exists():
        return str(local)
    return which("pnpm")


def _echo(argv: Sequence[str], dry: bool) -> None:
    from lomash_tasks import console

    console.get().print(("(dry) " if dry else "") + display(argv), err=not dry)


def _environ(env: Mapping[str, str] | None, replace_env: bool) -> dict[str, str]:
    base = {} if replace_env else dict(os.environ)
    base.update({k: str(v) for k, v in (env or {}).items()})
    return base


def _check_argv(argv: Argv) -> list[str]:
    if isinstance(argv, (str, bytes)):
        raise TypeError("commands take an argument list, never a shell string")
    return [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in argv]


# -- the one way a child starts ---------------------------------------------------------------
def _as_user(user: str | None) -> dict[str, Any]:
    """Popen's own user switch: setgroups/setgid/setuid done by its C code between fork and
    exec, which is safe while other threads run (Python code run there is not: it could
    deadlock on a lock another thread held at the fork)."""
    if not user:
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [entry.pw_gid]}


def _resolve(args: list[str]) -> str:
    exe = args[0] if os.path.sep in args[0] else which(args[0])
    if not exe or not os.access(exe, os.X_OK):
        raise CommandNotFound(args)
    return exe


def _start(
    args: list[str],
    *,
    env: Mapping[str, str] | None = None,
    replace_env: bool = False,
    cwd: str | Path | None = None,
    user: str | None = None,
    new_session: bool = True,
    stdin: Any = subprocess.DEVNULL,
    stdout: Any = None,
    stderr: Any = None,
    text: bool = False,
) -> subprocess.Popen:
    """Every child the suite starts starts here: its environment, folder, user and session.

    `new_session`: its own session and process group (pid = group id), so ending it ends what
    it started, and a terminal's Ctrl-C does not reach it (`interrupt_all` does)."""
    exe = _resolve(args)
    folder = str(cwd) if cwd else None
    try:
        return subprocess.Popen(
            [exe, *args[1:]],
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=folder,
            env=_environ(env, replace_env),
            start_new_session=new_session,
            text=text or None,
            bufsize=1 if text else -1,
            **_as_user(user),
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        if folder is not None and exc.filename == folder:
            raise CommandError(
                args, 126, what=f"`{display(args)}` could not start in {folder}: {exc.strerror}"
            ) from None
        raise CommandNotFound(args) from None


# -- the one way a process group ends ---------------------------------------------------------
def end_groups(
    groups: Iterable[int],
    sig: int = signal.SIGTERM,
    grace: float = 2.0,
    alive: Callable[[int], bool] | None = None,
) -> list[int]:
    """End process groups: `sig` (SIGTERM, SIGINT, or SIGKILL at once) to each, then SIGKILL to
    those still there after `grace` seconds. `alive(pgid)`: whether a group is still there
    (default: a signal 0 answers, which a leader we have not reaped yet still does). The groups
    that were there to signal."""
    signalled = []
    for pgid in groups:
        try:
            os.killpg(pgid, sig)
            signalled.append(pgid)
        except OSError:
            pass
    if sig == signal.SIGKILL or not signalled:
        return signalled
    there = alive or _group_alive
    poll_until(lambda: not any(there(g) for g in signalled), timeout=grace, interval=0.05)
    for pgid in signalled:
        if there(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
    return signalled


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False


# Foreground programs running now (their process group ids), from any thread: what an
# interruption stops (they run in their own session, so a terminal's Ctrl-C does not reach them).
_RUNNING: set[int] = set()
_RUNNING_LOCK = threading.Lock()


def interrupt_all(grace: float = 2.0) -> list[int]:
    """Stop every foreground program still running (SIGTERM to its group, SIGKILL after
    `grace` seconds); the process groups that were signalled."""
    with _RUNNING_LOCK:
        groups = sorted(_RUNNING)
    end_groups(groups, signal.SIGTERM, grace)
    return groups


def terminate_as_interrupt() -> None:
    """SIGTERM to this process is handled like Ctrl-C (a KeyboardInterrupt in the main thread),
    so the same clean-up runs: programs stopped, work in progress reported, nothing orphaned."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # not the main interpreter
        pass


# -- foreground: run to completion ------------------------------------------------------------
def run(
    argv: Argv,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float | None = None,
    check: bool = True,
    input: str | None = None,
    user: str | None = None,
    effect: bool = False,
    replace_env: bool = False,
    on_line: Callable[[str], None] | None = None,
) -> Completed:
    """Run a program to completion and capture its output.

    `check`: raise CommandError on a non-zero exit. `timeout`: seconds, then the program's whole
    process group is killed and CommandTimeout raised. `user`: run as that system user (root
    only). `effect`: the call changes something, so `--dry` prints it instead of running it.
    `on_line`: called with each output line (stdout and stderr) as it arrives.
    """
    args = _check_argv(argv)
    dry = effect and OPTIONS.dry
    if OPTIONS.echo or dry:
        _echo(args, dry)
    if dry:
        return Completed(args, 0, dry=True)
    began = time.monotonic()
    proc = _start(
        args,
        env=env,
        replace_env=replace_env,
        cwd=cwd,
        user=user,
        stdin=subprocess.PIPE if input else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with _RUNNING_LOCK:
        _RUNNING.add(proc.pid)
    try:
        out, err, expired = _collect(proc, input, timeout, on_line)
        code = proc.wait()
    except KeyboardInterrupt:
        # poll() reaps the program once it ended; a signal 0 then answers for what it left
        gone = lambda g: (proc.poll(), _group_alive(g))[1]  # noqa: E731
        end_groups([proc.pid], signal.SIGINT, grace=3.0, alive=gone)
        _reap(proc)
        raise
    except BaseException:
        end_groups([proc.pid], signal.SIGKILL)
        _reap(proc)
        raise
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc.pid)
    if expired:
        raise CommandTimeout(args, float(timeout or 0), out, err)
    if code < 0:
        code = 128 - code  # killed by signal N: the shell's 128+N
    done = Completed(args, code, out, err, time.monotonic() - began)
    if check and done.code != 0:
        raise CommandError(args, done.code, done.stdout, done.stderr)
    return done


# After the program ended, its output is read until every writer closed it, at most this long
# (a daemon it started may hold the pipe open for its whole life).
LINGER = 2.0


def _collect(
    proc: subprocess.Popen,
    input: str | None,
    timeout: float | None,
    on_line: Callable[[str], None] | None,
) -> tuple[str, str, bool]:
    """Read stdout and stderr line by line until both end, feeding `input`; at the deadline the
    process group is killed. (stdout, stderr, whether the deadline passed)."""
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    deadline = None if timeout is None else time.monotonic() + timeout
    lines: dict[int, list[str]] = {out_fd: [], err_fd: []}
    partial: dict[int, bytes] = {fd: b"" for fd in lines}
    expired = False
    ended_at: float | None = None
    pending = memoryview((input or "").encode())
    in_fd = proc.stdin.fileno() if proc.stdin is not None else -1
    with selectors.DefaultSelector() as sel:
        for fd in lines:
            sel.register(fd, selectors.EVENT_READ)
        if proc.stdin is not None:
            os.set_blocking(in_fd, False)
            sel.register(in_fd, selectors.EVENT_WRITE)
        while sel.get_map():
            now = time.monotonic()
            if deadline is not None and not expired and now >= deadline:
                expired = True
                end_groups([proc.pid], signal.SIGKILL)
            if ended_at is None and proc.poll() is not None:
                ended_at = now
            if ended_at is not None and now - ended_at >= LINGER:
                break
            wait = 0.2 if deadline is None or expired else min(0.2, max(0.0, deadline - now))
            for key, _ in sel.select(wait):
                fd = key.fd
                if fd == in_fd:
                    try:
                        sent = os.write(fd, pending[:65536])
                    except BrokenPipeError:
                        sent = len(pending)
                    pending = pending[sent:]
                    if not pending and proc.stdin is not None:
                        sel.unregister(fd)
                        proc.stdin.close()
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    sel.unregister(fd)
                    if partial[fd]:
                        _take(partial[fd], lines[fd], on_line)
                    continue
                *whole, partial[fd] = (partial[fd] + chunk).split(b"\n")
                for line in whole:
                    _take(line + b"\n", lines[fd], on_line)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            stream.close()
    return "".join(lines[out_fd]), "".join(lines[err_fd]), expired


def _take(raw: bytes, store: list[str], on_line: Callable[[str], None] | None) -> None:
    line = raw.decode("utf-8", errors="replace")
    store.append(line)
    if on_line is not None:
        on_line(line.rstrip("\n"))


def _reap(proc: subprocess.Popen) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


# -- background and terminal ------------------------------------------------------------------
def spawn(
    argv: Argv,
    *,
    log: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    user: str | None = None,
    replace_env: bool = False,
    new_session: bool = True,
    pipe: bool = False,
    merge: bool = False,
) -> subprocess.Popen:
    """Start a long-running program detached (its own session and process group).

    Output goes to `log` (appended) or, with `pipe`, to pipes the caller reads (text lines;
    with `merge`, stderr into stdout).
    Returns the Popen; the caller records its pid (= its process group id).
    """
    args = _check_argv(argv)
    if OPTIONS.echo:
        _echo(args, False)
    handle = None
    stdout: Any
    stderr: Any
    try:
        if pipe:
            stdout = subprocess.PIPE
            stderr = subprocess.STDOUT if merge else subprocess.PIPE
        elif log is not None:
            handle = open(log, "ab")
            stdout, stderr = handle, subprocess.STDOUT
        else:
            stdout = stderr = subprocess.DEVNULL
        return _start(
            args,
            env=env,
            replace_env=replace_env,
            cwd=cwd,
            user=user,
            new_session=new_session,
            stdout=stdout,
            stderr=stderr,
            text=pipe,
        )
    finally:
        if handle is not None:
            handle.close()


def interactive(
    argv: Argv, *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None
) -> int:
    """Run a program attached to this terminal (psql: this session, so Ctrl-C reaches it);
    its exit code."""
    args = _check_argv(argv)
    if OPTIONS.echo or OPTIONS.dry:
        _echo(args, OPTIONS.dry)
    if OPTIONS.dry:
        return 0
    with _start(args, env=env, cwd=cwd, new_session=False, stdin=None) as proc:
        try:
            return proc.wait()
        except BaseException:
            proc.kill()
            raise


def open_url(url: str) -> bool:
    """Open `url` in the user's browser (the platform's own launcher); False when none is."""
    import webbrowser

    try:
        return webbrowser.open(url, new=2)
    except webbrowser.Error:
        return False


def wait(proc: subprocess.Popen, timeout: float | None = None) -> int | None:
    """The exit code of a spawned program within `timeout` (None if it still runs)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
