"""The typed model of the Lomash Wood services and infrastructure.

The facts themselves live in the project's `invoke.yaml` (`services:` and `infra:`); this module
turns that mapping into frozen dataclasses and validates it, so a mistake in the file is one clear
error naming the key, found when the config is loaded rather than halfway through a task.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lomash_tasks import values
from lomash_tasks.errors import UserError, suggest

CONFIG_FILE = "invoke.yaml"


@dataclass(frozen=True)
class Service:
    name: str
    alias: str
    path: str
    port: int
    debug_port: int
    database: str | None = None
    role: str | None = None
    redis_db: int | None = None
    namespaces: tuple[str, ...] = ()
    command: str | None = None  # how services.up runs it (None: its package.json's dev script)

    @property
    def has_database(self) -> bool:
        return self.database is not None

    @property
    def db(self) -> str:
        """Its database's name: asked only of a service that has one (`with_database`)."""
        if self.database is None:
            raise ValueError(f"{self.name} has no database")
        return self.database

    @property
    def db_role(self) -> str:
        """Its database role's name: asked only of a service that has a database."""
        if self.role is None:
            raise ValueError(f"{self.name} has no database role")
        return self.role

    @property
    def has_cache(self) -> bool:
        return self.redis_db is not None


@dataclass(frozen=True)
class Endpoint:
    """A server the stack runs: where host-side tools reach it."""

    name: str
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Postgres(Endpoint):
    superuser: str = "postgres"


@dataclass(frozen=True)
class Smtp(Endpoint):
    web_port: int = 8025


@dataclass(frozen=True)
class Aws(Endpoint):
    region: str = "eu-west-2"
    buckets: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    sender: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class Tool:
    name: str
    port: int
    url: str
    login: str = ""


@dataclass(frozen=True)
class Registry:
    services: tuple[Service, ...]
    postgres: Postgres
    redis: Endpoint
    smtp: Smtp
    aws: Aws
    tools: tuple[Tool, ...] = field(default=())

    # -- lookups ---------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [s.name for s in self.services]

    def service(self, name: str) -> Service:
        """The service named by its alias or full name; an unknown name lists the valid ones."""
        wanted = str(name).strip()
        if not wanted:
            raise UserError(
                f"An empty service name was given. Name a service (alias or full "
                f"name: {', '.join(s.alias for s in self.services)})."
            )
        for svc in self.services:
            if wanted in (svc.name, svc.alias):
                return svc
        valid = ", ".join(f"{s.alias} ({s.name})" for s in self.services)
        every = [s.alias for s in self.services] + self.names
        raise UserError(
            f"Unknown service '{wanted}'.{suggest(wanted, every)} "
            f"Valid services (alias or full name): {valid}."
        )

    def select(self, names: str | Iterable[str] | None = None) -> list[Service]:
        """The named services in registry order, without repeats; all of them when none named.

        A repeatable `--service` gives a list; each item may be a comma list ("auth,order").
        An empty name is a mistake (`--service ""` must not mean every service)."""
        items = [names] if isinstance(names, str) else list(names or [])
        wanted = []
        for item in items:
            if item is None:
                continue
            for part in str(item).split(","):
                if not part.strip():
                    raise UserError(
                        f"An empty service name was given ({'--service ' + repr(str(item))}). "
                        f"Name a service (alias or full name: "
                        f"{', '.join(s.alias for s in self.services)}), or leave "
                        f"--service out to act on every service."
                    )
                wanted.append(part.strip())
        if not wanted:
            return list(self.services)
        chosen = {self.service(n).name for n in wanted}
        return [s for s in self.services if s.name in chosen]

    @property
    def with_database(self) -> list[Service]:
        return [s for s in self.services if s.has_database]

    @property
    def with_cache(self) -> list[Service]:
        return [s for s in self.services if s.has_cache]

    @property
    def infra(self) -> list[Endpoint]:
        return [self.postgres, self.redis, self.smtp, self.aws]

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = CONFIG_FILE) -> Registry:
        """Build and validate the registry from config data (`services:` and `infra:` keys)."""
        reader = ConfigReader(source)
        services_raw = reader.mapping(data, "services")
        if not services_raw:
            reader.fail("services", "no services are defined")
        services = tuple(
            _service(reader, name, reader.mapping(services_raw, name, "services"))
            for name in services_raw
        )
        infra = reader.mapping(data, "infra")
        reader.known(infra, "infra", INFRA_KEYS)
        pg = reader.mapping(infra, "postgres", "infra")
        rd = reader.mapping(infra, "redis", "infra")
        sm = reader.mapping(infra, "smtp", "infra")
        aw = reader.mapping(infra, "aws", "infra")
        for part, known in INFRA_PART_KEYS.items():
            reader.known(infra[part], f"infra.{part}", known)
        at = "infra.postgres"
        postgres = Postgres(
            "postgres",
            reader.host(pg, "host", at),
            reader.port(pg, "port", at),
            superuser=reader.text(pg, "superuser", at),
        )
        redis = Endpoint(
            "redis", reader.host(rd, "host", "infra.redis"), reader.port(rd, "port", "infra.redis")
        )
        smtp = Smtp(
            "smtp",
            reader.host(sm, "host", "infra.smtp"),
            reader.port(sm, "port", "infra.smtp"),
            web_port=reader.port(sm, "web_port", "infra.smtp"),
        )
        at = "infra.aws"
        aws = Aws(
            "aws",
            reader.host(aw, "host", at),
            reader.port(aw, "port", at),
            region=reader.text(aw, "region", at),
            buckets=reader.names(aw, "buckets", at),
            queues=reader.names(aw, "queues", at, required=False),
            sender=reader.text(aw, "sender", at, required=False) or "",
        )
        tools_raw = infra.get("tools") or {}
        if not isinstance(tools_raw, Mapping):
            reader.fail("infra.tools", "must be a mapping of tool name to {port, url}")
        tools = tuple(
            Tool(
                name,
                reader.port(
                    reader.mapping(tools_raw, name, "infra.tools"), "port", f"infra.tools.{name}"
                ),
                reader.text(tools_raw[name], "url", f"infra.tools.{name}"),
                reader.text(tools_raw[name], "login", f"infra.tools.{name}", required=False) or "",
            )
            for name in tools_raw
        )
        registry = cls(services, postgres, redis, smtp, aws, tools)
        _check_unique(reader, registry)
        return registry


