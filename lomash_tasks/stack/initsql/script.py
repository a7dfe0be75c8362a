"""Reading init.sql as psql reads it: statements, meta-commands, and what each one creates.

The model:

    Script                  the whole file: its sections, in order
      Section               what runs on one connection: the statements after a `\\c dbname`
        Statement           one query as psql sends it (`;` or `\\gexec`/`\\g` ends it),
                            with its line, the database it runs in and what it does:
                              ROLE        creates roles (CREATE ROLE/USER, a DO block doing so)
                              DATABASE    creates a database (plain, or built by `\\gexec`)
                              GRANT_DB    about one database: GRANT/REVOKE ... ON DATABASE,
                                          ALTER DATABASE, COMMENT ON DATABASE
                              EXTENSION   CREATE EXTENSION in its section's database
                              SETTING     ALTER SYSTEM SET/RESET (cluster-wide)
                              RELOAD      SELECT pg_reload_conf()
                              OTHER       anything else (grants on schemas, functions, ...)
        Meta                a backslash command (`\\set`, `\\echo`, `\\c`, ...)

Lexing follows psql: `--` and nested `/* */` comments, '' strings (E'' with backslash escapes),
"" identifiers, `$tag$` bodies, `;` inside parentheses does not end a statement, a final
statement without `;` is still sent, `:var` / `:'var'` / `:"var"` take the values `\\set`
gave them. Nothing here runs anything: `runs.py` decides what to send, from this model and
the server's state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROLE, DATABASE, GRANT_DB, EXTENSION, SETTING, RELOAD, OTHER = (
    "role",
    "database",
    "grant_db",
    "extension",
    "setting",
    "reload",
    "other",
)

# Backslash commands that send the query buffer (and so end a statement).
SEND_COMMANDS = frozenset({"g", "gx", "gexec", "gset", "gdesc", "crosstabview", "watch"})
CONNECT_COMMANDS = frozenset({"c", "connect"})
INCLUDE_COMMANDS = frozenset({"i", "ir", "include", "include_relative"})
SAY_COMMANDS = frozenset({"echo", "qecho", "warn"})

DATABASE_KEYS = frozenset(
    {
        "owner",
        "template",
        "encoding",
        "strategy",
        "locale",
        "lc_collate",
        "lc_ctype",
        "icu_locale",
        "locale_provider",
        "collation_version",
        "tablespace",
        "allow_connections",
        "is_template",
        "oid",
        "icu_rules",
        "builtin_locale",
    }
)
LOCALE_KEYS = ("locale", "lc_collate", "lc_ctype")


# -- tokens ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # ws comment word qident string dollar var op semi meta
    start: int
    end: int
    value: str  # word: as written; qident/string/dollar: the content, unescaped; var: its name


_WORD = re.compile(r"[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*")
_NUMBER = re.compile(r"\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?")
_DOLLAR = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_VAR = re.compile(
    r":([A-Za-z_][A-Za-z0-9_]*)|:'([A-Za-z_][A-Za-z0-9_]*)'|:\"([A-Za-z_][A-Za-z0-9_]*)\""
)


def tokens(text: str) -> Iterator[Token]:
    """psql's view of `text`, token by token (unterminated quotes run to the end)."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            yield Token("ws", i, j, text[i:j])
            i = j
        elif text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            yield Token("comment", i, j, text[i:j])
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            yield Token("comment", i, j, text[i:j])
            i = j
        elif c == "'":
            j, value = _quoted(text, i, "'", backslash=False)
            yield Token("string", i, j, value)
            i = j
        elif c == '"':
            j, value = _quoted(text, i, '"', backslash=False)
            yield Token("qident", i, j, value)
            i = j
        elif c == "$" and (m := _DOLLAR.match(text, i)):
            tag = m.group(0)
            close = text.find(tag, m.end())
            j = n if close < 0 else close + len(tag)
            yield Token("dollar", i, j, text[m.end() : close if close >= 0 else n])
            i = j
        elif c == "\\":
            j = text.find("\n", i)
            j = n if j < 0 else j
            yield Token("meta", i, j, text[i:j])
            i = j
        elif c == ";":
            yield Token("semi", i, i + 1, ";")
            i += 1
        elif (
            c == ":"
            and (m := _VAR.match(text, i))
            and not text.startswith("::", i)
            and not (i and text[i - 1] == ":")
        ):
            name = m.group(1) or m.group(2) or m.group(3)
            style = ":" if m.group(1) else m.group(0)[1]
            yield Token("var", i, m.end(), style + name)
            i = m.end()
        elif m := _WORD.match(text, i):
            j = m.end()
            word = m.group(0)
            if j < n and text[j] == "'" and word.lower() in ("e", "b", "x", "n"):
                j, value = _quoted(text, j, "'", backslash=word.lower() == "e")
                yield Token("string", i, j, value)
            else:
                yield Token("word", i, j, word)
            i = j
        elif m := _NUMBER.match(text, i):
            yield Token("word", i, m.end(), m.group(0))
            i = m.end()
        else:
            width = 2 if text[i : i + 2] in ("::", "<=", ">=", "<>", "!=", "||", "=>") else 1
            yield Token("op", i, i + width, text[i : i + width])
            i += width


