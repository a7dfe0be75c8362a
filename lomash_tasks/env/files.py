r"""Parse, merge and write `.env` files exactly as the services' Node `dotenv` reads them.

The grammar is Node dotenv's own (`lib/main.js` of dotenv 16.x and 17.x, which agree): its LINE
regular expression and `parse()`, transcribed with JavaScript's meaning of `\s`, `.`, `^`/`$`
(multiline) and `trim()`, so every input reads as Node reads it: an unquoted `#` starts a
comment, `\n`/`\r` are expanded only inside double quotes, '...', "..." and `...` may span
lines, `export ` and `KEY: value` are accepted, a line that is no assignment is ignored, the
last assignment of a key wins. `tests/test_envfiles_node.py` runs Node's dotenv itself on a
corpus and compares. Lines Node reads in a way their author probably did not mean (an unquoted
`#` glued to a value, an unclosed quote, a quoted value that swallows later assignments, a line
Node ignores) are read as Node reads them and reported as warnings naming the file and line.

Writes are atomic (`helpers.write_atomic`: a temporary file in the same folder, fsync'd, then
`os.replace`), so an interrupted write never leaves half a file behind; merges keep every byte
of what the developer wrote.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path

from lomash_tasks import helpers
from lomash_tasks.errors import UserError

ENV_MODE = 0o600

# JavaScript's \s (WhiteSpace + LineTerminator, also what String.prototype.trim strips), its
# line terminators (what `.` does not match and where multiline ^ and $ match), and \w (ASCII).
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_S = f"[{_JS_SPACE}]"
_LT = "\n\r\u2028\u2029"
_BOL = f"(?:^|(?<=[{_LT}]))"
_EOL = f"(?=[{_LT}]|\\Z)"
_DOT = f"[^{_LT}]"

# dotenv's LINE, term by term:
#   /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|
#    \s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/mg
_LINE = re.compile(
    f"{_BOL}{_S}*(?:export{_S}+)?([A-Za-z0-9_.-]+)(?:{_S}*={_S}*?|:{_S}+?)"
    f"({_S}*'(?:\\\\'|[^'])*'|{_S}*\"(?:\\\\\"|[^\"])*\"|{_S}*`(?:\\\\`|[^`])*`|[^#\r\n]+)?"
    f"{_S}*(?:#{_DOT}*)?{_EOL}"
)
_QUOTED = re.compile(f"{_BOL}(['\"`])([\\s\\S]*)\\1{_EOL}")


def js_trim(text: str) -> str:
    return text.strip(_JS_SPACE_CHARS)


_JS_SPACE_CHARS = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)


@dataclass(frozen=True)
class EnvEntry:
    key: str
    value: str
    line: int  # the line of the key (1-based)
    end_line: int = 0  # the last line of the assignment (a quoted value may span lines)
    start: int = 0  # offsets of the assignment in the normalized text (CRLF -> LF)
    end: int = 0
    value_end_line: int = 0  # the line where the value itself ends (a quoted value may span
    #                          lines; the assignment's match also takes blank lines and a
    #                          comment line after it, as dotenv's `\s*(?:#.*)?` does)

    @property
    def last_line(self) -> int:
        return self.end_line or self.line

    @property
    def value_last_line(self) -> int:
        return self.value_end_line or self.line


@dataclass(frozen=True)
class EnvWarning:
    line: int
    message: str
    unsafe_to_append: bool = False  # text added after this line could change how it reads
    ignored: bool = False  # a line Node's dotenv skips: no assignment at all


@dataclass
class EnvFile:
    path: Path
    text: str
    entries: list[EnvEntry] = field(default_factory=list)
    notes: list[EnvWarning] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys(e.key for e in self.entries))

    def get(self, key: str, default: str | None = None) -> str | None:
        found = default
        for entry in self.entries:  # the last assignment wins, as in dotenv
            if entry.key == key:
                found = entry.value
        return found

    def entry(self, key: str) -> EnvEntry | None:
        """The assignment Node uses (the last one of the key)."""
        found = None
        for entry in self.entries:
            if entry.key == key:
                found = entry
        return found

    def as_dict(self) -> dict[str, str]:
        return {e.key: e.value for e in self.entries}

    def ignored_lines(self) -> list[tuple[int, str]]:
        """(line number, text) of each line Node's dotenv skips that is no comment or blank."""
        lines = normalize(self.text).split("\n")
        return [(n.line, lines[n.line - 1]) for n in self.notes if n.ignored]

    def refuse_ignored_lines(self, allowed: Set[str] = frozenset()) -> None:
        """A UserError for the first line Node ignores (a writer must not guess what it meant),
        unless its text is in `allowed` (e.g. the same line of the example it was copied from)."""
        for number, text in self.ignored_lines():
            if js_trim(text) not in allowed:
                message = next(n.message for n in self.notes if n.line == number and n.ignored)
                raise UserError(
                    f"{self.path}, line {number}: cannot parse this line: "
                    f"{message}. Fix or remove that line and run again."
                )

    @property
    def warnings(self) -> list[str]:
        """Each warning as one line naming the file and the line."""
        return [f"{self.path}, line {w.line}: {w.message}" for w in self.notes]


