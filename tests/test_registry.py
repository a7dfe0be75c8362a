"""The registry: the packaged defaults (lomash_tasks/defaults/registry.yaml), validated, and
resolving services by name."""

import copy

import pytest
import yaml

from lomash_tasks.errors import UserError
from lomash_tasks.registry import Registry
from lomash_tasks.settings import REGISTRY_FILE

DATA = yaml.safe_load(REGISTRY_FILE.read_text())


def load(data=None):
    return Registry.from_mapping(data or DATA, source="invoke.yaml")


def test_the_seed_facts_load():
    reg = load()
    assert len(reg.services) == 9
    assert [s.alias for s in reg.with_database] == [
        "auth",
        "product",
        "order",
        "appointment",
        "content",
        "customer",
        "notification",
        "analytics",
    ]
    order = reg.service("order")
    assert (
        order.name,
        order.port,
        order.debug_port,
        order.database,
        order.role,
        order.redis_db,
    ) == ("order-payment-service", 3003, 9232, "lomash_orders", "lomash_order", 2)
    assert reg.service("product-service").namespaces == (
        "product",
        "category",
        "search",
        "inventory",
    )
    assert reg.service("gateway").has_database is False
    assert (reg.postgres.port, reg.redis.port, reg.smtp.port, reg.smtp.web_port, reg.aws.port) == (
        5432,
        6379,
        1025,
        8025,
        4566,
    )
    assert reg.aws.buckets == ("lomash-dev-media", "lomash-dev-assets")
    assert reg.aws.region == "eu-west-2"
    assert {t.name: t.port for t in reg.tools}["grafana"] == 3100


def test_select_keeps_registry_order_and_drops_repeats():
    reg = load()
    assert [s.alias for s in reg.select(["content", "auth", "auth-service"])] == ["auth", "content"]
    assert len(reg.select([])) == 9


def test_unknown_service_lists_valid_ones_and_suggests():
    with pytest.raises(UserError) as err:
        load().service("auht")
    text = str(err.value)
    assert "Unknown service 'auht'" in text
    assert "Did you mean 'auth'?" in text
    assert "notification (notification-service)" in text


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (
            lambda d: d["services"]["auth-service"].update(port=3002),
            "port 3002 is also used by services.auth-service.port",
        ),
        (lambda d: d["services"]["auth-service"].update(redis_db=1), "Redis index 1"),
        (
            lambda d: d["services"]["auth-service"].pop("alias"),
            "'services.auth-service.alias' is missing",
        ),
        (
            lambda d: d["services"]["auth-service"].update(port=70000),
            "'services.auth-service.port' must be a whole number from 1 to 65535",
        ),
        (
            lambda d: d["services"]["auth-service"].update(port="abc"),
            "'services.auth-service.port' must be",
        ),
        (
            lambda d: d["services"]["auth-service"].update(redis_db=16),
            "'services.auth-service.redis_db'",
        ),
        (
            lambda d: d["services"]["auth-service"].update(databse="x"),
            "'services.auth-service.databse' is not a known key. Did you mean 'database'?",
        ),
        (lambda d: d["services"]["auth-service"].pop("role"), "needs both 'database' and 'role'"),
        (lambda d: d["infra"]["postgres"].pop("port"), "'infra.postgres.port' is missing"),
        (lambda d: d["infra"]["redis"].update(port=5432), "port 5432"),
        (lambda d: d.pop("services"), "'services' is missing"),
        (lambda d: d["services"]["content-service"].update(alias="auth"), "alias 'auth'"),
    ],
)
def test_invalid_config_names_the_key(mutate, fragment):
    data = copy.deepcopy(DATA)
    mutate(data)
    with pytest.raises(UserError) as err:
        load(data)
    assert fragment in str(err.value)
    assert "invoke.yaml" in str(err.value)


def test_env_override_reaches_the_registry(tmp_path):
    """INVOKE_* variables override invoke.yaml, converted to the key's type."""
    import os

    from lomash_tasks.context import load_config, plain

    old = os.environ.get("INVOKE_INFRA_POSTGRES_PORT")
    os.environ["INVOKE_INFRA_POSTGRES_PORT"] = "55432"
    try:
        config = load_config()
    finally:
        if old is None:
            del os.environ["INVOKE_INFRA_POSTGRES_PORT"]
        else:
            os.environ["INVOKE_INFRA_POSTGRES_PORT"] = old
    reg = Registry.from_mapping(plain(config))
    assert reg.postgres.port == 55432