def _quoted(text: str, i: int, quote: str, backslash: bool) -> tuple[int, str]:
    """The end of the quoted token starting at text[i] and its content."""
    out: list[str] = []
    j, n = i + 1, len(text)
    while j < n:
        c = text[j]
        if backslash and c == "\\" and j + 1 < n:
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(text[j + 1], text[j + 1]))
            j += 2
        elif c == quote:
            if j + 1 < n and text[j + 1] == quote:
                out.append(quote)
                j += 2
            else:
                return j + 1, "".join(out)
        else:
            out.append(c)
            j += 1
    return n, "".join(out)


# -- the model ------------------------------------------------------------------------------
@dataclass
class Statement:
    """One query as psql sends it."""

    text: str  # the SQL as written (without its terminator)
    start: int  # offsets in the script: from its first character ...
    end: int  # ... to the end of its terminator (`;`, or the `\gexec` line)
    line: int  # the line it starts on (1-based)
    end_line: int  # the line psql sends it on (psql's error lines name this one)
    database: str  # the database it runs in
    terminator: str = ";"  # ";" or the send command ("gexec", "g", ...), "" at the end
    kind: str = OTHER
    targets: tuple[str, ...] = ()  # roles / database / extension / setting it is about
    dynamic: bool = False  # ROLE: names built at run time (format('%I')), targets guessed
    options: dict[str, str] = field(default_factory=dict)  # DATABASE: OWNER, LC_COLLATE, ...
    values: tuple[str, ...] = ()  # SETTING: the value(s); () for RESET

    @property
    def gexec(self) -> bool:
        return self.terminator == "gexec"

    @property
    def locales(self) -> dict[str, str]:
        """DATABASE: its locale options (locale, lc_collate, lc_ctype) as written."""
        return {k: v for k, v in self.options.items() if k in LOCALE_KEYS}

    @property
    def owner(self) -> str | None:
        return self.options.get("owner")

    def lines(self) -> str:
        return (
            f"line {self.line}"
            if self.line == self.end_line
            else f"lines {self.line}-{self.end_line}"
        )

    def summary(self, width: int = 90) -> str:
        """The statement on one line, shortened, passwords hidden (for messages)."""
        flat = " ".join(_strip_comments(self.text).split())
        flat = redact(flat)
        return flat if len(flat) <= width else flat[: width - 3] + "..."


@dataclass
class Meta:
    """A backslash command: `\\c lomash_auth` is Meta('c', ['lomash_auth'], ...)."""

    name: str
    args: list[str]
    start: int
    end: int
    line: int
    database: str  # the connection it runs on (for \c: the one it leaves)


@dataclass
class Section:
    """What runs on one connection: from a `\\c` (or the start of the file) to the next."""

    database: str
    line: int  # the `\c` line (0: the start of the file)
    items: list[Statement | Meta] = field(default_factory=list)

    @property
    def statements(self) -> list[Statement]:
        return [i for i in self.items if isinstance(i, Statement)]