def normalize(text: str) -> str:
    """What dotenv parses: every CRLF and lone CR made LF (`src.replace(/\\r\\n?/mg, '\\n')`)."""
    return re.sub("\r\n?", "\n", text)


def parse_values(text: str) -> list[tuple[str, str, re.Match]]:
    """(key, value, match) for every assignment, in order: dotenv's `parse()` loop."""
    out = []
    for match in _LINE.finditer(normalize(text)):
        key = match.group(1)
        value = js_trim(match.group(2) or "")
        quote = value[:1]
        value = _QUOTED.sub(lambda m: m.group(2), value)
        if quote == '"':
            value = value.replace("\\n", "\n").replace("\\r", "\r")
        out.append((key, value, match))
    return out


def parse_env(text: str, path: Path) -> EnvFile:
    """Parse `.env` text as Node's dotenv does; odd lines become warnings, never errors."""
    norm = normalize(text)
    starts = [0] + [m.end() for m in re.finditer("\n", norm)]

    def line_at(offset: int) -> int:
        import bisect

        return bisect.bisect_right(starts, offset)

    entries: list[EnvEntry] = []
    notes: list[EnvWarning] = []
    covered: set[int] = set()
    for key, value, match in parse_values(text):
        first = line_at(match.start(1))
        last = line_at(max(match.start(1), match.end() - 1))
        covered.update(range(line_at(match.start()), last + 1))
        if key == "__proto__":  # `obj["__proto__"] = "x"` sets nothing on a JS object
            notes.append(
                EnvWarning(
                    first, "Node's dotenv cannot set a variable named __proto__: it is ignored"
                )
            )
            continue
        value_end = line_at(match.end(2) - 1) if match.group(2) else first
        entries.append(
            EnvEntry(key, value, first, last, match.start(), match.end(), max(first, value_end))
        )
        notes += _odd(key, value, match, first, last, norm)
    for number, line in enumerate(norm.split("\n"), start=1):
        body = js_trim(line)
        if number in covered or not body or body.startswith("#"):
            continue
        notes.append(
            EnvWarning(
                number,
                "Node's dotenv ignores this line (it is no assignment): "
                "write NAME=value, or make it a comment with '#'",
                ignored=True,
            )
        )
    notes.sort(key=lambda n: n.line)
    return EnvFile(path, text, entries, notes)


