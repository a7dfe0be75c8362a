"""The work behind the `env` tasks: copy, check, diff and show the workspace's env files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lomash_tasks import masking
from lomash_tasks.env import files as envfiles
from lomash_tasks.env import overlays
from lomash_tasks.env.files import EnvFile
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import EnvPair, Workspace


@dataclass
class CopyResult:
    pair: EnvPair
    status: str  # created | updated | unchanged | rewritten
    added: list[str] = field(default_factory=list)
    backup: Path | None = None

    @property
    def summary(self) -> str:
        if self.status == "updated":
            return f"updated (+{len(self.added)} key{'s' if len(self.added) != 1 else ''}: " \
                   f"{', '.join(self.added)})"
        if self.status == "rewritten":
            return f"rewritten from the example (backup: {self.backup.name if self.backup else '-'})"
        return self.status


def copy_env(ws: Workspace, services: list[Service] | None = None, force: bool = False,
             overlay: overlays.Overlay | None = None) -> list[CopyResult]:
    """Create missing `.env` files from their examples; add keys new in an example.

    Everything is read and checked before anything is written, so a missing example or a
    malformed file stops the run with no file changed.
    """
    pairs = ws.env_pairs(services)
    missing = [p.example for p in pairs if not p.example.is_file()]
    if missing:
        listed = ", ".join(ws.relative(p) for p in missing)
        raise UserError(f"Missing example file{'s' if len(missing) > 1 else ''}: {listed}. "
                        f"Each .env is made from the .env.example beside it: restore it "
                        f"(e.g. `git checkout -- {ws.relative(missing[0])}`) and run again.")
    plans = []
    for pair in pairs:
        example = envfiles.read_env(pair.example)
        current = envfiles.read_env(pair.env) if pair.env.exists() else None
        if current is not None and not pair.env.is_file():
            raise UserError(f"{pair.env} exists but is not a file.")
        if current is not None and not force:  # a line copied from the example is its own
            current.refuse_ignored_lines({envfiles.js_trim(t) for _, t in example.ignored_lines()})
        plans.append((pair, example, current))
    merges = {}
    for pair, example, current in plans:  # would write: must be writable, checked up front
        if current is not None and not force:
            merges[pair.env] = envfiles.merged_text(example, current)  # refuses unsafe merges
        if current is None or force or merges[pair.env][1]:
            envfiles.ensure_writable(pair.env)
    results = []
    for pair, example, current in plans:
        fresh = overlays.apply(example.text, overlay) if overlay else example.text
        if current is None:
            envfiles.write_atomic(pair.env, fresh)
            results.append(CopyResult(pair, "created"))
        elif force:
            if current.text == fresh:
                results.append(CopyResult(pair, "unchanged"))
                continue
            saved = envfiles.backup(pair.env)
            envfiles.write_atomic(pair.env, fresh)
            results.append(CopyResult(pair, "rewritten", backup=saved))
        else:
            text, added = merges[pair.env]
            if added:
                if overlay:
                    text = current.text + overlays.apply(text[len(current.text):], overlay)
                    envfiles.check_merge(current, envfiles.parse_env(fresh, pair.example),
                                         text, added)
                envfiles.write_atomic(pair.env, text, mode=None)
                results.append(CopyResult(pair, "updated", added))
            else:
                results.append(CopyResult(pair, "unchanged"))
    return results


# -- check --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    message: str
    fix: str

    def line(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}. Fix: {self.fix}"


def check_env(ws: Workspace, services: list[Service] | None = None) -> list[Problem]:
    """Every problem found in the env files, one per key."""
    problems: list[Problem] = []
    for pair in ws.env_pairs(services):
        rel = ws.relative(pair.env)
        if not pair.example.is_file():
            problems.append(Problem(ws.relative(pair.example), "", "missing",
                                    "restore the example file from git"))
            continue
        if not pair.env.is_file():
            problems.append(Problem(rel, "", "missing", "run `inv env.copy`"))
            continue
        example, env = envfiles.read_env(pair.example), envfiles.read_env(pair.env)
        for key in example.keys:
            if key not in env.keys:
                problems.append(Problem(rel, key, "missing (present in .env.example)",
                                        "run `inv env.copy` to add it"))
        if pair.service is not None:
            problems += _check_service(rel, pair.service, env)
    return problems


def _check_service(rel: str, svc: Service, env: EnvFile) -> list[Problem]:
    out: list[Problem] = []
    port = env.get("PORT")
    if port is not None and port != str(svc.port):
        out.append(Problem(rel, "PORT", f"is {port}, but {svc.name} listens on {svc.port}",
                           f"set PORT={svc.port}"))
    url = env.get("DATABASE_URL")
    if svc.has_database:
        if not url:
            out.append(Problem(rel, "DATABASE_URL", "missing or empty",
                               f"set it to postgresql://{svc.role}:PASSWORD@localhost:5432/"
                               f"{svc.database}"))
        else:
            out += _check_database_url(rel, svc, url)
    elif url:
        out.append(Problem(rel, "DATABASE_URL", f"is set, but {svc.name} owns no database",
                           "remove it"))
    url = env.get("REDIS_URL")
    if svc.has_cache:
        if not url:
            out.append(Problem(rel, "REDIS_URL", "missing or empty",
                               f"set it to redis://:PASSWORD@localhost:6379/{svc.redis_db}"))
        else:
            out += _check_redis_url(rel, svc, url)
    return out


def _check_database_url(rel: str, svc: Service, url: str) -> list[Problem]:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018
    except ValueError as err:
        return [Problem(rel, "DATABASE_URL", f"does not parse ({err})",
                        "use postgresql://ROLE:PASSWORD@HOST:PORT/DATABASE")]
    out = []
    if parts.scheme not in ("postgres", "postgresql"):
        out.append(Problem(rel, "DATABASE_URL", f"has scheme '{parts.scheme}'",
                           "use postgresql://"))
    database = unquote(parts.path.lstrip("/"))
    if database != svc.database:
        out.append(Problem(rel, "DATABASE_URL", f"names database '{database}', not "
                           f"{svc.name}'s own '{svc.database}'",
                           f"point it at /{svc.database}"))
    if unquote(parts.username or "") != svc.role:
        out.append(Problem(rel, "DATABASE_URL", f"logs in as '{parts.username or ''}', not "
                           f"{svc.name}'s own role '{svc.role}'",
                           f"use {svc.role}:PASSWORD@"))
    return out


def _check_redis_url(rel: str, svc: Service, url: str) -> list[Problem]:
    out = []
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018
    except ValueError as err:
        return [Problem(rel, "REDIS_URL", f"does not parse ({err})",
                        f"use redis://:PASSWORD@HOST:6379/{svc.redis_db}")]
    if parts.scheme not in ("redis", "rediss"):
        out.append(Problem(rel, "REDIS_URL", f"has scheme '{parts.scheme}'", "use redis://"))
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo and ":" not in userinfo:
        out.append(Problem(rel, "REDIS_URL", "has no ':' before the password (ioredis then "
                           "takes it for a user name and AUTH fails)",
                           "write redis://:PASSWORD@HOST:PORT/INDEX"))
    index = parts.path.lstrip("/") or "0"
    if index != str(svc.redis_db):
        out.append(Problem(rel, "REDIS_URL", f"selects index {index}, not {svc.name}'s own "
                           f"{svc.redis_db}", f"end the URL with /{svc.redis_db}"))
    return out


# -- diff and show ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnvDiff:
    file: str
    only_in_example: list[str]
    only_in_env: list[str]
    env_exists: bool


def diff_env(ws: Workspace, services: list[Service] | None = None) -> list[EnvDiff]:
    out = []
    for pair in ws.env_pairs(services):
        if not pair.example.is_file():
            raise UserError(f"{pair.example} is missing: restore it from git.")
        example = envfiles.read_env(pair.example)
        if not pair.env.is_file():
            out.append(EnvDiff(ws.relative(pair.env), example.keys, [], False))
            continue
        env = envfiles.read_env(pair.env)
        out.append(EnvDiff(ws.relative(pair.env),
                           [k for k in example.keys if k not in env.keys],
                           [k for k in env.keys if k not in example.keys], True))
    return out


@dataclass(frozen=True)
class ShownValue:
    key: str
    value: str
    source: str  # ".env" or ".env.example (no .env value)"
    secret: bool


def effective_values(ws: Workspace, svc: Service) -> list[ShownValue]:
    """The values a service starts with: its `.env`, and the example for keys it lacks."""
    pair = ws.env_pair(svc)
    if not pair.example.is_file() and not pair.env.is_file():
        raise UserError(f"{svc.name} has neither {pair.env.name} nor {pair.example.name} in "
                        f"{pair.env.parent}.")
    env = envfiles.read_env(pair.env) if pair.env.is_file() else None
    example = envfiles.read_env(pair.example) if pair.example.is_file() else None
    shown = []
    for key in list(dict.fromkeys((env.keys if env else []) + (example.keys if example else []))):
        if env is not None and key in env.keys:
            value, source = env.get(key) or "", ".env"
        else:
            value, source = (example.get(key) if example else "") or "", ".env.example"
        secret = masking.is_secret_key(key) or ("://" in value and "@" in value)
        shown.append(ShownValue(key, value, source, secret))
    return shown


def file_warnings(ws: Workspace, services: list[Service] | None = None) -> list[str]:
    """Lines of the env files (and examples) that Node's dotenv reads differently from how they
    look, each naming the file and the line (see envfiles)."""
    out: list[str] = []
    for pair in ws.env_pairs(services):
        for path in (pair.example, pair.env):
            if path.is_file():
                try:
                    parsed = envfiles.read_env(path)
                except UserError:
                    continue  # reported by the task itself
                out += [w.replace(str(path), ws.relative(path), 1) for w in parsed.warnings]
    return out


def show_json(values: list[ShownValue], reveal: bool = False) -> list[dict]:
    """`env.show --json`: the effective values, secrets masked unless `reveal`."""
    return [{"key": v.key,
             "value": v.value if reveal or not (v.secret and v.value) else masking.MASK,
             "source": v.source, "secret": v.secret} for v in values]
