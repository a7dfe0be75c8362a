"""env: create, check and inspect the workspace's `.env` files."""

from invoke import Collection

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.settings import EnvSettings
from lomash_tasks.tasks.base import task

# Loaded on first use, so `inv --list` stays fast.
connections = lazy("lomash_tasks.connections")
context = lazy("lomash_tasks.context")
environment = lazy("lomash_tasks.env.ops")
environments = lazy("lomash_tasks.db.environments")
overlays = lazy("lomash_tasks.env.overlays")

SERVICE_HELP = "A service by alias or full name (repeatable); all when omitted."


@task(
    iterable=["service"],
    help={
        "service": SERVICE_HELP + " Naming services skips the root .env.",
        "force": "Rewrite each file from its example, after saving a timestamped backup.",
        "overlay": "Where the stack is reached from: an overlay in env/ (default: env.overlay).",
        "align": "Also set the stack's values in existing .env files (ports, credentials, "
        "database, Redis index, endpoints, service URLs, placeholder secrets): shows "
        "the diff (masked), then applies it after a timestamped backup.",
        "dry": "Show what would be written (the diff, masked); change no file.",
        "json": "Print each file's result and changes as JSON (values masked).",
        "env": "Another environment's files (config `environments`; `test`: each service's "
        ".env.test, from .env.test.example or .env.example, its DATABASE_URL and "
        "TEST_DATABASE_URL on the service's <database>_test).",
    },
)
def copy(c, service=None, force=False, overlay=None, align=False, dry=False, json=False, env=None):
    """Create missing .env files from their examples, aligned with the stack.

    An existing .env is never rewritten unasked: --align sets the stack's values in it (after
    a backup), --force rewrites it from its example (after a backup).
    """
    ws = context.workspace(c)
    out = context.console(c)
    chosen = ws.registry.select(service) if service else None
    other = context.environment(c, env)
    if not other.is_default:
        ws = environments.view(ws, other)
        chosen = [ws.registry.service(s.name) for s in chosen] if chosen else None
    facts = _facts(c, ws, overlay, other)
    results = environment.copy_env(
        ws, chosen, force=force, facts=facts, align_existing=align, dry=dry
    )
    for r in results:
        if r.alignment is not None:
            out.add_mask(*r.alignment.secrets)
    if json:
        out.json([r.as_dict() for r in results])
        return
    _warn(out, ws, chosen)
    for r in results:
        if (align or dry) and r.alignment is not None and r.alignment.changed:
            for line in r.alignment.diff():
                out.print(line)
        for change in r.changes:
            out.info(change.describe())
    out.table(["file", "result"], [[r.file, r.summary] for r in results])
    drift = sum(len(r.drift) for r in results)
    if drift:
        out.warn(
            f"{drift} values of existing .env files disagree with the stack and were left "
            f"as they are: `inv env.check` lists them, `inv env.copy --align` sets them "
            f"(with a backup)."
        )
    counts = {
        s: sum(r.status == s for r in results)
        for s in ("created", "updated", "rewritten", "aligned")
    }
    changed = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if dry:
        out.ok(
            f"{len(results)} env files: {changed or 'all unchanged'} (dry run: nothing was "
            f"written)."
        )
        return
    out.ok(f"{len(results)} env files: {changed or 'all unchanged'}.")


@task(
    iterable=["service"],
    help={
        "service": SERVICE_HELP + " Naming services skips the root .env.",
        "overlay": "Where the stack is reached from: an overlay in env/ (default: env.overlay).",
    },
)
def check(c, service=None, overlay=None):
    """Check every .env against its example and the stack (ports, URLs, roles, indexes)."""
    ws = context.workspace(c)
    out = context.console(c)
    chosen = ws.registry.select(service) if service else None
    problems = environment.check_env(ws, chosen, _facts(c, ws, overlay))
    _warn(out, ws, chosen)
    for problem in problems:
        out.error(problem.line(), title="env.check")
    if problems:
        raise UserError(
            f"env.check: {len(problems)} problem{'s' if len(problems) > 1 else ''} "
            f"found (listed above)."
        )
    out.ok(f"{len(ws.env_pairs(chosen))} env files match their examples and the stack.")


def _facts(c, ws, overlay, other=None):
    """What the stack serves, seen through the overlay (the flag, else config env.overlay),
    and for another environment its databases and variables."""
    cfg = context.section(c, EnvSettings)
    folder = {"folder": context.project_dir(c) / cfg.overlay_dir} if cfg.overlay_dir else {}
    seen = overlays.load(overlay or cfg.overlay, ws.registry, **folder)
    if other is not None and not other.is_default:
        return environments.stack_facts(ws, other, seen)
    return connections.stack_facts(ws, seen)


def _warn(out, ws, services) -> None:
    for line in environment.file_warnings(ws, services):
        out.warn(line)


@task(
    help={
        "service": "The service by alias or full name.",
        "reveal": "Print secret values unmasked (they are masked by default).",
        "json": "Print the values as JSON (key, value, source, secret), masked unless --reveal.",
    }
)
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


@task(
    iterable=["service"], help={"service": SERVICE_HELP + " Naming services skips the root .env."}
)
def diff(c, service=None):
    """List keys only in .env.example or only in .env, per file."""
    ws = context.workspace(c)
    out = context.console(c)
    chosen = ws.registry.select(service) if service else None
    rows = []
    for d in environment.diff_env(ws, chosen):
        if d.not_a_file:
            rows.append(
                [d.file, f"(the .env {d.not_a_file}: move it away, then `inv env.copy`)", ""]
            )
        elif not d.env_exists:
            rows.append([d.file, "(no .env: run `inv env.copy`)", ""])
        elif d.only_in_example or d.only_in_env:
            rows.append([d.file, ", ".join(d.only_in_example), ", ".join(d.only_in_env)])
    if not rows:
        out.ok("Every .env has exactly its example's keys.")
        return
    out.table(["file", "only in .env.example", "only in .env"], rows)


ns = Collection("env", copy, check, show, diff)
ns.configure(EnvSettings.defaults())