@dataclass
class Script:
    text: str
    path: Path | None
    initial_database: str
    sections: list[Section]
    problems: list[str] = field(default_factory=list)  # unterminated quotes, ...

    # -- what the script holds ------------------------------------------------------------
    @property
    def statements(self) -> list[Statement]:
        return [s for sec in self.sections for s in sec.statements]

    @property
    def metas(self) -> list[Meta]:
        return [m for sec in self.sections for m in sec.items if isinstance(m, Meta)]

    def of_kind(self, kind: str) -> list[Statement]:
        return [s for s in self.statements if s.kind == kind]

    @property
    def databases(self) -> dict[str, Statement]:
        """Each database the script creates, with the statement that creates it (the first)."""
        out: dict[str, Statement] = {}
        for stmt in self.of_kind(DATABASE):
            out.setdefault(stmt.targets[0], stmt)
        return out

    @property
    def roles(self) -> list[str]:
        """The roles the script creates (those of DO blocks as far as they can be read)."""
        out: list[str] = []
        for stmt in self.of_kind(ROLE):
            out += [t for t in stmt.targets if t not in out]
        return out

    def sections_of(self, database: str) -> list[Section]:
        return [s for s in self.sections if s.database == database]

    def about(self, database: str) -> list[Statement]:
        """The statements about one database outside its own sections (GRANT ON DATABASE ...)."""
        return [s for s in self.of_kind(GRANT_DB) if database in s.targets]

    def extensions(self, database: str) -> list[str]:
        """The extensions the script creates in `database`, in order."""
        out: list[str] = []
        for sec in self.sections_of(database):
            out += [
                s.targets[0]
                for s in sec.statements
                if s.kind == EXTENSION and s.targets[0] not in out
            ]
        return out

    @property
    def settings(self) -> list[Statement]:
        return self.of_kind(SETTING)

    @property
    def preload(self) -> list[str]:
        """The libraries the script puts into shared_preload_libraries (ALTER SYSTEM)."""
        out: list[str] = []
        for stmt in self.settings:
            if stmt.targets[0] == "shared_preload_libraries":
                out += [v for v in split_list(stmt.values) if v and v not in out]
        return out

    @property
    def custom_settings(self) -> list[Statement]:
        """ALTER SYSTEM of `<library>.<name>` settings: they need their library loaded."""
        return [s for s in self.settings if "." in s.targets[0]]

    @property
    def locales(self) -> dict[str, list[Statement]]:
        """Each locale the script's CREATE DATABASE statements name, with those statements."""
        out: dict[str, list[Statement]] = {}
        for stmt in self.of_kind(DATABASE):
            for name in dict.fromkeys(stmt.locales.values()):
                out.setdefault(name, []).append(stmt)
        return out

    @property
    def includes(self) -> list[Meta]:
        return [m for m in self.metas if m.name in INCLUDE_COMMANDS]

    def statement_at(self, line: int) -> Statement | None:
        """The statement psql was sending when it reported `line`."""
        for stmt in self.statements:
            if stmt.line <= line <= stmt.end_line:
                return stmt
        return None

    def item_at(self, line: int) -> Statement | Meta | None:
        stmt = self.statement_at(line)
        if stmt is not None:
            return stmt
        for meta in self.metas:
            if meta.line == line:
                return meta
        return None


# -- reading --------------------------------------------------------------------------------
def read(path: Path, initial_database: str = "postgres") -> Script:
    script = parse(path.read_text(encoding="utf-8"), initial_database)
    script.path = path
    return script


