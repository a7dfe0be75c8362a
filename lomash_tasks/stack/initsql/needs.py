"""What init.sql needs from the server, decided before anything is created.

- **Locales** its CREATE DATABASE statements name (`LC_COLLATE 'en_US.utf8'`). A locale the
  server has is used as written. For a new embedded cluster, one the system lacks is compiled
  for that server only (`localedef` into the cluster's own `lomash-locales/` folder, found by
  the server through `LOCPATH`: nothing on the system changes) when localedef and the locale's
  sources are there; otherwise, and on servers the suite does not start, the script runs
  against an equivalent with the same encoding (C.UTF-8 for any `*.utf8` locale: code-point
  order, Unicode character classes), and says so. `stack.missing_locale` chooses: `compile`
  (the default, as above), `substitute` (never compile) or `refuse` (stop and name the locale to
  install).
- **Libraries** it configures by `ALTER SYSTEM SET shared_preload_libraries` or
  `ALTER SYSTEM SET <library>.<name>`: PostgreSQL before 17 refuses the latter unless the
  library is loaded, and the former only takes effect after a restart. A new embedded cluster
  starts with them preloaded (a line in its postgresql.conf, so the cluster keeps them).
- **Extensions** its CREATE EXTENSION statements need: checked in pg_available_extensions.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lomash_tasks import commands
from lomash_tasks.errors import UserError
from lomash_tasks.stack.initsql.script import Script, Statement, split_list

POLICIES = ("compile", "substitute", "refuse")
LOCALES_DIR = "lomash-locales"  # in the embedded cluster's data folder (copied with it)
EQUIVALENTS = ("C.UTF-8", "C.utf8")
I18N_SOURCES = Path("/usr/share/i18n")
SETTING_HINT = (
    "set stack.missing_locale (invoke.yaml, or INVOKE_STACK_MISSING_LOCALE) to "
    "compile or substitute"
)


# -- locale names ---------------------------------------------------------------------------
def normalize(name: str) -> str:
    """glibc's spelling: 'en_US.UTF-8' and 'en_US.utf8' are both 'en_US.utf8'."""
    base, _, rest = name.partition(".")
    if not rest:
        return name
    codeset, at, modifier = rest.partition("@")
    codeset = re.sub(r"[^0-9a-z]", "", codeset.lower())
    return f"{base}.{codeset}{at}{modifier}"


def is_builtin(name: str) -> bool:
    """C and POSIX exist everywhere."""
    return name.upper() in ("C", "POSIX", "")


def spellings(name: str) -> list[str]:
    """The same UTF-8 locale written the other usual ways (macOS knows only 'en_US.UTF-8')."""
    base, _, rest = name.partition(".")
    modifier = "@" + rest.split("@", 1)[1] if "@" in rest else ""
    return [n for n in (f"{base}.UTF-8{modifier}", f"{base}.utf8{modifier}") if n != name]


def is_utf8(name: str) -> bool:
    return normalize(name).split("@")[0].endswith(".utf8")


def install_hint(name: str) -> str:
    base = name.split(".")[0]
    return (
        f"install it on the server's machine (Debian/Ubuntu: `localedef -i {base} -f UTF-8 "
        f"{base}.UTF-8`, or `apt-get install locales-all`)"
    )


def system_locales() -> set[str] | None:
    """The locales this machine's C library has (`locale -a`), normalized; None: unknown."""
    try:
        out = commands.run(["locale", "-a"], timeout=10, env={"LC_ALL": "C"}).stdout
    except commands.CommandError:
        return None
    return {normalize(line.strip()) for line in out.splitlines() if line.strip()}


@dataclass
class LocaleChoice:
    """What happens to one locale the script names."""

    name: str  # as init.sql writes it
    how: str  # "system" | "compiled" | "respelled" | "substituted"
    use: str  # the name the server gets
    lines: list[int] = field(default_factory=list)

    def note(self) -> str | None:
        where = ("line " if len(self.lines) == 1 else "lines ") + ", ".join(
            str(n) for n in self.lines
        )
        if self.how == "compiled":
            return (
                f"locale {self.name} (init.sql {where}): this machine lacks it, so it was "
                f"compiled with localedef for this PostgreSQL only (in its "
                f"{LOCALES_DIR}/ folder; nothing on the system changed)"
            )
        if self.how == "respelled":
            return (
                f"locale {self.name} (init.sql {where}) is spelled {self.use} where "
                f"PostgreSQL runs: used so"
            )
        if self.how == "substituted":
            ctype = (
                "" if self.use != "C" else "; C sorts by byte and knows only ASCII letters' case"
            )
            return (
                f"locale {self.name} (init.sql {where}) is not available to PostgreSQL "
                f"here, so those databases use {self.use} instead (the same UTF8 "
                f"encoding{ctype}); to get {self.name} itself, {install_hint(self.name)}, "
                f"or set stack.missing_locale to compile for a new embedded cluster"
            )
        return None


