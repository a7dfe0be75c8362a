"""env: create, check and inspect the workspace's `.env` files."""

from invoke import Collection

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.settings import EnvSettings
from lomash_tasks.tasks.base import task

# Loaded on first use, so `inv --list` stays fast.
context = lazy("lomash_tasks.context")
environment = lazy("lomash_tasks.env.ops")
overlays = lazy("lomash_tasks.env.overlays")

SERVICE_HELP = "A service by alias or full name (repeatable); all when omitted."


@task(
    iterable=["service"],
    help={
        "service": SERVICE_HELP + " Naming services skips the root .env.",
        "force": "Rewrite each file from its example, after saving a timestamped backup.",
        "overlay": "Where the stack is reached from: an overlay in env/ (default: env.overlay).",
    },
)
def copy(c, service=None, force=False, overlay=None):
    """Create missing .env files from their examples; never overwrite your edits."""
    ws = context.workspace(c)
    out = context.console(c)
    chosen = ws.registry.select(service) if service else None
    cfg = context.section(c, EnvSettings)
    folder = {"folder": context.project_dir(c) / cfg.overlay_dir} if cfg.overlay_dir else {}
    layer = overlays.load(overlay or cfg.overlay, ws.registry, **folder)
    results = environment.copy_env(ws, chosen, force=force, overlay=layer)
    _warn(out, ws, chosen)
    out.table(["file", "result"], [[ws.relative(r.pair.env), r.summary] for r in results])
    counts = {s: sum(r.status == s for r in results) for s in ("created", "updated", "rewritten")}
    changed = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    out.ok(f"{len(results)} env files: {changed or 'all unchanged'}.")


@task(iterable=["service"], help={"service": SERVICE_HELP + " Naming services skips the root .env."})
def check(c, service=None):
    """Check every .env against its example and the registry (URLs, roles, indexes, ports)."""
    ws = context.workspace(c)
    out = context.console(c)
    chosen = ws.registry.select(service) if service else None
    problems = environment.check_env(ws, chosen)
    _warn(out, ws, chosen)
    for problem in problems:
        out.error(problem.line(), title="env.check")
    if problems:
        raise UserError(f"env.check: {len(problems)} problem{'s' if len(problems) > 1 else ''} "
                        f"found (listed above).")
    out.ok(f"{len(ws.env_pairs(chosen))} env files match their examples and the registry.")


def _warn(out, ws, services) -> None:
    for line in environment.file_warnings(ws, services):
        out.warn(line)


@task(help={"service": "The service by alias or full name.",
            "reveal": "Print secret values unmasked (they are masked by default).",
            "json": "Print the values as JSON (key, value, source, secret), masked unless "
                    "--reveal."})
def show(c, service, reveal=False, json=False):
    """Show a service's effective environment, secrets masked."""
    import json as _json

    ws = context.workspace(c)
    out = context.console(c)
    svc = ws.registry.service(service)
    values = environment.effective_values(ws, svc)
    _warn(out, ws, [svc])
    if json:
        data = environment.show_json(values, reveal=reveal)
        if reveal:
            out.print_raw(_json.dumps(data, indent=2))
        else:
            out.json(data)
        return
    if reveal:
        for v in values:
            out.print_raw(f"{v.key}={v.value}")
        return
    width = max((len(v.key) for v in values), default=0)
    for v in values:
        shown = "****" if v.secret and v.value else v.value
        note = "" if v.source == ".env" else "   # from .env.example (not in .env)"
        out.print(f"{v.key.ljust(width)} = {shown}{note}")


@task(iterable=["service"], help={"service": SERVICE_HELP + " Naming services skips the root .env."})
def diff(c, service=None):
    """List keys only in .env.example or only in .env, per file."""
    ws = context.workspace(c)
    out = context.console(c)
    chosen = ws.registry.select(service) if service else None
    rows = []
    for d in environment.diff_env(ws, chosen):
        if not d.env_exists:
            rows.append([d.file, "(no .env: run `inv env.copy`)", ""])
        elif d.only_in_example or d.only_in_env:
            rows.append([d.file, ", ".join(d.only_in_example), ", ".join(d.only_in_env)])
    if not rows:
        out.ok("Every .env has exactly its example's keys.")
        return
    out.table(["file", "only in .env.example", "only in .env"], rows)


ns = Collection("env", copy, check, show, diff)
ns.configure(EnvSettings.defaults())