def parse(text: str, initial_database: str = "postgres") -> Script:
    """The script's sections, statements and meta-commands, as psql would run them."""
    starts = _line_starts(text)

    def line_of(offset: int) -> int:
        import bisect

        return bisect.bisect_right(starts, offset)

    variables: dict[str, str] = {}
    current = Section(initial_database, 0)
    sections = [current]
    problems: list[str] = []
    buffer: list[Token] = []
    depth = 0

    def flush(end: int, terminator: str, send_line_offset: int) -> None:
        nonlocal buffer, depth
        body = [t for t in buffer]
        buffer, depth = [], 0
        if not any(t.kind not in ("ws", "comment") for t in body):
            return
        first = next(t for t in body if t.kind not in ("ws", "comment"))
        last = [t for t in body if t.kind not in ("ws", "comment")][-1]
        stmt = Statement(
            text=text[first.start : last.end],
            start=first.start,
            end=end,
            line=line_of(first.start),
            end_line=line_of(send_line_offset),
            database=current.database,
            terminator=terminator,
        )
        _classify(stmt, _substituted(body, variables))
        current.items.append(stmt)

    for tok in tokens(text):
        if tok.kind == "meta":
            name, args = _meta(tok.value, variables)
            if name in SEND_COMMANDS:
                flush(tok.end, name, tok.start)
                continue
            meta = Meta(name, args, tok.start, tok.end, line_of(tok.start), current.database)
            if name in CONNECT_COMMANDS:
                if buffer and any(t.kind not in ("ws", "comment") for t in buffer):
                    problems.append(f"line {meta.line}: \\{name} inside an unfinished statement")
                database = _connect_target(args) or current.database
                current.items.append(meta)
                current = Section(database, meta.line)
                sections.append(current)
                continue
            if name == "set" and args:
                variables[args[0]] = "".join(args[1:])
            elif name == "unset" and args:
                variables.pop(args[0], None)
            current.items.append(meta)
            continue
        if tok.kind == "semi" and depth == 0:
            flush(tok.end, ";", tok.start)
            continue
        if tok.kind == "op" and tok.value in "([":
            depth += 1
        elif tok.kind == "op" and tok.value in ")]":
            depth = max(0, depth - 1)
        elif (
            tok.kind in ("string", "qident", "dollar", "comment")
            and tok.end == len(text)
            and not _closed(text, tok)
        ):
            problems.append(f"line {line_of(tok.start)}: unterminated {tok.kind}")
        buffer.append(tok)
    if buffer:
        flush(len(text), "", len(text))
    return Script(
        text, None, initial_database, [s for s in sections if s.items or s.line], problems
    )


def _closed(text: str, tok: Token) -> bool:
    raw = text[tok.start : tok.end]
    if tok.kind == "comment":
        return not raw.startswith("/*") or raw.endswith("*/")
    if tok.kind == "dollar":
        tag = _DOLLAR.match(raw)
        return tag is not None and len(raw) >= 2 * len(tag[0]) and raw.endswith(tag[0])
    quote = "'" if tok.kind == "string" else '"'
    return len(raw) >= 2 and raw.endswith(quote)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    return starts


def _meta(raw: str, variables: dict[str, str]) -> tuple[str, list[str]]:
    r"""A backslash command's name and its arguments (quotes removed, :vars substituted).
    `\\` ends the command's arguments (the rest of the line is psql's next command)."""
    m = re.match(r"\\([A-Za-z_]+|[^A-Za-z_\s])", raw)
    name = m.group(1) if m else ""
    rest = raw[m.end() :] if m else raw[1:]
    rest = rest.split("\\\\", 1)[0]
    args: list[str] = []
    i, n = 0, len(rest)
    while i < n:
        if rest[i].isspace():
            i += 1
            continue
        out: list[str] = []
        while i < n and not rest[i].isspace():
            c = rest[i]
            if c == "'":
                j, value = _quoted(rest, i, "'", backslash=True)
                out.append(value)
                i = j
            elif c == '"':
                j, value = _quoted(rest, i, '"', backslash=False)
                out.append(value)
                i = j
            elif c == ":" and (v := _VAR.match(rest, i)):
                key = v.group(1) or v.group(2) or v.group(3)
                out.append(variables.get(key, v.group(0)))
                i = v.end()
            else:
                out.append(c)
                i += 1
        args.append("".join(out))
    return name, args


def _connect_target(args: list[str]) -> str | None:
    """The database of `\\c [-reuse-previous=on|off] dbname|conninfo [user] [host] [port]`."""
    args = [a for a in args if not a.startswith("-reuse-previous")]
    if not args or args[0] == "-":
        return None
    first = args[0]
    if "=" in first or first.startswith(("postgres://", "postgresql://")):
        if first.startswith(("postgres://", "postgresql://")):
            path = first.split("?", 1)[0].rsplit("/", 1)
            return path[1] if len(path) == 2 and path[1] and "@" not in path[1] else None
        m = re.search(r"(?:^|\s)dbname\s*=\s*('(?:[^']|'')*'|\S+)", " ".join(args))
        return m.group(1).strip("'") if m else None
    return first