def _odd(
    key: str, value: str, match: re.Match, first: int, last: int, norm: str
) -> list[EnvWarning]:
    """Warnings for an assignment Node reads differently from how it looks."""
    out = []
    raw = match.group(2)
    trimmed = js_trim(raw or "")
    after = match.end(2) if raw is not None else None
    if after is None:  # nothing after the separator but blanks and maybe a comment
        rest = norm[match.start() : match.end()]
        sep = re.search(f"(?:{_S}*={_S}*?|:{_S}+?)", rest[match.end(1) - match.start() :])
        tail = rest[match.end(1) - match.start() + (sep.end() if sep else 0) :]
        if tail.startswith("#"):
            out.append(
                EnvWarning(
                    first,
                    f"the value of {key} starts with an unquoted '#', "
                    f"which starts a comment, so Node reads {key} as "
                    f"empty; quote the value to keep it",
                )
            )
        return out
    quoted = trimmed[:1] in ("'", '"', "`") and len(trimmed) >= 2 and trimmed[-1] == trimmed[0]
    if trimmed[:1] in ("'", '"', "`") and not quoted:
        out.append(
            EnvWarning(
                first,
                f"the value of {key} opens a quote ({trimmed[0]}) that "
                f"is not closed on its line: Node keeps the quote as part "
                f"of the value; close the quote",
                unsafe_to_append=True,
            )
        )
    elif (
        not quoted
        and after < len(norm)
        and norm[after] == "#"
        and raw
        and raw == raw.rstrip(_JS_SPACE_CHARS)
    ):
        out.append(
            EnvWarning(
                first,
                f"the value of {key} has an unquoted '#', which "
                f"starts a comment: Node reads only the part before it; "
                f"quote the value to keep the rest",
            )
        )
    if quoted:
        inner, q = trimmed[1:-1], trimmed[0]
        if re.search(f"(?<!\\\\){re.escape(q)}", inner):
            out.append(
                EnvWarning(
                    first,
                    f"the value of {key} has its quote character ({q}) "
                    f"inside the quotes too: Node strips only the outer "
                    f"pair and keeps the rest as written",
                )
            )
        if q == '"' and re.search(r"\\[^nr]", inner):
            out.append(
                EnvWarning(
                    first,
                    f"the double-quoted value of {key} has backslash "
                    f"escapes other than \\n and \\r: Node keeps them as "
                    f"written (it expands only \\n and \\r)",
                )
            )
    if quoted and last > first:
        swallowed = [
            m.group(0).strip()
            for m in re.finditer(r"(?m)^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*(?=\s*=)", value)
        ]
        if swallowed:
            names = ", ".join(dict.fromkeys(swallowed))
            out.append(
                EnvWarning(
                    first,
                    f"the quoted value of {key} runs over lines {first}-"
                    f"{last} and holds lines that look like assignments "
                    f"({names}): Node reads them as part of {key}'s value, "
                    f"not as variables; check the quotes",
                )
            )
    return out


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


def not_a_file(path: Path) -> str:
    """What stands where an env file goes, when it is no file ('' for a file or nothing):
    'is a folder, not an env file', a link to nothing, a pipe or socket."""
    if path.is_file():
        return ""
    if path.is_symlink() and not path.exists():
        return f"is a link to {os.readlink(path)}, which does not exist"
    if path.is_dir():
        return "is a folder, not an env file"
    if path.exists():
        return "is not a regular file (a pipe, socket or device)"
    return ""


def not_a_file_error(path: Path, shown: str) -> UserError:
    """One paragraph for an env file that is no file (see not_a_file)."""
    return UserError(
        f"{shown} {not_a_file(path)}. Move it away (e.g. `mv {shown} "
        f"{shown}.old`), then `inv env.copy` makes the file."
    )