def _service(reader: ConfigReader, name: str, raw: Mapping[str, Any]) -> Service:
    at = f"services.{name}"
    known = {
        "alias",
        "path",
        "port",
        "debug_port",
        "database",
        "role",
        "redis_db",
        "namespaces",
        "command",
    }
    reader.known(raw, at, sorted(known))
    database = reader.text(raw, "database", at, required=False)
    role = reader.text(raw, "role", at, required=False)
    if (database is None) != (role is None):
        reader.fail(at, "needs both 'database' and 'role', or neither")
    redis_db = raw.get("redis_db")
    if redis_db is not None:
        redis_db = reader.integer(raw, "redis_db", at, low=0, high=15)
    command = raw.get("command")
    if command is not None and not isinstance(command, str):
        reader.fail(f"{at}.command", f"must be a command line (a string), not {command!r}")
    return Service(
        name=name,
        alias=reader.text(raw, "alias", at),
        path=reader.text(raw, "path", at),
        port=reader.port(raw, "port", at),
        debug_port=reader.port(raw, "debug_port", at),
        database=database,
        role=role,
        redis_db=redis_db,
        namespaces=reader.names(raw, "namespaces", at, required=redis_db is not None),
        command=(command or "").strip() or None,
    )


def _check_unique(reader: ConfigReader, reg: Registry) -> None:
    def once(what: str, pairs: Sequence[tuple[str, Any]]) -> None:
        seen: dict[Any, str] = {}
        for key, value in pairs:
            if value is None:
                continue
            if value in seen:
                reader.fail(key, f"{what} {value!r} is also used by {seen[value]}")
            seen[value] = key

    ports = [(f"services.{s.name}.port", s.port) for s in reg.services]
    ports += [(f"services.{s.name}.debug_port", s.debug_port) for s in reg.services]
    ports += [(f"infra.{e.name}.port", e.port) for e in reg.infra]
    ports += [("infra.smtp.web_port", reg.smtp.web_port)]
    ports += [(f"infra.tools.{t.name}.port", t.port) for t in reg.tools]
    once("port", ports)
    once(
        "alias",
        [(f"services.{s.name}.alias", s.alias) for s in reg.services]
        + [(f"services.{s.name}", s.name) for s in reg.services],
    )
    once("database", [(f"services.{s.name}.database", s.database) for s in reg.services])
    once("role", [(f"services.{s.name}.role", s.role) for s in reg.services])
    once("Redis index", [(f"services.{s.name}.redis_db", s.redis_db) for s in reg.services])
    once("path", [(f"services.{s.name}.path", s.path) for s in reg.services])