def _substituted(body: list[Token], variables: dict[str, str]) -> list[Token]:
    """The tokens that matter (no whitespace or comments), psql variables replaced."""
    out: list[Token] = []
    for tok in body:
        if tok.kind in ("ws", "comment"):
            continue
        if tok.kind == "var":
            style, name = tok.value[0], tok.value[1:]
            if name in variables:
                value = variables[name]
                kind = {"'": "string", '"': "qident"}.get(style, "word")
                out.append(Token(kind, tok.start, tok.end, value))
                continue
        out.append(tok)
    return out


# -- what a statement does ------------------------------------------------------------------
def _up(tok: Token | None) -> str:
    return tok.value.upper() if tok is not None and tok.kind == "word" else ""


def ident(tok: Token | None) -> str | None:
    """An object name as PostgreSQL stores it (unquoted words fold to lower case)."""
    if tok is None:
        return None
    if tok.kind == "word":
        return tok.value.lower()
    if tok.kind in ("qident", "string"):
        return tok.value
    return None


def _classify(stmt: Statement, toks: list[Token]) -> None:
    found = _what(toks)
    if found is not None:
        _apply(stmt, found)
        return
    if stmt.gexec:  # SELECT 'CREATE DATABASE x ...' WHERE NOT EXISTS (...) \gexec
        for tok in toks:
            if tok.kind == "string":
                inner = _what(_substituted(list(tokens(tok.value)), {}))
                if inner is not None and inner[0] in (ROLE, DATABASE):
                    _apply(stmt, inner)
                    return
    if _up(toks[0]) == "DO":
        body = next((t for t in toks[1:] if t.kind in ("dollar", "string")), None)
        if body is not None:
            roles = _roles_in_code(body.value)
            if roles is not None:
                _apply(stmt, (ROLE, roles[0], {}, (), roles[1]))


def _apply(stmt: Statement, found: tuple) -> None:
    stmt.kind, stmt.targets, stmt.options, stmt.values = found[0], found[1], found[2], found[3]
    if len(found) > 4:
        stmt.dynamic = found[4]


def _what(toks: list[Token]) -> tuple | None:
    """(kind, targets, options, values) for the statements the model knows, else None."""
    words = [_up(t) for t in toks]
    if not toks:
        return None
    at = 0
    if words[:1] == ["CREATE"]:
        at = 1
        if words[1:3] == ["OR", "REPLACE"]:
            return None
        what = words[1] if len(words) > 1 else ""
        if what in ("ROLE", "USER", "GROUP") and words[2:3] != ["MAPPING"]:
            name = ident(toks[2]) if len(toks) > 2 else None
            return (ROLE, (name,), {}, ()) if name else None
        if what == "DATABASE" and len(toks) > 2:
            name = ident(toks[2])
            return (DATABASE, (name,), _database_options(toks[3:]), ()) if name else None
        if what == "EXTENSION":
            at = 2
            if words[2:5] == ["IF", "NOT", "EXISTS"]:
                at = 5
            name = ident(toks[at]) if len(toks) > at else None
            return (EXTENSION, (name,), {}, ()) if name else None
        return None
    if words[:2] == ["ALTER", "SYSTEM"] and len(toks) > 3:
        if words[2] == "RESET":
            return (SETTING, (_dotted(toks, 3)[0],), {}, ())
        if words[2] == "SET":
            name, at = _dotted(toks, 3)
            if at < len(toks) and (toks[at].value in ("=",) or _up(toks[at]) == "TO"):
                at += 1
            return (SETTING, (name,), {}, _values(toks[at:]))
        return None
    if words[:2] == ["ALTER", "DATABASE"] and len(toks) > 2:
        return (GRANT_DB, (ident(toks[2]),), {}, ())
    if words[:3] == ["COMMENT", "ON", "DATABASE"] and len(toks) > 3:
        return (GRANT_DB, (ident(toks[3]),), {}, ())
    if words[:1] in (["GRANT"], ["REVOKE"]):
        for i in range(1, len(toks) - 1):
            if words[i] == "ON" and words[i + 1] == "DATABASE":
                names: list[str] = []
                for tok in toks[i + 2 :]:
                    if _up(tok) in ("TO", "FROM"):
                        break
                    if tok.kind != "op":
                        names.append(ident(tok) or "")
                return (GRANT_DB, tuple(n for n in names if n), {}, ())
        return None
    if words[:1] == ["SELECT"] and [t.value.lower() for t in toks[1:] if t.kind != "op"] in (
        ["pg_reload_conf"],
        ["pg_catalog", "pg_reload_conf"],
    ):
        return (RELOAD, (), {}, ())
    return None


