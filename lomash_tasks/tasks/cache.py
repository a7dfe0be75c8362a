"""cache: the services' Redis indexes (one logical database each): flush, keys, stats, wait."""

from invoke import Collection

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.settings import CacheSettings
from lomash_tasks.tasks.base import task
from lomash_tasks.values import TIMEOUT_HELP, number

# Loaded on first use, so `inv --list` stays fast.
cache_ops = lazy("lomash_tasks.cache")
console = lazy("lomash_tasks.console")
context = lazy("lomash_tasks.context")


def _seconds(c):
    return context.section(c, CacheSettings).timeout


@task(
    help={
        "service": "The service whose own Redis index is flushed (alias or full name).",
        "yes": "Flush without asking (needed in CI and other non-interactive runs).",
        "allow_remote": "Allow flushing a Redis that is not on this machine.",
    }
)
def flush(c, service, yes=False, allow_remote=False):
    """Empty one service's Redis index (FLUSHDB on its index only; asks first)."""
    ws = context.workspace(c)
    out = context.console(c)
    svc = cache_ops.cache_service(ws, service)
    rd = ws.registry.redis
    question = f"Delete every key in Redis index {svc.redis_db} ({svc.name}) at {rd.address}?"
    if not out.confirm(question, yes):
        if yes or not out.interactive:
            why = (
                "this run is non-interactive (CI)"
                if console.in_ci()
                else "there is no terminal to ask on"
            )
            raise UserError(
                f"Not flushing index {svc.redis_db} ({svc.name}): {why}. "
                f"Pass --yes to flush without being asked."
            )
        raise UserError("Nothing was flushed (not confirmed).")
    result = cache_ops.flush(ws, svc, allow_remote=allow_remote, timeout=_seconds(c))
    out.ok(
        f"Flushed Redis index {result.index} ({result.service}): {result.removed} "
        f"key{'s' if result.removed != 1 else ''} removed; other indexes untouched."
    )


@task(
    help={
        "service": "The service whose Redis index is listed (alias or full name).",
        "pattern": "Only keys matching this glob, e.g. 'session:*' (default: every key).",
        "limit": "Stop after this many keys (default: cache.limit; 0 = no limit).",
        "json": "Print JSON instead of text.",
    }
)
def keys(c, service, pattern=None, limit=None, json=False):
    """List a service's Redis keys (SCAN, never KEYS), grouped by namespace."""
    ws = context.workspace(c)
    out = context.console(c)
    svc = cache_ops.cache_service(ws, service)
    cap = number(
        limit if limit is not None else context.section(c, CacheSettings).limit, "--limit", int
    )
    listing = cache_ops.list_keys(ws, svc, pattern, cap or None, timeout=_seconds(c))
    if json:
        out.json(
            {
                "service": listing.service,
                "index": listing.index,
                "pattern": listing.pattern,
                "count": len(listing.keys),
                "truncated": listing.truncated,
                "namespaces": listing.by_namespace,
            }
        )
        return
    if not listing.keys:
        out.ok(
            f"Index {listing.index} ({listing.service}) has no keys matching '{listing.pattern}'."
        )
        return
    for namespace, names in listing.by_namespace.items():
        declared = namespace in svc.namespaces
        note = "" if declared else "   (not one of this service's namespaces)"
        out.print(f"{namespace or '(no namespace)'}: {len(names)}{note}")
        for name in names:
            out.print(f"  {name}")
    more = f" (stopped at --limit {cap}; more exist)" if listing.truncated else ""
    out.ok(
        f"{len(listing.keys)} key{'s' if len(listing.keys) != 1 else ''} in index "
        f"{listing.index} ({listing.service}){more}."
    )


@task(help={"json": "Print JSON instead of a table."})
def stats(c, json=False):
    """Show each Redis index's key count and namespaces, flagging keys in the wrong index."""
    ws = context.workspace(c)
    out = context.console(c)
    rows = cache_ops.stats(ws, timeout=_seconds(c))
    if json:
        out.json([r.as_dict() for r in rows])
        return
    table = []
    for r in rows:
        spaces = ", ".join(f"{ns or '(none)'} {n}" for ns, n in r.namespaces.items()) or "-"
        if r.service is None:
            flag = "keys in an index no service owns"
        elif r.foreign:
            flag = "outside its namespaces: " + ", ".join(ns or "(none)" for ns in r.foreign)
        else:
            flag = "ok"
        table.append([r.index, r.service or "-", r.keys, spaces, flag])
    out.table(["index", "service", "keys", "namespaces", "check"], table)
    stray = [r for r in rows if not r.clean]
    if stray:
        out.warn(
            f"{len(stray)} index{'es' if len(stray) != 1 else ''} hold keys outside the "
            f"owner's namespaces (see 'check')."
        )


@task(help={"timeout": "Seconds to wait (default: cache.wait_timeout)." + TIMEOUT_HELP})
def wait(c, timeout=None):
    """Wait until Redis answers PING with the workspace's password."""
    result = context.wait_for_part(
        c, "redis", timeout, context.section(c, CacheSettings).wait_timeout
    )
    context.console(c).ok(
        f"Redis at {result.address} is ready ({result.detail}, {result.elapsed:.2f} s)."
    )


ns = Collection("cache", flush, keys, stats, wait)
ns.configure(CacheSettings.defaults())
