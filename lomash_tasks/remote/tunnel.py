"""SSH tunnels through a target's bastion: the one place that uses fabric (and paramiko).

    with tunnel.opened(hop, "db.internal", 5432, label="staging") as local:
        ...  # local.host:local.port reaches db.internal:5432 as the bastion sees it

`fabric.Connection` to the bastion (through its `jump` host, as the Connection's `gateway`,
when there is one), then `forward_local` from a free loopback port. Host keys are checked
against the hop's known_hosts file and an unknown key is refused, never added (fabric's own
default would add it): the message says how to add it. The tunnel always closes when the block
ends, on errors and Ctrl-C too, and nothing is left listening.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lomash_tasks.errors import UserError
from lomash_tasks.helpers import poll_until
from lomash_tasks.remote.targets import Hop

LISTEN_DEADLINE = 5.0


@dataclass(frozen=True)
class Local:
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class UnknownHostKey(Exception):
    def __init__(self, hostname: str, key: Any) -> None:
        super().__init__(hostname)
        self.hostname = hostname
        self.key = key


def _reject_policy(hop: Hop) -> Any:
    from paramiko import RejectPolicy

    class Reject(RejectPolicy):
        """paramiko's RejectPolicy, keeping the offered key so the message can name it."""

        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            raise UnknownHostKey(hostname, key)

    return Reject()


def _known_hosts(hop: Hop, label: str) -> Path:
    path = Path(hop.known_hosts).expanduser()
    if not path.is_file():
        raise UserError(
            f"Target '{label}': the known_hosts file {path} does not exist, so the host key of "
            f"{hop.address} cannot be checked (and is never accepted unchecked). Add the key "
            f"after checking its fingerprint with whoever runs it: `ssh-keyscan -p {hop.port} "
            f"{hop.host} >> {hop.known_hosts}`, or point the target's known_hosts setting at a "
            f"file that has it."
        )
    return path


def _connection(hop: Hop, label: str, gateway: Any = None) -> Any:
    import fabric

    key = Path(hop.key_file).expanduser()
    if not key.is_file():
        raise UserError(
            f"Target '{label}': the SSH key {key} for {hop.user}@{hop.address} does "
            f"not exist. Put the key there or change the key_file setting."
        )
    known = _known_hosts(hop, label)
    config = fabric.Config(overrides={"load_ssh_configs": False})
    conn = fabric.Connection(
        hop.host,
        user=hop.user,
        port=hop.port,
        config=config,
        gateway=gateway or False,
        connect_timeout=max(1, int(hop.timeout + 0.999)),
        connect_kwargs={
            "key_filename": [str(key)],
            "look_for_keys": False,
            "allow_agent": False,
            "banner_timeout": hop.timeout,
            "auth_timeout": hop.timeout,
        },
    )
    conn.client.load_host_keys(str(known))
    conn.client.set_missing_host_key_policy(_reject_policy(hop))
    return conn