def _dotted(toks: list[Token], at: int) -> tuple[str, int]:
    """A possibly qualified name (`pg_stat_statements.track`) and the index after it."""
    parts = [ident(toks[at]) or ""]
    at += 1
    while at + 1 < len(toks) and toks[at].value == "." and toks[at].kind == "op":
        parts.append(ident(toks[at + 1]) or "")
        at += 2
    return ".".join(parts), at


def _values(toks: list[Token]) -> tuple[str, ...]:
    """ALTER SYSTEM SET's value list: 'a', b, -1, '30s' -> ('a', 'b', '-1', '30s')."""
    out: list[str] = []
    sign = ""
    for tok in toks:
        if tok.kind == "op" and tok.value in "+-":
            sign = tok.value if tok.value == "-" else ""
        elif tok.kind == "op" and tok.value == ",":
            continue
        elif tok.kind in ("word", "string", "qident"):
            out.append(sign + tok.value)
            sign = ""
    return tuple(out)


def split_list(values: tuple[str, ...]) -> list[str]:
    """A list setting's items: ('a, b',) and ('a', 'b') are both ['a', 'b']."""
    return [item.strip().strip('"') for v in values for item in v.split(",") if item.strip()]


def _database_options(toks: list[Token]) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    if _up(toks[0] if toks else None) == "WITH":
        i = 1
    while i < len(toks):
        key = _up(toks[i]).lower()
        if key == "connection" and _up(toks[i + 1] if i + 1 < len(toks) else None) == "LIMIT":
            key, i = "connection_limit", i + 1
        i += 1
        if i < len(toks) and toks[i].kind == "op" and toks[i].value == "=":
            i += 1
        if i < len(toks) and key:
            tok = toks[i]
            value = tok.value if tok.kind in ("string", "qident") else tok.value
            if tok.kind == "op" and tok.value == "-" and i + 1 < len(toks):
                value, i = "-" + toks[i + 1].value, i + 1
            if key in DATABASE_KEYS or key == "connection_limit":
                out[key] = (
                    value.lower()
                    if (tok.kind == "word" and key in ("owner", "template"))
                    else value
                )
        i += 1
    return out


_CREATE_ROLE = re.compile(r"\bCREATE\s+(?:ROLE|USER)\b", re.IGNORECASE)


def _roles_in_code(code: str) -> tuple[tuple[str, ...], bool] | None:
    """The roles a DO block's body creates: (names, dynamic) or None when it creates none.

    `CREATE ROLE name` names them; `EXECUTE format('CREATE ROLE %I ...', r)` does not, and then
    the names are the string literals of its ARRAY[...] lists (the usual loop over names)."""
    toks = _substituted(list(tokens(code)), {})
    names: list[str] = []
    dynamic = False
    for i, tok in enumerate(toks):
        if tok.kind == "string" and _CREATE_ROLE.search(tok.value):
            dynamic = True
        if _up(tok) == "CREATE" and i + 2 < len(toks) and _up(toks[i + 1]) in ("ROLE", "USER"):
            name = ident(toks[i + 2])
            if name and not name.startswith("%"):
                names.append(name)
            else:
                dynamic = True
    if not names and not dynamic:
        return None
    if dynamic:
        depth = 0
        for i, tok in enumerate(toks):
            if _up(tok) == "ARRAY" and i + 1 < len(toks) and toks[i + 1].value == "[":
                depth = 1
                for inner in toks[i + 2 :]:
                    if inner.kind == "op" and inner.value == "[":
                        depth += 1
                    elif inner.kind == "op" and inner.value == "]":
                        depth -= 1
                        if not depth:
                            break
                    elif inner.kind == "string" and re.fullmatch(r"[A-Za-z_][\w$]*", inner.value):
                        names.append(inner.value)
    return tuple(dict.fromkeys(names)), dynamic