def host_problem(value: str) -> str | None:
    """Why `value` cannot be a host to connect to, or None (a name, IPv4 or IPv6 address)."""
    import ipaddress

    if "://" in value or "@" in value or "/" in value:
        return "it looks like a URL: give only the host name, e.g. 127.0.0.1"
    try:
        ipaddress.ip_address(value.strip("[]"))
        return None
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253:
        return "longer than 253 characters"
    for label in name.split("."):
        if not label:
            return "an empty label (two dots in a row, or a leading dot)"
        if len(label) > 63:
            return f"the label {label[:20]}… is longer than 63 characters"
        if not all(c.isalnum() or c in "-_" for c in label):
            return f"the label {label!r} holds characters a host name cannot"
    return None


INFRA_KEYS = ("postgres", "redis", "smtp", "aws", "tools")
INFRA_PART_KEYS = {
    "postgres": ("host", "port", "superuser"),
    "redis": ("host", "port"),
    "smtp": ("host", "port", "web_port"),
    "aws": ("host", "port", "region", "buckets", "queues", "sender"),
}


class ConfigReader:
    """Typed reads from config data (through `lomash_tasks.values`); every failure names the key
    and the file."""

    def __init__(self, source: str) -> None:
        self.source = source

    def known(self, data: Any, at: str, keys: Iterable[str]) -> None:
        """A key this part does not have is a typo that would be silently ignored: refuse it."""
        keys = sorted(keys) if isinstance(keys, (set, frozenset)) else list(keys)
        if not isinstance(data, Mapping):
            self.fail(at, "must be a mapping")
        for key in data:
            if key not in keys:
                self.fail(
                    f"{at}.{key}",
                    f"is not a known key.{suggest(str(key), keys)} (known: {', '.join(keys)})",
                )

    def fail(self, key: str, problem: str) -> None:
        end = "" if problem.endswith((".", "?")) else "."
        raise UserError(
            f"Invalid configuration in {self.source}: '{key}' {problem}{end} "
            f"Fix that key (or the INVOKE_* variable or -f file overriding it) and run again."
        )

    def read(self, reader: Any, data: Mapping[str, Any], key: str, at: str, *args: Any) -> Any:
        """`reader` (a `values` function) on the key's value; its problem framed with the file."""
        path = f"{at}.{key}" if at else key
        try:
            return reader(self.get(data, key, at), path, *args)
        except values.BadValue as err:
            self.fail(path, err.sentence)

    def get(self, data: Mapping[str, Any], key: str, at: str, required: bool = True) -> Any:
        path = f"{at}.{key}" if at else key
        if not isinstance(data, Mapping):
            self.fail(at, "must be a mapping")
        value = data.get(key)
        if value is None and required:
            self.fail(path, "is missing")
        return value

    def mapping(self, data: Mapping[str, Any], key: str, at: str = "") -> Mapping[str, Any]:
        value = self.get(data, key, at)
        if not isinstance(value, Mapping):
            self.fail(f"{at}.{key}" if at else key, "must be a mapping")
        return value

    def text(self, data: Mapping[str, Any], key: str, at: str, required: bool = True) -> Any:
        value = self.get(data, key, at, required)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{at}.{key}", f"must be a non-empty string, not {value!r}")
        return value.strip()

    def host(self, data: Mapping[str, Any], key: str, at: str) -> str:
        """A host name or an IP address (not a URL, no empty or overlong DNS label)."""
        value = self.text(data, key, at)
        problem = host_problem(value)
        if problem:
            self.fail(f"{at}.{key}", f"is not a host name or address ({value!r}: {problem})")
        return value

    def integer(self, data: Mapping[str, Any], key: str, at: str, low: int, high: int) -> int:
        return self.read(values.whole, data, key, at, low, high)

    def port(self, data: Mapping[str, Any], key: str, at: str) -> int:
        return self.read(values.port, data, key, at)

    def boolean(self, data: Mapping[str, Any], key: str, at: str, default: bool) -> bool:
        if data.get(key) is None:
            return default
        return self.read(values.boolean, data, key, at)

    def seconds(self, data: Mapping[str, Any], key: str, at: str, default: float) -> float:
        if data.get(key) is None:
            return default
        return self.read(values.seconds, data, key, at)

    def choice(self, data: Mapping[str, Any], key: str, at: str, choices: Iterable[str]) -> str:
        return self.read(values.choice, data, key, at, choices)

    def names(
        self, data: Mapping[str, Any], key: str, at: str, required: bool = True
    ) -> tuple[str, ...]:
        value = self.get(data, key, at, required)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            self.fail(f"{at}.{key}", f"must be a list of names, not {value!r}")
        return tuple(v.strip() for v in value)