def _open(conn: Any, hop: Hop, label: str) -> None:
    """Connect, turning every SSH failure into one paragraph saying what to do."""
    import paramiko

    where = f"{hop.user}@{hop.address}"
    try:
        conn.open()
    except UnknownHostKey as exc:
        kind = exc.key.get_name()
        fingerprint = getattr(exc.key, "fingerprint", "")
        raise UserError(
            f"Target '{label}': {hop.address} offered a host key that is not in "
            f"{hop.known_hosts} ({kind} {fingerprint}). It was refused: an unknown key is never "
            f"accepted silently. Check that fingerprint with whoever runs the bastion, then add "
            f"it: `ssh-keyscan -p {hop.port} {hop.host} >> {hop.known_hosts}` (or set the "
            f"target's known_hosts setting to a file that has it)."
        ) from None
    except paramiko.BadHostKeyException as exc:
        raise UserError(
            f"Target '{label}': the host key of {hop.address} does not match the one in "
            f"{hop.known_hosts} (offered {exc.key.get_name()} "
            f"{getattr(exc.key, 'fingerprint', '')}). Either the bastion was rebuilt or someone "
            f"is in the way: nothing was sent. Confirm with whoever runs it before replacing the "
            f"line in {hop.known_hosts}."
        ) from None
    except paramiko.AuthenticationException:
        raise UserError(
            f"Target '{label}': {where} refused the key {hop.key_file}. Check the user and "
            f"that the key's public half is in that user's authorized_keys on the bastion."
        ) from None
    except (paramiko.ssh_exception.NoValidConnectionsError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        if isinstance(exc, (socket.timeout, TimeoutError)):
            reason = f"no answer within {hop.timeout:.0f} s"
        raise UserError(
            f"Target '{label}': can't reach the bastion {hop.address} ({reason}). "
            f"Check the VPN or network, and the target's bastion host and port."
        ) from None
    except paramiko.SSHException as exc:
        raise UserError(f"Target '{label}': SSH to {where} failed: {exc}.") from None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def listening(host: str, port: int) -> bool:
    """True while something listens on host:port. Asked of the kernel's socket table
    (`lomash_tasks.processes`: no connection is made, nothing is bound, so a test bind cannot
    steal the port from the tunnel's listener before it binds)."""
    from lomash_tasks import processes

    return bool(processes.listeners(port, host))


def _check_remote(conn: Any, hop: Hop, remote_host: str, remote_port: int, label: str) -> None:
    """Open (and close) one channel to the database, so a bastion that cannot reach it is one
    clear error before any work starts."""
    import paramiko

    try:
        channel = conn.transport.open_channel(
            "direct-tcpip", (remote_host, int(remote_port)), ("127.0.0.1", 0), timeout=hop.timeout
        )
    except (paramiko.ChannelException, paramiko.SSHException, OSError) as exc:
        reason = getattr(exc, "text", None) or str(exc) or type(exc).__name__
        raise UserError(
            f"Target '{label}': the bastion {hop.address} could not open a "
            f"connection to {remote_host}:{remote_port} ({reason}). Check the "
            f"target's postgres host and port, and that the bastion's security group "
            f"may reach the database."
        ) from None
    channel.close()


@contextlib.contextmanager
def opened(
    hop: Hop, remote_host: str, remote_port: int, label: str = "?", local_host: str = "127.0.0.1"
) -> Iterator[Local]:
    """A tunnel from a free port on `local_host` to remote_host:remote_port via the bastion."""
    from invoke.exceptions import ThreadException

    hops = []
    current: Hop | None = hop
    while current is not None:
        hops.append(current)
        current = current.jump
    chain: list[Any] = []  # outermost jump first
    try:
        gateway = None
        for h in reversed(hops):
            conn = _connection(h, label, gateway)
            chain.append(conn)
            _open(conn, h, label)
            gateway = conn
        bastion = chain[-1]
        _check_remote(bastion, hop, remote_host, remote_port, label)
        port = _free_port(local_host)
        forward = bastion.forward_local(
            port, remote_port=int(remote_port), remote_host=remote_host, local_host=local_host
        )
        forward.__enter__()
        try:
            if not poll_until(
                lambda: listening(local_host, port), timeout=LISTEN_DEADLINE, interval=0.01
            ):
                raise UserError(
                    f"Target '{label}': the tunnel's local end {local_host}:"
                    f"{port} did not open within {LISTEN_DEADLINE:.0f} s."
                )
            yield Local(local_host, port)
        except BaseException as exc:
            try:
                forward.__exit__(type(exc), exc, exc.__traceback__)
            except ThreadException:
                pass  # the error in flight says more
            raise
        else:
            try:
                forward.__exit__(None, None, None)
            except ThreadException as exc:
                raise UserError(
                    f"Target '{label}': the tunnel to {remote_host}:{remote_port} "
                    f"failed while in use: {exc}"
                ) from None
    finally:
        for conn in reversed(chain):
            with contextlib.suppress(Exception):
                conn.close()