# -- helpers for messages -------------------------------------------------------------------
_PASSWORD = re.compile(r"(PASSWORD\s+)(E?'(?:[^']|'')*'|\S+)", re.IGNORECASE)


def redact(text: str) -> str:
    """Hide PASSWORD '...' literals (a statement shown in a message must not show one)."""
    return _PASSWORD.sub(lambda m: m.group(1) + "'****'", text)


def _strip_comments(text: str) -> str:
    return "".join(t.value if t.kind != "comment" else " " for t in _raw(text))


def _raw(text: str) -> Iterator[Token]:
    for tok in tokens(text):
        yield Token(tok.kind, tok.start, tok.end, text[tok.start : tok.end])


# -- another database made like one of the script's -----------------------------------------
def renamed_database(script: Script, old: str, new: str) -> Script:
    """The script as if it made database `old` under the name `new` (`lomash_auth_test` made
    as init.sql makes `lomash_auth`): its CREATE DATABASE (a `\\gexec` string too), the
    statements about it (GRANT ... ON DATABASE, ALTER DATABASE, COMMENT) and each `\\c` into
    it name `new`; the sections after that `\\c` then run in `new`. Nothing else changes, and
    every line keeps its number (psql's error lines still name init.sql's lines)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_$]*", new):
        raise ValueError(f"not a plain database name: {new!r}")
    text = script.text
    edits: list[tuple[int, int, str]] = []
    for stmt in script.statements:
        if (stmt.kind == DATABASE and stmt.targets[0] == old) or (
            stmt.kind == GRANT_DB and old in stmt.targets
        ):
            edits += [
                (stmt.start + a, stmt.start + b, repl)
                for a, b, repl in _renames(text[stmt.start : stmt.end], old, new)
            ]
    word = re.compile(rf"(?<![\w$]){re.escape(old)}(?![\w$])")
    for meta in script.metas:
        if meta.name in CONNECT_COMMANDS and _connect_target(meta.args) == old:
            raw = text[meta.start : meta.end]
            edits += [
                (meta.start + m.start(), meta.start + m.end(), new) for m in word.finditer(raw)
            ]
    for start, end, repl in sorted(edits, reverse=True):
        text = text[:start] + repl + text[end:]
    copy = parse(text, script.initial_database)
    copy.path = script.path
    return copy


def _renames(sql: str, old: str, new: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) for each place one statement names database `old`: the name
    after DATABASE (CREATE / ALTER / COMMENT ON DATABASE, each name of GRANT ... ON DATABASE
    up to TO/FROM), a string compared with `datname`, and the same inside a string of SQL
    (`SELECT 'CREATE DATABASE lomash_auth ...' \\gexec`, quotes doubled back). A role of
    the same name (OWNER lomash_auth, TO lomash_auth) keeps its name."""
    out = []
    toks = [t for t in tokens(sql) if t.kind not in ("ws", "comment")]
    in_list = False
    for i, tok in enumerate(toks):
        before = _up(toks[i - 1]) if i else ""
        if _up(tok) in ("TO", "FROM", "IS", "OWNER", "SET", "RENAME", "WITH"):
            in_list = False
        if before == "DATABASE" and _up(toks[i - 2] if i > 1 else None) == "ON":
            in_list = True  # GRANT ... ON DATABASE a, b TO ...
        if (
            tok.kind in ("word", "qident")
            and ident(tok) == old
            and (before == "DATABASE" or in_list)
        ):
            out.append((tok.start, tok.end, new if tok.kind == "word" else f'"{new}"'))
            continue
        if tok.kind != "string" or not sql[tok.start : tok.end].startswith("'"):
            continue
        compared = (
            i > 1
            and toks[i - 1].value in ("=", "<>", "!=")
            and (ident(toks[i - 2]) or "") == "datname"
        )
        if tok.value == old and compared:
            out.append((tok.start, tok.end, f"'{new}'"))
        elif old in tok.value and tok.value != old:
            inner = tok.value
            for a, b, repl in sorted(_renames(inner, old, new), reverse=True):
                inner = inner[:a] + repl + inner[b:]
            if inner != tok.value:
                out.append((tok.start, tok.end, "'" + inner.replace("'", "''") + "'"))
    return out