def _read_env(path: Path) -> EnvFile:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path} does not exist.") from None
    except PermissionError:
        raise UserError(
            f"{path} cannot be read (permission denied). Check its owner and mode (`ls -l {path}`)."
        ) from None
    except IsADirectoryError:
        raise not_a_file_error(path, str(path)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UserError(
            f"{path}, line {line}: bytes that are not UTF-8 "
            f"({data[err.start : err.start + 4]!r}). Save the file as UTF-8."
        ) from None
    return parse_env(text, path)


def missing_lines(example: EnvFile, current: EnvFile) -> tuple[list[str], list[str]]:
    """The example's keys that `current` lacks (as Node reads both), and the text of each one's
    assignment as written in the example: every line of it, a multiline value whole."""
    have = set(current.keys)
    keys = [k for k in example.keys if k not in have]
    lines = [assignment_text(example, example.entry(k)) for k in keys]
    return keys, lines


def assignment_text(env: EnvFile, entry: EnvEntry | None) -> str:
    """The original lines (line endings as written) that hold one assignment."""
    if entry is None:
        return ""
    return "".join(split_lines(env.text)[entry.line - 1 : entry.last_line])


def split_lines(text: str) -> list[str]:
    """Lines with their endings, broken where dotenv breaks them (LF, CRLF, a lone CR; not
    \\v, \\f or U+2028 as `str.splitlines` would)."""
    return [part for part in re.split("(?<=\r\n)|(?<=\r)(?!\n)|(?<=\n)", text) if part]


def merged_text(example: EnvFile, current: EnvFile) -> tuple[str, list[str]]:
    """`current` with the example's missing keys appended; every existing byte is kept.

    The result is checked as Node reads it: the current values unchanged, each added key with
    the example's value. A current file that ends inside an open quote is refused (text added
    after it would be read into that value).
    """
    keys, chunks = missing_lines(example, current)
    if not keys:
        return current.text, []
    unsafe = [w for w in current.notes if w.unsafe_to_append]
    if unsafe:
        raise UserError(
            f"{current.path}, line {unsafe[0].line}: cannot parse this line "
            f"safely: {unsafe[0].message}. Keys added after it would be read into "
            f"that value. Fix or remove that line and run again."
        )
    text = current.text
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith(("\n", "\r")):
        text += newline
    stamp = time.strftime("%Y-%m-%d")
    text += f"{newline}# Added from {example.path.name} by `inv env.copy` on {stamp}{newline}"
    for chunk in chunks:
        text += chunk if chunk.endswith(("\n", "\r")) else chunk + newline
    check_merge(current, example, text, keys)
    return text, keys


def check_merge(current: EnvFile, example: EnvFile, text: str, added: list[str]) -> None:
    """Refuse a merge that Node would not read as intended (never write a corrupt file)."""
    merged = {k: v for k, v, _ in parse_values(text)}
    wanted = dict(current.as_dict())
    wanted.update({k: example.get(k) or "" for k in added})
    wanted.pop("__proto__", None)
    merged.pop("__proto__", None)
    if merged != wanted:
        wrong = sorted(k for k in set(merged) | set(wanted) if merged.get(k) != wanted.get(k))
        raise UserError(
            f"{current.path}: adding {', '.join(added)} from {example.path.name} "
            f"would change how Node reads {', '.join(wrong[:5])}; nothing was "
            f"written. Add the keys by hand, or run `inv env.copy --force` (keeps a "
            f"backup)."
        )


def write_atomic(path: Path, text: str, mode: int | None = ENV_MODE) -> None:
    """Replace `path` with `text` in one step; `mode=None` keeps the file's current mode.

    A symlink is written through: its target is replaced (atomically, in the target's folder)
    and the link stays a link, so a `.env` kept elsewhere and linked in keeps working.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = ENV_MODE
    try:
        helpers.write_atomic(path, text, mode, before_replace=lambda: ensure_writable(path))
    except PermissionError:
        raise UserError(
            f"Cannot write {path}: its folder is not writable. Check the folder's owner and mode."
        ) from None


def ensure_writable(path: Path) -> None:
    """Refuse a read-only file (no owner write bit: even root respects the owner's intent)."""
    path = Path(path)
    if path.is_symlink():  # written through (write_atomic): the target's folder counts
        path = path.resolve()
    folder = path.parent
    if not os.access(folder, os.W_OK):
        raise UserError(
            f"Cannot write {path}: its folder is not writable (permission denied). "
            f"Check the folder's owner and mode; nothing was changed."
        )
    if path.exists() and (not os.access(path, os.W_OK) or not path.stat().st_mode & 0o200):
        raise UserError(
            f"Cannot write {path}: the file is read-only (permission denied). "
            f"Make it writable (`chmod u+w {path}`) and run again; nothing was changed."
        )


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
    from lomash_tasks import gitexclude

    gitexclude.hide_backups(path.parent)  # out of `git status`, whatever the repo ignores
    return target


def set_key(path: Path, key: str, value: str) -> bool:
    """Set KEY=value in place (other lines untouched, mode kept); True when the file changed.

    The assignment Node uses (the key's last) gets the new value (see `replace_values`); a
    missing key is appended. Node reads back exactly `value`, or nothing is written.
    """
    current = read_env(path)
    if current.entry(key) is None:
        text = current.text
        newline = "\r\n" if "\r\n" in text else "\n"
        if text and not text.endswith(("\n", "\r")):
            text += newline
        text += f"{key}={quote(value)}{newline}"
        if dict((k, v) for k, v, _ in parse_values(text)).get(key) != value:
            raise UserError(
                f"{path}: {key} cannot be written so that Node's dotenv reads it "
                f"back exactly; set it by hand."
            )
    else:
        text = replace_values(current, {key: value})
    if text == current.text:
        return False
    write_atomic(path, text, mode=None)
    return True


def replace_values(env: EnvFile, values: dict[str, str]) -> str:
    """`env`'s text with new values for existing keys; every other byte is kept.

    The assignment Node uses (the key's last) changes its value only: `export `, the separator,
    the value's quotes, a trailing comment and the line ending stay as written. A value that its
    old quoting cannot carry (a '#' or blanks in an unquoted value, the quote character itself)
    is quoted as `quote` does; an assignment spanning lines is replaced whole. The result is
    read back as Node reads it: each key must hold its new value and every other key its old
    one, or a UserError names the keys and nothing is returned.
    """
    lines = split_lines(env.text)
    for key, value in values.items():
        entry = env.entry(key)
        if entry is None:
            raise UserError(f"{env.path}: {key} is not set, so it cannot be changed in place.")
        first = lines[entry.line - 1]
        body = first.rstrip("\r\n")
        ending = first[len(body) :]
        last = entry.value_last_line
        if last == entry.line:
            body = _with_value(body, key, value)
        else:  # a multiline value: its lines become one
            ending = lines[last - 1][len(lines[last - 1].rstrip("\r\n")) :]
            body = body[: len(body) - len(body.lstrip(_JS_SPACE_CHARS))] + f"{key}={quote(value)}"
            for n in range(entry.line, last):
                lines[n] = ""
        lines[entry.line - 1] = body + ending
    text = "".join(lines)
    wanted = {k: v for k, v, _ in parse_values(env.text)}
    wanted.update(values)
    got = {k: v for k, v, _ in parse_values(text)}
    if got != wanted:
        wrong = sorted(k for k in set(got) | set(wanted) if got.get(k) != wanted.get(k))
        raise UserError(
            f"{env.path}: {', '.join(values)} cannot be rewritten so that Node's "
            f"dotenv reads {', '.join(wrong[:5])} as intended; nothing was written. "
            f"Set {'them' if len(values) > 1 else 'it'} by hand."
        )
    return text


def _with_value(body: str, key: str, value: str) -> str:
    """One assignment line (no ending) with `value` in place of its value."""
    head = re.match(f"{_S}*(?:export{_S}+)?{re.escape(key)}(?:{_S}*=|:{_S})", body)
    if head is None:
        return f"{key}={quote(value)}"
    rest = body[head.end() :]
    start = head.end() + len(rest) - len(rest.lstrip(_JS_SPACE_CHARS))
    rest = body[start:]
    q = rest[:1]
    if q in ("'", '"', "`"):
        i = 1
        while i < len(rest) and rest[i] != q:
            i += 2 if rest[i] == "\\" and rest[i + 1 : i + 2] == q else 1
        if i < len(rest) and re.fullmatch(f"{_S}*(?:#.*)?", rest[i + 1 :]):
            if _fits(value, q):
                return body[: start + 1] + value + body[start + i :]
            return body[:start] + quote(value) + body[start + i + 1 :]
    if not rest or rest.startswith("#"):  # an empty value: it goes right after the separator
        at = head.end()
        written = value if _fits(value, "") else quote(value)
        gap = " " if value and body[at : at + 1] == "#" else ""  # never glue a comment to it
        return body[:at] + written + gap + body[at:]
    end = rest.find("#")
    raw = rest if end < 0 else rest[:end]
    tail = rest[len(raw.rstrip(_JS_SPACE_CHARS)) :]
    return body[:start] + (value if _fits(value, "") else quote(value)) + tail


def _fits(value: str, q: str) -> bool:
    """True when `value` written between quotes `q` ('' for none) reads back as itself."""
    if "\n" in value or "\r" in value:
        return False
    if not q:
        return value == js_trim(value) and "#" not in value and value[:1] not in ("'", '"', "`")
    if q in value:
        return False
    return q != '"' or ("\\n" not in value and "\\r" not in value)


_PLAIN = re.compile(r"[A-Za-z0-9_./:@+,%=*!?^~\[\]{}()<>|&;$-]*")


def quote(value: str) -> str:
    """`value` written so that Node's dotenv reads it back exactly (None if it cannot be)."""
    if _PLAIN.fullmatch(value):
        return value
    if "'" not in value and "\r" not in value:
        return f"'{value}'"
    if "`" not in value and "\r" not in value:
        return f"`{value}`"
    if '"' not in value and "\\n" not in value and "\\r" not in value:
        return '"' + value.replace("\r", "\\r") + '"'
    return '"' + value + '"'  # set_key checks the result and refuses it
