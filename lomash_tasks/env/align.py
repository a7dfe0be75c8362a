"""Align `.env` files with the stack the suite serves: what the registry and the running stack
say wins over what an example (or a `.env`) wrote, key by key, each change with its reason.

The rules, for the assignment Node uses of each key (other lines are kept byte for byte):

- `PORT` / `DEBUG_PORT` of a service's file: the service's port / debug port in the registry;
  `<SERVICE>_PORT` (`AUTH_SERVICE_PORT`, `API_GATEWAY_PORT`) anywhere: that service's port.
- PostgreSQL URLs (`postgres://`, `postgresql://`): the overlay's host and port everywhere. In a
  service's file they log in as the service's role with its password; `DATABASE_URL` and
  `DIRECT_URL` also name its database (`TEST_DATABASE_URL`, a shadow URL keep theirs). In the
  root file `<SERVICE>_DATABASE_URL` is that service's; the others log in as the superuser. The
  query string is kept; user and password are URL-encoded.
- The split keys: `DB_*` / `DATABASE_*` / `POSTGRES_*` / `PG*` `HOST`, `PORT`, `USER`, `PASSWORD`
  (and `NAME` in a service's file), `REDIS_HOST` / `_PORT` / `_PASSWORD` / `_DB`, `SMTP_HOST` /
  `SMTP_PORT`: the same facts.
- Redis URLs: `redis://:PASSWORD@HOST:PORT`, the stack's password (a user name without a
  password, which ioredis would send as the user, is dropped); a service's `REDIS_URL` ends with
  its own index.
- AWS endpoints (`*ENDPOINT*` keys naming AWS, S3, SES, SQS, ...): the overlay's endpoint.
- Service URLs (`*_URL`, `*_URI` with a local host and a port): a key naming a service
  (`AUTH_SERVICE_URL`) gets that service's port; otherwise a port the monorepo's own examples
  give a service (their `PORT`, the root's `<SERVICE>_PORT`) becomes that service's port in the
  registry: the monorepo's port map is mapped onto the registry's.
- Placeholder secrets (`placeholders`): a generated local value, the same for a key in every
  file (services check each other's tokens and internal keys), or a value another `.env` of the
  workspace already holds for that key.

Passwords are the stack's: the superuser's and Redis's as the running stack has them (the root
`.env`, else its example, else the default: `connections`); a service role's as the suite sets
it on the server from the `.env` (`Aligner.role_password`: the one a URL gives the role itself,
else the one DATABASE_URL gives another user; generated when empty or a placeholder, and the
stack takes it at its next start or `inv db.init`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lomash_tasks.env import files as envfiles
from lomash_tasks.env import placeholders, urls
from lomash_tasks.env.changes import GENERATED, REGISTRY, STACK, Alignment, Change
from lomash_tasks.env.files import EnvFile
from lomash_tasks.env.overlays import Overlay
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Registry, Service
from lomash_tasks.workspace import EnvPair, Workspace

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "localhost.localdomain"})
_PG_SCHEMES = ("postgres", "postgresql")
_REDIS_SCHEMES = ("redis", "rediss")
_PG_PREFIXES = ("DB_", "DATABASE_", "POSTGRES_", "PG")
_AWS_WORDS = frozenset({"AWS", "S3", "SES", "SQS", "SNS", "LOCALSTACK", "SECRETS"})


@dataclass(frozen=True)
class StackFacts:
    """What the stack serves, as a `.env` should name it: the registry, the overlay's hosts and
    ports, and the passwords the running stack uses (None: not known here; left as written)."""

    registry: Registry
    overlay: Overlay
    superuser_password: str | None = None
    redis_password: str | None = None
    # Another environment's files (`.env.test`): its name, the keys that name the service's
    # own database there (TEST_DATABASE_URL too) and the values it sets (NODE_ENV=test).
    environment: str = "development"
    database_keys: tuple[str, ...] = ("DATABASE_URL", "DIRECT_URL")
    variables: Mapping[str, str] = field(default_factory=dict)

    def address(self, part: str) -> tuple[str, int]:
        return self.overlay.hosts[part]


# -- names --------------------------------------------------------------------------------------
def _forms(svc: Service) -> set[str]:
    full = svc.name.upper().replace("-", "_")
    alias = svc.alias.upper().replace("-", "_")
    forms = {full, alias, f"{alias}_SERVICE"}
    if full.endswith("_SERVICE"):
        forms.add(full[: -len("_SERVICE")])
    return forms


def service_named(stem: str, registry: Registry) -> Service | None:
    """The service a key's stem names (`AUTH_SERVICE`, `ORDER`, `API_GATEWAY`), if any."""
    for svc in registry.services:
        if stem in _forms(svc):
            return svc
    return None


