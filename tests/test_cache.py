"""cache: flush one service's Redis index, list keys with SCAN, per-index stats (real Redis)."""

from __future__ import annotations

import json

import pytest
import redis
from conftest import assert_user_error

from lomash_tasks import cache as cache_ops
from lomash_tasks.connections import redis_password

pytestmark = pytest.mark.xdist_group("stack")


def client(stack, index):
    rd = stack.ws.registry.redis
    return redis.Redis(
        host=rd.host,
        port=rd.port,
        db=index,
        password=redis_password(stack.ws),
        decode_responses=True,
    )


def fill(stack):
    """Keys in every service's own namespaces, indexes 0-7: {index: set of keys}."""
    keys = {}
    for svc in stack.ws.registry.with_cache:
        r = client(stack, svc.redis_db)
        r.flushdb()
        names = {f"{ns}:{svc.alias}:{n}" for ns in svc.namespaces for n in range(3)}
        for name in names:
            r.set(name, "1")
        keys[svc.redis_db] = names
    return keys


def test_flush_empties_only_the_services_index(stack):
    keys = fill(stack)
    result = stack.inv("cache.flush", "--service", "auth", "--yes", check=True)
    assert f"{len(keys[0])} keys removed" in result.stdout
    assert client(stack, 0).dbsize() == 0
    for index in range(1, 8):
        assert set(client(stack, index).keys("*")) == keys[index], index


def test_flush_without_yes_in_ci_says_to_pass_yes(stack):
    fill(stack)
    result = stack.inv("cache.flush", "--service", "product", env={"CI": "true"})
    assert_user_error(result, "Pass --yes", "non-interactive (CI)")
    assert client(stack, 1).dbsize() > 0


def test_flush_refuses_a_remote_redis(stack):
    result = stack.inv(
        "cache.flush", "--service", "auth", "--yes", env={"INVOKE_INFRA_REDIS_HOST": "203.0.113.7"}
    )
    assert_user_error(result, "Refusing to flush Redis index 0 on 203.0.113.7", "--allow-remote")


@pytest.mark.parametrize("task", ["flush", "keys"])
def test_gateway_has_no_cache(stack, task):
    args = ["--yes"] if task == "flush" else []
    result = stack.inv(f"cache.{task}", "--service", "gateway", *args)
    assert_user_error(result, "api-gateway has no cache", "auth (0)")


def test_unknown_service(stack):
    assert_user_error(
        stack.inv("cache.keys", "--service", "auht"), "Unknown service 'auht'", "Did you mean"
    )


def test_keys_groups_by_namespace_with_scan(stack):
    keys = fill(stack)
    result = stack.inv("cache.keys", "-s", "order", "--json", check=True)
    data = json.loads(result.stdout)
    assert data["index"] == 2 and data["count"] == len(keys[2]) and not data["truncated"]
    assert sorted(data["namespaces"]) == ["cart", "checkout", "idempotency"]
    assert set(sum(data["namespaces"].values(), [])) == keys[2]
    some = stack.inv(
        "cache.keys", "-s", "order", "--pattern", "cart:*", "--limit", "2", "--json", check=True
    )
    some = json.loads(some.stdout)
    assert some["count"] == 2 and some["truncated"] and list(some["namespaces"]) == ["cart"]


def test_scan_loops_to_cursor_zero_and_drops_repeats():
    class Fake:
        """SCAN as Redis may answer it: empty batches and a key seen twice."""

        pages = {0: (7, ["a:1", "a:2"]), 7: (9, []), 9: (4, ["a:2", "b:1"]), 4: (0, ["c"])}

        def scan(self, cursor, match=None, count=None):
            return self.pages[cursor]

    keys, truncated = cache_ops.scan(Fake())
    assert keys == ["a:1", "a:2", "b:1", "c"] and not truncated
    keys, truncated = cache_ops.scan(Fake(), limit=3)
    assert keys == ["a:1", "a:2", "b:1"] and truncated
    assert cache_ops.group(keys) == {"a": ["a:1", "a:2"], "b": ["b:1"]}


def test_stats_flags_keys_outside_the_owners_namespaces(stack):
    keys = fill(stack)
    client(stack, 3).set("session:misplaced", "1")
    client(stack, 11).set("stray:1", "1")
    try:
        result = stack.inv("cache.stats", "--json", check=True)
    finally:
        client(stack, 11).flushdb()
    rows = {r["index"]: r for r in json.loads(result.stdout)}
    assert rows[0]["keys"] == len(keys[0]) and rows[0]["foreign"] == []
    assert rows[3]["foreign"] == ["session"] and rows[3]["keys"] == len(keys[3]) + 1
    assert rows[11]["service"] is None and rows[11]["keys"] == 1
    text = stack.inv("cache.stats", check=True)
    assert "outside its namespaces: session" in text.stdout


def test_wait_reports_ready(stack):
    result = stack.inv("cache.wait", "--timeout", "10", check=True)
    assert "is ready" in result.stdout
