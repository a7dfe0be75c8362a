"""The work behind the `env` tasks: copy, check, diff and show the workspace's env files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lomash_tasks import masking
from lomash_tasks.env import align, overlays, urls
from lomash_tasks.env import files as envfiles
from lomash_tasks.env.changes import GENERATED, Alignment, Change
from lomash_tasks.env.files import EnvFile
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import EnvPair, Workspace


@dataclass
class CopyResult:
    """What `env.copy` did (or, with `dry`, would do) to one file."""

    pair: EnvPair
    file: str  # as the user knows it: relative to the workspace (a symlink not followed)
    status: str  # created | updated | unchanged | rewritten | aligned
    added: list[str] = field(default_factory=list)
    backup: Path | None = None
    alignment: Alignment | None = None  # the stack's values it wrote (None: not aligned)
    drift: list[Change] = field(default_factory=list)  # left as they are (no --align)
    dry: bool = False

    @property
    def changes(self) -> list[Change]:
        return self.alignment.changes if self.alignment is not None else []

    @property
    def summary(self) -> str:
        n = len(self.changes)
        aligned = f"{n} value{'s' if n != 1 else ''} aligned with the stack" if n else ""
        added = (
            f"+{len(self.added)} key{'s' if len(self.added) != 1 else ''}: {', '.join(self.added)}"
            if self.added
            else ""
        )
        backup = (
            f"backup: {self.backup.name if self.backup else 'none'}"
            if self.status in ("rewritten", "aligned") and not self.dry
            else ""
        )
        if self.status == "rewritten":
            head = "rewritten from the example"
        elif self.status == "unchanged" and self.drift:
            k = len(self.drift)
            return (
                f"unchanged; {k} value{'s' if k != 1 else ''} disagree"
                f"{'s' if k == 1 else ''} with the stack (`inv env.copy --align`)"
            )
        else:
            head = self.status
        detail = "; ".join(x for x in (added, aligned, backup) if x)
        text = f"{head} ({detail})" if detail else head
        return f"would be {text}" if self.dry and self.status != "unchanged" else text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "status": self.status,
            "dry": self.dry,
            "added": self.added,
            "backup": self.backup.name if self.backup else None,
            "changes": [c.as_dict() for c in self.changes],
            "drift": [c.as_dict() for c in self.drift],
        }


def copy_env(
    ws: Workspace,
    services: list[Service] | None = None,
    force: bool = False,
    facts: align.StackFacts | None = None,
    align_existing: bool = False,
    dry: bool = False,
) -> list[CopyResult]:
    """Create missing `.env` files from their examples; add keys new in an example.

    With `facts`, what the suite writes is aligned with the stack (`env.align`): each new
    file, each file rewritten with `force`, each key appended to an existing file; an existing
    file's own lines only with `align_existing`, after a backup (its other lines kept byte for
    byte). Without it, the keys of an existing file that disagree with the stack are reported
    (`drift`), never changed. `dry` plans everything and writes nothing.

    Everything is read and checked before anything is written, so a missing example or a
    malformed file stops the run with no file changed.
    """
    pairs = ws.env_pairs(services)
    missing = [p.example for p in pairs if not p.example.is_file()]
    if missing:
        listed = ", ".join(ws.relative(p) for p in missing)
        raise UserError(
            f"Missing example file{'s' if len(missing) > 1 else ''}: {listed}. "
            f"Each .env is made from the .env.example beside it: restore it "
            f"(e.g. `git checkout -- {ws.relative(missing[0])}`) and run again."
        )
    plans = []
    for pair in pairs:
        example = _for_environment(envfiles.read_env(pair.example), pair, facts)
        if envfiles.not_a_file(pair.env) and not pair.env.is_symlink():
            raise envfiles.not_a_file_error(pair.env, ws.relative(pair.env))
        current = envfiles.read_env(pair.env) if pair.env.exists() else None
        if current is not None and not force:  # a line copied from the example is its own
            current.refuse_ignored_lines({envfiles.js_trim(t) for _, t in example.ignored_lines()})
        plans.append((pair, example, current))
    aligner = align.Aligner(ws, facts) if facts is not None else None
    results = []
    for pair, example, current in plans:  # every file's outcome, before any write
        rel = align.ws_rel(ws, pair.env)
        if current is None or force:
            alignment = aligner.align(pair, example) if aligner else None
            text = alignment.writable_text() if alignment else example.text
            if current is None:
                results.append(
                    (CopyResult(pair, rel, "created", alignment=alignment, dry=dry), text)
                )
            elif current.text == text:
                results.append((CopyResult(pair, rel, "unchanged", dry=dry), text))
            else:
                results.append(
                    (CopyResult(pair, rel, "rewritten", alignment=alignment, dry=dry), text)
                )
            continue
        text, added = envfiles.merged_text(example, current)  # refuses unsafe merges
        alignment, drift = None, []
        if aligner is not None:
            merged = envfiles.parse_env(text, pair.env) if added else current
            if align_existing or added:
                alignment = aligner.align(pair, merged, None if align_existing else set(added))
                text = alignment.writable_text()
            if not align_existing:
                drift = aligner.align(pair, current).changes
        own = [c for c in (alignment.changes if alignment else []) if c.key not in added]
        status = "aligned" if own else "updated" if added else "unchanged"
        results.append(
            (CopyResult(pair, rel, status, added, alignment=alignment, drift=drift, dry=dry), text)
        )
    if dry:
        return [r for r, _ in results]
    for result, _ in results:
        if result.status != "unchanged":
            envfiles.ensure_writable(result.pair.env)
    for result, text in results:
        env = result.pair.env
        if result.status in ("rewritten", "aligned"):
            result.backup = envfiles.backup(env)
        if result.status != "unchanged":
            keep = result.status in ("updated", "aligned")  # the developer's file: its mode
            envfiles.write_atomic(env, text, mode=None if keep else envfiles.ENV_MODE)
    return [r for r, _ in results]


# Keys every file of another environment has (added when its example lacks them, filled in by
# the aligner): the service's database as its tests read it.
ENVIRONMENT_DATABASE_KEYS = ("DATABASE_URL", "TEST_DATABASE_URL")


def _for_environment(example: EnvFile, pair: EnvPair, facts: align.StackFacts | None) -> EnvFile:
    """The example another environment's file is made from (`.env.test` from `.env.example`):
    the keys it needs and the example lacks appended (its variables with their values; the
    database keys empty, for the aligner to fill), so a new file has them and an existing one
    gets them added."""
    if facts is None or facts.environment == "development" or pair.service is None:
        return example
    added: dict[str, str] = {}
    if pair.service.has_database:
        added.update({k: "" for k in ENVIRONMENT_DATABASE_KEYS if k not in example.keys})
    added.update({k: v for k, v in facts.variables.items() if k not in example.keys})
    if not added:
        return example
    text = example.text
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith(("\n", "\r")):
        text += newline
    text += (
        f"{newline}# The {facts.environment} environment's (`inv env.copy --env "
        f"{facts.environment}`){newline}"
    )
    text += "".join(f"{k}={envfiles.quote(v) if v else ''}{newline}" for k, v in added.items())
    return envfiles.parse_env(text, example.path)


# -- check --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    message: str
    fix: str

    def line(self) -> str:
        if self.key and masking.is_secret_key(self.key):  # `KEY: word` would print masked
            return f"{self.file}: {self.key} {self.message}. Fix: {self.fix}"
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}. Fix: {self.fix}"


def check_env(
    ws: Workspace, services: list[Service] | None = None, facts: align.StackFacts | None = None
) -> list[Problem]:
    """Every problem found in the env files (a key `--align` would set is named once).

    Beside the keys an example has and the file lacks and the service's own checks (port,
    database, role, Redis index, the Redis URL's ':'), every value `env.copy --align` would set
    is one: split `REDIS_*` / `DB_*` keys, `DIRECT_URL`, the root file's superuser and Redis
    keys, service URLs, placeholders left in place. Fixes name the configured hosts and ports
    (`facts`; without it the registry's ports on localhost, and passwords are not compared).
    """
    facts = facts or align.StackFacts(ws.registry, overlays.load("host", ws.registry))
    aligner = align.Aligner(ws, facts)
    problems: list[Problem] = []
    for pair in ws.env_pairs(services):
        rel = align.ws_rel(ws, pair.env)
        if not pair.example.is_file():
            what = envfiles.not_a_file(pair.example) or "missing"
            problems.append(
                Problem(
                    align.ws_rel(ws, pair.example), "", what, "restore the example file from git"
                )
            )
            continue
        if not pair.env.is_file():
            what = envfiles.not_a_file(pair.env)
            problems.append(
                Problem(rel, "", what, "move it away, then run `inv env.copy`")
                if what
                else Problem(rel, "", "missing", "run `inv env.copy`")
            )
            continue
        example, env = envfiles.read_env(pair.example), envfiles.read_env(pair.env)
        for key in example.keys:
            if key not in env.keys:
                problems.append(
                    Problem(
                        rel,
                        key,
                        "missing (present in .env.example)",
                        "run `inv env.copy` to add it",
                    )
                )
        if pair.service is not None:
            problems += _check_service(rel, pair.service, env, facts)
        reported = {p.key for p in problems if p.file == rel}
        for change in aligner.align(pair, env).changes:
            if change.key not in reported:
                problems.append(_drift_problem(change))
    return problems


ALIGN_FIX = "`inv env.copy --align` sets it (and keeps a backup)"


def _drift_problem(change: Change) -> Problem:
    if change.source == GENERATED and "://" not in change.old:
        why = change.reason.removeprefix("a placeholder; ")
        return Problem(
            change.file,
            change.key,
            f"is a placeholder: {why}",
            "`inv env.copy --align` puts a generated local value in (and keeps a backup)",
        )
    return Problem(
        change.file,
        change.key,
        f"is {change.shown(change.old)}, but {change.reason}",
        f"set {change.key}={change.shown(change.new)}; {ALIGN_FIX}",
    )


def _check_service(rel: str, svc: Service, env: EnvFile, facts: align.StackFacts) -> list[Problem]:
    out: list[Problem] = []
    pg_host, pg_port = facts.address("postgres")
    rd_host, rd_port = facts.address("redis")
    port = env.get("PORT")
    if port is not None and port != str(svc.port):
        out.append(
            Problem(
                rel,
                "PORT",
                f"is {port}, but {svc.name} listens on {svc.port}",
                f"set PORT={svc.port}; {ALIGN_FIX}",
            )
        )
    url = env.get("DATABASE_URL")
    if svc.has_database:
        if not url:
            out.append(
                Problem(
                    rel,
                    "DATABASE_URL",
                    "missing or empty",
                    f"set it to postgresql://{svc.role}:PASSWORD@{pg_host}:{pg_port}/"
                    f"{svc.database}",
                )
            )
        else:
            out += _check_database_url(rel, svc, url, pg_host, pg_port)
    elif url:
        out.append(
            Problem(rel, "DATABASE_URL", f"is set, but {svc.name} owns no database", "remove it")
        )
    url = env.get("REDIS_URL")
    if svc.has_cache:
        if not url and env.get("REDIS_HOST") is None:  # the split keys serve as well
            out.append(
                Problem(
                    rel,
                    "REDIS_URL",
                    "missing or empty",
                    f"set it to redis://:PASSWORD@{rd_host}:{rd_port}/{svc.redis_db}",
                )
            )
        elif url:
            out += _check_redis_url(rel, svc, url, rd_host, rd_port)
    return out


def _check_database_url(rel: str, svc: Service, url: str, host: str, port: int) -> list[Problem]:
    parts = urls.parse(url)
    if parts is None:
        return [
            Problem(
                rel,
                "DATABASE_URL",
                "does not parse as a URL",
                f"use postgresql://{svc.role}:PASSWORD@{host}:{port}/{svc.database}; {ALIGN_FIX}",
            )
        ]
    out = []
    if parts.scheme not in ("postgres", "postgresql"):
        out.append(
            Problem(rel, "DATABASE_URL", f"has scheme '{parts.scheme}'", "use postgresql://")
        )
    if parts.database != svc.database:
        out.append(
            Problem(
                rel,
                "DATABASE_URL",
                f"names database '{parts.database}', not {svc.name}'s own '{svc.database}'",
                f"point it at /{svc.database}; {ALIGN_FIX}",
            )
        )
    if parts.user != svc.role:
        out.append(
            Problem(
                rel,
                "DATABASE_URL",
                f"logs in as '{parts.user}', not {svc.name}'s own role '{svc.role}'",
                f"use {svc.role}:PASSWORD@{host}:{port}; {ALIGN_FIX}",
            )
        )
    return out


def _check_redis_url(rel: str, svc: Service, url: str, host: str, port: int) -> list[Problem]:
    parts = urls.parse(url)
    if parts is None:
        return [
            Problem(
                rel,
                "REDIS_URL",
                "does not parse as a URL",
                f"use redis://:PASSWORD@{host}:{port}/{svc.redis_db}; {ALIGN_FIX}",
            )
        ]
    out = []
    if parts.scheme not in ("redis", "rediss"):
        out.append(Problem(rel, "REDIS_URL", f"has scheme '{parts.scheme}'", "use redis://"))
    if parts.has_userinfo and not parts.has_password and parts.user:
        out.append(
            Problem(
                rel,
                "REDIS_URL",
                "has no ':' before the password (ioredis then "
                "takes it for a user name and AUTH fails)",
                f"write redis://:PASSWORD@{host}:{port}/{svc.redis_db}; {ALIGN_FIX}",
            )
        )
    index = parts.path.lstrip("/") or "0"
    if index != str(svc.redis_db):
        out.append(
            Problem(
                rel,
                "REDIS_URL",
                f"selects index {index}, not {svc.name}'s own {svc.redis_db}",
                f"end the URL with /{svc.redis_db}; {ALIGN_FIX}",
            )
        )
    return out


# -- diff and show ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnvDiff:
    file: str
    only_in_example: list[str]
    only_in_env: list[str]
    env_exists: bool
    not_a_file: str = ""  # what stands there instead of the file (a folder, ...)


def diff_env(ws: Workspace, services: list[Service] | None = None) -> list[EnvDiff]:
    out = []
    for pair in ws.env_pairs(services):
        if not pair.example.is_file():
            raise UserError(f"{pair.example} is missing: restore it from git.")
        example = envfiles.read_env(pair.example)
        if not pair.env.is_file():
            out.append(
                EnvDiff(
                    ws.relative(pair.env), example.keys, [], False, envfiles.not_a_file(pair.env)
                )
            )
            continue
        env = envfiles.read_env(pair.env)
        out.append(
            EnvDiff(
                ws.relative(pair.env),
                [k for k in example.keys if k not in env.keys],
                [k for k in env.keys if k not in example.keys],
                True,
            )
        )
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
    if envfiles.not_a_file(pair.env):
        raise envfiles.not_a_file_error(pair.env, ws.relative(pair.env))
    if not pair.example.is_file() and not pair.env.is_file():
        raise UserError(
            f"{svc.name} has neither {pair.env.name} nor {pair.example.name} in {pair.env.parent}."
        )
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
    return [
        {
            "key": v.key,
            "value": v.value if reveal or not (v.secret and v.value) else masking.MASK,
            "source": v.source,
            "secret": v.secret,
        }
        for v in values
    ]