def _url_stem(key: str) -> str | None:
    for suffix in ("_URL", "_URI"):
        if key.endswith(suffix):
            stem = key[: -len(suffix)]
            for extra in ("_BASE", "_INTERNAL", "_API"):
                stem = stem.removesuffix(extra)
            return stem
    return None


def _same_host(a: str, b: str) -> bool:
    return a == b or (a in LOOPBACK and b in LOOPBACK)


def _as_int(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


# -- the aligner --------------------------------------------------------------------------------
@dataclass
class _Plan:
    value: str
    reason: str
    source: str
    secret: bool = False


class Aligner:
    """Plans the aligned text of the workspace's env files for one run.

    Values chosen once (a generated secret, a role's password) are the same in every file the
    run aligns, so the run's files agree with each other.
    """

    def __init__(
        self,
        ws: Workspace,
        facts: StackFacts,
        generate: Callable[[str], str] = placeholders.generate,
    ) -> None:
        self.ws = ws
        self.facts = facts
        self.registry = facts.registry
        self._generate = generate
        self._chosen: dict[str, tuple[str, str, str]] = {}  # name -> (value, how, source)
        self._port_map: dict[int, Service] | None = None
        self._secrets: list[str] = []

    # -- what the monorepo says ---------------------------------------------------------
    def port_map(self) -> dict[int, Service]:
        """The monorepo's own ports (each example's PORT, the root's `<SERVICE>_PORT`) -> the
        service; a port two services claim is left out."""
        if self._port_map is None:
            claims: dict[int, set[str]] = {}
            by_name = {s.name: s for s in self.registry.services}
            for pair in self.ws.env_pairs():
                env = self._read(pair.example)
                if env is None:
                    continue
                if pair.service is not None:
                    port = _as_int(env.get("PORT") or "")
                    if port is not None:
                        claims.setdefault(port, set()).add(pair.service.name)
                    continue
                for key in env.keys:
                    svc = (
                        service_named(key.removesuffix("_PORT"), self.registry)
                        if key.endswith("_PORT")
                        else None
                    )
                    port = _as_int(env.get(key) or "")
                    if svc is not None and port is not None:
                        claims.setdefault(port, set()).add(svc.name)
            self._port_map = {
                port: by_name[next(iter(names))]
                for port, names in claims.items()
                if len(names) == 1
            }
        return self._port_map

    @staticmethod
    def _read(path: Path) -> EnvFile | None:
        if not path.is_file():
            return None
        try:
            return envfiles.read_env(path)
        except Exception:  # a broken file is reported by the task that reads it for real
            return None

    def role_password(self, svc: Service) -> tuple[str, str, str]:
        """(password, how it was chosen, source) of the service's role, as the suite sets it on
        the server (from the `.env`'s DATABASE_URL, `stack.initsql`).

        A password a URL gives the role itself comes first (the `.env`'s, then the example's:
        DATABASE_URL, DIRECT_URL, any other); then the password of DATABASE_URL as written
        for another user (`postgres:...@`), kept for the role; generated when all are empty
        or placeholders. The stack takes a changed one at its next start or `inv db.init`.
        """
        name = f"role:{svc.name}"
        if name not in self._chosen:
            pair = self.ws.env_pair(svc)
            found = []  # (rank, label, key, password)
            files = dict.fromkeys(
                (
                    (".env", self.ws.base_env(svc)),  # the stack sets the
                    (pair.env.name, pair.env),  # role's from it
                    (pair.example.name, pair.example),
                )
            )
            for rank_file, (label, path) in enumerate(files):
                env = self._read(path)
                if env is None:
                    continue
                for key in env.keys:
                    url = urls.parse(env.get(key) or "")
                    if (
                        url is None
                        or url.scheme not in _PG_SCHEMES
                        or not url.password
                        or placeholders.is_placeholder(url.password)
                    ):
                        continue
                    if url.user == svc.role:
                        order = 0 if key == "DATABASE_URL" else 1 if key == "DIRECT_URL" else 2
                        found.append(((0, rank_file, order), label, key, url.password))
                    elif key == "DATABASE_URL":
                        found.append(((1, rank_file, 0), label, key, url.password))
            if found:
                _, label, key, password = min(found, key=lambda f: f[0])
                self._chosen[name] = (
                    password,
                    f"role {svc.role}'s password is the one {label} {key} gives",
                    STACK,
                )
            else:
                self._chosen[name] = (
                    placeholders.password(),
                    f"a generated password for role {svc.role} (the "
                    f"example's is empty or a placeholder), which the stack "
                    f"sets on the role at its next start or `inv db.init`",
                    GENERATED,
                )
            self._secrets.append(self._chosen[name][0])
        return self._chosen[name]

    def secret_for(self, key: str, which: str) -> str:
        """The local value for a placeholder of `key`, the same in every file: the value
        another `.env` of the workspace holds for it, else another example's (not a
        placeholder: the services share it), else a generated one."""
        name = f"key:{key}"
        if name not in self._chosen:
            pairs = self.ws.env_pairs()
            held = (
                env.get(key)
                for path in [p.env for p in pairs] + [p.example for p in pairs]
                for env in [self._read(path)]
                if env is not None
            )
            value = next((v for v in held if v and not placeholders.is_placeholder(v)), None)
            self._chosen[name] = (value or self._generate(which), "", GENERATED)
            self._secrets.append(self._chosen[name][0])
        return self._chosen[name][0]

    # -- one file -----------------------------------------------------------------------
    def align(self, pair: EnvPair, env: EnvFile, keys: set[str] | None = None) -> Alignment:
        """`env` (the example, or a `.env`) aligned with the stack; `keys` limits the keys."""
        rel = ws_rel(self.ws, pair.env)
        plans: dict[str, _Plan] = {}
        for key in env.keys:
            if keys is not None and key not in keys:
                continue
            value = env.get(key) or ""
            plan = self._plan(pair.service, pair.service is None, key, value)
            if plan is not None and plan.value != value:
                plans[key] = plan
        text, error = env.text, ""
        if plans:
            try:
                text = envfiles.replace_values(env, {k: p.value for k, p in plans.items()})
            except UserError as err:  # planned all the same: check and drift report them
                error = err.text
        lines = {k: entry.line for k in plans if (entry := env.entry(k)) is not None}
        changes = [
            Change(rel, k, lines[k], env.get(k) or "", p.value, p.reason, p.source, p.secret)
            for k, p in plans.items()
        ]
        hidden = set(self._secrets)
        for plan in plans.values():
            url = urls.parse(plan.value)
            if plan.secret:
                hidden.add(plan.value)
            elif url is not None and url.password:
                hidden.add(url.password)
        return Alignment(rel, env.text, text, changes, sorted(hidden), error)

    def _plan(self, svc: Service | None, root: bool, key: str, value: str) -> _Plan | None:
        upper = key.upper()
        reg = self.registry
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if svc is not None and key in self.facts.variables:
            return _Plan(
                self.facts.variables[key],
                f"the {self.facts.environment} environment sets it (config environments)",
                REGISTRY,
            )
        if svc is not None and upper == "PORT":
            return _Plan(str(svc.port), f"{svc.name} listens on {svc.port} in the stack", REGISTRY)
        if svc is not None and upper == "DEBUG_PORT":
            return _Plan(
                str(svc.debug_port),
                f"{svc.name}'s inspector port is {svc.debug_port} in the stack",
                REGISTRY,
            )
        if upper.endswith("_PORT") and _as_int(value) is not None:
            named = service_named(upper.removesuffix("_PORT"), reg)
            if named is not None:
                return _Plan(
                    str(named.port), f"{named.name} listens on {named.port} in the stack", REGISTRY
                )
        if not value.strip() and svc is not None:  # an empty URL of the service's own
            if upper in self.facts.database_keys and svc.has_database:
                value, scheme = "postgresql://localhost/?schema=public", "postgresql"
            elif upper == "REDIS_URL" and svc.has_cache:
                value, scheme = "redis://localhost", "redis"
        if scheme in _PG_SCHEMES:
            return self._postgres_url(svc, root, upper, value)
        if scheme in _REDIS_SCHEMES:
            return self._redis_url(svc, upper, value)
        split = self._split_key(svc, root, upper, value)
        if split is not None:
            return split
        if (
            "ENDPOINT" in upper
            and set(upper.split("_")) & _AWS_WORDS
            and (not value or scheme in ("http", "https"))
        ):
            return self._aws_endpoint(value)
        if scheme in ("http", "https", "ws", "wss"):
            return self._service_url(upper, value)
        which = placeholders.kind(upper)
        if which is not None and placeholders.is_placeholder(value):
            new = self.secret_for(key, which)
            what = {
                placeholders.AWS: "a placeholder; the stack's AWS endpoint takes test keys",
                placeholders.STRIPE_WEBHOOK: "a placeholder; a local signing secret for "
                "`inv stripe.replay` (`inv stripe.listen` "
                "writes Stripe's)",
            }.get(which, "a placeholder; the services issue and check it themselves")
            return _Plan(new, what, GENERATED, secret=which != placeholders.AWS)
        return None

    # -- connection values --------------------------------------------------------------
    def _postgres_url(
        self, svc: Service | None, root: bool, upper: str, value: str
    ) -> _Plan | None:
        parts = urls.parse(value)
        if parts is None:
            return None
        host, port = self.facts.address("postgres")
        owner = svc if svc is not None and svc.has_database else None
        if root and upper.endswith("_DATABASE_URL"):
            named = service_named(upper.removesuffix("_DATABASE_URL"), self.registry)
            owner = named if named is not None and named.has_database else None
        old_user, old_password, old_database = parts.user, parts.password, parts.database
        user, password, database = old_user, old_password, old_database
        why, source = [], REGISTRY
        if owner is not None:
            user = owner.role or ""
            password, how, chosen = self.role_password(owner)
            if upper in self.facts.database_keys or root:
                database = owner.database or database
            if (user, database) != (old_user, old_database):
                why.append(
                    f"the stack serves database {database} to role {user}"
                    if database == owner.database
                    else f"{owner.name} logs in as role {user}"
                )
            if chosen == GENERATED and password != old_password:
                why.append(how)
                source = GENERATED
        elif svc is None:  # the root file: the superuser's
            user = self.registry.postgres.superuser
            if self.facts.superuser_password is not None:
                password = self.facts.superuser_password
            if user != old_user:
                why.append(f"the stack's superuser is {user}")
            if password != old_password:
                why.append("the stack's superuser password")
        if not _same_host(parts.host, host) or parts.port != port:
            why.append(f"PostgreSQL listens on {host}:{port}")
        if password != old_password and source != GENERATED and owner is not None:
            why.append(how)
        if not why:
            why.append("its user and password URL-encoded")
        new = urls.build(
            parts.scheme,
            user,
            password if user or password else None,
            host,
            port,
            f"/{database}" if database else parts.path,
            parts.query,
            parts.fragment,
        )
        return _Plan(new, "; ".join(why), source)

    def _redis_url(self, svc: Service | None, upper: str, value: str) -> _Plan | None:
        parts = urls.parse(value)
        if parts is None:
            return None
        host, port = self.facts.address("redis")
        old = parts.password or parts.user
        password = self.facts.redis_password if self.facts.redis_password is not None else old
        path, why = parts.path, []
        if not _same_host(parts.host, host) or parts.port != port:
            why.append(f"Redis listens on {host}:{port}")
        if password != old or parts.user:
            why.append("the stack's Redis wants its password as redis://:PASSWORD@")
        if upper == "REDIS_URL" and svc is not None and svc.has_cache:
            path = f"/{svc.redis_db}"
            if (parts.path.lstrip("/") or "0") != str(svc.redis_db) or not parts.path:
                why.append(f"{svc.name} owns Redis index {svc.redis_db}")
        new = urls.build(parts.scheme, "", password, host, port, path, parts.query, parts.fragment)
        return _Plan(new, "; ".join(why or ["its password URL-encoded"]), REGISTRY)

    def _split_key(self, svc: Service | None, root: bool, upper: str, value: str) -> _Plan | None:
        facts = self.facts
        if upper.startswith("REDIS_"):
            host, port = facts.address("redis")
            part = upper[len("REDIS_") :]
            if part == "HOST":
                return _Plan(host, f"Redis listens on {host}:{port}", REGISTRY)
            if part == "PORT":
                return _Plan(str(port), f"Redis listens on {host}:{port}", REGISTRY)
            if part in ("PASSWORD", "PASS") and facts.redis_password is not None:
                return _Plan(
                    facts.redis_password, "the stack's Redis wants its password", STACK, secret=True
                )
            if part in ("DB", "DATABASE", "INDEX") and svc is not None and svc.has_cache:
                return _Plan(
                    str(svc.redis_db), f"{svc.name} owns Redis index {svc.redis_db}", REGISTRY
                )
            return None
        if upper.startswith("SMTP_"):
            host, port = facts.address("smtp")
            if upper == "SMTP_HOST":
                return _Plan(host, f"the stack's mail trap listens on {host}:{port}", REGISTRY)
            if upper == "SMTP_PORT":
                return _Plan(str(port), f"the stack's mail trap listens on {host}:{port}", REGISTRY)
            return None
        prefix = next((p for p in _PG_PREFIXES if upper.startswith(p)), None)
        if prefix is None:
            return None
        part = upper[len(prefix) :]
        if prefix == "PG" and part.startswith("_"):
            return None
        host, port = facts.address("postgres")
        owner = svc if svc is not None and svc.has_database else None
        if part == "HOST":
            return _Plan(host, f"PostgreSQL listens on {host}:{port}", REGISTRY)
        if part == "PORT":
            return _Plan(str(port), f"PostgreSQL listens on {host}:{port}", REGISTRY)
        if part in ("USER", "USERNAME"):
            if owner is not None:
                return _Plan(
                    owner.role or "", f"{owner.name} logs in as role {owner.role}", REGISTRY
                )
            if root:
                superuser = self.registry.postgres.superuser
                return _Plan(superuser, f"the stack's superuser is {superuser}", REGISTRY)
            return None
        if part in ("PASSWORD", "PASS"):
            if owner is not None:
                password, how, source = self.role_password(owner)
                return _Plan(password, how, source, secret=True)
            if root and facts.superuser_password is not None:
                return _Plan(
                    facts.superuser_password, "the stack's superuser password", STACK, secret=True
                )
            return None
        if part in ("NAME", "DATABASE", "DB") and owner is not None:
            return _Plan(
                owner.database or "",
                f"the stack serves database {owner.database} to role {owner.role}",
                REGISTRY,
            )
        return None

    def _aws_endpoint(self, value: str) -> _Plan | None:
        host, port = self.facts.address("aws")
        parts = urls.parse(value) if value else None
        new = urls.build("http", "", None, host, port, parts.path if parts else "")
        return _Plan(new, f"the stack's AWS endpoint is http://{host}:{port}", REGISTRY)

    def _service_url(self, upper: str, value: str) -> _Plan | None:
        parts = urls.parse(value)
        if parts is None or parts.port is None or not parts.host:
            return None
        stem = _url_stem(upper)
        if stem is None:
            return None
        named = service_named(stem, self.registry)
        target, note = None, ""
        if named is not None and (
            parts.host in LOOPBACK or parts.host in (named.name, named.alias)
        ):
            target = named
        elif parts.host in LOOPBACK and parts.port in self.port_map():
            target = self.port_map()[parts.port]
            note = f" (the monorepo's examples put it on {parts.port})"
        if target is None or parts.port == target.port:
            return None
        head = value[: value.index("://") + 3]
        rest = value[len(head) :]
        at = rest.find(f"{parts.host}:{parts.port}")  # only the port changes, byte for byte
        if at < 0:
            return None
        new = (
            head
            + rest[:at]
            + f"{parts.host}:{target.port}"
            + rest[at + len(f"{parts.host}:{parts.port}") :]
        )
        return _Plan(new, f"{target.name} listens on {target.port} in the stack{note}", REGISTRY)

    @property
    def secrets(self) -> list[str]:
        return list(self._secrets)


def ws_rel(ws: Workspace, path: Path) -> str:
    """A path relative to the workspace, without resolving a symlinked `.env` to its target."""
    try:
        return str(Path(path).relative_to(ws.root))
    except ValueError:
        return ws.relative(path)
