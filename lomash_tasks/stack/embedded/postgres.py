"""The embedded PostgreSQL: initdb + pg_ctl from the system's binaries, init.sql like the image.

First start: what init.sql needs is decided before anything is made (the locales it names,
the libraries it configures by ALTER SYSTEM: `stack/initsql/needs.py`), then `initdb`
(superuser from the registry, its password from the workspace's env files, scram-sha-256 over
TCP) with those libraries preloaded and those locales compiled into the cluster when the
machine lacks them, then `pg_ctl start -w` listening on the registry's host:port only (no Unix
socket), then init.sql whole through psql with ON_ERROR_STOP over TCP as the superuser (the
password in PGPASSWORD, never on the command line), as the official image does. A first start
that fails leaves no cluster behind (and one an interrupted start left is made afresh), so the
next `stack.up` starts clean. Every start then sets each service role's password from that
service's env file.

PostgreSQL refuses to run as root: under root the server runs as an unprivileged system user
(config `stack.postgres_user`, default `lomash-pg`), created deliberately and announced.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
import signal
import stat
from pathlib import Path

from lomash_tasks import commands, connections
from lomash_tasks.errors import UserError
from lomash_tasks.helpers import poll_until
from lomash_tasks.stack.embedded import pgtemplate
from lomash_tasks.stack.embedded.process import Part, alive, tail
from lomash_tasks.stack.pgtools import find_bindir


def _needs():
    """init.sql's needs (loaded when a cluster is made or started: a running server's checks
    never read init.sql)."""
    from lomash_tasks.stack.initsql import needs

    return needs


INCLUDE_LINE = "include_if_exists = 'lomash.conf'"


def ensure_system_user(name: str) -> bool:
    """Create the unprivileged system user `name` when missing; True when it was created."""
    try:
        pwd.getpwnam(name)
        return False
    except KeyError:
        pass
    tool = shutil.which("useradd") or "/usr/sbin/useradd"
    argv = [
        tool,
        "--system",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        "--user-group",
        name,
    ]
    try:
        result = commands.run(argv, timeout=30, check=False)
    except commands.CommandError as exc:
        raise UserError(
            f"PostgreSQL refuses to run as root, and the system user '{name}' to "
            f"run it could not be created ({exc.text}). Create it yourself "
            f"(`useradd --system {name}`) or set stack.postgres_user to an existing "
            f"unprivileged user."
        ) from None
    try:
        pwd.getpwnam(name)  # a parallel run may have created it first
    except KeyError:
        raise UserError(
            f"PostgreSQL refuses to run as root, and creating the system user "
            f"'{name}' failed: {result.stderr.strip() or result.stdout.strip()}. "
            f"Create it yourself or set stack.postgres_user to an existing "
            f"unprivileged user."
        ) from None
    return result.code == 0


def untraversable(path: Path, uid: int, gids: set[int]) -> Path | None:
    """The first folder from / down to `path` that user uid/gids cannot enter, or None."""
    current = Path("/")
    for part in path.resolve().parts[1:]:
        current = current / part
        try:
            st = current.stat()
        except OSError:
            return None  # created later, by us
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid in gids:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return current
    return None


# Where the cluster goes when the server's user cannot reach the workspace (root's clone under a
# 0700 home): a folder of its own, keyed by the workspace, recorded in the workspace.
OUTSIDE_ROOT = Path("/var/lib/lomash-tasks")
LOCATION_FILE = "postgres.location"


def outside_dir(ws_root: Path) -> Path:
    digest = hashlib.sha256(str(ws_root.resolve()).encode()).hexdigest()[:12]
    return OUTSIDE_ROOT / f"{ws_root.name}-{digest}" / "postgres"


class PostgresPart(Part):
    name = "postgres"
    marker = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown

    @property
    def location_file(self) -> Path:
        return self.ws.state_dir / LOCATION_FILE

    @property
    def dir(self) -> Path:
        """`<workspace>/.lomash/postgres`, or the folder recorded in .lomash/postgres.location
        when the server's user could not reach the workspace."""
        try:
            recorded = self.location_file.read_text().strip()
        except OSError:
            recorded = ""
        if recorded:
            return Path(recorded)
        outside = outside_dir(self.ws.root)  # the record went with the state folder: the
        if (outside / "data" / "PG_VERSION").is_file():  # cluster is still this workspace's
            return outside
        return self.ws.state_dir / self.name

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def init_marker(self) -> Path:
        return self.dir / "init-applied"

    def recorded_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    # -- running as whom ---------------------------------------------------------------------
    def _account(self) -> tuple[int, int, str] | None:
        """(uid, gid, name) to run the server as, or None to run as ourselves."""
        if os.geteuid() != 0:
            return None
        name = self.settings.postgres_user
        entry = pwd.getpwnam(name)
        return entry.pw_uid, entry.pw_gid, name

    def _run_kwargs(self) -> dict:
        account = self._account()
        if account is None:
            return {}
        return {"user": account[2]}

    def _own(self, path: Path) -> None:
        account = self._account()
        if account is not None:
            os.chown(path, account[0], account[1])

    # -- start -------------------------------------------------------------------------------
    def check(self) -> None:
        self.bindir = find_bindir(self.settings.postgres_bindir)

    def prepare(self) -> list[str]:
        notes = []
        if not hasattr(self, "bindir"):
            self.check()
        if os.geteuid() == 0:
            name = self.settings.postgres_user
            if not name or name == "root":
                raise UserError(
                    "stack.postgres_user must name an unprivileged user: "
                    "PostgreSQL refuses to run as root."
                )
            if ensure_system_user(name):
                notes.append(
                    f"created system user {name} to run PostgreSQL (it refuses to run as root)"
                )
            entry = pwd.getpwnam(name)
            gids = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
            blocked = untraversable(self.ws.state_dir, entry.pw_uid, gids)
            state = self.ws.ensure_state_dir()
            state.chmod(0o711)  # others may pass through to their own folder, not list it
            if (
                blocked is not None
                and blocked != self.ws.state_dir
                and not self.location_file.is_file()
            ):
                notes.append(self._move_outside(name, blocked))
            elif not self.location_file.is_file() and self.dir == outside_dir(self.ws.root):
                self._record_location(self.dir)  # found again without its record
        else:
            self.ws.ensure_state_dir()
        self.dir.mkdir(exist_ok=True, mode=0o700)
        self.dir.chmod(0o700)
        self._own(self.dir)
        if not self.ws.init_sql.is_file():
            raise UserError(
                f"The workspace has no {self.ws.relative(self.ws.init_sql)}: the "
                f"embedded PostgreSQL needs it to create the services' roles and "
                f"databases."
            )
        self.save_template: Path | None = None
        if (self.data_dir / "PG_VERSION").is_file() and not self.init_marker.exists():
            shutil.rmtree(self.data_dir)
            notes.append(
                f"removed the half-made cluster in {self.ws.relative(self.data_dir)} "
                f"(a first start that never finished init.sql); making it afresh"
            )
        if not (self.data_dir / "PG_VERSION").is_file():
            from lomash_tasks.stack.initsql import read_script

            self.new_cluster = _needs().for_new_cluster(
                read_script(self.ws), self.settings.missing_locale, self.bindir
            )
            template = self._template()
            account = self._account()
            owner = (account[0], account[1]) if account else None
            if template is not None and pgtemplate.restore(template, self.data_dir, owner):
                self.init_marker.write_text("applied (cluster copied from the template cache)\n")
                self._own(self.init_marker)
                notes.append(
                    f"copied a ready cluster (init.sql applied) from the template "
                    f"cache {template.parent.parent} into "
                    f"{self.ws.relative(self.data_dir)}"
                )
            else:
                self._initdb()
                self.save_template = template
                notes.append(
                    f"initialised a new PostgreSQL cluster in {self.ws.relative(self.data_dir)}"
                )
                notes += self.new_cluster.notes + self._made(self.new_cluster.make(self.data_dir))
            self.version_file.write_text(self._server_version() + "\n")
        self._write_conf()
        return notes

    def _move_outside(self, user: str, blocked: Path) -> str:
        """Keep the cluster where `user` can reach it, without touching the modes of the
        user's own folders; `stack.down --volumes` removes it."""
        target = outside_dir(self.ws.root)
        for folder in (OUTSIDE_ROOT, target.parent):
            folder.mkdir(parents=True, exist_ok=True, mode=0o711)
            folder.chmod(0o711)
        self._record_location(target)
        return (
            f"{blocked} is closed to the system user {user} that runs PostgreSQL, so its "
            f"cluster lives in {target} (removed by `inv teardown --volumes`)"
        )

    def _record_location(self, target: Path) -> None:
        fd = os.open(self.location_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{target}\n")

    def _initdb_options(self) -> list[str]:
        return [
            "-U",
            self.ws.registry.postgres.superuser,
            "--auth",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--locale",
            "C",
        ]

    def _server_version(self) -> str:
        out = commands.run([self.bindir / "postgres", "--version"], timeout=10).stdout.strip()
        return out.replace("postgres (PostgreSQL) ", "PostgreSQL ")

    def _template(self) -> Path | None:
        """Where a ready cluster for this workspace's inputs is (or would be) cached."""
        root = pgtemplate.cache_root(self.settings.cache_dir)
        if root is None:
            return None
        cache_key = pgtemplate.key(
            self._server_version(),
            self.ws.registry.postgres.superuser,
            connections.superuser_password(self.ws),
            self.ws.init_sql.read_bytes(),
            self._initdb_options(),
            self.new_cluster.key,
        )
        return pgtemplate.location(root, cache_key)

    def _initdb(self) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made cluster from an interrupted first start
        self.init_marker.unlink(missing_ok=True)
        pwfile = self.dir / "pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(connections.superuser_password(self.ws) + "\n")
        self._own(pwfile)
        argv = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "--pwfile",
            str(pwfile),
            *self._initdb_options(),
            "--no-sync",
        ]
        try:
            commands.run(
                argv, cwd=self.dir, timeout=self.settings.start_timeout, **self._run_kwargs()
            )
        except commands.CommandError as err:
            raise UserError(
                f"initdb failed for the embedded PostgreSQL "
                f"({self.ws.relative(self.data_dir)}):\n{err.tail(30)}"
            ) from None
        finally:
            pwfile.unlink(missing_ok=True)
        conf = self.data_dir / "postgresql.conf"
        with open(conf, "a") as handle:
            handle.write(f"\n# Lomash Wood task suite: address and dev settings\n{INCLUDE_LINE}\n")

    def _write_conf(self) -> None:
        ep = self.endpoint
        host = "localhost" if ep.host == "localhost" else ep.host
        text = (
            "# Written by the Lomash Wood task suite at each start; edit invoke.yaml instead.\n"
            f"listen_addresses = '{host}'\n"
            f"port = {int(ep.port)}\n"
            "unix_socket_directories = ''\n"
            "fsync = off\n"
            "synchronous_commit = off\n"
            "full_page_writes = off\n"
            "max_connections = 200\n"
            "log_destination = 'stderr'\n"
            "wal_init_zero = off\n"
            "wal_buffers = '16MB'\n"
        )
        path = self.data_dir / "lomash.conf"
        path.write_text(text)
        path.chmod(0o600)
        self._own(path)

    def _clear_stale_lock(self) -> None:
        """Remove postmaster.pid left by a server that was killed (kill -9, OOM, a crash).

        PostgreSQL removes a stale lock itself when its pid is gone, but not while that pid is a
        zombie its parent has not reaped yet (a container whose init reaps slowly): it would
        refuse to start, "lock file already exists". The file goes only when its postmaster is
        dead or a zombie and no process works in the data folder any more (old backends chdir
        there), so PostgreSQL's own shared-memory interlock is never bypassed for a live one.
        """
        from lomash_tasks import processes

        lock = self.data_dir / "postmaster.pid"
        pid = self.recorded_pid()
        if pid is None or alive(pid):
            return
        data = str(self.data_dir.resolve())
        if any(p != pid for p in processes.in_folder(data)):
            return
        lock.unlink(missing_ok=True)

    def _made(self, notes: list[str]) -> list[str]:
        """The new cluster's own locales and config belong to the server's user."""
        locales = self.data_dir / _needs().LOCALES_DIR
        account = self._account()
        if locales.is_dir() and account is not None:
            pgtemplate.chown_tree(locales, account[0], account[1])
        return notes

    def _server_env(self) -> dict[str, str]:
        """LOCPATH when the cluster has locales of its own (the system's stay reachable)."""
        locales = self.data_dir / _needs().LOCALES_DIR
        return {"LOCPATH": str(locales)} if locales.is_dir() else {}

    def spawn(self) -> None:
        self._clear_stale_lock()
        if not self.log_file.exists():
            self.log_file.touch(mode=0o600)
        self._own(self.log_file)
        argv = [
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(int(self.settings.start_timeout)),
            "-s",
            "start",
        ]
        try:
            commands.run(
                argv,
                cwd=self.dir,
                timeout=self.settings.start_timeout + 10,
                env=self._server_env(),
                **self._run_kwargs(),
            )
        except commands.CommandTimeout:
            raise UserError(self.death_message("did not start in time")) from None
        except commands.CommandError as err:
            said = err.stderr.strip()
            raise UserError(
                f"The embedded postgres did not start (pg_ctl exit {err.code}"
                f"{': ' + said if said else ''}). Last lines "
                f"of {self.ws.relative(self.log_file)}:\n{tail(self.log_file)}"
            ) from None

    def died(self) -> str | None:
        if self.pid() is None:
            return self.death_message()
        return None

    def after_ready(self) -> list[str]:
        notes = []
        if not self.init_marker.exists():
            notes += self._first_run()
            self.init_marker.write_text("applied\n")
            notes.append(f"applied {self.ws.relative(self.ws.init_sql)}")
            template = getattr(self, "save_template", None)
            if template is not None and self._save(template):
                notes.append(
                    f"saved the ready cluster to the template cache "
                    f"{template.parent.parent} (new workspaces start from a copy)"
                )
        else:
            self._set_passwords()  # applying init.sql sets them too
        return notes

    def _save(self, template: Path) -> bool:
        """Stop cleanly, copy the cluster into the cache, start again."""
        pid = self.pid()
        if pid is None:
            return False
        from lomash_tasks.stack.embedded.process import terminate

        terminate(pid, self.stop_signal, timeout=15)
        try:
            keep = pgtemplate.checkpoint_segment(self.bindir, self.data_dir)
            saved = pgtemplate.save(self.data_dir, template, keep_wal=keep)
        except OSError:
            saved = False  # a cache we cannot write is no reason to fail the start
        self.spawn()
        poll_until(lambda: self.answering(0.2), timeout=self.settings.start_timeout, interval=0.01)
        return saved

    def _first_run(self) -> list[str]:
        """init.sql whole on the new cluster; when it fails, the cluster goes (no half-made
        cluster stays for the next start to trip over) and the error says so."""
        from lomash_tasks.stack.initsql import first_run

        cluster = getattr(self, "new_cluster", None) or _needs().NewCluster()
        try:
            outcome = first_run(
                self.ws,
                psql=self.bindir / "psql",
                timeout=max(60.0, self.settings.start_timeout),
                substitutions=cluster.substitutions,
                missing_locale=self.settings.missing_locale,
            )
        except UserError as err:
            self._discard()
            raise UserError(
                f"{err.text}\nThe new cluster was removed: fix that, then "
                f"`inv stack.up` makes it afresh."
            ) from None
        except BaseException:
            self._discard()
            raise
        return outcome.notes

    def _discard(self) -> None:
        """Stop the server and remove the cluster whose first init.sql run failed."""
        pid = self.pid()
        if pid is not None:
            from lomash_tasks.stack.embedded.process import terminate

            terminate(pid, self.stop_signal, timeout=15)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.init_marker.unlink(missing_ok=True)

    def _set_passwords(self) -> None:
        from lomash_tasks.stack.initsql import set_role_passwords

        set_role_passwords(self.ws)

    def data_paths(self) -> list[Path]:
        paths = [self.dir]
        if self.dir.parent.parent == OUTSIDE_ROOT:
            paths.append(self.dir.parent)  # its keyed folder, once the cluster is gone
        if self.location_file.is_file():
            paths.append(self.location_file)
        return paths
