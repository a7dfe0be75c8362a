"""The one place that runs external programs (pg_ctl, initdb, psql, pnpm, prisma, node, stripe,
docker compose, ss, ...). Nothing else in the suite imports `subprocess`; a test keeps it so.

    commands.run(argv, env=..., cwd=..., timeout=...)        -> Completed (or CommandError)
    commands.stream(argv, on_line=print, timeout=...)         -> Completed, lines as they come
    commands.spawn(argv, log=path)                            -> Popen of a detached daemon
    commands.interactive(argv)                                -> exit code (psql on a terminal)
    commands.open_url(url)                                    -> the user's browser on a page

Every call takes an argument list, never a shell string. Foreground calls run on `sh` (no tty,
their own process group, killed with the group at the deadline); daemons that must outlive the
`inv` process are started detached with `subprocess.Popen` (sh's threads would tie their output
to this process). `--echo` (Invoke's `run.echo`) prints each command, masked, before it runs;
`--dry` (`run.dry`) prints the commands that change something (`effect=True`) instead of
running them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lomash_tasks.errors import UserError

TAIL_LINES = 15


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
        self.returncode = code
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


def _preexec(user: str | None):
    if not user:
        return None
    import pwd

    entry = pwd.getpwnam(user)

    def drop() -> None:  # runs in the child, before exec
        os.setgid(entry.pw_gid)
        os.setgroups([entry.pw_gid])
        os.setuid(entry.pw_uid)

    return drop


def _check_argv(argv: Sequence[str]) -> list[str]:
    if isinstance(argv, (str, bytes)):
        raise TypeError("commands take an argument list, never a shell string")
    return [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in argv]


def run(
    argv: Sequence[str],
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
    import sh

    args = _check_argv(argv)
    dry = effect and OPTIONS.dry
    if OPTIONS.echo or dry:
        _echo(args, dry)
    if dry:
        return Completed(args, 0, dry=True)
    exe = args[0] if os.path.sep in args[0] else which(args[0])
    if not exe or not os.access(exe, os.X_OK):
        raise CommandNotFound(args)
    out_lines: list[str] = []
    err_lines: list[str] = []

    def collector(store: list[str]):
        def take(line: str) -> None:
            store.append(line)
            if on_line is not None:
                on_line(line.rstrip("\n"))

        return take

    kwargs = dict(
        _env=_environ(env, replace_env),
        _cwd=str(cwd) if cwd else None,
        _tty_out=False,
        _new_session=True,
        _bg=True,
        _bg_exc=False,
        _ok_code=list(range(256)),
        _decode_errors="replace",
        _preexec_fn=_preexec(user),
        _out=collector(out_lines),
        _err=collector(err_lines),
        _in=input if input is not None else "",
    )
    began = time.monotonic()
    try:
        proc = sh.Command(exe)(*args[1:], **kwargs)
    except (sh.CommandNotFound, FileNotFoundError, PermissionError):
        raise CommandNotFound(args) from None
    with _RUNNING_LOCK:
        _RUNNING.add(proc.pid)
    # The deadline kills the program's whole process group; `wait()` without a timeout then
    # returns once it is gone and its output has been read to the end (sh's own timed wait
    # polls every 0.1 s and can return before the last output is collected).
    expired = threading.Event()
    timer = None
    if timeout is not None:
        timer = threading.Timer(timeout, lambda: (expired.set(), _kill_group(proc.pid)))
        timer.daemon = True
        timer.start()
    try:
        proc.wait()
    except sh.ErrorReturnCode:
        pass  # killed by a signal (the deadline's, or someone's): reported below
    except KeyboardInterrupt:
        _kill_group(proc.pid, signal.SIGINT, grace=3.0)
        raise
    finally:
        if timer is not None:
            timer.cancel()
        with _RUNNING_LOCK:
            _RUNNING.discard(proc.pid)
    if expired.is_set():
        raise CommandTimeout(args, float(timeout or 0), "".join(out_lines), "".join(err_lines))
    code = proc.exit_code if proc.exit_code is not None else 1
    if code < 0:
        code = 128 - code  # killed by signal N: the shell's 128+N
    done = Completed(args, code, "".join(out_lines), "".join(err_lines), time.monotonic() - began)
    if check and done.code != 0:
        raise CommandError(args, done.code, done.stdout, done.stderr)
    return done


def stream(argv: Sequence[str], *, on_line: Callable[[str], None], **kwargs) -> Completed:
    """`run`, handing each output line to `on_line` as it comes (long builds, logs -f)."""
    return run(argv, on_line=on_line, **kwargs)


# Foreground programs running now (their process group ids), from any thread: what an
# interruption stops (they run in their own session, so a terminal's Ctrl-C does not reach them).
_RUNNING: set[int] = set()
_RUNNING_LOCK = threading.Lock()


def interrupt_all(grace: float = 2.0) -> list[int]:
    """Stop every foreground program still running (SIGTERM to its group, SIGKILL after
    `grace` seconds); the process groups that were signalled."""
    with _RUNNING_LOCK:
        groups = sorted(_RUNNING)
    for pid in groups:
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass
    end = time.monotonic() + grace
    alive = list(groups)
    while alive and time.monotonic() < end:
        time.sleep(0.05)
        alive = [pid for pid in alive if _group_alive(pid)]
    for pid in alive:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    return groups


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except OSError:
        return False


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


def _kill_group(pid: int, sig: int = signal.SIGKILL, grace: float = 0.0) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:
        return
    if grace and sig != signal.SIGKILL:
        end = time.monotonic() + grace
        while time.monotonic() < end:
            try:
                os.killpg(pid, 0)
            except OSError:
                return
            time.sleep(0.05)
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def spawn(
    argv: Sequence[str],
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
    exe = args[0] if os.path.sep in args[0] else which(args[0])
    if not exe:
        raise CommandNotFound(args)
    handle = None
    try:
        if pipe:
            stdout = subprocess.PIPE
            stderr = subprocess.STDOUT if merge else subprocess.PIPE
        elif log is not None:
            handle = open(log, "ab")
            stdout, stderr = handle, subprocess.STDOUT
        else:
            stdout = stderr = subprocess.DEVNULL
        return subprocess.Popen(
            [exe, *args[1:]],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            cwd=str(cwd) if cwd else None,
            env=_environ(env, replace_env),
            start_new_session=new_session,
            preexec_fn=_preexec(user),
            text=pipe or None,
            bufsize=1 if pipe else -1,
        )
    except FileNotFoundError:
        raise CommandNotFound(args) from None
    finally:
        if handle is not None:
            handle.close()


def interactive(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None
) -> int:
    """Run a program attached to this terminal (psql); its exit code."""
    args = _check_argv(argv)
    if OPTIONS.echo or OPTIONS.dry:
        _echo(args, OPTIONS.dry)
    if OPTIONS.dry:
        return 0
    try:
        return subprocess.call(args, env=_environ(env, False), cwd=str(cwd) if cwd else None)
    except FileNotFoundError:
        raise CommandNotFound(args) from None


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
