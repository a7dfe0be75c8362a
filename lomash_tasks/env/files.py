"""Parse, merge and write `.env` files without losing a developer's edits.

Parsing is python-dotenv's (the same grammar the Node services' loaders accept); every error
names the file and the line. Writes are atomic (a temporary file in the same folder, then
`os.replace`), so an interrupted write never leaves half a file behind.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lomash_tasks.errors import UserError

ENV_MODE = 0o600


@dataclass(frozen=True)
class EnvEntry:
    key: str
    value: str
    line: int


@dataclass
class EnvFile:
    path: Path
    text: str
    entries: list[EnvEntry] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys(e.key for e in self.entries))

    def get(self, key: str, default: str | None = None) -> str | None:
        found = default
        for entry in self.entries:  # the last assignment wins, as in dotenv
            if entry.key == key:
                found = entry.value
        return found

    def as_dict(self) -> dict[str, str]:
        return {e.key: e.value for e in self.entries}

    def line_of(self, key: str) -> int | None:
        for entry in self.entries:
            if entry.key == key:
                return entry.line
        return None


def parse_env(text: str, path: Path) -> EnvFile:
    """Parse `.env` text; a malformed line is a `UserError` naming the file and the line."""
    from dotenv.parser import parse_stream

    entries: list[EnvEntry] = []
    for binding in parse_stream(io.StringIO(text)):
        raw = binding.original.string
        # A binding's text may start with blank lines: count them into its line number.
        line = binding.original.line + (len(raw) - len(raw.lstrip("\n")))
        if binding.error:
            # The line's text is not shown: a malformed line may well hold a secret.
            raise UserError(
                f"{path}, line {line}: cannot parse this line. Each line must be KEY=value, "
                f"a comment starting with '#', or blank; quote values with spaces. "
                f"Fix or remove that line and run again."
            )
        if binding.key is None:
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", binding.key):
            raise UserError(f"{path}, line {line}: '{_cut(binding.key)}' is not a valid "
                            f"variable name. Fix that line and run again.")
        entries.append(EnvEntry(binding.key, binding.value or "", line))
    return EnvFile(path, text, entries)


_parsed: dict[str, tuple[tuple[int, int, int], EnvFile]] = {}


def read_env(path: Path) -> EnvFile:
    """Read and parse a `.env` file; missing, unreadable or non-UTF-8 files are user errors.

    A file is parsed once while it stays the same (same inode, size and modification time):
    a task reads the same env files many times (credentials, masking, checks).
    """
    path = Path(path)
    try:
        info = path.stat()
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        cached = _parsed.get(str(path))
        if cached is not None and cached[0] == stamp:
            return cached[1]
    except OSError:
        stamp = None
    env = _read_env(path)
    if stamp is not None:
        _parsed[str(path)] = (stamp, env)
    return env


def _read_env(path: Path) -> EnvFile:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path} does not exist.") from None
    except PermissionError:
        raise UserError(f"{path} cannot be read (permission denied). "
                        f"Check its owner and mode (`ls -l {path}`).") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not an env file.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UserError(f"{path}, line {line}: bytes that are not UTF-8 "
                        f"({data[err.start:err.start + 4]!r}). Save the file as UTF-8.") from None
    return parse_env(text, path)


def missing_lines(example: EnvFile, current: EnvFile) -> tuple[list[str], list[str]]:
    """The example's keys that `current` lacks, and their lines as written in the example."""
    have = set(current.keys)
    keys = [k for k in example.keys if k not in have]
    lines = [line for line in example.text.splitlines() if _key_of(line) in keys]
    return keys, lines


def merged_text(example: EnvFile, current: EnvFile) -> tuple[str, list[str]]:
    """`current` with the example's missing keys appended; every existing byte is kept."""
    keys, lines = missing_lines(example, current)
    if not keys:
        return current.text, []
    text = current.text
    if text and not text.endswith("\n"):
        text += "\n"
    stamp = time.strftime("%Y-%m-%d")
    text += f"\n# Added from {example.path.name} by `inv env.copy` on {stamp}\n"
    text += "\n".join(lines) + "\n"
    return text, keys


def write_atomic(path: Path, text: str, mode: int | None = ENV_MODE) -> None:
    """Replace `path` with `text` in one step; `mode=None` keeps the file's current mode."""
    path = Path(path)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = ENV_MODE
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except PermissionError:
        raise UserError(f"Cannot write {path}: its folder is not writable. "
                        f"Check the folder's owner and mode.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        ensure_writable(path)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def ensure_writable(path: Path) -> None:
    """Refuse a read-only file (no owner write bit: even root respects the owner's intent)."""
    path = Path(path)
    folder = path.parent
    if not os.access(folder, os.W_OK):
        raise UserError(f"Cannot write {path}: its folder is not writable (permission denied). "
                        f"Check the folder's owner and mode; nothing was changed.")
    if path.exists() and (not os.access(path, os.W_OK) or not path.stat().st_mode & 0o200):
        raise UserError(f"Cannot write {path}: the file is read-only (permission denied). "
                        f"Make it writable (`chmod u+w {path}`) and run again; nothing was changed.")


def backup(path: Path) -> Path:
    """Copy `path` beside itself as `<name>.bak-<timestamp>` (owner-only) and return the copy."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.bak-{stamp}-{n}")
    write_atomic(target, path.read_text(encoding="utf-8"), mode=ENV_MODE)
    return target


def set_key(path: Path, key: str, value: str) -> bool:
    """Set KEY=value in place (other lines untouched, mode kept); True when the file changed."""
    current = read_env(path)
    line = f"{key}={_quote(value)}"
    lines = current.text.splitlines(keepends=True)
    out, done = [], False
    for raw in lines:
        if not done and _key_of(raw) == key:
            ending = "\n" if raw.endswith("\n") else ""
            out.append(line + ending)
            done = True
        else:
            out.append(raw)
    if not done:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append(line + "\n")
    text = "".join(out)
    if text == current.text:
        return False
    write_atomic(path, text, mode=None)
    return True


def _key_of(line: str) -> str | None:
    match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=", line)
    return match.group(1) if match else None


def _quote(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:@+,%-]*", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cut(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
