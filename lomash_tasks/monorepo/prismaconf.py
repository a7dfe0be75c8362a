"""A service's Prisma layout as Prisma itself finds it: config file, schema, migrations, the
datasource url's variable, the seed command, and the CLI that is installed.

Prisma's order: a `prisma.config.ts` (or .js/.mjs/.cjs/.mts/.cts, or `.config/prisma.ts`) in the
service's folder decides (`schema`, `migrations.path`, `migrations.seed`, `datasource.url`);
without one, `package.json#prisma` (`schema`, `seed`); then the conventional
`prisma/schema.prisma`, with the migrations folder beside the schema. The config is TypeScript:
it is read as text (string literals, `path.join([__dirname | import.meta.dirname,] ...)`,
`env("X")`, `process.env.X`), never executed; what cannot be read that way is said, and the
convention used instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lomash_tasks.monorepo.packages import Finding, dependency_range, installed_version

CONFIG_NAMES = (
    "prisma.config.ts",
    "prisma.config.mts",
    "prisma.config.cts",
    "prisma.config.js",
    "prisma.config.mjs",
    "prisma.config.cjs",
    ".config/prisma.ts",
    ".config/prisma.js",
)


@dataclass(frozen=True)
class PrismaLayout:
    config: Path | None  # the config file Prisma loads, if any
    schema: Path | None  # schema.prisma (or a folder of .prisma files)
    schema_source: str
    migrations: Path  # the migrations folder (it may not exist)
    migrations_source: str
    url_env: str | None  # the variable the datasource url comes from
    url_source: str
    engine: str | None = None  # the config's `engine` ("js" / "classic"), if set
    adapter: bool = False  # the config sets a driver adapter
    config_seed: str | None = None  # migrations.seed in the config
    package_seed: str | None = None  # package.json prisma.seed
    cli_version: str | None = None  # the prisma package Node resolves from the service
    cli_dir: Path | None = None
    declared: str | None = None  # the prisma range package.json asks for
    findings: tuple[Finding, ...] = field(default=())

    @property
    def major(self) -> int | None:
        match = re.match(r"\s*(\d+)", self.cli_version or "")
        return int(match.group(1)) if match else None

    def engines_present(self) -> bool:
        """A native schema engine lies beside the CLI (Prisma's postinstall fetched it)."""
        if self.cli_dir is None:
            return False
        engines = self.cli_dir.resolve().parent / "@prisma" / "engines"
        return any(engines.glob("schema-engine*")) if engines.is_dir() else False

    def runnable(self) -> tuple[bool, str]:
        """(True, how) when this service's Prisma CLI can run here, else (False, why not)."""
        import os
        import shutil

        if self.cli_version is None:
            return False, "its Prisma CLI is not installed (node_modules/prisma)"
        if shutil.which("node") is None:
            return False, "node is not on PATH"
        engine_binary = os.environ.get("PRISMA_SCHEMA_ENGINE_BINARY")
        has_engine = self.engines_present() or bool(engine_binary and Path(engine_binary).is_file())
        version = f"Prisma {self.cli_version}"
        if (self.major or 0) >= 7:
            if not has_engine:
                return False, (
                    f"{version} downloads its schema engine from binaries.prisma.sh "
                    f"at first use and none is installed here"
                )
            if self.url_source != "config":
                return False, (
                    f"{version} reads the datasource url only from prisma.config.ts, "
                    f"which sets none"
                )
            return True, f"{version} with its schema engine"
        if self.engine == "js" and self.adapter:
            if self.url_env is None:
                return False, (
                    f"{version}: no datasource url the suite can set (no env() in "
                    f"the schema or the config)"
                )
            return True, f"{version} with the Wasm engine and a driver adapter"
        if not has_engine:
            return False, (
                f"{version} needs a native schema engine (none installed; offline it "
                f'cannot be downloaded) and its config sets no `engine: "js"` adapter'
            )
        if self.url_env is None:
            return False, f"{version}: no datasource url the suite can set"
        return True, f"{version} with its native schema engine"

    def as_dict(self) -> dict[str, Any]:
        ok, why = self.runnable()
        return {
            "config": str(self.config) if self.config else None,
            "schema": str(self.schema) if self.schema else None,
            "schema_source": self.schema_source,
            "migrations": str(self.migrations),
            "migrations_source": self.migrations_source,
            "url_env": self.url_env,
            "url_source": self.url_source,
            "engine": self.engine,
            "adapter": self.adapter,
            "cli_version": self.cli_version,
            "declared": self.declared,
            "runnable": ok,
            "runnable_reason": why,
        }


# -- reading TypeScript/JavaScript config as text -------------------------------------------------
def strip_comments(text: str) -> str:
    """The source without // and /* */ comments (string and template literals kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def block(text: str, key: str) -> str | None:
    """The `{ ... }` that follows `key:` (braces balanced, strings skipped), or None."""
    match = re.search(rf"(?<![\w$.]){re.escape(key)}\s*:\s*\{{", text)
    if not match:
        return None
    depth, i = 0, match.end() - 1
    while i < len(text):
        ch = text[i]
        if ch in "'\"`":
            j = i + 1
            while j < len(text) and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            i = j
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[match.end() : i]
        i += 1
    return None


_STRING = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`$]*`)"""
_HERE = r"(?:__dirname|import\.meta\.dirname|process\.cwd\(\)|['\"]\.['\"])"


def _unquote(literal: str) -> str:
    return literal[1:-1].replace("\\'", "'").replace('\\"', '"')


def path_value(text: str, key: str) -> tuple[str | None, bool]:
    """(relative path, found): `key: 'a/b'`, `key: path.join(__dirname, 'a', 'b')`,
    `key: path.join('a', 'b')`, `key: \\`${__dirname}/a\\``. found without a path: the key is
    there but not readable."""
    match = re.search(rf"(?<![\w$.]){re.escape(key)}\s*:\s*", text)
    if not match:
        return None, False
    rest = text[match.end() :]
    literal = re.match(_STRING, rest)
    if literal:
        return _unquote(literal.group(0)), True
    # path.join(__dirname, 'a', 'b'), or path.join('a', 'b'): Prisma resolves a relative path
    # from the config file's folder, as it does a literal
    call = re.match(
        rf"(?:path\.)?(?:join|resolve)\(\s*(?:{_HERE}\s*,\s*)?"
        rf"({_STRING}\s*(?:,\s*{_STRING}\s*)*)\)",
        rest,
    )
    if call:
        parts = [_unquote(p) for p in re.findall(_STRING, call.group(1))]
        return "/".join(p.strip("/") for p in parts if p), True
    template = re.match(r"`\$\{(?:__dirname|import\.meta\.dirname)\}/([^`$]*)`", rest)
    if template:
        return template.group(1), True
    return None, True


def env_name(text: str, key: str) -> tuple[str | None, bool]:
    """(variable, found) for `key: env("X")`, `key: process.env.X`, `process.env["X"]`."""
    match = re.search(rf"(?<![\w$.]){re.escape(key)}\s*:\s*", text)
    if not match:
        return None, False
    rest = text[match.end() :]
    for pattern in (
        r"env\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]",
        r"process\.env\.([A-Za-z_][A-Za-z0-9_]*)",
        r"process\.env\[\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]\s*\]",
    ):
        found = re.match(pattern, rest)
        if found:
            return found.group(1), True
    return None, True


def schema_url_env(schema: Path | None) -> str | None:
    """The variable named by `url = env("X")` in the schema's datasource block."""
    if schema is None:
        return None
    files = sorted(schema.glob("*.prisma")) if schema.is_dir() else [schema]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found = re.search(r"datasource\s+\w+\s*\{([^}]*)\}", text)
        if found:
            url = re.search(r"(?m)^\s*url\s*=\s*env\(\s*\"([^\"]+)\"\s*\)", found.group(1))
            return url.group(1) if url else None
    return None


def read_layout(
    folder: Path, relative: str, package: Mapping[str, Any] | None, stop: Path
) -> PrismaLayout:
    """The service's Prisma layout (folder: the service; relative: its path for messages)."""
    findings: list[Finding] = []
    config = next((folder / n for n in CONFIG_NAMES if (folder / n).is_file()), None)
    text = ""
    if config is not None:
        try:
            text = strip_comments(config.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            findings.append(Finding(f"{relative}/{config.name}", "", f"cannot be read ({exc})"))
    cfg_name = f"{relative}/{config.relative_to(folder)}" if config else ""
    prisma_key = (package or {}).get("prisma")
    prisma_pkg = prisma_key if isinstance(prisma_key, dict) else {}
    base = config.parent if config else folder

    schema, schema_source = None, ""
    if text:
        value, found = path_value(text, "schema")
        if value:
            schema, schema_source = (base / value), f"{cfg_name} schema"
        elif found:
            findings.append(
                Finding(
                    cfg_name,
                    "schema",
                    "is not a path the suite can read "
                    "without running the file; using the "
                    "conventional place",
                )
            )
    if schema is None and isinstance(prisma_pkg.get("schema"), str):
        schema, schema_source = (
            folder / prisma_pkg["schema"],
            f"{relative}/package.json prisma.schema",
        )
    if schema is None:
        for candidate in ("prisma/schema.prisma", "prisma/schema", "schema.prisma"):
            if (folder / candidate).exists():
                schema, schema_source = folder / candidate, "the convention"
                break
    if schema is not None and not schema.exists():
        findings.append(
            Finding(
                schema_source.split(" ")[0],
                "schema",
                f"names {schema.relative_to(folder) if schema.is_relative_to(folder) else schema}"
                ", which does not exist",
            )
        )

    migrations_block = block(text, "migrations") if text else None
    migrations, migrations_source = None, ""
    if migrations_block is not None:
        value, found = path_value(migrations_block, "path")
        if value:
            migrations, migrations_source = base / value, f"{cfg_name} migrations.path"
        elif found:
            findings.append(
                Finding(
                    cfg_name,
                    "migrations.path",
                    "is not a path the suite can read; using the convention",
                )
            )
    if migrations is None and schema is not None:
        migrations = (schema if schema.is_dir() else schema.parent) / "migrations"
        migrations_source = "beside the schema (the convention)"
    if migrations is None:
        migrations, migrations_source = folder / "prisma" / "migrations", "the convention"

    config_seed = None
    if migrations_block is not None:
        seed = re.search(rf"(?<![\w$.])seed\s*:\s*({_STRING})", migrations_block)
        if seed:
            config_seed = _unquote(seed.group(1))
    package_seed = prisma_pkg.get("seed") if isinstance(prisma_pkg.get("seed"), str) else None

    url_env, url_source = None, ""
    datasource = block(text, "datasource") if text else None
    if datasource is not None:
        url_env, found = env_name(datasource, "url")
        if url_env:
            url_source = "config"
        elif found:
            findings.append(
                Finding(
                    cfg_name,
                    "datasource.url",
                    'is not an env("NAME") or process.env.NAME the suite can fill',
                )
            )
    if url_env is None and text:
        legacy = block(text, "datasources")  # Prisma 5's `datasources: { db: { url } }`
        if legacy is not None:
            url_env, _ = env_name(legacy, "url")
            url_source = "config" if url_env else ""
    if url_env is None:
        url_env = schema_url_env(schema)
        url_source = "schema" if url_env else ""
    adapter = bool(text and re.search(r"(?<![\w$.])adapter\s*[:(]", text))
    if url_env is None and text and adapter:
        named = re.search(
            r"connectionString\s*:\s*process\.env\.([A-Za-z_][A-Za-z0-9_]*)", text
        ) or re.search(r"process\.env\.([A-Za-z_][A-Za-z0-9_]*URL[A-Za-z0-9_]*)", text)
        if named:
            url_env, url_source = named.group(1), "adapter"
    engine = None
    if text:
        named = re.search(r"(?<![\w$.])engine\s*:\s*['\"](\w+)['\"]", text)
        engine = named.group(1) if named else None

    version, cli_dir = installed_version(folder, stop, "prisma")
    return PrismaLayout(
        config,
        schema,
        schema_source or "none found",
        migrations,
        migrations_source,
        url_env,
        url_source or "none",
        engine,
        adapter,
        config_seed,
        package_seed,
        version,
        cli_dir,
        dependency_range(package, "prisma"),
        tuple(findings),
    )
