"""The one reader of configuration values (lomash_tasks/values.py): each kind of value, good and
bad, and the same reading through each entry point: an INVOKE_* variable, a registry key, a
target key, a settings key, a flag (through `inv`). Also the config merge kept per config
object, and Invoke's --echo / --dry applied once per task call."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import Inv, assert_user_error, free_port

from lomash_tasks import commands, values
from lomash_tasks.errors import UserError
from lomash_tasks.settings import REGISTRY_FILE, DbSettings, ServicesSettings, StackSettings

WORDS = "true, false, yes, no, on, off, 1, 0"


# -- each kind of value -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "given, expected",
    [
        ("true", True),
        ("Yes", True),
        (" ON ", True),
        ("1", True),
        (1, True),
        (True, True),
        ("false", False),
        ("NO", False),
        ("off", False),
        ("0", False),
        (0, False),
        (False, False),
    ],
)
def test_booleans_take_one_set_of_words(given, expected):
    assert values.boolean(given, "x") is expected


@pytest.mark.parametrize("given", ["maybe", "", "y", "2", 2, None, [], "truee"])
def test_other_booleans_are_refused_with_the_words_listed(given):
    with pytest.raises(values.BadValue) as err:
        values.boolean(given, "service_options.in_setup")
    assert err.value.text == (
        f"service_options.in_setup must be true or false ({WORDS}; any case), not {given!r}."
    )


def test_numbers_whole_numbers_and_ports():
    assert values.number("2.5", "n") == 2.5
    assert values.number("7", "n", int) == 7
    assert values.number(-1, "n", minimum=None) == -1
    assert values.whole("15", "r", 0, 15) == 15
    assert values.port(" 5432 ", "p") == 5432
    for bad, message in [
        (lambda: values.number("-1", "--jobs", int), "--jobs must be a whole number of at least 0"),
        (lambda: values.number("1.5", "--jobs", int), "--jobs must be a whole number of at least"),
        (lambda: values.number("nan", "x"), "x must be a number of at least 0, not 'nan'"),
        (lambda: values.number(True, "x"), "x must be a number of at least 0, not True"),
        (lambda: values.whole("16", "r", 0, 15), "r must be a whole number from 0 to 15, not '16'"),
        (lambda: values.port(0, "p"), "p must be a whole number from 1 to 65535, not 0"),
        (lambda: values.port("http", "p"), "p must be a whole number from 1 to 65535, not 'http'"),
    ]:
        with pytest.raises(values.BadValue, match="^" + message.replace("(", r"\(")):
            bad()


def test_seconds_are_greater_than_zero():
    assert values.seconds("2.5", "db.timeout") == 2.5
    assert values.seconds(30, "db.timeout") == 30.0
    for bad in (0, "0", -5, "inf", "soon", True, "30s"):  # config holds plain seconds
        with pytest.raises(values.BadValue) as err:
            values.seconds(bad, "db.timeout")
        assert err.value.text == (
            f"db.timeout must be a number of seconds greater than 0, not {bad!r}."
        )


@pytest.mark.parametrize(
    "given, expected",
    [("90", 90.0), ("90s", 90.0), ("2m", 120.0), ("1.5", 1.5), (" 1h ", 3600.0), (45, 45.0)],
)
def test_durations(given, expected):
    assert values.duration(given, "--timeout") == expected


@pytest.mark.parametrize("given", ["0", "0s", "0m", 0, "-5", "2x", "m", "", "1.5.2", "inf", True])
def test_bad_durations_name_the_flag(given):
    with pytest.raises(values.BadValue) as err:
        values.duration(given, "--timeout")
    assert err.value.text.startswith("--timeout must be a number of seconds greater than 0 (")
    assert err.value.text.endswith(f"not {given!r}.")


def test_the_timeout_helper_never_reads_zero_as_the_default():
    assert values.timeout_flag(None, 60.0) == 60.0
    assert values.timeout_flag("", 60.0) == 60.0
    assert values.timeout_flag(None, None) is None
    assert values.timeout_flag("2m", 60.0) == 120.0
    for zero in ("0", 0, 0.0, "0s"):
        with pytest.raises(values.BadValue, match="greater than 0"):
            values.timeout_flag(zero, 60.0)


def test_choices_any_case_with_a_suggestion():
    assert values.choice("Prisma", "db.runner", ("auto", "prisma", "native")) == "prisma"
    with pytest.raises(values.BadValue) as err:
        values.choice("prsima", "db.runner", ("auto", "prisma", "native"))
    assert err.value.text == (
        "db.runner must be one of auto, prisma, native, not 'prsima'. Did you mean 'prisma'?"
    )
    with pytest.raises(values.BadValue, match="must be one of auto, prisma, native, not 3"):
        values.choice(3, "db.runner", ("auto", "prisma", "native"))


def test_text():
    assert values.text(" x ", "k") == "x"
    assert values.text(5432, "k") == "5432"
    for bad in (True, ["a"], {"a": 1}):
        with pytest.raises(values.BadValue, match="k must be a string"):
            values.text(bad, "k")


# -- entry point: settings (invoke.yaml / -f data) ----------------------------------------------
def test_settings_read_through_the_reader():
    loaded = ServicesSettings.load({"service_options": {"in_setup": "Off", "install_jobs": "2"}})
    assert loaded.in_setup is False and loaded.install_jobs == 2
    assert DbSettings.load({"db": {"runner": "NATIVE", "timeout": "12.5"}}).runner == "native"
    with pytest.raises(UserError) as err:
        ServicesSettings.load({"service_options": {"in_setup": "nope"}})
    assert err.value.text.startswith(
        f"service_options.in_setup must be true or false ({WORDS}; any case), not 'nope'. "
        f"Fix 'service_options.in_setup' (invoke.yaml, the INVOKE_SERVICE_OPTIONS_IN_SETUP "
        f"variable or the -f file that sets it)"
    )
    with pytest.raises(UserError, match="stack.backend must be one of auto, embedded, compose"):
        StackSettings.load({"stack": {"backend": "podman"}})


# -- entry point: INVOKE_* variables ------------------------------------------------------------
def test_invoke_booleans_read_the_same_words(monkeypatch, tmp_path):
    from lomash_tasks.context import load_config, section

    for word, expected in [("no", False), ("FALSE", False), ("off", False), ("yes", True)]:
        monkeypatch.setenv("INVOKE_SERVICE_OPTIONS_IN_SETUP", word)
        config = load_config(project=tmp_path)
        assert config.service_options.in_setup is expected, word  # Invoke alone: "no" is True
        assert section(_ctx(config), ServicesSettings).in_setup is expected
    monkeypatch.setenv("INVOKE_SERVICE_OPTIONS_IN_SETUP", "maybe")
    with pytest.raises(UserError) as err:
        load_config(project=tmp_path)
    assert "INVOKE_SERVICE_OPTIONS_IN_SETUP='maybe' cannot be used" in err.value.text
    assert f"takes true or false ({WORDS}; any case)" in err.value.text


def test_an_invoke_choice_through_inv(inv):
    result = inv("db.status", env={"INVOKE_DB_RUNNER": "flyway"})
    assert_user_error(
        result, "db.runner must be one of auto, prisma, native, not 'flyway'", "INVOKE_DB_RUNNER"
    )


# -- entry point: the registry (invoke.yaml's services: and infra:) -----------------------------
def registry_data():
    return copy.deepcopy(yaml.safe_load(REGISTRY_FILE.read_text()))


def test_registry_keys_read_through_the_reader():
    from lomash_tasks.registry import Registry

    data = registry_data()
    data["infra"]["postgres"]["port"] = "55432"
    index = data["services"]["auth-service"]["redis_db"]
    data["services"]["auth-service"]["redis_db"] = f" {index} "
    reg = Registry.from_mapping(data, source="invoke.yaml")
    assert reg.postgres.port == 55432 and reg.service("auth").redis_db == index
    data["infra"]["redis"]["port"] = True
    with pytest.raises(UserError) as err:
        Registry.from_mapping(data, source="invoke.yaml")
    assert err.value.text.startswith(
        "Invalid configuration in invoke.yaml: 'infra.redis.port' must be a whole number from "
        "1 to 65535, not True. Fix that key"
    )


def test_a_registry_key_through_inv(inv, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  auth-service:\n    debug_port: nine\n")
    result = inv("-f", str(bad), "db.status")
    assert_user_error(
        result, "'services.auth-service.debug_port' must be a whole number from 1 to 65535"
    )


# -- entry point: targets -----------------------------------------------------------------------
def load_target(extra):
    from lomash_tasks.registry import Registry
    from lomash_tasks.remote import targets

    raw = {
        "aws": {"region": "eu-west-2"},
        "postgres": {"host": "db.internal"},
        "secrets": {"prefix": "p"},
        **extra,
    }
    reg = Registry.from_mapping(registry_data())
    return targets.load({"targets": {"staging": raw}}, "staging", reg, source="invoke.yaml")


def test_target_keys_read_through_the_reader():
    assert load_target({"production": "Yes"}).production is True
    assert load_target({"production": "off"}).production is False
    assert load_target({}).production is False
    bastion = {"host": "b.example", "user": "u", "key_file": "k", "timeout": "2.5"}
    tgt = load_target({"bastion": bastion, "via": "Bastion"})
    assert tgt.via == "bastion" and tgt.bastion.timeout == 2.5
    for extra, message in [
        (
            {"production": "maybe"},
            f"'targets.staging.production' must be true or false ({WORDS}; any case), "
            f"not 'maybe'. Fix that key",
        ),
        (
            {"via": "bastoin"},
            "'targets.staging.via' must be one of direct, bastion, not 'bastoin'. Did you mean "
            "'bastion'? Fix that key",
        ),
        (
            {"backup": {"kind": "pg_dump", "timeout": 0}},
            "'targets.staging.backup.timeout' must be a number of seconds greater than 0, not 0.",
        ),
        (
            {"postgres": {"host": "db.internal", "port": 70000}},
            "'targets.staging.postgres.port' must be a whole number from 1 to 65535, not 70000.",
        ),
        (
            {"secrets": {"prefix": "p", "prefx": "q"}},
            "'targets.staging.secrets.prefx' is not a known key. Did you mean 'prefix'?",
        ),
    ]:
        with pytest.raises(UserError) as err:
            load_target(extra)
        assert message in err.value.text


# -- entry point: flags (through inv) -----------------------------------------------------------
@pytest.fixture
def closed(workspace):
    """`inv` on a workspace whose Redis and PostgreSQL ports nothing listens on."""
    return Inv(
        {
            "INVOKE_WORKSPACE_ROOT": str(workspace),
            "INVOKE_INFRA_REDIS_PORT": str(free_port()),
            "INVOKE_INFRA_POSTGRES_PORT": str(free_port()),
        }
    )


ZERO = "--timeout must be a number of seconds greater than 0 (e.g. 90, 90s, 2m or 1.5), not '0'."


@pytest.mark.parametrize(
    "args",
    [
        ("cache.wait",),
        ("db.wait",),
        ("stack.wait", "--part", "redis"),
        ("services.up", "--service", "auth"),
        ("stripe.replay", "charge.refunded"),
    ],
)
def test_timeout_zero_is_refused_not_the_default(closed, args):
    result = closed(*args, "--timeout", "0")
    assert_user_error(result, ZERO)


def test_a_bad_duration_is_refused_naming_the_flag(closed):
    result = closed("db.wait", "--timeout", "2x")
    assert_user_error(result, "--timeout must be a number of seconds greater than 0", "'2x'")


def test_a_duration_with_a_unit_is_the_deadline(closed):
    result = closed("cache.wait", "--timeout", "0.5s")
    assert_user_error(result, "was not ready after 0.5 s")


def test_the_timeout_help_says_what_zero_means(closed):
    for task in ("db.wait", "stack.up", "services.up", "test", "debug.doctor", "stripe.secret"):
        out = " ".join(closed("--help", task, check=True).stdout.split())
        assert "90s, 2m" in out and "0 is refused" in out, (task, out)


# -- the merge kept per config object -----------------------------------------------------------
def _ctx(config):
    from invoke import Context

    return Context(config=config)


def test_the_merge_is_kept_per_config_and_follows_changes(monkeypatch, tmp_path):
    from lomash_tasks import context

    monkeypatch.delenv("INVOKE_DB_JOBS", raising=False)
    one = _ctx(context.load_config(project=tmp_path))
    first = context.data(one)
    assert context.data(one) is first  # once per config object
    assert context.section(one, DbSettings) is context.section(one, DbSettings)
    one.config.load_overrides({"db": {"jobs": 3}})  # a flag, a pre-task's change
    assert context.data(one) is not first
    assert context.section(one, DbSettings).jobs == 3
    monkeypatch.setenv("INVOKE_DB_JOBS", "5")  # what Invoke loads before each task call
    one.config.load_shell_env()
    assert context.section(one, DbSettings).jobs == 3  # the override still beats the variable
    two = _ctx(context.load_config(project=tmp_path))  # another config: nothing shared
    assert context.section(two, DbSettings).jobs == 5
    assert context.data(two) is not context.data(one)
    monkeypatch.delenv("INVOKE_DB_JOBS")
    three = _ctx(context.load_config(project=tmp_path))
    assert context.section(three, DbSettings).jobs == 0


def test_a_runtime_file_is_seen(tmp_path):
    from lomash_tasks import context

    extra = tmp_path / "more.yaml"
    extra.write_text("db:\n  timeout: 42\n")
    config = context.load_config(project=tmp_path)
    config.set_runtime_path(str(extra))
    config.load_runtime()
    assert context.section(_ctx(config), DbSettings).timeout == 42.0


# -- --echo / --dry: once per task call, not by the getters -------------------------------------
def test_run_options_are_applied_by_the_task_wrapper(tmp_path):
    from lomash_tasks import context
    from lomash_tasks.tasks.base import task

    seen = []

    @task
    def probe(c):
        seen.append((commands.OPTIONS.echo, commands.OPTIONS.dry))

    config = context.load_config(project=tmp_path, overrides={"run": {"dry": True, "echo": True}})
    try:
        commands.configure(echo=False, dry=False)
        context.console(_ctx(config))  # a getter changes nothing
        assert (commands.OPTIONS.echo, commands.OPTIONS.dry) == (False, False)
        probe(_ctx(config))
        assert seen == [(True, True)]
        probe(_ctx(context.load_config(project=tmp_path)))
        assert seen[-1] == (False, False)
    finally:
        commands.configure(echo=False, dry=False)
