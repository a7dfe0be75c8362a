"""Every namespace's settings, typed and declared once, and the packaged registry defaults.

Each namespace module of the Invoke layer declares its collection's defaults from one of these
classes (`ns.configure(DbSettings.defaults())`) and reads them back typed
(`DbSettings.load(c.config)`). `load` validates on every path: `inv db.migrate`, a pre-call from
a monorepo's own task, a script calling the functions directly. A bad value (a mistyped
`INVOKE_DB_RUNNER`, a string where a number belongs in an `-f` file) is one message naming the
key. A section the config lacks (a monorepo whose own root collection does not carry the
suite's defaults) falls back to these defaults.

Precedence is Invoke's: these defaults < /etc, ~ and the project's invoke.yaml < `INVOKE_*`
variables < `inv -f FILE` < flags (the tasks apply flags over what `load` returns).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from lomash_tasks.errors import UserError, suggest

REGISTRY_FILE = Path(__file__).resolve().parent / "defaults" / "registry.yaml"


def plain(value: Any) -> Any:
    """Invoke's config proxies as plain dicts and lists."""
    if hasattr(value, "items") and callable(value.items):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` merged into `base`, recursively (Invoke's merge: the later value wins)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


@lru_cache(maxsize=1)
def registry_defaults() -> dict[str, Any]:
    """The seed's stack (services and infrastructure), shipped with the package."""
    import yaml  # PyYAML: Invoke's own loading has imported it (and its C parser) already

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(REGISTRY_FILE.read_text(encoding="utf-8"), Loader=loader)
    return {key: data[key] for key in ("services", "infra")}


class Setting:
    """One setting of a section: its default, help and checks (declared as a class attribute)."""

    __slots__ = ("default", "help", "meta", "name")

    def __init__(self, default: Any, help: str, **meta: Any) -> None:
        self.default = default
        self.help = help
        self.meta = meta
        self.name = ""


def choice(*values: str, default: str, help: str) -> Any:
    return Setting(default, help, choices=values)


def number(
    default: float | int, help: str, minimum: float | None = 0, positive: bool = False
) -> Any:
    """A number setting; `positive`: a deadline in seconds (greater than 0)."""
    return Setting(default, help, minimum=minimum, positive=positive)


def text(default: str, help: str) -> Any:
    return Setting(default, help)


def flag(default: bool, help: str) -> Any:
    return Setting(default, help)


class Section:
    """One namespace's settings (`<NAME>.*` in the config): typed values, read-only.

    A subclass declares each setting once as a class attribute (`runner = choice(...)`);
    instances hold the values (`DbSettings.load(config).runner`). Plain classes rather than
    dataclasses: they are built while `inv --list` loads the collection, and stay cheap.
    """

    NAME: ClassVar[str] = ""
    SETTINGS: ClassVar[dict[str, Setting]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.SETTINGS = {}
        for name, value in list(vars(cls).items()):
            if isinstance(value, Setting):
                value.name = name
                cls.SETTINGS[name] = value
                delattr(cls, name)

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.SETTINGS)
        if unknown:
            raise TypeError(f"unknown {self.NAME} settings: {', '.join(sorted(unknown))}")
        for name, spec in self.SETTINGS.items():
            object.__setattr__(self, name, values.get(name, spec.default))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self.NAME} settings are read-only")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"{type(self).__name__}({inner})"

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.SETTINGS}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {cls.NAME: {name: spec.default for name, spec in cls.SETTINGS.items()}}

    @classmethod
    def load(cls, config: Any) -> Any:
        raw = plain(config).get(cls.NAME) if config is not None else None
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise UserError(
                f"Invalid configuration: '{cls.NAME}' must be a mapping of settings, not {raw!r}."
            )
        unknown = [str(k) for k in raw if k not in cls.SETTINGS]
        if unknown:
            key = unknown[0]
            raise UserError(
                f"Unknown setting '{cls.NAME}.{key}' (invoke.yaml, an INVOKE_* "
                f"variable or an -f file).{suggest(key, cls.SETTINGS)} Known "
                f"'{cls.NAME}' settings: {', '.join(cls.SETTINGS)}. A misspelt key "
                f"is not applied: fix it and run again."
            )
        return cls(
            **{
                name: _convert(
                    f"{cls.NAME}.{name}", raw.get(name, spec.default), spec.default, spec.meta
                )
                for name, spec in cls.SETTINGS.items()
            }
        )


def _convert(key: str, value: Any, default: Any, meta: Mapping[str, Any]) -> Any:
    """A setting's value read by `lomash_tasks.values`, by the type of its default."""
    from lomash_tasks import values

    if value is None:
        value = default
    try:
        if isinstance(default, bool):
            return values.boolean(value, key)
        if isinstance(default, (int, float)):
            if meta.get("positive"):
                return values.seconds(value, key)
            cast = int if isinstance(default, int) else float
            return values.number(value, key, cast, meta.get("minimum"))
        if isinstance(default, str):
            if meta.get("choices"):
                return values.choice(value, key, meta["choices"])
            return values.text(value, key)
    except values.BadValue as err:
        raise UserError(
            f"{err.text} Fix '{key}' (invoke.yaml, the "
            f"INVOKE_{key.replace('.', '_').upper()} variable or the -f file that sets it) "
            f"and run again."
        ) from None
    return value


# -- the sections -------------------------------------------------------------------------------
class WorkspaceSettings(Section):
    NAME: ClassVar[str] = "workspace"
    root: str = text(
        "",
        "The monorepo's root; '' = the nearest folder up from here holding "
        "pnpm-workspace.yaml. Relative paths are taken from invoke.yaml's folder.",
    )


class EnvSettings(Section):
    NAME: ClassVar[str] = "env"
    overlay: str = text("host", "The overlay env.copy applies to the .env files it creates.")
    overlay_dir: str = text("", "A folder of overlay files of your own ('' = the suite's).")


STACK_PARTS = ("postgres", "redis", "aws", "smtp")  # the stack's parts, in start order


class StackSettings(Section):
    NAME: ClassVar[str] = "stack"
    backend: str = choice(
        "auto",
        "embedded",
        "compose",
        "external",
        default="auto",
        help="Where the stack comes from.",
    )
    postgres_bindir: str = text("", "PostgreSQL's server binaries ('' = found).")
    postgres_user: str = text(
        "lomash-pg", "The system user that runs PostgreSQL when the suite runs as root."
    )
    redis_server: str = text("", "A redis-server/valkey-server binary ('' = the packaged one).")
    project: str = text("lomash-wood", "The Compose project name.")
    cache_dir: str = text(
        "",
        "Ready PostgreSQL clusters: '' = the platform's cache folder "
        "(~/.cache/lomash-tasks, ~/Library/Caches/lomash-tasks), off = none.",
    )
    missing_locale: str = choice(
        "compile",
        "substitute",
        "refuse",
        default="compile",
        help="A locale init.sql names that the server lacks: compile "
        "it for a new embedded cluster only (localedef, nothing "
        "system-wide; else as substitute), substitute an "
        "equivalent (C.UTF-8 for *.utf8; said), or refuse.",
    )
    start_timeout: float = number(30.0, "Seconds a server may take to start.", positive=True)
    compose_start_timeout: float = number(
        180.0,
        "Seconds Compose may take for every container "
        "to turn healthy (LocalStack's only once its "
        "init hooks ran).",
        positive=True,
    )
    wait_timeout: float = number(60.0, "stack.wait's deadline in seconds.", positive=True)


class DbSettings(Section):
    NAME: ClassVar[str] = "db"
    runner: str = choice(
        "auto",
        "prisma",
        "native",
        default="auto",
        help="Which migration runner db.migrate uses.",
    )
    jobs: int = number(0, "Services migrated at a time; 0 = the measured default (8).")
    timeout: float = number(300.0, "Seconds per service's migration run.", positive=True)
    seed_timeout: float = number(60.0, "Seconds per service's seed.", positive=True)
    wait_timeout: float = number(60.0, "db.wait's deadline in seconds.", positive=True)


class ServicesSettings(Section):
    """The `services` namespace's settings; `services:` in config is the registry, so these
    live under `service_options`."""

    NAME: ClassVar[str] = "service_options"
    backend: str = choice(
        "auto",
        "embedded",
        "compose",
        default="auto",
        help="Where the services run (auto follows stack.backend).",
    )
    start_timeout: float = number(
        60.0, "Seconds for every service to answer GET /health 200.", positive=True
    )
    infra_timeout: float = number(
        15.0, "Seconds for PostgreSQL and Redis to answer first.", positive=True
    )
    stop_timeout: float = number(
        5.0, "Seconds between SIGTERM and SIGKILL of a service's group.", positive=True
    )
    backoff_base: float = number(
        0.5, "First restart delay after a crash; doubles per crash.", positive=True
    )
    backoff_max: float = number(30.0, "The longest restart delay.", positive=True)
    stable_after: float = number(
        30.0, "Healthy this long: the next crash starts the backoff afresh.", positive=True
    )
    in_setup: bool = flag(True, "`inv setup` ends by starting them (its `services` step).")
    dev_scripts: str = text(
        "dev,start:dev,develop,serve:dev",
        "The package.json scripts that run a service in development, in "
        "order: the first one a service has is its dev command (unless "
        "services.<name>.command says).",
    )
    install_jobs: int = number(4, "Services whose Node dependencies install at a time.", minimum=1)
    install_timeout: float = number(900.0, "Seconds one service's install may take.", positive=True)
    log_max_mb: float = number(
        10.0, "A service's log is rotated when it would grow past this many MB (0 = never by size)."
    )
    log_keep: int = number(
        3, "Rotated logs kept per service (name.log.1 ... name.log.N).", minimum=1
    )
    logs_tail: int = number(
        100, "Lines of each service `services.logs` prints from the end (0 = the whole log)."
    )
    wrappers: str = text(
        "",
        "More npm packages whose programs only start a service (comma-"
        "separated; npm, pnpm, nodemon, tsx, ... are known): the inspector "
        "skips their processes.",
    )

    @property
    def wrapper_list(self) -> list[str]:
        return [w.strip() for w in self.wrappers.split(",") if w.strip()]

    @property
    def dev_script_list(self) -> list[str]:
        return [w.strip() for w in self.dev_scripts.split(",") if w.strip()]


class CacheSettings(Section):
    NAME: ClassVar[str] = "cache"
    limit: int = number(1000, "cache.keys stops after this many keys (0 = no limit).")
    timeout: float = number(5.0, "Seconds for each Redis call.", positive=True)
    wait_timeout: float = number(60.0, "cache.wait's deadline in seconds.", positive=True)


class AwsSettings(Section):
    NAME: ClassVar[str] = "aws"
    secret_prefix: str = text(
        "lomash/dev",
        "Secret names: <prefix>/<alias> (unless the service's .env sets SECRETS_MANAGER_PREFIX).",
    )
    max_receive_count: int = number(5, "Receives before a message dead-letters.", minimum=1)
    wait_timeout: float = number(60.0, "aws.wait's deadline in seconds.", positive=True)


class StripeSettings(Section):
    NAME: ClassVar[str] = "stripe"
    cli: str = text("stripe", "The Stripe CLI executable (a name on PATH or a path).")
    service: str = text("order-payment-service", "The service that receives webhooks.")
    path: str = text("/v1/webhooks/stripe", "Its webhook route.")
    forward_to: str = text("", "The whole forward target (host:port/path); '' = derived.")
    ready_timeout: float = number(30.0, "Seconds to wait for the CLI's ready line.", positive=True)


class DebugSettings(Section):
    NAME: ClassVar[str] = "debug"
    check_timeout: float = number(3.0, "Seconds each doctor check may take.", positive=True)


class SetupSettings(Section):
    NAME: ClassVar[str] = "setup"
    lock_timeout: float = number(
        120.0, "Seconds a second `inv setup` waits for the first.", positive=True
    )


class DashboardSettings(Section):
    NAME: ClassVar[str] = "dashboard"
    port: int = number(8090, "The dashboard's port on 127.0.0.1 (0 = any free port).")
    interval: float = number(1.0, "Seconds between two looks at the stack's parts.", positive=True)
    services_interval: float = number(
        5.0,
        "Seconds between two full reads of the services "
        "(services.status); their state file is watched in "
        "between.",
        positive=True,
    )
    probe_interval: float = number(
        10.0,
        "Seconds between two reads of the migrations, Redis "
        "key counts and AWS resources (also after each action "
        "and when a migration folder changes).",
        positive=True,
    )
    log_lines: int = number(1000, "Log lines kept for the page (the last ones).", minimum=10)


class TestSettings(Section):
    """`inv test`: a service's own test script against its test database."""

    NAME: ClassVar[str] = "test"
    env: str = text(
        "test",
        "The environment `inv test` runs in (config environments): its "
        "databases, its env files (.env.test) and its seed profile.",
    )
    timeout: float = number(1800.0, "Seconds one service's test script may run.", positive=True)


SECTIONS: tuple[type[Section], ...] = (
    WorkspaceSettings,
    EnvSettings,
    StackSettings,
    ServicesSettings,
    DbSettings,
    CacheSettings,
    AwsSettings,
    StripeSettings,
    DebugSettings,
    SetupSettings,
    DashboardSettings,
    TestSettings,
)

# The environments besides development (`--env NAME`), shipped with the suite; a monorepo's
# invoke.yaml adds its own or changes these under `environments:` (checked when a task loads
# them: `db.environments`). Each is a copy of development with databases of its own.
ENVIRONMENTS: dict[str, dict[str, Any]] = {
    "test": {
        "database_suffix": "_test",
        "env_file": ".env.test",
        "seed_profile": "test",
        "variables": {"NODE_ENV": "test"},
    },
}


def all_defaults() -> dict[str, Any]:
    """Every section's defaults, the packaged registry and environments: what the root
    collection carries."""
    import copy

    out: dict[str, Any] = dict(registry_defaults())
    for section in SECTIONS:
        out.update(section.defaults())
    out["environments"] = copy.deepcopy(ENVIRONMENTS)
    return out