def _lines(stmts: list[Statement]) -> list[int]:
    return sorted({s.line for s in stmts})


def _compilable(name: str) -> str | None:
    """Why `name` cannot be compiled here, or None when it can."""
    if not shutil.which("localedef"):
        return "localedef is not installed"
    if not is_utf8(name):
        return "only UTF-8 locales are compiled"
    base = name.split(".")[0] + ("@" + name.split("@", 1)[1] if "@" in name else "")
    if not (I18N_SOURCES / "locales" / base).is_file():
        return f"its source ({I18N_SOURCES}/locales/{base}) is missing"
    return None


def compile_locale(name: str, folder: Path) -> str | None:
    """Compile `name` into folder/<name>; an error text, or None when it worked."""
    base = name.split(".")[0] + ("@" + name.split("@", 1)[1] if "@" in name else "")
    folder.mkdir(parents=True, exist_ok=True, mode=0o755)
    result = commands.run(
        ["localedef", "-i", base, "-f", "UTF-8", str(folder / normalize(name))],
        timeout=120,
        check=False,
        env={"LC_ALL": "C"},
    )
    if not (folder / normalize(name) / "LC_COLLATE").is_file():
        return (result.stderr or result.stdout).strip() or f"localedef exit {result.code}"
    return None


# -- a new cluster --------------------------------------------------------------------------
@dataclass
class NewCluster:
    """What a new embedded cluster is made with, so init.sql's first run can pass."""

    preload: list[str] = field(default_factory=list)
    locales: list[LocaleChoice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def substitutions(self) -> dict[str, str]:
        return {c.name: c.use for c in self.locales if c.use != c.name}

    @property
    def key(self) -> str:
        """What the template cache's key must cover besides init.sql's bytes."""
        return ";".join(
            [f"preload={','.join(self.preload)}"]
            + [f"locale={c.name}:{c.how}:{c.use}" for c in self.locales]
        )

    def make(self, data_dir: Path) -> list[str]:
        """After initdb: the preload line in postgresql.conf, the compiled locales; notes."""
        notes = []
        if self.preload:
            with open(data_dir / "postgresql.conf", "a") as handle:
                handle.write(
                    f"\n# init.sql configures these by ALTER SYSTEM; preloaded from the "
                    f"first start so its settings apply\nshared_preload_libraries = "
                    f"'{','.join(self.preload)}'\n"
                )
            notes.append(
                f"preloaded {', '.join(self.preload)} (init.sql sets "
                f"shared_preload_libraries and its settings by ALTER SYSTEM, which "
                f"need it loaded)"
            )
        compiled = [c for c in self.locales if c.how == "compiled"]
        for choice in compiled:
            error = compile_locale(choice.name, data_dir / LOCALES_DIR)
            if error:
                raise UserError(
                    f"Compiling locale {choice.name} for the embedded PostgreSQL "
                    f"failed: {error}. Set stack.missing_locale to substitute, or "
                    f"{install_hint(choice.name)}."
                )
        return notes + [n for c in self.locales if (n := c.note())]


def for_new_cluster(script: Script, policy: str, bindir: Path | None = None) -> NewCluster:
    """Decide locales and preloads for a new embedded cluster (nothing is made yet)."""
    cluster = NewCluster(preload=_preload(script, bindir))
    named = {n: s for n, s in script.locales.items() if not is_builtin(n)}
    if not named:
        return cluster
    have = system_locales()
    missing = [n for n in named if have is None or normalize(n) not in have]
    if missing and policy == "refuse":
        name = missing[0]
        raise UserError(
            f"init.sql line {_lines(named[name])[0]} creates a database with locale "
            f"{name}, which this machine lacks, and stack.missing_locale is refuse: "
            f"{install_hint(name)}, or {SETTING_HINT}. Nothing was created."
        )
    compile_all = policy == "compile" and missing and all(_compilable(n) is None for n in missing)
    for name, stmts in named.items():
        if name not in missing and not compile_all:
            cluster.locales.append(LocaleChoice(name, "system", name, _lines(stmts)))
        elif compile_all:
            # once the server has locales of its own it no longer reads the system's locale
            # archive: every locale the script names is compiled, not only the missing ones
            cluster.locales.append(LocaleChoice(name, "compiled", name, _lines(stmts)))
        else:
            use = _equivalent(name, have)
            if use is None:
                raise UserError(
                    f"init.sql line {_lines(stmts)[0]} creates a database with "
                    f"locale {name}, which this machine lacks, and it has no "
                    f"equivalent here: {install_hint(name)}. Nothing was created."
                )
            why = _compilable(name) if policy == "compile" else None
            choice = LocaleChoice(name, "substituted", use, _lines(stmts))
            cluster.locales.append(choice)
            if why:
                cluster.notes.append(f"locale {name} was not compiled: {why}")
    return cluster


def _equivalent(name: str, have: set[str] | None) -> str | None:
    if not is_utf8(name):
        return None
    for candidate in EQUIVALENTS:
        if have is not None and normalize(candidate) in have:
            return candidate
    return "C"


def _preload(script: Script, bindir: Path | None) -> list[str]:
    """The libraries a new cluster preloads: those init.sql puts into
    shared_preload_libraries, and those whose settings it sets by ALTER SYSTEM."""
    libdir = pkglibdir(bindir)
    wanted = list(script.preload)
    for stmt in script.custom_settings:
        prefix = stmt.targets[0].split(".", 1)[0]
        if prefix not in wanted and (libdir is None or has_library(libdir, prefix)):
            wanted.append(prefix)
    if libdir is not None:
        for lib in wanted:
            if not has_library(libdir, lib):
                line = next(
                    (
                        s.line
                        for s in script.settings
                        if lib in split_list(s.values) or s.targets[0].startswith(lib + ".")
                    ),
                    0,
                )
                raise UserError(
                    f"init.sql line {line} needs the library {lib} preloaded, which "
                    f"this PostgreSQL does not have ({libdir}): install it (the "
                    f"contrib modules: `apt-get install postgresql-contrib`) or "
                    f"remove it from init.sql. Nothing was created."
                )
    return wanted


def pkglibdir(bindir: Path | None) -> Path | None:
    if bindir is None or not (bindir / "pg_config").exists():
        return None
    try:
        out = commands.run([bindir / "pg_config", "--pkglibdir"], timeout=10).stdout.strip()
    except commands.CommandError:
        return None
    return Path(out) if out else None


def has_library(libdir: Path, name: str) -> bool:
    return any((libdir / f"{name}{ext}").exists() for ext in (".so", ".dylib", ".dll"))


# -- a running server -----------------------------------------------------------------------
def server_has_locale(conn, name: str) -> bool:
    """Whether the server can use `name` (it loads it, as CREATE DATABASE would)."""
    import psycopg
    from psycopg import sql

    try:
        with conn.transaction(force_rollback=True):
            conn.execute(
                sql.SQL(
                    "CREATE COLLATION pg_temp.lomash_locale_probe "
                    "(LC_COLLATE = {n}, LC_CTYPE = {n})"
                ).format(n=sql.Literal(name))
            )
    except psycopg.Error:
        return False
    return True


def choose_on_server(
    conn,
    script_locales: dict[str, list[Statement]],
    policy: str,
    what: str = "Nothing was created.",
) -> list[LocaleChoice]:
    """Locales for statements about to run on a live server: as written when it has them,
    else an equivalent (said), or a UserError under `refuse`."""
    out = []
    for name, stmts in script_locales.items():
        if is_builtin(name) or server_has_locale(conn, name):
            continue
        if policy == "refuse":
            raise UserError(
                f"init.sql line {_lines(stmts)[0]} creates a database with locale "
                f"{name}, which the server lacks, and stack.missing_locale is refuse: "
                f"{install_hint(name)}, or {SETTING_HINT}. {what}"
            )
        use = None
        if is_utf8(name):
            use = next(
                (c for c in spellings(name) + list(EQUIVALENTS) if server_has_locale(conn, c)), "C"
            )
        if use is None:
            raise UserError(
                f"init.sql line {_lines(stmts)[0]} creates a database with locale "
                f"{name}, which the server lacks, and it has no equivalent there: "
                f"{install_hint(name)}. {what}"
            )
        how = "respelled" if use in spellings(name) else "substituted"
        out.append(LocaleChoice(name, how, use, _lines(stmts)))
    return out


def unavailable_extensions(conn, names: list[str]) -> list[str]:
    """Of `names`, those the server cannot create (not in pg_available_extensions)."""
    if not names:
        return []
    have = {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}
    return [n for n in names if n not in have]


def extension_hint(name: str) -> str:
    return (
        f"install the package that ships extension {name} on the server's machine (the "
        f"contrib modules: Debian/Ubuntu `apt-get install postgresql-contrib`; they come "
        f"with Homebrew's and the official images' PostgreSQL)"
    )
